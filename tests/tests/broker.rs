//! The broker on three real nodes: a message published on one node reaches subscribers on the
//! others, a queue group with members on two nodes gets each message once, namespaces are
//! isolated, callers without an account get 401, bad input is refused, a subscriber that
//! never reads costs bounded memory, and the HTTP (server-sent events) and CLI faces work.
//!
//! Subscribe returns once the other members know of the subscription; the tests still
//! publish until a first message arrives ("warm-up") before checking, as a client of an
//! at-most-once broker would.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

use base64::Engine;
use micro_proto::broker::broker_client::BrokerClient;
use micro_proto::broker::{Message, PublishRequest, SubscribeRequest};
use micro_tests::{Authed, Bearer, Cli, TestCluster};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tonic::Code;

/// How long anything in these tests may take to arrive.
const WAIT: Duration = Duration::from_secs(20);

async fn client(c: &TestCluster, i: usize, who: &Bearer) -> anyhow::Result<BrokerClient<Authed>> {
    let channel = micro_tests::auth::connect(&c.nodes[i].addrs.proxy, who).await?;
    Ok(BrokerClient::new(channel).max_decoding_message_size(8 << 20))
}

/// The messages of one gRPC subscription, read in the background.
struct Sub {
    rx: mpsc::UnboundedReceiver<Message>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn subscribe(
    c: &TestCluster,
    i: usize,
    who: &Bearer,
    topic: &str,
    queue: &str,
) -> anyhow::Result<Sub> {
    let mut client = client(c, i, who).await?;
    let request = SubscribeRequest {
        topic: topic.into(),
        queue: queue.into(),
    };
    let mut stream = client.subscribe(request).await?.into_inner();
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let _client = client;
        while let Ok(Some(m)) = stream.message().await {
            if tx.send(m).is_err() {
                break;
            }
        }
    });
    Ok(Sub { rx, task })
}

fn body(m: &Message) -> String {
    String::from_utf8_lossy(&m.body).into_owned()
}

impl Sub {
    async fn next(&mut self, within: Duration) -> Option<Message> {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Messages received up to and including the one whose body is `fence`.
    async fn until(&mut self, fence: &str) -> Vec<Message> {
        let deadline = Instant::now() + WAIT;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(m) = self.next(left).await else {
                let bodies: Vec<String> = got.iter().map(body).collect();
                panic!("{fence:?} did not arrive; got {bodies:?}");
            };
            let done = body(&m) == fence;
            got.push(m);
            if done {
                return got;
            }
        }
    }

    /// Bodies up to `fence` (included), warm-up messages left out.
    async fn bodies_until(&mut self, fence: &str) -> Vec<String> {
        self.until(fence)
            .await
            .iter()
            .map(body)
            .filter(|b| b != "warmup")
            .collect()
    }
}

fn message(text: &str) -> Message {
    Message {
        header: BTreeMap::new(),
        body: text.as_bytes().to_vec(),
    }
}

async fn publish(p: &mut BrokerClient<Authed>, topic: &str, text: &str) -> anyhow::Result<()> {
    p.publish(PublishRequest {
        topic: topic.into(),
        message: Some(message(text)),
    })
    .await?;
    Ok(())
}

/// Publishes `warmup` until every one of `subs` received one, then `ready`, and drains every
/// sub up to it: afterwards the publisher's node knows of them all and their queues are empty.
async fn warm_up(p: &mut BrokerClient<Authed>, topic: &str, subs: &mut [&mut Sub]) {
    let deadline = Instant::now() + WAIT;
    let mut warm = vec![false; subs.len()];
    while warm.contains(&false) {
        assert!(Instant::now() < deadline, "subscribers never warmed up");
        publish(p, topic, "warmup").await.unwrap();
        for (s, w) in subs.iter_mut().zip(warm.iter_mut()) {
            while let Some(m) = s.next(Duration::from_millis(100)).await {
                *w |= body(&m) == "warmup";
            }
        }
    }
    publish(p, topic, "ready").await.unwrap();
    for s in subs.iter_mut() {
        s.until("ready").await;
    }
}

/// A `name{labels} value` sample of `/metrics` on node `i`, 0 when absent.
async fn metric(c: &TestCluster, i: usize, sample: &str) -> f64 {
    let url = format!("http://{}/metrics", c.nodes[i].addrs.admin);
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Resident memory of node `i` in bytes.
fn rss(c: &TestCluster, i: usize) -> u64 {
    let pid = c.nodes[i].pid().expect("node running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_on_node_1_arrives_on_nodes_2_and_3_and_bad_input_is_refused(
) -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    let admin = &c.admin;
    let mut here = subscribe(&c, 0, admin, "greetings", "").await?;
    let mut on2 = subscribe(&c, 1, admin, "greetings", "").await?;
    let mut on3 = subscribe(&c, 2, admin, "greetings", "").await?;
    let mut elsewhere = subscribe(&c, 2, admin, "other", "").await?;
    let mut p = client(&c, 0, admin).await?;
    warm_up(&mut p, "greetings", &mut [&mut here, &mut on2, &mut on3]).await;
    // Node 3 reports what it holds (refreshed every announcement round).
    let deadline = Instant::now() + WAIT;
    while metric(&c, 2, "micro_broker_subscriptions").await != 2.0
        || metric(&c, 2, "micro_broker_members_heard").await != 2.0
    {
        assert!(Instant::now() < deadline, "node 3's broker gauges");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let sent: Vec<String> = (0..20).map(|n| format!("m{n:02}")).collect();
    for m in &sent {
        publish(&mut p, "greetings", m).await?;
    }
    // Headers: the publisher's, plus its request metadata, but never its credentials.
    let mut req = tonic::Request::new(PublishRequest {
        topic: "greetings".into(),
        message: Some(Message {
            header: [("k".to_string(), "v".to_string())].into(),
            body: b"end".to_vec(),
        }),
    });
    req.metadata_mut().insert("x-trace", "abc".parse()?);
    p.publish(req).await?;
    for s in [&mut here, &mut on2, &mut on3] {
        let got = s.until("end").await;
        let mut bodies: Vec<String> = got.iter().map(body).collect();
        let end = got.last().unwrap();
        assert_eq!(end.header.get("k").map(String::as_str), Some("v"));
        assert_eq!(end.header.get("x-trace").map(String::as_str), Some("abc"));
        assert!(
            !end.header.contains_key("authorization"),
            "{:?}",
            end.header
        );
        bodies.pop();
        bodies.sort();
        assert_eq!(bodies, sent, "each message exactly once");
    }
    publish(&mut p, "other", "fence").await?;
    assert_eq!(
        elsewhere.bodies_until("fence").await,
        ["fence"],
        "another topic's subscriber saw nothing else"
    );

    // No account: 401, as Micro's broker answers.
    let anon = Bearer::anonymous();
    let mut anonymous = client(&c, 1, &anon).await?;
    let refused = anonymous
        .publish(PublishRequest {
            topic: "greetings".into(),
            message: Some(message("x")),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.message().contains("access denied to namespace"));
    let refused = anonymous
        .subscribe(SubscribeRequest {
            topic: "greetings".into(),
            queue: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    // Bad input.
    let bad = |topic: &str, message: Option<Message>| PublishRequest {
        topic: topic.into(),
        message,
    };
    let cases = [
        (bad("greetings", None), "Missing message"),
        (bad("", Some(message("x"))), "Missing topic"),
        (
            bad(
                "greetings",
                Some(Message {
                    header: BTreeMap::new(),
                    body: vec![0; 1024 * 1024 + 1],
                }),
            ),
            "message body of 1048577 bytes exceeds the limit of 1048576 bytes",
        ),
        (
            bad(
                "greetings",
                Some(Message {
                    header: [("h".to_string(), "v".repeat(70_000))].into(),
                    body: vec![],
                }),
            ),
            "message header of 70001 bytes exceeds the limit of 65536 bytes",
        ),
    ];
    for (req, detail) in cases {
        let e = p.publish(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains(detail), "{e:?}");
    }
    let e = p
        .subscribe(SubscribeRequest {
            topic: String::new(),
            queue: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // Nothing of that reached anyone.
    publish(&mut p, "greetings", "after").await?;
    assert_eq!(on2.bodies_until("after").await, ["after"]);

    // A subscriber that never reads: messages are dropped for it (and counted), the others
    // get everything, and the node's memory stays bounded.
    let mut stalled_client = client(&c, 2, admin).await?;
    let stalled = stalled_client
        .subscribe(SubscribeRequest {
            topic: "greetings".into(),
            queue: String::new(),
        })
        .await?
        .into_inner();
    let before = rss(&c, 2);
    let chunk = vec![7u8; 256 * 1024];
    let total = 300;
    for n in 0..total {
        let mut m = chunk.clone();
        m[..4].copy_from_slice(&(n as u32).to_be_bytes());
        p.publish(PublishRequest {
            topic: "greetings".into(),
            message: Some(Message {
                header: BTreeMap::new(),
                body: m,
            }),
        })
        .await?;
        // The reading subscribers keep up (their messages are discarded as they come).
        while on3.rx.try_recv().is_ok() || on2.rx.try_recv().is_ok() {}
    }
    let grown = rss(&c, 2).saturating_sub(before);
    publish(&mut p, "greetings", "done").await?;
    on3.until("done").await;
    let dropped = metric(
        &c,
        2,
        "micro_broker_dropped_total{reason=\"slow_subscriber\"}",
    )
    .await;
    assert!(
        dropped > 0.0,
        "nothing was dropped for the stalled subscriber"
    );
    assert!(
        grown < 40 << 20,
        "node 3 grew by {} MiB while 75 MiB went to a subscriber that never reads",
        grown >> 20
    );
    drop(stalled);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_group_on_two_nodes_gets_each_message_once() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    let admin = &c.admin;
    let mut w2 = subscribe(&c, 1, admin, "jobs", "workers").await?;
    let mut w3 = subscribe(&c, 2, admin, "jobs", "workers").await?;
    // Plain subscribers on the same nodes, announced after the workers: once a publisher's
    // node knows of them, it knows of the workers.
    let mut probe2 = subscribe(&c, 1, admin, "jobs", "").await?;
    let mut probe3 = subscribe(&c, 2, admin, "jobs", "").await?;
    let mut p1 = client(&c, 0, admin).await?;
    let mut p2 = client(&c, 1, admin).await?;
    warm_up(&mut p1, "jobs", &mut [&mut probe2, &mut probe3]).await;
    warm_up(&mut p2, "jobs", &mut [&mut probe3]).await;

    // From node 1 (no worker there) and from node 2 (one worker there).
    let mut sent = Vec::new();
    for n in 0..80 {
        let job = format!("job{n:02}");
        let p = if n < 40 { &mut p1 } else { &mut p2 };
        publish(p, "jobs", &job).await?;
        sent.push(job);
    }
    publish(&mut p1, "jobs", "end").await?;
    // Plain subscribers get every job.
    for probe in [&mut probe2, &mut probe3] {
        let mut got = probe.bodies_until("end").await;
        got.retain(|b| b.starts_with("job"));
        got.sort();
        assert_eq!(got, sent);
    }
    // The group gets each job once. Publish returns once members queued the message, so
    // everything is in the workers' queues by now.
    let mut per_worker = [Vec::new(), Vec::new()];
    let deadline = Instant::now() + WAIT;
    while per_worker.iter().map(Vec::len).sum::<usize>() < sent.len() {
        assert!(Instant::now() < deadline, "jobs missing: {per_worker:?}");
        for (w, got) in [&mut w2, &mut w3].into_iter().zip(per_worker.iter_mut()) {
            while let Some(m) = w.next(Duration::from_millis(50)).await {
                if body(&m).starts_with("job") {
                    got.push(body(&m));
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (w, got) in [&mut w2, &mut w3].into_iter().zip(per_worker.iter_mut()) {
        while let Ok(m) = w.rx.try_recv() {
            if body(&m).starts_with("job") {
                got.push(body(&m));
            }
        }
    }
    assert!(
        per_worker.iter().all(|w| !w.is_empty()),
        "both workers take a share: {per_worker:?}"
    );
    let mut all: Vec<String> = per_worker.concat();
    all.sort();
    assert_eq!(all, sent, "each job exactly once across the group");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_isolated_per_namespace() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    let (code, answer) = c
        .post(
            0,
            "/auth/auth/generate",
            &json!({"id": "fooadmin", "secret": "foo-pw-123", "scopes": ["admin"], "options": {"namespace": "foo"}}),
        )
        .await?;
    assert_eq!(code, 200, "{answer}");
    let foo_token =
        micro_tests::auth::login(&c.nodes[1].addrs.api, "fooadmin", "foo-pw-123", "foo").await?;
    let foo = Bearer::new(&foo_token)?;
    let mut in_foo = subscribe(&c, 1, &foo, "news", "").await?;
    let mut in_micro = subscribe(&c, 2, &c.admin, "news", "").await?;
    let mut pf = client(&c, 0, &foo).await?;
    let mut pm = client(&c, 0, &c.admin).await?;
    warm_up(&mut pf, "news", &mut [&mut in_foo]).await;
    warm_up(&mut pm, "news", &mut [&mut in_micro]).await;

    publish(&mut pm, "news", "micro-1").await?;
    publish(&mut pf, "news", "foo-1").await?;
    // The Micro-Namespace header does not move a message: the account's issuer decides.
    let mut req = tonic::Request::new(PublishRequest {
        topic: "news".into(),
        message: Some(message("micro-2")),
    });
    req.metadata_mut().insert("micro-namespace", "foo".parse()?);
    pm.publish(req).await?;
    publish(&mut pm, "news", "micro-end").await?;
    publish(&mut pf, "news", "foo-end").await?;
    assert_eq!(
        in_micro.bodies_until("micro-end").await,
        ["micro-1", "micro-2", "micro-end"]
    );
    assert_eq!(in_foo.bodies_until("foo-end").await, ["foo-1", "foo-end"]);

    // Nobody without a cluster certificate can hand a node messages to deliver.
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    let stranger = micro_raft::transport::PeerClient::new(
        endpoint,
        micro_raft::tls::discovery_client_config()?,
    )?;
    let injected = micro_raft::frame::PeerRequest::App {
        channel: "broker".into(),
        body: vec![2, 0, 0, 0],
    };
    let answer = stranger
        .call(&c.nodes[2].addrs.peer, &injected, Duration::from_secs(5))
        .await?;
    assert!(
        matches!(answer, micro_raft::frame::PeerResponse::Refused(ref m) if m.contains("certificate")),
        "{answer:?}"
    );
    Ok(())
}

/// Server-sent events from `GET /broker/subscribe`, parsed, read in the background.
struct Events {
    rx: mpsc::UnboundedReceiver<(String, Value)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Events {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Events {
    async fn open(api: &str, query: &str, token: &str) -> anyhow::Result<Events> {
        let mut response = reqwest::Client::new()
            .get(format!("http://{api}/broker/subscribe?{query}"))
            .bearer_auth(token)
            .send()
            .await?;
        anyhow::ensure!(response.status() == 200, "status {}", response.status());
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    let mut name = "message".to_string();
                    let mut data = None;
                    for line in event.lines() {
                        if let Some(n) = line.strip_prefix("event: ") {
                            name = n.to_owned();
                        } else if let Some(d) = line.strip_prefix("data: ") {
                            data = serde_json::from_str(d).ok();
                        }
                    }
                    if let Some(data) = data {
                        if tx.send((name, data)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Events { rx, task })
    }

    async fn next(&mut self, within: Duration) -> Option<(String, Value)> {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .ok()
            .flatten()
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_publish_and_server_sent_events_subscribe() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    let token = c.admin_token.clone();
    let mut events = Events::open(&c.nodes[2].addrs.api, "topic=alerts", &token).await?;
    let publish_http = |body: Value, trace: &'static str, token: Option<String>| {
        let url = format!("http://{}/broker/publish", c.nodes[0].addrs.api);
        async move {
            let mut r = reqwest::Client::new()
                .post(url)
                .header("X-Trace", trace)
                .json(&body);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Warm up until the subscriber on node 3 hears node 1's publisher.
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no event arrived");
        let warm = json!({"topic": "alerts", "message": {"body": b64("warmup")}});
        assert_eq!(publish_http(warm, "w", Some(token.clone())).await.0, 200);
        if events.next(Duration::from_millis(300)).await.is_some() {
            break;
        }
    }
    let hello = json!({"topic": "alerts", "message": {"header": {"k": "v"}, "body": b64("hello")}});
    let (code, answer) = publish_http(hello, "t1", Some(token.clone())).await;
    assert_eq!((code, answer), (200, json!({})));
    let event = loop {
        let (name, data) = events.next(WAIT).await.expect("the message arrives");
        assert_eq!(name, "message");
        if data["body"] != b64("warmup") {
            break data;
        }
    };
    assert_eq!(event["body"], b64("hello"));
    assert_eq!(event["header"]["k"], "v");
    assert_eq!(event["header"]["x-trace"], "t1");
    assert!(event["header"].get("authorization").is_none(), "{event}");

    // Refusals are Micro's JSON errors.
    let (code, e) = publish_http(json!({"topic": "alerts"}), "x", Some(token.clone())).await;
    assert_eq!((code, e["Detail"].as_str()), (400, Some("Missing message")));
    let any = json!({"topic": "alerts", "message": {"body": b64("x")}});
    let (code, e) = publish_http(any, "x", None).await;
    assert_eq!(
        (code, e["Detail"].as_str()),
        (401, Some("access denied to namespace"))
    );
    let huge = json!({"topic": "alerts", "message": {"body": b64(&"x".repeat(1024 * 1024 + 1))}});
    let (code, e) = publish_http(huge, "x", Some(token.clone())).await;
    assert_eq!(code, 400, "{e}");
    let anonymous = reqwest::get(format!(
        "http://{}/broker/subscribe?topic=alerts",
        c.nodes[1].addrs.api
    ))
    .await?;
    assert_eq!(anonymous.status(), 401);
    let e: Value = anonymous.json().await?;
    assert_eq!(e["Detail"], "access denied to namespace");
    let bad = reqwest::Client::new()
        .get(format!("http://{}/broker/subscribe", c.nodes[1].addrs.api))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(bad.status(), 400);
    // Other streaming endpoints are served the same way (the registry's watch).
    let watch = reqwest::Client::new()
        .get(format!("http://{}/registry/watch", c.nodes[1].addrs.api))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(watch.status(), 200);
    assert_eq!(watch.headers()["content-type"], "text/event-stream");
    drop(watch);
    // A message published over gRPC reaches the HTTP subscriber too.
    let mut p = client(&c, 1, &c.admin).await?;
    publish(&mut p, "alerts", "from grpc").await?;
    let (_, data) = events.next(WAIT).await.expect("the gRPC message arrives");
    assert_eq!(data["body"], b64("from grpc"));
    Ok(())
}

/// Lines a background CLI command prints, read by a thread.
struct Lines {
    child: std::process::Child,
    rx: std::sync::mpsc::Receiver<String>,
}

impl Lines {
    fn spawn(cli: &Cli, args: &[&str]) -> anyhow::Result<Lines> {
        let mut child = cli.spawn(args)?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Lines { child, rx })
    }

    fn next(&self, within: Duration) -> Option<String> {
        self.rx.recv_timeout(within).ok()
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_publish_and_subscribe() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    let publisher = Cli::new()?;
    publisher.use_env_as_admin("n1", &c.nodes[0].addrs.proxy)?;
    let subscriber = Cli::new()?;
    subscriber.use_env_as_admin("n3", &c.nodes[2].addrs.proxy)?;
    let text = Lines::spawn(&subscriber, &["broker", "subscribe", "greetings"])?;
    let json_lines = Lines::spawn(
        &subscriber,
        &["broker", "subscribe", "greetings", "-o", "json"],
    )?;

    let publish = |words: &[&str]| {
        let mut args = vec!["broker", "publish", "greetings"];
        args.extend_from_slice(words);
        let out = publisher.run(&args);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, ""),
            "{}",
            out.combined()
        );
    };
    let deadline = Instant::now() + WAIT;
    let (mut text_warm, mut json_warm) = (false, false);
    while !(text_warm && json_warm) {
        assert!(
            Instant::now() < deadline,
            "the CLI subscribers never got a message"
        );
        publish(&["warmup"]);
        text_warm |= text.next(Duration::from_millis(300)).is_some();
        json_warm |= json_lines.next(Duration::from_millis(300)).is_some();
    }
    publish(&["hello", "world", "--header", "k=v"]);
    let line = std::iter::from_fn(|| text.next(WAIT))
        .find(|l| l != "warmup")
        .expect("the message is printed");
    assert_eq!(line, "hello world");
    let doc: Value = std::iter::from_fn(|| json_lines.next(WAIT))
        .map(|l| serde_json::from_str::<Value>(&l).expect("one JSON object per line"))
        .find(|v| v["body"] != b64("warmup"))
        .expect("the message is printed as JSON");
    assert_eq!(doc["body"], b64("hello world"));
    assert_eq!(doc["header"]["k"], "v");

    // Usage errors and missing accounts, with Micro's exit codes.
    let out = publisher.run(&["broker", "publish", "greetings"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stdout,
        "Required usage: micro broker publish TOPIC MESSAGE\n"
    );
    let out = publisher.run(&["broker", "publish", "greetings", "x", "--header", "nope"]);
    assert_eq!(out.code, 1, "{}", out.combined());
    let anonymous = Cli::new()?;
    anonymous.use_env("n2", &c.nodes[1].addrs.proxy)?;
    for args in [
        &["broker", "publish", "greetings", "x"][..],
        &["broker", "subscribe", "greetings"][..],
    ] {
        let out = anonymous.run(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.combined());
        assert!(out.stderr.contains("Not authorized"), "{}", out.combined());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_dies_is_forgotten_and_heard_again_when_it_returns() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    let admin = c.admin.clone();
    let mut w2 = subscribe(&c, 1, &admin, "jobs", "workers").await?;
    let w3 = subscribe(&c, 2, &admin, "jobs", "workers").await?;
    let mut probe2 = subscribe(&c, 1, &admin, "jobs", "").await?;
    let mut probe3 = subscribe(&c, 2, &admin, "jobs", "").await?;
    // A CLI subscriber whose environment lists node 3 first, then node 2.
    let cli = Cli::new()?;
    let proxies = format!("{},{}", c.nodes[2].addrs.proxy, c.nodes[1].addrs.proxy);
    cli.use_env_as_admin("ha", &proxies)?;
    let lines = Lines::spawn(&cli, &["broker", "subscribe", "jobs"])?;
    let mut p = client(&c, 0, &admin).await?;
    warm_up(&mut p, "jobs", &mut [&mut probe2, &mut probe3]).await;
    let deadline = Instant::now() + WAIT;
    while lines.next(Duration::from_millis(200)).is_none() {
        assert!(
            Instant::now() < deadline,
            "the CLI subscriber never got a message"
        );
        publish(&mut p, "jobs", "warmup").await?;
    }

    // Node 3 dies with a worker, a subscriber and the CLI's subscription on it.
    c.nodes[2].kill();
    drop((w3, probe3));
    // Publishing keeps working; the group's messages go to the worker left, except at most
    // the one that was on its way to the dead node when it was found dead.
    let sent: Vec<String> = (0..20).map(|n| format!("job{n:02}")).collect();
    for job in &sent {
        publish(&mut p, "jobs", job).await?;
    }
    publish(&mut p, "jobs", "end").await?;
    assert_eq!(probe2.bodies_until("end").await.len(), sent.len() + 1);
    let mut got = Vec::new();
    while let Some(m) = w2.next(Duration::from_millis(500)).await {
        if body(&m).starts_with("job") {
            got.push(body(&m));
        }
    }
    assert!(got.len() >= sent.len() - 1, "the live worker got {got:?}");
    // The CLI subscribed again through node 2 and hears new messages.
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "the CLI did not resubscribe");
        publish(&mut p, "jobs", "again").await?;
        if std::iter::from_fn(|| lines.next(Duration::from_millis(200))).any(|l| l == "again") {
            break;
        }
    }

    // Back with the same data dir: its subscribers are heard again.
    c.nodes[2].start()?;
    c.nodes[2].wait_ready(micro_tests::cluster::READY).await?;
    let mut back = subscribe(&c, 2, &admin, "jobs", "").await?;
    warm_up(&mut p, "jobs", &mut [&mut back]).await;
    publish(&mut p, "jobs", "welcome").await?;
    assert_eq!(back.bodies_until("welcome").await, ["welcome"]);
    Ok(())
}
