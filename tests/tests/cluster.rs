//! Three-node clusters of real processes: forwarding, linearizable reads from any node,
//! failover, restarts, snapshots and admission control.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use micro_proto::store::{ReadOptions, ReadRequest, Record, WriteRequest};
use micro_tests::{Cli, TestCluster};

const LEADER: Duration = Duration::from_secs(30);

fn write_req(key: &str, value: &str) -> WriteRequest {
    WriteRequest {
        record: Some(Record {
            key: key.into(),
            value: value.as_bytes().to_vec(),
            ..Default::default()
        }),
        options: None,
    }
}

async fn read(c: &TestCluster, node: usize, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let mut s = c.store(node).await?;
    match s
        .read(ReadRequest {
            key: key.into(),
            options: None,
        })
        .await
    {
        Ok(r) => Ok(r.into_inner().records.into_iter().next().map(|r| r.value)),
        Err(st) if st.code() == tonic::Code::NotFound => Ok(None),
        Err(st) => Err(st.into()),
    }
}

/// Writes through `node`, retrying while the cluster elects a leader.
async fn write_retrying(
    c: &TestCluster,
    node: usize,
    key: &str,
    value: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + LEADER;
    loop {
        let r = match c.store(node).await {
            Ok(mut s) => s
                .write(write_req(key, value))
                .await
                .map(|_| ())
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_through_one_node_is_read_at_once_through_another() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    write_retrying(&c, 1, "greeting", "hello").await?;
    assert_eq!(read(&c, 2, "greeting").await?, Some(b"hello".to_vec()));

    // The same through the HTTP gateway: write on node 3, read on node 1.
    let (code, _) = c
        .post(
            2,
            "/store/write",
            &serde_json::json!({"record": {"key": "h", "value": "aGk="}}),
        )
        .await?;
    assert_eq!(code, 200);
    let (code, body) = c
        .post(0, "/store/read", &serde_json::json!({"key": "h"}))
        .await?;
    assert_eq!(code, 200);
    assert_eq!(body["records"][0]["value"], "aGk=");

    // The CLI pointed at node 2 sees every member with one leader.
    let cli = Cli::new()?;
    cli.use_env_as_admin("cluster", &c.nodes[1].addrs.proxy)?;
    let out = cli.run(&["cluster", "members", "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.combined());
    let v: serde_json::Value = serde_json::from_str(&out.stdout)?;
    let members = v["members"].as_array().cloned().unwrap_or_default();
    assert_eq!(members.len(), 3, "{v}");
    assert_eq!(
        members.iter().filter(|m| m["role"] == "leader").count(),
        1,
        "{v}"
    );
    assert!(members.iter().any(|m| m["id"] == v["leader"]), "{v}");
    for m in &members {
        for field in [
            "peer_address",
            "api_address",
            "proxy_address",
            "applied_index",
        ] {
            assert!(!m[field].is_null(), "{field} missing in {m}");
        }
    }
    // A write through the CLI on one node, read through the CLI on another.
    assert_eq!(
        cli.run(&["store", "write", "cli-key", "cli value"]).stdout,
        ""
    );
    cli.use_env_as_admin("other", &c.nodes[2].addrs.proxy)?;
    let out = cli.run(&["store", "read", "cli-key"]);
    assert_eq!(out.stdout, "cli value\n", "{}", out.combined());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kill_elects_a_new_leader_and_the_restarted_node_catches_up() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    let old = c.leader(LEADER).await?;
    let survivor = (old + 1) % 3;
    write_retrying(&c, survivor, "before", "1").await?;
    c.nodes[old].kill();

    write_retrying(&c, survivor, "after", "2").await?;
    let new = c.leader(LEADER).await?;
    assert_ne!(new, old);
    for i in 0..10 {
        write_retrying(&c, survivor, &format!("k{i}"), "v").await?;
    }

    c.nodes[old].start()?;
    c.nodes[old].wait_ready(Duration::from_secs(60)).await?;
    // A linearizable read on the restarted node waits until it has caught up.
    for key in ["before", "after", "k9"] {
        assert!(
            read(&c, old, key).await?.is_some(),
            "{key} missing on the restarted node"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_restarts_and_kill_9_of_every_node_under_load(
) -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    for i in 0..5 {
        write_retrying(&c, i % 3, &format!("calm{i}"), "v").await?;
    }
    // Graceful whole-cluster restart.
    for n in c.nodes.iter_mut() {
        assert_eq!(
            n.terminate(Duration::from_secs(20))?,
            Some(0),
            "graceful exit:\n{}",
            n.log_text()
        );
    }
    for n in c.nodes.iter_mut() {
        n.start()?;
    }
    for n in c.nodes.iter_mut() {
        n.wait_ready(Duration::from_secs(60)).await?;
    }
    c.leader(LEADER).await?;
    for i in 0..5 {
        assert!(read(&c, (i + 1) % 3, &format!("calm{i}")).await?.is_some());
    }

    // Concurrent writers on every node, then kill -9 of all nodes at once.
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..6 {
        let addr = c.nodes[w % 3].addrs.proxy.clone();
        let (acked, stop, admin) = (acked.clone(), stop.clone(), c.admin.clone());
        writers.push(tokio::spawn(async move {
            let Ok(channel) = micro_tests::auth::connect(&addr, &admin).await else {
                return;
            };
            let mut s = micro_proto::store::store_client::StoreClient::new(channel);
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let key = format!("load-{w}-{i}");
                if s.write(write_req(&key, "x")).await.is_ok() {
                    acked.lock().map(|mut a| a.insert(key)).ok();
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for n in c.nodes.iter_mut() {
        n.kill();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        let _ = w.await;
    }
    let acked: Vec<String> = acked
        .lock()
        .map(|a| a.iter().cloned().collect())
        .unwrap_or_default();
    assert!(!acked.is_empty(), "no write was acknowledged under load");

    for n in c.nodes.iter_mut() {
        n.start()?;
    }
    for n in c.nodes.iter_mut() {
        n.wait_ready(Duration::from_secs(60)).await?;
    }
    c.leader(LEADER).await?;
    for node in 0..3 {
        let mut s = c.store(node).await?;
        let opts = ReadOptions {
            prefix: true,
            ..Default::default()
        };
        let got = s
            .read(ReadRequest {
                key: "load-".into(),
                options: Some(opts),
            })
            .await?
            .into_inner();
        let present: BTreeSet<String> = got.records.into_iter().map(|r| r.key).collect();
        let lost: Vec<&String> = acked.iter().filter(|k| !present.contains(*k)).collect();
        assert!(
            lost.is_empty(),
            "node {node} lost {} acknowledged writes, e.g. {:?}",
            lost.len(),
            lost.first()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joining_after_the_log_was_purged_catches_up_through_a_snapshot(
) -> anyhow::Result<()> {
    let mut c = TestCluster::start(1, &["--snapshot-threshold", "20"]).await?;
    let mut s = c.store(0).await?;
    for i in 0..120 {
        s.write(write_req(&format!("snap{i:03}"), "v")).await?;
    }
    // The log behind the latest snapshot is gone: entry 1 can no longer be replicated.
    let first = c.members(0).await?.members.remove(0);
    assert!(first.snapshot_index > 0, "no snapshot was taken: {first:?}");
    assert!(first.purged_index > 1, "the log was not purged: {first:?}");

    let joined = c.add_node().await?;
    assert!(read(&c, joined, "snap119").await?.is_some());
    assert!(read(&c, joined, "snap000").await?.is_some());
    let me = c.members(joined).await?;
    let joiner = me
        .members
        .iter()
        .find(|m| m.peer_address == c.nodes[joined].addrs.peer)
        .cloned();
    let joiner = joiner.ok_or_else(|| anyhow::anyhow!("joiner not in membership"))?;
    assert!(
        joiner.snapshot_index >= first.purged_index,
        "the joiner did not install a snapshot: {joiner:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_refused_and_strangers_cannot_send_raft_messages() -> anyhow::Result<()> {
    let c = TestCluster::start(1, &[]).await?;
    let before = c.members(0).await?;

    // A token whose secret is wrong (the CA pin is right).
    let mut parts: Vec<String> = c.token.split('.').map(String::from).collect();
    parts[2] = "00".repeat(32);
    let bad = parts.join(".");
    let dir = c.dir().join("intruder");
    let mut p = micro_tests::ServerProcess::spawn(
        micro_tests::NodeAddrs::free(),
        &dir,
        &[
            "--join".into(),
            c.nodes[0].addrs.peer.clone(),
            "--join-token".into(),
            bad,
        ],
    )?;
    let code = p.wait_exit(Duration::from_secs(60))?;
    assert_ne!(code, Some(0));
    assert!(
        p.log_text().contains("join token rejected"),
        "{}",
        p.log_text()
    );
    // A token pinning another cluster's CA.
    let other = micro_raft::tls::ClusterCa::generate()?;
    let foreign = micro_raft::token::JoinToken::generate(&other.cert_der()?).reveal();
    let mut p2 = micro_tests::ServerProcess::spawn(
        micro_tests::NodeAddrs::free(),
        &c.dir().join("intruder2"),
        &[
            "--join".into(),
            c.nodes[0].addrs.peer.clone(),
            "--join-token".into(),
            foreign,
        ],
    )?;
    assert_ne!(p2.wait_exit(Duration::from_secs(60))?, Some(0));
    assert!(
        p2.log_text().contains("CA fingerprint mismatch"),
        "{}",
        p2.log_text()
    );
    let after = c.members(0).await?;
    assert_eq!(before.members.len(), after.members.len());

    // Without a certificate, a raft vote with a huge term is refused and changes nothing.
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    let anon = micro_raft::transport::PeerClient::new(
        endpoint.clone(),
        micro_raft::tls::discovery_client_config()?,
    )?;
    let vote = openraft::raft::VoteRequest::new(openraft::Vote::new(1_000, 42), None);
    let resp = anon
        .call(
            &c.nodes[0].addrs.peer,
            &micro_raft::frame::PeerRequest::Vote(vote.clone()),
            Duration::from_secs(5),
        )
        .await?;
    assert!(
        matches!(resp, micro_raft::frame::PeerResponse::Refused(_)),
        "{resp:?}"
    );
    // With a certificate of another cluster the handshake itself fails.
    let stranger = other.issue(42)?;
    let foreign_client = micro_raft::transport::PeerClient::new(
        endpoint.clone(),
        micro_raft::tls::member_client_config(other.cert_pem(), &stranger)?,
    )?;
    let r = foreign_client
        .call(
            &c.nodes[0].addrs.peer,
            &micro_raft::frame::PeerRequest::Vote(vote),
            Duration::from_secs(5),
        )
        .await;
    assert!(r.is_err(), "a foreign certificate was accepted: {r:?}");
    assert_eq!(
        c.members(0).await?.term,
        before.term,
        "the stranger's vote changed the term"
    );
    Ok(())
}

/// Concurrent writes on one node share raft entries (the store batcher), and a record's
/// revision is its entry's index: writes of one key must still never share a revision, or a
/// compare-and-set against one of them could succeed after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_of_one_key_get_distinct_revisions() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    write_retrying(&c, 0, "warm-up", "x").await?;
    let store = c.store(1).await?;
    let writes = (0..48).map(|i| {
        let mut store = store.clone();
        // Half of them write one key, the rest a key each.
        let key = if i % 2 == 0 {
            "shared".to_owned()
        } else {
            format!("own-{i}")
        };
        tokio::spawn(async move {
            let r = store.write(write_req(&key, &i.to_string())).await?;
            anyhow::Ok((key, r.into_inner().revision))
        })
    });
    let mut shared = Vec::new();
    for w in futures::future::join_all(writes).await {
        let (key, revision) = w??;
        if key == "shared" {
            shared.push(revision);
        }
    }
    let distinct: BTreeSet<u64> = shared.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        shared.len(),
        "revisions of one key repeat: {shared:?}"
    );
    // The record left is the one written at the highest revision.
    let mut res = c
        .store(2)
        .await?
        .read(ReadRequest {
            key: "shared".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let record = res.records.pop().expect("one record");
    assert_eq!(Some(&record.revision), distinct.last());
    Ok(())
}
