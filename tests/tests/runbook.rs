//! The README's outage runbook, executed: a stuck leader (the others take over; killed and
//! restarted it rejoins as a follower), a full disk under the leader (writes fail with the
//! reason, nothing acknowledged is lost, the node recovers once space is freed and it is
//! restarted) and a damaged data dir (the node refuses to start; removed, wiped and joined
//! again it holds everything). Lost quorum is executed in `ops.rs`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use micro_proto::cluster::{cluster_client::ClusterClient, TransferLeaderRequest};
use micro_tests::disk::{fill, Tmpfs};
use micro_tests::{Cli, TestCluster};
use serde_json::{json, Value};

async fn get(addr: &str, path: &str) -> anyhow::Result<(u16, Value)> {
    let r = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    let code = r.status().as_u16();
    Ok((code, r.json().await.unwrap_or(Value::Null)))
}

async fn wait_ready(admin: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok((200, _)) = get(admin, "/ready").await {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{admin} not ready in {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes `key` through node `i`, retrying for up to 30 s while the cluster elects.
async fn write_eventually(c: &TestCluster, i: usize, key: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = json!({"record": {"key": key, "value": "dg=="}});
        let (code, answer) = c.post(i, "/store/write", &body).await?;
        if code == 200 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "write {key} via node {i}: {code} {answer}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Runbook "The leader is stuck": the leader freezes (SIGSTOP, as a hung process or a stalled
/// machine). The followers elect one of them and take writes; the stuck node, killed and
/// restarted on its data dir, rejoins as a follower with every write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_leader_is_replaced_and_rejoins_after_a_restart() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    let stuck = c.leader(Duration::from_secs(30)).await?;
    let stuck_id = c.id_of(stuck).await?;
    let mut acked = BTreeSet::new();
    for i in 0..10 {
        let key = format!("before-{i}");
        write_eventually(&c, i % 3, &key).await?;
        acked.insert(key);
    }
    c.nodes[stuck].pause()?;
    let others: Vec<usize> = (0..3).filter(|i| *i != stuck).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Asking only the live nodes: the frozen one accepts connections and never answers.
        if let Ok(m) = c.members(others[0]).await {
            if m.leader != 0 && m.leader != stuck_id {
                break;
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no new leader 30 s after the freeze"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 0..10 {
        let key = format!("during-{i}");
        write_eventually(&c, others[i % 2], &key).await?;
        acked.insert(key);
    }

    // Runbook step: kill it and restart it on its data dir.
    c.nodes[stuck].kill();
    c.nodes[stuck].start()?;
    c.nodes[stuck].wait_ready(Duration::from_secs(60)).await?;
    wait_ready(&c.nodes[stuck].addrs.admin, Duration::from_secs(30)).await?;
    let m = c.members(stuck).await?;
    assert_ne!(m.leader, stuck_id, "it rejoins as a follower");
    write_eventually(&c, stuck, "after").await?;
    acked.insert("after".into());
    for i in 0..3 {
        c.assert_holds(i, &acked).await?;
    }
    Ok(())
}

/// Runbook "A disk is full": the leader's data dir is a small tmpfs that fills up. Its writes
/// fail with the reason, `/health` reports it, the others elect a leader and go on, and after
/// space is freed and the node restarted it catches up; no acknowledged write is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_with_the_reason_and_the_node_recovers() -> anyhow::Result<()> {
    let mut c = TestCluster::start(2, &[]).await?;
    let Ok(_tmpfs) = Tmpfs::mount(&c.dir().join("node2"), "64m") else {
        println!("SKIPPED: mounting a tmpfs is not permitted here (the test needs root)");
        return Ok(());
    };
    let full = c.add_node().await?;
    let mut acked = BTreeSet::new();
    for i in 0..20 {
        let key = format!("before-{i}");
        write_eventually(&c, i % 3, &key).await?;
        acked.insert(key);
    }
    // The node on the small disk leads, so its full disk stops the cluster's writes for a
    // moment, the case that matters.
    let full_id = c.id_of(full).await?;
    ClusterClient::new(c.channel(0).await?)
        .transfer_leader(TransferLeaderRequest { id: full_id })
        .await?;
    assert_eq!(c.members(1).await?.leader, full_id);

    let filler = c.nodes[full].data_dir.join("filler");
    let filled = fill(&filler)?;
    println!("filled the node's disk with {} MiB", filled >> 20);
    let mut refusal = None;
    for i in 0..50 {
        let key = format!("full-{i}");
        let body = json!({"record": {"key": key, "value": "dg=="}});
        let (code, answer) = c.post(full, "/store/write", &body).await?;
        if code == 200 {
            acked.insert(key);
            continue;
        }
        refusal = Some((code, answer));
        break;
    }
    let (code, answer) = refusal.expect("writes kept succeeding on a full disk");
    let text = answer.to_string();
    println!("a write on the full disk: {code} {text}");
    assert_eq!(code, 503, "{text}");
    assert!(text.contains("No space left on device"), "{text}");
    assert!(text.contains("restart the node"), "{text}");
    let (code, health) = get(&c.nodes[full].addrs.admin, "/health").await?;
    assert_eq!(code, 503, "{health}");
    assert!(
        health["reason"]
            .as_str()
            .is_some_and(|r| r.contains("No space left on device")),
        "{health}"
    );
    assert!(c.nodes[full].is_running(), "the node must not crash");
    assert!(
        c.nodes[full]
            .log_shows("fix the cause (free disk space", Duration::from_secs(5))
            .await
    );

    // The two others elect a leader and take writes.
    for i in 0..10 {
        let key = format!("during-{i}");
        write_eventually(&c, i % 2, &key).await?;
        acked.insert(key);
    }

    // Runbook step: free space, restart the node on its data dir.
    std::fs::remove_file(&filler)?;
    let code = tokio::task::block_in_place(|| c.nodes[full].terminate(Duration::from_secs(30)))?;
    let log = c.nodes[full].log_text();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        !log.contains("hand leadership over"),
        "a stopped raft has nothing to hand over: {log}"
    );
    c.nodes[full].start()?;
    c.nodes[full].wait_ready(Duration::from_secs(60)).await?;
    wait_ready(&c.nodes[full].addrs.admin, Duration::from_secs(30)).await?;
    let (code, _) = get(&c.nodes[full].addrs.admin, "/health").await?;
    assert_eq!(code, 200);
    write_eventually(&c, full, "after").await?;
    acked.insert("after".into());
    for i in 0..3 {
        c.assert_holds(i, &acked).await?;
    }
    Ok(())
}

/// Runbook "A member's data dir is corrupt": a follower's raft database is damaged while it is
/// stopped. It refuses to start and says why; removed, wiped and joined again it holds every
/// write, those made while it was away included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_data_dir_is_refused_and_the_node_rejoins_after_a_wipe() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    let mut acked = BTreeSet::new();
    for i in 0..60 {
        let key = format!("k{i}");
        write_eventually(&c, i % 3, &key).await?;
        acked.insert(key);
    }
    let leader = c.leader(Duration::from_secs(30)).await?;
    let victim = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let victim_id = c.id_of(victim).await?;
    let code = tokio::task::block_in_place(|| c.nodes[victim].terminate(Duration::from_secs(30)))?;
    assert_eq!(code, Some(0));

    // Damage: the second half of the database file becomes garbage, as a failing disk would
    // leave it.
    let db = c.nodes[victim].data_dir.join("raft").join("db");
    let mut bytes = std::fs::read(&db)?;
    let half = bytes.len() / 2;
    let mut x = 0x9e37_79b9u32;
    for b in &mut bytes[half..] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(&db, bytes)?;
    c.nodes[victim].start()?;
    let exit = tokio::task::block_in_place(|| c.nodes[victim].wait_exit(Duration::from_secs(30)))?;
    let log = c.nodes[victim].log_text();
    assert_ne!(exit, Some(0), "{log}");
    println!(
        "refused: {}",
        log.lines()
            .rev()
            .find(|l| l.contains("data dir"))
            .unwrap_or_default()
    );
    assert!(log.contains("data dir"), "{log}");
    assert!(
        log.contains("lost data") || log.contains("corrupt"),
        "the reason is named: {log}"
    );
    for i in 0..10 {
        let key = format!("away-{i}");
        write_eventually(&c, other, &key).await?;
        acked.insert(key);
    }

    // Runbook step: remove the member, empty its data dir, join it again.
    let cli = Cli::new()?;
    cli.use_env_as_admin("ops", &c.nodes[other].addrs.proxy)?;
    let out = cli.run(&["cluster", "remove", &victim_id.to_string()]);
    assert_eq!(out.code, 0, "{}", out.combined());
    std::fs::remove_dir_all(&c.nodes[victim].data_dir)?;
    let join = [
        "--join".into(),
        c.nodes[other].addrs.peer.clone(),
        "--join-token".into(),
        c.token.clone(),
    ];
    c.nodes[victim].extra.extend(join);
    c.nodes[victim].start()?;
    c.nodes[victim].wait_ready(Duration::from_secs(60)).await?;
    wait_ready(&c.nodes[victim].addrs.admin, Duration::from_secs(30)).await?;
    let view = c.members(victim).await?;
    assert_eq!(view.members.len(), 3, "{view:?}");
    assert!(view.members.iter().all(|m| m.id != victim_id), "{view:?}");
    for i in 0..3 {
        c.assert_holds(i, &acked).await?;
    }
    Ok(())
}

/// Copies the directory tree `from` to `to` (files and directories only).
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Scattered damage (a few inverted bytes anywhere in the database, as jepsen's `disk` nemesis
/// does) either leaves a node that starts, or one that refuses with the reason; sled's own
/// recovery panics on some of it, which must not reach the operator as a crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scattered_byte_flips_never_crash_a_node() -> anyhow::Result<()> {
    // Small snapshots, often: sled's file then holds many pages of several kinds.
    let mut c = TestCluster::start(1, &["--snapshot-threshold", "50"]).await?;
    let value = "dmFsdWUg".repeat(1024);
    for i in 0..400 {
        let body = json!({"record": {"key": format!("k{i}"), "value": value}});
        let (code, answer) = c.post(0, "/store/write", &body).await?;
        assert_eq!(code, 200, "{answer}");
    }
    let code = tokio::task::block_in_place(|| c.nodes[0].terminate(Duration::from_secs(30)))?;
    assert_eq!(code, Some(0));
    let data = c.nodes[0].data_dir.clone();
    let pristine = c.dir().join("pristine");
    copy_tree(&data, &pristine)?;
    let (mut started, mut refused) = (0, 0);
    let mut x = 0x2545_f491u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for trial in 0..24 {
        std::fs::remove_dir_all(&data)?;
        copy_tree(&pristine, &data)?;
        let db = data.join("raft").join("db");
        let mut bytes = std::fs::read(&db)?;
        // Trial 0 is the untouched copy, which must start.
        let flips = if trial == 0 { 0 } else { 1 + next() % 15 };
        for _ in 0..flips {
            let at = next() as usize % bytes.len();
            bytes[at] = !bytes[at];
        }
        std::fs::write(&db, bytes)?;
        // The log file grows across starts: judge only what this start wrote.
        let before = c.nodes[0].log_text().len();
        c.nodes[0].start()?;
        let ready = c.nodes[0].wait_ready(Duration::from_secs(30)).await;
        let log = c.nodes[0].log_text().split_off(before);
        assert!(
            !log.contains("panicked"),
            "trial {trial} ({flips} flips) crashed the node: {log}"
        );
        match ready {
            Ok(()) => {
                started += 1;
                tokio::task::block_in_place(|| c.nodes[0].terminate(Duration::from_secs(30)))?;
            }
            Err(e) => {
                assert!(trial > 0, "the untouched copy did not start: {e:#}");
                refused += 1;
                assert!(
                    log.contains("the data dir") || log.contains("data dir is damaged"),
                    "trial {trial}: {log}"
                );
            }
        }
    }
    println!("scattered flips: {started} starts, {refused} refusals");
    Ok(())
}
