//! Operating a cluster: `/health`, `/ready` and `/metrics` on the admin listener, and
//! `micro cluster health`.

use std::time::{Duration, Instant};

use micro_tests::{Cli, TestCluster};
use serde_json::{json, Value};

async fn get(addr: &str, path: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Polls `/ready` until it answers `want`, for up to `within`.
async fn ready_becomes(addr: &str, want: u16, within: Duration) -> (u16, Value) {
    let deadline = Instant::now() + within;
    loop {
        let (code, text) = get(addr, "/ready").await;
        if code == want || Instant::now() > deadline {
            return (code, serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every sample of a Prometheus text exposition, as (name with labels, value); panics on a
/// line that is neither a comment nor `name[{labels}] value`.
fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("not a sample: {l}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {l}"));
            let bare = name.split('{').next().unwrap_or_default();
            assert!(
                !bare.is_empty()
                    && bare
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "bad metric name in {l}"
            );
            (name.to_owned(), value)
        })
        .collect()
}

fn sample(all: &[(String, f64)], name: &str) -> f64 {
    all.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[tokio::test]
async fn health_ready_metrics_and_cluster_health() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    let admin = |i: usize| c.nodes[i].addrs.admin.clone();

    let (code, body) = get(&admin(0), "/health").await;
    assert_eq!((code, body.as_str()), (200, r#"{"status":"ok"}"#));
    for i in 0..3 {
        let (code, body) = ready_becomes(&admin(i), 200, Duration::from_secs(10)).await;
        assert_eq!(code, 200, "node {i}: {body}");
        assert_eq!(body["ready"], true);
    }

    // Metrics parse, and the applied index moves with writes.
    let before = samples(&get(&admin(1), "/metrics").await.1);
    for i in 0..5 {
        let (code, _) = c
            .post(
                0,
                "/store/write",
                &json!({"record": {"key": format!("m{i}"), "value": ""}}),
            )
            .await?;
        assert_eq!(code, 200);
    }
    c.post(1, "/store/read", &json!({"key": "m0"})).await?;
    let (_, text) = get(&admin(1), "/metrics").await;
    let after = samples(&text);
    assert!(
        sample(&after, "micro_raft_applied_index")
            >= sample(&before, "micro_raft_applied_index") + 5.0,
        "{text}"
    );
    // The commit index moves with writes too, on a follower as on the leader, and is never
    // behind what the node applied.
    assert!(
        sample(&after, "micro_raft_commit_index")
            >= sample(&before, "micro_raft_commit_index") + 5.0,
        "{text}"
    );
    assert!(
        sample(&after, "micro_raft_commit_index") >= sample(&after, "micro_raft_applied_index"),
        "{text}"
    );
    let node0 = samples(&get(&admin(0), "/metrics").await.1);
    assert!(
        sample(&node0, "micro_raft_commit_index")
            >= sample(&before, "micro_raft_commit_index") + 5.0
    );
    assert_eq!(sample(&after, "micro_raft_has_leader"), 1.0);
    assert!(
        text.contains(
            r#"micro_requests_total{edge="http",service="store",endpoint="Store.Read",code="200"}"#
        ),
        "{text}"
    );
    assert!(text.contains("micro_raft_fsync_seconds_bucket"), "{text}");
    assert!(text.contains("micro_raft_apply_seconds_count"), "{text}");
    // What benchmarks read: CPU seconds (finer than whole seconds) and resident memory.
    assert!(sample(&after, "micro_process_cpu_seconds") > 0.0, "{text}");
    assert!(
        sample(&after, "process_resident_memory_bytes") > 1e6,
        "{text}"
    );

    // `micro cluster health`: all ready, then a dead member makes it fail.
    let cli = Cli::new()?;
    cli.use_env_as_admin("ops", &c.nodes[0].addrs.proxy)?;
    let out = cli.run(&["cluster", "health"]);
    assert_eq!(out.code, 0, "{}", out.combined());
    assert_eq!(
        out.stdout.lines().filter(|l| l.contains(" ready ")).count(),
        3,
        "{}",
        out.stdout
    );

    // A node cut off from both peers is not ready; it is again once they are back.
    c.nodes[1].pause()?;
    c.nodes[2].pause()?;
    let (code, body) = ready_becomes(&admin(0), 503, Duration::from_secs(20)).await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["ready"], false);
    assert!(
        body["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    c.nodes[1].resume()?;
    c.nodes[2].resume()?;
    let (code, body) = ready_becomes(&admin(0), 200, Duration::from_secs(30)).await;
    assert_eq!(code, 200, "{body}");

    c.nodes[2].kill();
    c.leader(Duration::from_secs(30)).await?;
    let out = cli.run(&["cluster", "health"]);
    assert_ne!(out.code, 0, "{}", out.combined());
    assert!(out.stdout.contains("does not answer"), "{}", out.combined());
    assert!(
        out.combined().contains("1 of 3 members are not ready"),
        "{}",
        out.combined()
    );
    Ok(())
}

/// Learners, promotion, removing a dead member, and refusing a removal that
/// would leave no live quorum, all through the CLI pointed at one node.
#[tokio::test]
async fn membership_changes_through_the_cli() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    let learner = c.add_node_with(&["--learner"]).await?;
    let learner_id = c.id_of(learner).await?;
    let cli = Cli::new()?;
    let all: Vec<String> = (0..3).map(|i| c.nodes[i].addrs.proxy.clone()).collect();
    cli.use_env_as_admin("ops", &all.join(","))?;
    let member = |m: &micro_proto::cluster::MembersResponse, id: u64| {
        m.members.iter().find(|x| x.id == id).cloned().unwrap()
    };

    // A learner replicates but does not vote, until promoted.
    let m = c.members(0).await?;
    assert!(!member(&m, learner_id).voter, "{m:?}");
    let ok = |args: &[&str]| {
        let o = cli.run(args);
        assert_eq!(o.code, 0, "micro {args:?}: {}", o.combined());
        o.stdout
    };
    assert_eq!(ok(&["cluster", "promote", &learner_id.to_string()]), "");
    assert!(member(&c.members(2).await?, learner_id).voter);

    let target = c.leader(Duration::from_secs(30)).await?;

    // A dead member is removed; the three left keep a quorum.
    c.nodes[learner].kill();
    assert_eq!(ok(&["cluster", "remove", &learner_id.to_string()]), "");
    let m = c.members(0).await?;
    assert_eq!(m.members.len(), 3, "{m:?}");
    // Coming back, the removed node is refused and told how to rejoin.
    c.nodes[learner].start()?;
    assert!(
        c.nodes[learner]
            .log_shows("was removed). To bring it back", Duration::from_secs(30))
            .await,
        "{}",
        c.nodes[learner].log_text()
    );
    assert_eq!(c.members(0).await?.members.len(), 3);
    c.nodes[learner].kill();

    // With one of three voters dead, removing a live one would leave no live quorum.
    let dead = (target + 1) % 3;
    let victim = (target + 2) % 3;
    c.nodes[dead].kill();
    let victim_id = c.id_of(victim).await?;
    let refused = cli.run(&["cluster", "remove", &victim_id.to_string()]);
    assert_ne!(refused.code, 0, "{}", refused.combined());
    assert!(
        refused.combined().contains("not a quorum"),
        "{}",
        refused.combined()
    );
    assert_eq!(c.members(target).await?.members.len(), 3);
    let bad = cli.run(&["cluster", "remove", "12345"]);
    assert!(
        bad.combined().contains("not a member"),
        "{}",
        bad.combined()
    );
    Ok(())
}

/// A node restarted on other addresses updates its member record instead of becoming a new
/// member, and serves again: a follower (which asks the leader) and then the leader (which
/// nobody can reach at its old address, so it records the change itself).
// Multi-threaded: `terminate` blocks its thread, and the server's graceful stop waits for the
// test's idle gRPC connections, which only a running runtime closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_on_new_addresses_keeps_its_identity() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    let leader = c.leader(Duration::from_secs(30)).await?;
    let follower = (leader + 1) % 3;
    for (round, i) in [follower, leader].into_iter().enumerate() {
        let id = c.id_of(i).await?;
        assert_eq!(
            c.nodes[i].terminate(Duration::from_secs(20))?,
            Some(0),
            "round {round}"
        );
        c.nodes[i].addrs = micro_tests::NodeAddrs::free();
        c.nodes[i].start()?;
        c.nodes[i].wait_ready(Duration::from_secs(60)).await?;
        let other = (i + 2) % 3;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = c.members(other).await?;
            let record = m.members.iter().find(|x| x.id == id).cloned();
            if let Some(r) = record.filter(|r| r.peer_address == c.nodes[i].addrs.peer) {
                assert_eq!(m.members.len(), 3, "{m:?}");
                assert_eq!(r.proxy_address, c.nodes[i].addrs.proxy);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "record not updated: {m:?}\n{}",
                c.nodes[i].log_text()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let key = format!("moved{round}");
        let (code, _) = c
            .post(
                other,
                "/store/write",
                &json!({"record": {"key": key, "value": "eA=="}}),
            )
            .await?;
        assert_eq!(code, 200);
        let (code, body) = c.post(i, "/store/read", &json!({"key": key})).await?;
        assert_eq!(
            (code, &body["records"][0]["value"]),
            (200, &json!("eA==")),
            "{body}"
        );
    }
    Ok(())
}

/// Grow a 3-node cluster to 5 and shrink it back to 3 while writers keep writing through the
/// original nodes: every acknowledged write is on every remaining node at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grow_to_five_and_shrink_to_three_under_load_loses_nothing() -> anyhow::Result<()> {
    use micro_proto::store::{store_client::StoreClient, Record, WriteRequest};
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let mut c = TestCluster::start(3, &[]).await?;
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let (proxy, admin) = (c.nodes[w].addrs.proxy.clone(), c.admin.clone());
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let Ok(channel) = micro_tests::auth::connect(&proxy, &admin).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let mut store = StoreClient::new(channel);
                while !stop.load(Ordering::SeqCst) {
                    let key = format!("grow-{w}-{i}");
                    i += 1;
                    let req = WriteRequest {
                        record: Some(Record {
                            key: key.clone(),
                            ..Default::default()
                        }),
                        options: None,
                    };
                    if store.write(req).await.is_ok() {
                        acked.lock().map(|mut a| a.insert(key)).ok();
                    }
                }
            }
        }));
    }
    let cli = Cli::new()?;
    let all: Vec<String> = (0..3).map(|i| c.nodes[i].addrs.proxy.clone()).collect();
    cli.use_env_as_admin("grow", &all.join(","))?;

    let a = c.add_node().await?;
    let b = c.add_node().await?;
    let m = c.members(0).await?;
    assert_eq!(m.members.iter().filter(|x| x.voter).count(), 5, "{m:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in [a, b] {
        let id = c.id_of(i).await?;
        let out = cli.run(&["cluster", "remove", &id.to_string()]);
        assert_eq!(out.code, 0, "{}", out.combined());
        c.nodes[i].kill();
    }
    let m = c.members(1).await?;
    assert_eq!(m.members.len(), 3, "{m:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await?;
    }

    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(acked.len() > 50, "the writers wrote: {}", acked.len());
    for i in 0..3 {
        c.assert_holds(i, &acked).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autopilot_removes_a_dead_voter_and_members_show_last_contact() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &["--autopilot-cleanup-dead", "3s"]).await?;
    let leader = c.leader(Duration::from_secs(10)).await?;
    let view = c.members(leader).await?;
    for m in &view.members {
        if m.id == view.leader {
            assert_eq!(m.last_contact_ms, 0, "{view:?}");
        } else {
            assert!((0..5_000).contains(&m.last_contact_ms), "{view:?}");
        }
    }

    let victim = (leader + 1) % 3;
    let victim_id = c.id_of(victim).await?;
    c.nodes[victim].kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let view = c.members(leader).await?;
        if view.members.iter().all(|m| m.id != victim_id) {
            assert_eq!(view.members.len(), 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dead voter was not removed: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The two left still serve writes; the removed node, restarted, is told it was removed.
    let (code, _) = c
        .post(
            leader,
            "/store/write",
            &json!({"record": {"key": "k", "value": "dg=="}}),
        )
        .await?;
    assert_eq!(code, 200);
    c.nodes[victim].start()?;
    assert!(
        c.nodes[victim]
            .log_shows("was removed). To bring it back", Duration::from_secs(30))
            .await,
        "the removed node was not told"
    );
    Ok(())
}

/// Reads `key` through node `i`'s HTTP gateway; `None` when it does not exist.
async fn read_value(c: &TestCluster, i: usize, key: &str) -> anyhow::Result<Option<String>> {
    let (code, body) = c.post(i, "/store/read", &json!({"key": key})).await?;
    Ok(match code {
        200 => body["records"][0]["value"].as_str().map(str::to_owned),
        404 => None,
        _ => anyhow::bail!("read {key} through node {i}: {code} {body}"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_new_cluster_recovers_a_lost_quorum_with_every_entry() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    for i in 0..10 {
        let body = json!({"record": {"key": format!("k{i}"), "value": "dg=="}});
        assert_eq!(c.post(0, "/store/write", &body).await?.0, 200);
    }
    // Two of three lost for good: the survivor cannot serve writes.
    c.nodes[1].kill();
    c.nodes[2].kill();
    let body = json!({"record": {"key": "lost", "value": "dg=="}});
    assert_ne!(c.post(0, "/store/write", &body).await?.0, 200);

    // Runbook step: restart the survivor once with --force-new-cluster.
    c.nodes[0].terminate(Duration::from_secs(10))?;
    let normal = c.nodes[0].extra.clone();
    c.nodes[0].extra.push("--force-new-cluster".into());
    c.nodes[0].start()?;
    c.nodes[0].wait_ready(Duration::from_secs(30)).await?;
    c.nodes[0].extra = normal;
    for i in 0..10 {
        assert_eq!(
            read_value(&c, 0, &format!("k{i}")).await?.as_deref(),
            Some("dg=="),
            "k{i}"
        );
    }
    assert_eq!(
        c.post(
            0,
            "/store/write",
            &json!({"record": {"key": "after", "value": "dg=="}})
        )
        .await?
        .0,
        200
    );
    let view = c.members(0).await?;
    assert_eq!(view.members.len(), 1, "{view:?}");

    // A lost member that comes back as it was is refused and told how to rejoin.
    c.nodes[1].start()?;
    assert!(
        c.nodes[1]
            .log_shows("was removed). To bring it back", Duration::from_secs(30))
            .await,
        "the old member was not told it is no longer one"
    );
    c.nodes[1].kill();
    // Runbook step: wipe it and join it again; it catches up with everything.
    std::fs::remove_dir_all(&c.nodes[1].data_dir)?;
    let token = std::fs::read_to_string(c.nodes[0].data_dir.join("join-token"))?;
    let target = c.nodes[0].addrs.peer.clone();
    c.nodes[1].extra.extend([
        "--join".into(),
        target,
        "--join-token".into(),
        token.trim().to_owned(),
    ]);
    c.nodes[1].start()?;
    c.nodes[1].wait_ready(Duration::from_secs(60)).await?;
    assert_eq!(read_value(&c, 1, "k9").await?.as_deref(), Some("dg=="));
    assert_eq!(read_value(&c, 1, "after").await?.as_deref(), Some("dg=="));
    assert_eq!(c.members(1).await?.members.len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_save_from_a_follower_holds_every_acknowledged_write_and_inspect_checks_it(
) -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    for i in 0..40 {
        let body = json!({"record": {"key": format!("k{i}"), "value": "dg=="}});
        assert_eq!(c.post(i % 3, "/store/write", &body).await?.0, 200);
    }
    let leader = c.leader(Duration::from_secs(10)).await?;
    let follower = (leader + 1) % 3;
    let cli = Cli::new()?;
    cli.use_env_as_admin("snap", &c.nodes[follower].addrs.proxy)?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("backup.snap");
    let file_arg = file.to_string_lossy().to_string();
    let out = cli.run(&["snapshot", "save", &file_arg]);
    assert_eq!(out.code, 0, "{}", out.combined());
    assert!(
        out.stdout.starts_with("Snapshot saved to"),
        "{}",
        out.stdout
    );

    let out = cli.run(&["snapshot", "inspect", &file_arg]);
    assert_eq!(out.code, 0, "{}", out.combined());
    let row = |what: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(what))
            .map(|l| l[what.len()..].trim().to_owned())
            .unwrap_or_else(|| panic!("no {what} row in {}", out.stdout))
    };
    assert_eq!(row("store records"), "40");
    assert_ne!(row("auth accounts"), "0", "the admin account is in it");
    assert_ne!(
        row("registry instances"),
        "0",
        "the core services are in it"
    );
    assert!(row("index").parse::<u64>()? > 40);

    // Damaged copies are refused with the reason, and nothing is printed as if it were fine.
    let bytes = std::fs::read(&file)?;
    let flipped = dir.path().join("flipped.snap");
    let mut f = bytes.clone();
    let last = f.len() - 1;
    f[last] ^= 0x40;
    std::fs::write(&flipped, f)?;
    let out = cli.run(&["snapshot", "inspect", &flipped.to_string_lossy()]);
    assert_ne!(out.code, 0);
    assert!(
        out.combined().contains("checksum mismatch"),
        "{}",
        out.combined()
    );
    let truncated = dir.path().join("truncated.snap");
    std::fs::write(&truncated, &bytes[..bytes.len() - 10])?;
    let out = cli.run(&["snapshot", "inspect", &truncated.to_string_lossy()]);
    assert_ne!(out.code, 0);
    assert!(out.combined().contains("truncated"), "{}", out.combined());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_founds_a_new_cluster_with_the_backup_and_refuses_bad_input() -> anyhow::Result<()>
{
    let c = TestCluster::start(3, &[]).await?;
    for i in 0..30 {
        let body = json!({"record": {"key": format!("k{i}"), "value": "dg=="}});
        assert_eq!(c.post(i % 3, "/store/write", &body).await?.0, 200);
    }
    let secret = json!({"path": "db.password", "value": {"data": "\"hunter2\""}, "options": {"secret": true}});
    assert_eq!(c.post(0, "/config/set", &secret).await?.0, 200);
    let cli = Cli::new()?;
    cli.use_env_as_admin("old", &c.nodes[1].addrs.proxy)?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("backup.snap");
    let out = cli.run(&["snapshot", "save", &file.to_string_lossy()]);
    assert_eq!(out.code, 0, "{}", out.combined());
    let shared = std::fs::read_to_string(c.nodes[0].data_dir.join("tls/shared-secrets"))?;
    let key = shared
        .lines()
        .find_map(|l| l.strip_prefix("config-secret-key "))
        .expect("the config key line")
        .trim()
        .to_owned();
    drop(c);

    // Refused before anything is written: no key, a non-empty data dir, a damaged file.
    let restore_into = |data: &std::path::Path, extra: &[&str]| {
        let mut p = micro_tests::ServerProcess::spawn(
            micro_tests::NodeAddrs::free(),
            data,
            &extra.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .expect("spawn");
        let code = p.wait_exit(Duration::from_secs(20)).expect("exit");
        (code, p.log_text())
    };
    let file_arg = file.to_string_lossy().to_string();
    let fresh = dir.path().join("new0");
    let (code, log) = restore_into(&fresh, &["--restore", &file_arg]);
    assert_ne!(code, Some(0));
    assert!(log.contains("sealed with the config key"), "{log}");
    assert!(!fresh.join("node-id").exists(), "nothing written");
    let mut bytes = std::fs::read(&file)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let damaged = dir.path().join("damaged.snap");
    std::fs::write(&damaged, bytes)?;
    let (code, log) = restore_into(
        &fresh,
        &[
            "--restore",
            &damaged.to_string_lossy(),
            "--config-secret-key",
            &key,
        ],
    );
    assert_ne!(code, Some(0));
    assert!(log.contains("checksum mismatch"), "{log}");

    // The real thing: a new cluster with everything, its secrets readable.
    let mut node = micro_tests::ServerProcess::spawn(
        micro_tests::NodeAddrs::free(),
        &fresh,
        &[
            "--restore".into(),
            file_arg.clone(),
            "--config-secret-key".into(),
            key.clone(),
        ],
    )?;
    node.wait_ready(Duration::from_secs(30)).await?;
    let token = micro_tests::auth::login(&node.addrs.api, "admin", "micro", "micro").await?;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("http://{}{path}", node.addrs.api))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    for i in 0..30 {
        let r = post("/store/read", json!({"key": format!("k{i}")})).await?;
        assert_eq!(r.status().as_u16(), 200, "k{i}");
    }
    let r: Value = post(
        "/config/get",
        json!({"path": "db.password", "options": {"secret": true}}),
    )
    .await?
    .json()
    .await?;
    assert_eq!(r["value"]["data"], "\"hunter2\"", "{r}");
    let (code, log) = restore_into(
        &fresh,
        &["--restore", &file_arg, "--config-secret-key", &key],
    );
    assert_ne!(
        code,
        Some(0),
        "a second restore into a used data dir is refused"
    );
    assert!(log.contains("needs an empty --data-dir"), "{log}");
    Ok(())
}
