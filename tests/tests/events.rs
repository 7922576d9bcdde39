//! The events service on three-node clusters of real processes: a thousand events published
//! through every node while one node crashes and restarts, consumed by a group exactly once in
//! log order across a restart of the consuming node; HTTP publish, read and server-sent events;
//! bad input; consumers that never acknowledge; the CLI.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use micro_proto::events::start_position::Position;
use micro_proto::events::store_client::StoreClient;
use micro_proto::events::stream_client::StreamClient;
use micro_proto::events::{
    AckRequest, ConsumeRequest, Event, GroupInfo, PublishRequest, ReadRequest, StartPosition,
    TopicsRequest,
};
use micro_tests::{auth, Authed, Bearer, Cli, TestCluster};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::Streaming;

const EVENTS: usize = 1000;
const PUBLISHERS: usize = 8;
const WAIT: Duration = Duration::from_secs(120);

/// A gRPC consumer: its outbound messages (acks, close) and the deliveries.
struct Consumer {
    outbound: mpsc::Sender<ConsumeRequest>,
    inbound: Streaming<Event>,
}

impl Consumer {
    async fn open(channel: Authed, first: ConsumeRequest) -> anyhow::Result<Consumer> {
        let (outbound, rx) = mpsc::channel(1024);
        let messages = tokio_stream::iter([first]).chain(ReceiverStream::new(rx));
        let inbound = StreamClient::new(channel)
            .consume(messages)
            .await?
            .into_inner();
        Ok(Consumer { outbound, inbound })
    }

    /// The next delivery, failing after `within`.
    async fn next(&mut self, within: Duration) -> anyhow::Result<Event> {
        match tokio::time::timeout(within, self.inbound.message()).await {
            Ok(Ok(Some(e))) => Ok(e),
            Ok(Ok(None)) => anyhow::bail!("the stream ended"),
            Ok(Err(status)) => Err(status.into()),
            Err(_) => anyhow::bail!("no delivery within {within:?}"),
        }
    }

    async fn ack(&mut self, e: &Event, success: bool) -> anyhow::Result<()> {
        let ack = AckRequest {
            id: e.id.clone(),
            success,
            sequence: e.sequence,
            ..Default::default()
        };
        self.outbound
            .send(ConsumeRequest {
                ack: Some(ack),
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    /// Asks the server to commit the acks and end the stream; returns what it still sent.
    async fn close(mut self) -> anyhow::Result<Vec<Event>> {
        self.outbound
            .send(ConsumeRequest {
                close: true,
                ..Default::default()
            })
            .await?;
        let mut rest = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(30), self.inbound.message()).await {
                Ok(Ok(Some(e))) => rest.push(e),
                Ok(Ok(None)) => return Ok(rest),
                Ok(Err(status)) => return Err(status.into()),
                Err(_) => anyhow::bail!("the server did not close the stream"),
            }
        }
    }
}

fn consume_request(topic: &str, group: &str, ack_wait: Duration, in_flight: u32) -> ConsumeRequest {
    ConsumeRequest {
        group: group.into(),
        topic: topic.into(),
        ack_wait: ack_wait.as_nanos() as i64,
        start: Some(StartPosition {
            position: Some(Position::Earliest(true)),
        }),
        max_in_flight: in_flight,
        ..Default::default()
    }
}

/// Every retained event of `topic` as node `i` reads it, paging through Store.Read.
async fn read_all(c: &TestCluster, i: usize, topic: &str) -> anyhow::Result<Vec<(u64, String)>> {
    let mut store = StoreClient::new(c.channel(i).await?);
    let mut out = Vec::new();
    loop {
        let page = store
            .read(ReadRequest {
                topic: topic.into(),
                limit: 250,
                offset: out.len() as u64,
            })
            .await?
            .into_inner()
            .events;
        if page.is_empty() {
            return Ok(out);
        }
        out.extend(page.into_iter().map(|e| (e.sequence, e.id)));
    }
}

async fn group_info(
    c: &TestCluster,
    i: usize,
    topic: &str,
    group: &str,
) -> anyhow::Result<GroupInfo> {
    let topics = StoreClient::new(c.channel(i).await?)
        .topics(TopicsRequest {})
        .await?
        .into_inner()
        .topics;
    topics
        .into_iter()
        .find(|t| t.topic == topic)
        .and_then(|t| t.groups.into_iter().find(|g| g.group == group))
        .ok_or_else(|| anyhow::anyhow!("no group {group} on topic {topic}"))
}

/// Publishes `id` through the nodes in turn from `first`, retrying with the same id (which
/// the topic deduplicates) until one answers.
async fn publish_retrying(
    proxies: &[String],
    bearer: &Bearer,
    first: usize,
    topic: &str,
    id: &str,
    payload: Vec<u8>,
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + WAIT;
    let mut node = first;
    loop {
        let attempt = async {
            let ch = auth::connect(&proxies[node], bearer).await?;
            let r = StreamClient::new(ch)
                .publish(PublishRequest {
                    topic: topic.into(),
                    payload: payload.clone(),
                    id: id.into(),
                    ..Default::default()
                })
                .await?;
            anyhow::Ok(r.into_inner().sequence)
        };
        match tokio::time::timeout(Duration::from_secs(15), attempt).await {
            Ok(Ok(seq)) => return Ok(seq),
            Ok(Err(e)) if Instant::now() > deadline => return Err(e),
            _ if Instant::now() > deadline => anyhow::bail!("publishing {id} timed out"),
            _ => {
                node = (node + 1) % proxies.len();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_events_with_restarts_are_consumed_once_in_log_order() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    let leader = c.leader(Duration::from_secs(30)).await?;
    let crashed = (0..3).find(|i| *i != leader).unwrap_or(1);
    let consuming = (0..3).find(|i| *i != leader && *i != crashed).unwrap_or(2);
    let proxies: Vec<String> = c.nodes.iter().map(|n| n.addrs.proxy.clone()).collect();

    // Publishers spread over every node; each retries elsewhere with the same id.
    let published = Arc::new(AtomicUsize::new(0));
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let (proxies, bearer, published) = (proxies.clone(), c.admin.clone(), published.clone());
        publishers.push(tokio::spawn(async move {
            for i in (p..EVENTS).step_by(PUBLISHERS) {
                let id = format!("ev-{i:04}");
                publish_retrying(
                    &proxies,
                    &bearer,
                    i % 3,
                    "orders",
                    &id,
                    i.to_string().into_bytes(),
                )
                .await?;
                published.fetch_add(1, Ordering::SeqCst);
            }
            anyhow::Ok(())
        }));
    }

    // Meanwhile a group consumes on a node that stays up, one delivery at a time, leaving the
    // first delivery of sequence 100 unacknowledged: it must come again after the ack wait.
    let first = consume_request("orders", "workers", Duration::from_secs(3), 1);
    let mut consumer = Consumer::open(c.channel(consuming).await?, first).await?;
    let phase_a = tokio::spawn(async move {
        let mut seen: Vec<(u64, u32, String)> = Vec::new();
        loop {
            let e = consumer.next(WAIT).await?;
            seen.push((e.sequence, e.attempt, e.id.clone()));
            let withheld = e.sequence == 100 && e.attempt == 1;
            if !withheld {
                consumer.ack(&e, true).await?;
            }
            if e.sequence == 600 {
                // What the server sent after this is handed back to the group by the close.
                consumer.close().await?;
                return anyhow::Ok(seen);
            }
        }
    });

    // Crash a follower a third of the way through and bring it back.
    let deadline = Instant::now() + WAIT;
    while published.load(Ordering::SeqCst) < EVENTS / 3 {
        anyhow::ensure!(Instant::now() < deadline, "publishing stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.nodes[crashed].kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    c.nodes[crashed].start()?;
    c.nodes[crashed].wait_ready(Duration::from_secs(60)).await?;
    for p in publishers {
        p.await??;
    }

    // Every node holds the same log: the thousand ids, once each, at sequences 1..=1000.
    let log = read_all(&c, 0, "orders").await?;
    assert_eq!(log.len(), EVENTS);
    assert!(log
        .iter()
        .enumerate()
        .all(|(i, (seq, _))| *seq == i as u64 + 1));
    let ids: BTreeSet<&String> = log.iter().map(|(_, id)| id).collect();
    let want: Vec<String> = (0..EVENTS).map(|i| format!("ev-{i:04}")).collect();
    assert_eq!(ids, want.iter().collect::<BTreeSet<_>>());
    for i in 1..3 {
        assert_eq!(read_all(&c, i, "orders").await?, log, "node {i} disagrees");
    }
    let id_at: BTreeMap<u64, String> = log.into_iter().collect();

    let seen_a = phase_a.await??;
    // Six hundred acknowledged; at most the one delivery in flight was handed back.
    let info = group_info(&c, consuming, "orders", "workers").await?;
    assert_eq!(info.cursor - 1 - info.pending, 600, "{info:?}");
    assert!(info.pending <= 1 && info.dropped == 0, "{info:?}");

    // The consuming node crashes; the group resumes where it left off, on the same node.
    c.nodes[consuming].kill();
    c.nodes[consuming].start()?;
    c.nodes[consuming]
        .wait_ready(Duration::from_secs(60))
        .await?;
    let first = consume_request("orders", "workers", Duration::from_secs(30), 20);
    let mut consumer = Consumer::open(c.channel(consuming).await?, first).await?;
    let mut seen_b = Vec::new();
    loop {
        let e = consumer.next(WAIT).await?;
        consumer.ack(&e, true).await?;
        seen_b.push((e.sequence, e.attempt, e.id.clone()));
        if e.sequence == EVENTS as u64 {
            break;
        }
    }
    let rest = consumer.close().await?;
    assert!(rest.is_empty(), "{rest:?}");

    // Each event processed exactly once and in log order; only the withheld one came twice
    // (its second delivery acknowledged).
    let all: Vec<_> = seen_a.into_iter().chain(seen_b).collect();
    let mut times: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    let mut order = Vec::new();
    for (seq, attempt, _) in &all {
        let t = times.entry(*seq).or_default();
        if t.is_empty() {
            order.push(*seq);
        }
        t.push(*attempt);
    }
    assert_eq!(order, (1..=EVENTS as u64).collect::<Vec<_>>());
    let twice: Vec<_> = times.iter().filter(|(_, t)| t.len() > 1).collect();
    assert_eq!(twice, [(&100, &vec![1, 2])]);
    for (seq, _, id) in &all {
        assert_eq!(id_at.get(seq), Some(id), "sequence {seq}");
    }
    let info = group_info(&c, 0, "orders", "workers").await?;
    assert_eq!(
        (info.cursor, info.pending, info.dropped),
        (1001, 0, 0),
        "{info:?}"
    );
    Ok(())
}

/// Reads server-sent events from a streaming response until `n` `data:` events arrived.
async fn sse_events(resp: &mut reqwest::Response, n: usize) -> anyhow::Result<Vec<Value>> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(30), resp.chunk())
            .await
            .map_err(|_| anyhow::anyhow!("no server-sent event in time"))??
            .ok_or_else(|| anyhow::anyhow!("the event stream ended"))?;
        buf.push_str(std::str::from_utf8(&chunk)?);
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                out.push(serde_json::from_str(data)?);
            }
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_publish_read_consume_and_bad_input() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    for i in 0..3 {
        let (code, body) = c
            .post(
                i,
                "/events/stream/publish",
                &json!({"topic": "web", "payload": "aGk=", "metadata": {"n": i.to_string()}, "id": format!("w{i}")}),
            )
            .await?;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["sequence"], (i + 1).to_string());
    }
    // A retried publish (same id) appends nothing.
    let (code, body) = c
        .post(
            2,
            "/events/stream/publish",
            &json!({"topic": "web", "id": "w0"}),
        )
        .await?;
    assert_eq!(
        (code, &body["sequence"], &body["duplicate"]),
        (200, &json!("1"), &json!(true))
    );

    let (code, body) = c
        .post(
            1,
            "/events/store/read",
            &json!({"topic": "web", "offset": 1}),
        )
        .await?;
    assert_eq!(code, 200, "{body}");
    let events = body["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["id"], "w1");
    assert_eq!(events[0]["payload"], "aGk=");
    assert_eq!(events[0]["metadata"]["n"], "1");

    // Server-sent events for a group, acknowledged with Stream.Ack.
    let url = format!("http://{}/events/stream/consume", c.nodes[2].addrs.api);
    let mut resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&c.admin_token)
        .header("accept", "text/event-stream")
        .json(&json!({"topic": "web", "group": "sse", "start": {"earliest": true}}))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let got = sse_events(&mut resp, 3).await?;
    let seqs: Vec<&Value> = got.iter().map(|e| &e["sequence"]).collect();
    assert_eq!(seqs, [&json!("1"), &json!("2"), &json!("3")]);
    for e in &got {
        let (code, body) = c
            .post(
                0,
                "/events/stream/ack",
                &json!({"topic": "web", "group": "sse", "id": e["id"], "success": true}),
            )
            .await?;
        assert_eq!(code, 200, "{body}");
    }
    c.post(
        1,
        "/events/stream/publish",
        &json!({"topic": "web", "id": "w3"}),
    )
    .await?;
    let live = sse_events(&mut resp, 1).await?;
    assert_eq!(live[0]["id"], "w3");
    drop(resp);

    // Bad input: a clear error each, and nothing changes.
    let bad: Vec<(&str, Value, u16, &str)> = vec![
        (
            "/events/stream/publish",
            json!({"payload": "aGk="}),
            400,
            "Missing topic",
        ),
        (
            "/events/stream/publish",
            json!({"topic": "a b"}),
            400,
            "contains ' '",
        ),
        (
            "/events/stream/publish",
            json!({"topic": "t", "timestamp": "-1"}),
            400,
            "negative",
        ),
        (
            "/events/store/read",
            json!({"topic": "web", "limit": -1}),
            400,
            "limit must not be negative",
        ),
        (
            "/events/store/read",
            json!({"topic": "web", "offset": "-3"}),
            400,
            "offset must not be negative",
        ),
        (
            "/events/store/write",
            json!({"event": {"topic": "web"}}),
            501,
            "Writing to the store directly is not supported",
        ),
        (
            "/events/stream/ack",
            json!({"topic": "web", "group": "sse"}),
            400,
            "id or sequence is required",
        ),
        (
            "/events/stream/ack",
            json!({"topic": "web", "group": "nobody", "sequence": "1"}),
            404,
            "has not consumed",
        ),
        (
            "/events/stream/consume",
            json!({"topic": "web"}),
            400,
            "cannot acknowledge on its stream",
        ),
        (
            "/events/store/set-retention",
            json!({"topic": "web"}),
            400,
            "retention is required",
        ),
    ];
    for (path, body, code, detail) in bad {
        let (got, answer) = c.post(0, path, &body).await?;
        assert_eq!(got, code, "{path} {body}: {answer}");
        let text = answer["Detail"].as_str().unwrap_or_default();
        assert!(text.contains(detail), "{path} {body}: {answer}");
    }
    // Base64 of a payload just over 1 MiB.
    let big = "A".repeat((1024 * 1024 / 3 + 1) * 4);
    let (code, answer) = c
        .post(
            0,
            "/events/stream/publish",
            &json!({"topic": "web", "payload": big}),
        )
        .await?;
    assert_eq!(code, 400, "{answer}");
    assert!(
        answer["Detail"]
            .as_str()
            .unwrap_or_default()
            .contains("larger than"),
        "{answer}"
    );
    let (code, _) = c
        .post_as(0, "/events/stream/publish", &json!({"topic": "web"}), None)
        .await?;
    assert_eq!(code, 401);
    // An HTTP consumer without a group must auto-ack; a start past the end is refused.
    for body in [
        json!({"topic": "web"}),
        json!({"topic": "web", "auto_ack": true, "start": {"sequence": "99"}}),
    ] {
        let resp = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&c.admin_token)
            .header("accept", "text/event-stream")
            .json(&body)
            .send()
            .await?;
        assert_eq!(resp.status(), 400, "{body}");
    }
    // Unknown topics and offsets past the end read nothing.
    for body in [
        json!({"topic": "nothing-here"}),
        json!({"topic": "web", "offset": "50"}),
    ] {
        let (code, answer) = c.post(0, "/events/store/read", &body).await?;
        assert_eq!((code, &answer["events"]), (200, &json!([])), "{body}");
    }
    let (_, body) = c
        .post(0, "/events/store/read", &json!({"topic": "web"}))
        .await?;
    assert_eq!(body["events"].as_array().map(Vec::len), Some(4));

    // gRPC: an oversized event and a start past the end are refused the same way.
    let mut stream = StreamClient::new(c.channel(1).await?);
    let err = stream
        .publish(PublishRequest {
            topic: "web".into(),
            payload: vec![0; 2 * 1024 * 1024],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    let mut past = consume_request("web", "", Duration::ZERO, 0);
    past.start = Some(StartPosition {
        position: Some(Position::Sequence(99)),
    });
    let err = Consumer::open(c.channel(1).await?, past).await.err();
    let status = err.and_then(|e| e.downcast::<tonic::Status>().ok());
    assert_eq!(status.map(|s| s.code()), Some(tonic::Code::InvalidArgument));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_that_never_ack_stay_bounded_and_retries_run_out() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    for i in 0..10 {
        c.post(
            i % 3,
            "/events/stream/publish",
            &json!({"topic": "slow", "id": format!("s{i}")}),
        )
        .await?;
    }
    // Five in flight, never acknowledged, one redelivery each: every event is handed out
    // exactly twice, then dropped from the group.
    let mut first = consume_request("slow", "lazy", Duration::from_millis(300), 5);
    first.retry_limit = 1;
    let mut consumer = Consumer::open(c.channel(1).await?, first).await?;
    let mut attempts: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    while attempts.values().map(Vec::len).sum::<usize>() < 20 {
        let e = consumer.next(WAIT).await?;
        attempts.entry(e.sequence).or_default().push(e.attempt);
    }
    assert_eq!(attempts.len(), 10);
    assert!(attempts.values().all(|a| a == &[1, 2]), "{attempts:?}");
    let deadline = Instant::now() + WAIT;
    loop {
        let info = group_info(&c, 2, "slow", "lazy").await?;
        if info.dropped == 10 {
            assert_eq!((info.pending, info.cursor), (0, 11));
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "retries never ran out: {info:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // An ephemeral consumer on a follower: a nack brings the event back at once.
    let mut first = consume_request("slow", "", Duration::from_secs(30), 0);
    first.start = Some(StartPosition {
        position: Some(Position::Sequence(10)),
    });
    let mut consumer = Consumer::open(c.channel(2).await?, first).await?;
    let e = consumer.next(WAIT).await?;
    assert_eq!((e.sequence, e.attempt), (10, 1));
    consumer.ack(&e, false).await?;
    let again = consumer.next(WAIT).await?;
    assert_eq!((again.sequence, again.attempt), (10, 2));
    consumer.ack(&again, true).await?;
    c.post(
        0,
        "/events/stream/publish",
        &json!({"topic": "slow", "id": "s10"}),
    )
    .await?;
    assert_eq!(consumer.next(WAIT).await?.id, "s10");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_publish_consume_and_read() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    let cli = Cli::new()?;
    let proxies: Vec<&str> = c.nodes.iter().map(|n| n.addrs.proxy.as_str()).collect();
    cli.use_env_as_admin("events", &proxies.join(","))?;
    for i in 0..5 {
        let data = format!(r#"{{"n": {i}}}"#);
        let out = cli.run(&["events", "publish", "cli", "--data", &data, "-m", "k=v"]);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, ""),
            "{}",
            out.combined()
        );
    }
    let lines = |text: &str| -> Vec<Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let out = cli.run(&["events", "read", "cli", "--limit", "2", "--offset", "1"]);
    assert_eq!(out.code, 0, "{}", out.combined());
    let read = lines(&out.stdout);
    assert_eq!(read.len(), 2);
    assert_eq!(read[0]["sequence"], "2");
    assert_eq!(read[0]["metadata"]["k"], "v");
    assert_eq!(read[0]["payload"], "eyJuIjoxfQ==");

    // A group consumes three, then resumes with the rest.
    let out = cli.run(&[
        "events", "consume", "cli", "-g", "g", "-o", "earliest", "-n", "3",
    ]);
    assert_eq!(out.code, 0, "{}", out.combined());
    let seqs: Vec<Value> = lines(&out.stdout)
        .iter()
        .map(|e| e["sequence"].clone())
        .collect();
    assert_eq!(seqs, [json!("1"), json!("2"), json!("3")]);
    let out = cli.run(&["events", "consume", "cli", "-g", "g", "-n", "2"]);
    assert_eq!(out.code, 0, "{}", out.combined());
    let seqs: Vec<Value> = lines(&out.stdout)
        .iter()
        .map(|e| e["sequence"].clone())
        .collect();
    assert_eq!(seqs, [json!("4"), json!("5")]);
    let out = cli.run(&["events", "groups", "cli"]);
    assert_eq!(out.code, 0, "{}", out.combined());
    assert!(
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["g", "6", "0", "0"]),
        "{}",
        out.stdout
    );

    // Bad input: one line, non-zero exit, nothing published.
    for args in [
        &["events", "publish", "bad topic"][..],
        &["events", "publish", "cli", "--data", "{nope"][..],
        &["events", "read", "cli", "--limit", "-1"][..],
        &["events", "consume", "cli", "-o", "99"][..],
        &["events", "frobnicate"][..],
    ] {
        let out = cli.run(args);
        assert_ne!(out.code, 0, "{args:?}: {}", out.combined());
        assert_eq!(
            out.combined().trim().lines().count(),
            1,
            "{args:?}: {}",
            out.combined()
        );
    }
    let out = cli.run(&["events", "read", "cli"]);
    assert_eq!(lines(&out.stdout).len(), 5);
    Ok(())
}
