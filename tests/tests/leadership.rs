//! Moving leadership: `micro cluster transfer-leader` to a named node and its refusals, and a
//! rolling restart under load in which each leaving leader hands over before it stops.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use micro_tests::{Cli, TestCluster};
use serde_json::json;

/// The id and index of the node `c.members(via)` names as leader.
async fn leader_id(c: &TestCluster, via: usize) -> anyhow::Result<u64> {
    Ok(c.members(via).await?.leader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_leader_to_a_named_node_and_refusals() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    let learner = c.add_node_with(&["--learner"]).await?;
    let learner_id = c.id_of(learner).await?;
    let leader = c.leader(Duration::from_secs(30)).await?;
    let (target, other) = ((leader + 1) % 3, (leader + 2) % 3);
    let target_id = c.id_of(target).await?;
    // The CLI talks to a node that is neither the leader nor the target: the request is
    // forwarded to the leader.
    let cli = Cli::new()?;
    cli.use_env_as_admin("ops", &c.nodes[other].addrs.proxy)?;

    let started = Instant::now();
    let out = cli.run(&["cluster", "transfer-leader", &target_id.to_string()]);
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.combined());
    assert_eq!(out.stdout, "");
    println!("transfer-leader took {took:?} (CLI process included)");
    // Answered only once the target leads, as every member sees it.
    for i in 0..3 {
        assert_eq!(leader_id(&c, i).await?, target_id, "as node {i} sees it");
    }
    let body = json!({"record": {"key": "after-transfer", "value": "dg=="}});
    assert_eq!(c.post(target, "/store/write", &body).await?.0, 200);

    // The current leader: nothing to do, success (as etcd's move-leader).
    let out = cli.run(&["cluster", "transfer-leader", &format!("{target_id:016x}")]);
    assert_eq!(out.code, 0, "{}", out.combined());
    assert_eq!(leader_id(&c, other).await?, target_id);

    // Refusals name the reason and leave the leader where it is.
    let refused = |args: &[&str], why: &str| {
        let out = cli.run(args);
        assert_ne!(out.code, 0, "micro {args:?}: {}", out.combined());
        assert!(
            out.combined().contains(why),
            "micro {args:?}: {}",
            out.combined()
        );
    };
    refused(&["cluster", "transfer-leader", "12345"], "not a member");
    refused(
        &["cluster", "transfer-leader", &learner_id.to_string()],
        "is a learner",
    );
    refused(
        &["cluster", "transfer-leader", "not-an-id"],
        "nvalid member id",
    );
    let old_leader_id = c.id_of(leader).await?;
    c.nodes[leader].kill();
    refused(
        &["cluster", "transfer-leader", &old_leader_id.to_string()],
        "does not answer",
    );
    assert_eq!(leader_id(&c, other).await?, target_id);
    let body = json!({"record": {"key": "after-refusals", "value": "dg=="}});
    assert_eq!(c.post(other, "/store/write", &body).await?.0, 200);

    // No voter was left unable to elect: with the leader gone, the other voter takes over.
    c.nodes[leader].start()?;
    c.nodes[leader].wait_ready(Duration::from_secs(60)).await?;
    c.nodes[target].kill();
    let started = Instant::now();
    let next = c.leader(Duration::from_secs(20)).await?;
    println!(
        "re-election after killing the new leader took {:?}",
        started.elapsed()
    );
    assert_ne!(next, target);
    let body = json!({"record": {"key": "after-kill", "value": "dg=="}});
    assert_eq!(c.post(next, "/store/write", &body).await?.0, 200);
    Ok(())
}

/// What the clients of the rolling restart saw.
#[derive(Default)]
struct Outcome {
    acked: Mutex<BTreeSet<String>>,
    /// When each write was acknowledged, for the longest stretch without one.
    acked_at: Mutex<Vec<Instant>>,
    /// Operations that failed on every attempt (what a user would see).
    failed: Mutex<Vec<String>>,
    /// Reads of an acknowledged key that did not find it.
    missing: Mutex<Vec<String>>,
    /// Attempts that failed and were retried on another node.
    retries: AtomicU64,
    /// The slowest operation, retries included, in milliseconds.
    slowest_ms: AtomicU64,
    ops: AtomicU64,
}

/// Tries `body` at `path` on each node in turn, starting at `first`, until one answers 200 or
/// 404, for at most `ATTEMPTS` attempts; returns the status or the last failure.
async fn with_retries(
    http: &reqwest::Client,
    apis: &[String],
    token: &str,
    first: usize,
    path: &str,
    body: &serde_json::Value,
    out: &Outcome,
) -> Result<(u16, serde_json::Value), String> {
    const ATTEMPTS: usize = 12;
    let started = Instant::now();
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        let api = &apis[(first + attempt) % apis.len()];
        let answer = http
            .post(format!("http://{api}{path}"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await;
        match answer {
            Ok(r) if matches!(r.status().as_u16(), 200 | 404) => {
                let code = r.status().as_u16();
                let v = r.json().await.unwrap_or(serde_json::Value::Null);
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                out.slowest_ms.fetch_max(ms, Ordering::SeqCst);
                out.ops.fetch_add(1, Ordering::SeqCst);
                return Ok((code, v));
            }
            Ok(r) => {
                last = format!(
                    "{api}: {} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                )
            }
            Err(e) => last = format!("{api}: {e}"),
        }
        out.retries.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last)
}

/// Each node in turn gets SIGTERM, exits, and starts again on its data dir while clients
/// pointed at every node write unique keys and read acknowledged ones, retrying on another
/// node on error. No operation fails on every attempt, no acknowledged write is missing from
/// any read or any node, and each leaving leader hands over (no election timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_under_load_loses_nothing_and_shows_no_error() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    let apis: Arc<Vec<String>> = Arc::new(c.nodes.iter().map(|n| n.addrs.api.clone()).collect());
    let token = c.admin_token.clone();
    let out = Arc::new(Outcome::default());
    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    let mut clients = Vec::new();
    for w in 0..6 {
        let (apis, token, out, stop, http) = (
            apis.clone(),
            token.clone(),
            out.clone(),
            stop.clone(),
            http.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let first = (w + i as usize) % apis.len();
                if w % 2 == 0 {
                    let key = format!("roll-{w}-{i}");
                    let body = json!({"record": {"key": key, "value": "dg=="}});
                    match with_retries(&http, &apis, &token, first, "/store/write", &body, &out)
                        .await
                    {
                        Ok((200, _)) => {
                            out.acked.lock().map(|mut a| a.insert(key)).ok();
                            out.acked_at.lock().map(|mut a| a.push(Instant::now())).ok();
                        }
                        Ok((code, v)) => out
                            .failed
                            .lock()
                            .map(|mut f| f.push(format!("write {key}: {code} {v}")))
                            .unwrap_or_default(),
                        Err(e) => out
                            .failed
                            .lock()
                            .map(|mut f| f.push(format!("write {key}: {e}")))
                            .unwrap_or_default(),
                    }
                } else {
                    let key = out
                        .acked
                        .lock()
                        .ok()
                        .and_then(|a| a.iter().nth(i as usize % a.len().max(1)).cloned());
                    let Some(key) = key else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let body = json!({"key": key});
                    match with_retries(&http, &apis, &token, first, "/store/read", &body, &out)
                        .await
                    {
                        Ok((200, _)) => {}
                        Ok((code, v)) => out
                            .missing
                            .lock()
                            .map(|mut m| m.push(format!("read {key}: {code} {v}")))
                            .unwrap_or_default(),
                        Err(e) => out
                            .failed
                            .lock()
                            .map(|mut f| f.push(format!("read {key}: {e}")))
                            .unwrap_or_default(),
                    }
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let term_before = c.members(0).await?.term;
    let mut leaders = Vec::new();
    // The leader first, so at least one leaving node hands over whatever happened before.
    let first = c.leader(Duration::from_secs(30)).await?;
    for i in [first, (first + 1) % 3, (first + 2) % 3] {
        let leader = c.leader(Duration::from_secs(30)).await?;
        let was_leader = leader == i;
        let started = Instant::now();
        let code = tokio::task::block_in_place(|| c.nodes[i].terminate(Duration::from_secs(30)))?;
        let stopped = started.elapsed();
        assert_eq!(code, Some(0), "node {i}: {}", c.nodes[i].log_text());
        if was_leader {
            let log = c.nodes[i].log_text();
            let line = log.lines().find(|l| l.contains("leadership transferred"));
            assert!(
                line.is_some() && log.contains("handed leadership over"),
                "the leaving leader did not hand over: {log}"
            );
            println!("node {i} handed over: {}", line.unwrap_or_default());
        }
        c.nodes[i].start()?;
        c.nodes[i].wait_ready(Duration::from_secs(60)).await?;
        let admin = c.nodes[i].addrs.admin.clone();
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("http://{admin}/ready"))
            .await
            .map_or(true, |r| r.status() != 200)
        {
            assert!(Instant::now() < deadline, "node {i} not ready again");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!(
            "node {i} (leader: {was_leader}) stopped in {stopped:?}, back and ready after {:?}",
            started.elapsed()
        );
        leaders.push(was_leader);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await?;
    }
    let term_after = c.members(0).await?.term;
    let mut at = out.acked_at.lock().map(|a| a.clone()).unwrap_or_default();
    at.sort();
    let longest_gap = at
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap_or_default();

    let failed = out.failed.lock().map(|f| f.clone()).unwrap_or_default();
    let missing = out.missing.lock().map(|m| m.clone()).unwrap_or_default();
    let acked = out.acked.lock().map(|a| a.clone()).unwrap_or_default();
    println!(
        "{} operations, {} acknowledged writes, {} retried attempts, slowest operation {} ms, \
         longest stretch without an acknowledged write {longest_gap:?}, \
         terms {term_before} → {term_after}",
        out.ops.load(Ordering::SeqCst),
        acked.len(),
        out.retries.load(Ordering::SeqCst),
        out.slowest_ms.load(Ordering::SeqCst),
    );
    assert!(leaders.contains(&true), "no restarted node was the leader");
    assert!(failed.is_empty(), "errors reached the clients: {failed:?}");
    assert!(
        missing.is_empty(),
        "acknowledged writes not read: {missing:?}"
    );
    assert!(acked.len() > 50, "the writers wrote: {}", acked.len());
    for i in 0..3 {
        c.assert_holds(i, &acked).await?;
    }
    Ok(())
}

/// With five voters the old leader's vote is not enough: the successor wins once the other
/// followers' leases lapse (nothing renews them during a transfer), within the transfer's
/// bound. Transfers back and forth, each answered once the new leader serves a write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_leader_among_five_voters() -> anyhow::Result<()> {
    let mut c = TestCluster::start(5, &[]).await?;
    for round in 0..3 {
        let leader = c.leader(Duration::from_secs(30)).await?;
        let target = (leader + 2) % 5;
        let target_id = c.id_of(target).await?;
        let started = Instant::now();
        micro_proto::cluster::cluster_client::ClusterClient::new(c.channel(leader).await?)
            .transfer_leader(micro_proto::cluster::TransferLeaderRequest { id: target_id })
            .await?;
        println!(
            "five voters, round {round}: transfer took {:?}",
            started.elapsed()
        );
        // Another follower learns of the new leader from its first heartbeat, which may come
        // after the transfer was answered.
        let other = (target + 1) % 5;
        let known = Instant::now() + Duration::from_secs(5);
        let mut seen = leader_id(&c, other).await?;
        while seen == 0 && Instant::now() < known {
            tokio::time::sleep(Duration::from_millis(50)).await;
            seen = leader_id(&c, other).await?;
        }
        assert_eq!(seen, target_id);
        let body = json!({"record": {"key": format!("five-{round}"), "value": "dg=="}});
        assert_eq!(c.post(target, "/store/write", &body).await?.0, 200);
    }
    Ok(())
}
