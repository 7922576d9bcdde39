//! One `micro server`: the store through the CLI, HTTP and gRPC, bad input, TTLs, shutdown.

use std::time::Duration;

use micro_proto::store::{ListOptions, ListRequest, ReadRequest, Record, WriteRequest};
use micro_tests::{Cli, TestCluster};
use serde_json::json;

async fn single() -> anyhow::Result<(TestCluster, Cli)> {
    let c = TestCluster::start(1, &[]).await?;
    let cli = Cli::new()?;
    cli.use_env_as_admin("test", &c.nodes[0].addrs.proxy)?;
    Ok((c, cli))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_through_the_cli_prints_micro_formats() -> anyhow::Result<()> {
    let (_c, cli) = single().await?;
    let w = cli.run(&["store", "write", "foo", "bar", "baz"]);
    assert_eq!((w.code, w.stdout.as_str()), (0, ""), "{}", w.combined());
    assert_eq!(cli.run(&["store", "read", "foo"]).stdout, "bar baz\n");
    cli.run(&["store", "write", "food", "1"]);
    cli.run(&["store", "write", "afoo", "2"]);
    assert_eq!(
        cli.run(&["store", "read", "--prefix", "foo"]).stdout,
        "bar baz\n1\n"
    );
    assert_eq!(
        cli.run(&["store", "read", "--suffix", "foo"]).stdout,
        "2\nbar baz\n"
    );
    assert_eq!(
        cli.run(&["store", "read", "--prefix", "--limit", "1", "--offset", "1", "foo"])
            .stdout,
        "1\n"
    );
    assert_eq!(cli.run(&["store", "list"]).stdout, "afoo\nfoo\nfood\n");
    assert_eq!(
        cli.run(&["store", "list", "--order", "desc"]).stdout,
        "food\nfoo\nafoo\n"
    );
    let v = cli.run(&["store", "read", "-v", "foo"]);
    assert!(
        v.stdout.contains("KEY") && v.stdout.contains("EXPIRY") && v.stdout.contains("None"),
        "{}",
        v.stdout
    );
    let j = cli.run(&["store", "read", "--output", "json", "foo"]);
    let parsed: serde_json::Value = serde_json::from_str(&j.stdout)?;
    assert_eq!(parsed[0]["key"], "foo", "{}", j.stdout);

    let missing = cli.run(&["store", "read", "nope"]);
    assert_ne!(missing.code, 0);
    assert!(
        missing.combined().contains("Not found"),
        "{}",
        missing.combined()
    );

    let d = cli.run(&["store", "delete", "foo"]);
    assert_eq!((d.code, d.stdout.as_str()), (0, ""));
    assert!(cli
        .run(&["store", "read", "foo"])
        .combined()
        .contains("Not found"));
    assert_eq!(cli.run(&["store", "delete", "never-existed"]).code, 0);
    assert_eq!(cli.run(&["store", "databases"]).stdout, "micro\n");
    assert_eq!(cli.run(&["store", "tables"]).stdout, "micro\n");

    // Expiry: gone after its TTL, on reads and lists.
    assert_eq!(
        cli.run(&["store", "write", "--expiry", "1s", "brief", "x"])
            .code,
        0
    );
    assert_eq!(cli.run(&["store", "read", "brief"]).stdout, "x\n");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(cli
        .run(&["store", "read", "brief"])
        .combined()
        .contains("Not found"));
    assert!(!cli.run(&["store", "list"]).stdout.contains("brief"));

    // Preconditions: create-only and compare-and-set by revision.
    assert_eq!(
        cli.run(&["store", "write", "--if-absent", "lock", "me"])
            .code,
        0
    );
    let taken = cli.run(&["store", "write", "--if-absent", "lock", "you"]);
    assert_ne!(taken.code, 0, "{}", taken.combined());
    assert_eq!(cli.run(&["store", "read", "lock"]).stdout, "me\n");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_through_http_uses_micro_json() -> anyhow::Result<()> {
    let (c, _cli) = single().await?;
    let r = reqwest::get(format!("http://{}/", c.nodes[0].addrs.api))
        .await?
        .text()
        .await?;
    assert!(r.starts_with("{\"version\": \""), "{r}");

    let (code, body) = c
        .post(
            0,
            "/store/write",
            &json!({"record": {"key": "a", "value": "MQ==", "expiry": "60"}}),
        )
        .await?;
    assert_eq!(code, 200, "{body}");
    let rev = body["revision"].as_str().unwrap_or_default().to_owned();
    let (code, body) = c.post(0, "/store/read", &json!({"key": "a"})).await?;
    assert_eq!(code, 200);
    let rec = &body["records"][0];
    assert_eq!(
        (rec["key"].as_str(), rec["value"].as_str()),
        (Some("a"), Some("MQ=="))
    );
    assert_eq!(rec["revision"].as_str(), Some(rev.as_str()));
    let expiry: u64 = rec["expiry"].as_str().unwrap_or("0").parse()?;
    assert!((1..=60).contains(&expiry), "{rec}");

    // Query parameters work as a body.
    let q = reqwest::Client::new()
        .get(format!("http://{}/store/read?key=a", c.nodes[0].addrs.api))
        .bearer_auth(&c.admin_token)
        .send()
        .await?;
    assert_eq!(q.status().as_u16(), 200);

    // A stale compare-and-set is a 409 and changes nothing.
    let (code, body) = c
        .post(0, "/store/write", &json!({"record": {"key": "a", "value": "Mg=="}, "options": {"precondition": {"revision": "1"}}}))
        .await?;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["Code"], 409);
    let (code, _) = c
        .post(0, "/store/write", &json!({"record": {"key": "a", "value": "Mg=="}, "options": {"precondition": {"revision": rev}}}))
        .await?;
    assert_eq!(code, 200);

    let (_, body) = c.post(0, "/store/list", &json!({})).await?;
    assert_eq!(body["keys"], json!(["a"]));
    let (_, body) = c.post(0, "/store/databases", &json!({})).await?;
    assert_eq!(body["databases"], json!(["micro"]));
    let (_, body) = c
        .post(0, "/store/tables", &json!({"database": "micro"}))
        .await?;
    assert_eq!(body["tables"], json!(["micro"]));
    let (code, _) = c.post(0, "/store/delete", &json!({"key": "a"})).await?;
    assert_eq!(code, 200);
    let (code, body) = c.post(0, "/store/read", &json!({"key": "a"})).await?;
    assert_eq!((code, body["Detail"].as_str()), (404, Some("not found")));

    // Namespaces isolate databases.
    let r = reqwest::Client::new()
        .post(format!("http://{}/store/write", c.nodes[0].addrs.api))
        .header("Micro-Namespace", "other")
        .bearer_auth(&c.admin_token)
        .json(&json!({"record": {"key": "x", "value": ""}}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let (_, body) = c.post(0, "/store/list", &json!({})).await?;
    assert_eq!(
        body["keys"],
        json!([]),
        "default namespace sees another namespace's key"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_changes_nothing() -> anyhow::Result<()> {
    let (c, cli) = single().await?;
    let api = &c.nodes[0].addrs.api;
    let http = reqwest::Client::new();
    let raw = |path: &str, body: Vec<u8>| {
        http.post(format!("http://{api}{path}"))
            .header("content-type", "application/json")
            .bearer_auth(&c.admin_token)
            .body(body)
            .send()
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("/store/write", b"{not json".to_vec(), 400),
        ("/store/write", br#"{"record": {"key": 5}}"#.to_vec(), 400),
        (
            "/store/write",
            br#"{"record": {"key": "k", "value": "not base64!"}}"#.to_vec(),
            400,
        ),
        (
            "/store/write",
            br#"{"record": {"key": "", "value": ""}}"#.to_vec(),
            400,
        ),
        ("/store/write", br#"{}"#.to_vec(), 400),
        (
            "/store/write",
            format!(r#"{{"record": {{"key": "{}"}}}}"#, "k".repeat(5000)).into_bytes(),
            400,
        ),
        (
            "/store/write",
            br#"{"record": {"key": "k", "expiry": "-5"}}"#.to_vec(),
            400,
        ),
        (
            "/store/read",
            br#"{"key": "k", "options": {"order": "sideways"}}"#.to_vec(),
            400,
        ),
        ("/store/nope", br#"{}"#.to_vec(), 404),
        ("/nosuchservice/call", br#"{}"#.to_vec(), 404),
    ];
    for (path, body, want) in cases {
        let preview = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let r = raw(path, body).await?;
        assert_eq!(r.status().as_u16(), want, "{path} {preview}");
        let v: serde_json::Value = r.json().await?;
        for k in ["Id", "Code", "Detail", "Status"] {
            assert!(
                !v[k].is_null(),
                "{path} {preview}: error body lacks {k}: {v}"
            );
        }
        assert_eq!(v["Code"], want);
    }
    // An oversized body is refused from its announced length, before it is read. (A raw
    // request: the gateway answers and closes at once, which an HTTP client still uploading
    // would see as a broken pipe.)
    let (status, body) = announce_oversized_body(api).await?;
    assert_eq!(status, 413, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(v["Code"], 413, "{v}");

    // A value over 1 MiB (within the HTTP limit) is refused by the store.
    let big = json!({"record": {"key": "big", "value": base64_of(&vec![7u8; 1024 * 1024 + 1])}});
    let (code, _) = c.post(0, "/store/write", &big).await?;
    assert_eq!(code, 400);

    // gRPC: missing record, empty key, an oversized message.
    let mut s = c.store(0).await?;
    let e = s
        .write(WriteRequest {
            record: None,
            options: None,
        })
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(tonic::Code::InvalidArgument));
    let empty = WriteRequest {
        record: Some(Record {
            key: String::new(),
            ..Default::default()
        }),
        options: None,
    };
    assert_eq!(
        s.write(empty).await.err().map(|e| e.code()),
        Some(tonic::Code::InvalidArgument)
    );
    let huge = WriteRequest {
        record: Some(Record {
            key: "h".into(),
            value: vec![0; 5 << 20],
            ..Default::default()
        }),
        options: None,
    };
    assert!(s.write(huge).await.is_err());
    let e = s
        .read(ReadRequest {
            key: String::new(),
            options: None,
        })
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(tonic::Code::InvalidArgument));

    // Nothing was written by any of it.
    let mut keys = s
        .list(ListRequest {
            options: Some(ListOptions::default()),
        })
        .await?
        .into_inner();
    let mut all = Vec::new();
    while let Some(m) = keys.message().await? {
        all.extend(m.keys);
    }
    assert!(all.is_empty(), "bad input changed state: {all:?}");
    let (_, dbs) = c.post(0, "/store/databases", &json!({})).await?;
    assert_eq!(dbs["databases"], json!([]));

    // The CLI: a dead node, missing arguments, unknown commands.
    cli.use_env("dead", "127.0.0.1:1")?;
    let o = cli.run(&["store", "read", "x"]);
    assert!(
        o.code != 0 && o.combined().contains("Failed to connect"),
        "{}",
        o.combined()
    );
    let o = cli.run(&["store", "write", "only-key"]);
    assert!(
        o.code != 0 && o.combined().contains("Key and Value args are required"),
        "{}",
        o.combined()
    );
    Ok(())
}

/// Sends headers announcing a 5 MiB JSON body and returns the status and body of the answer.
async fn announce_oversized_body(api: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(api).await?;
    let head = format!(
        "POST /store/write HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
        5 * 1024 * 1024
    );
    s.write_all(head.as_bytes()).await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk)).await??;
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if n == 0 || (text.contains("\r\n\r\n") && text.trim_end().ends_with('}')) {
            let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
            let body = text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default();
            return Ok((status, body));
        }
    }
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully_and_a_restart_keeps_every_write() -> anyhow::Result<()> {
    let (mut c, cli) = single().await?;
    for i in 0..20 {
        assert_eq!(cli.run(&["store", "write", &format!("k{i}"), "v"]).code, 0);
    }
    assert_eq!(c.nodes[0].terminate(Duration::from_secs(20))?, Some(0));
    assert!(c.nodes[0].log_text().contains("shutting down"));
    c.nodes[0].start()?;
    c.nodes[0].wait_ready(Duration::from_secs(60)).await?;
    assert!(
        c.nodes[0]
            .log_shows("restarted from its data dir", Duration::from_secs(10))
            .await
    );
    assert_eq!(cli.run(&["store", "list"]).stdout.lines().count(), 20);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_that_lost_its_raft_state_is_refused_not_re_bootstrapped() -> anyhow::Result<()>
{
    let (mut c, _cli) = single().await?;
    assert_eq!(c.nodes[0].terminate(Duration::from_secs(20))?, Some(0));
    std::fs::remove_dir_all(c.nodes[0].data_dir.join("raft"))?;
    c.nodes[0].start()?;
    let code = c.nodes[0].wait_exit(Duration::from_secs(30))?;
    assert_ne!(code, Some(0));
    assert!(
        c.nodes[0].log_text().contains("raft state is missing"),
        "{}",
        c.nodes[0].log_text()
    );
    Ok(())
}
