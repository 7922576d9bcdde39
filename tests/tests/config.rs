//! The config service on a three-node cluster: Micro's merge semantics, secrets encrypted before
//! they reach the log, and the cluster's key shared with (and enforced on) joining nodes.

use std::path::Path;
use std::time::Duration;

use micro_proto::config::{config_client::ConfigClient, GetRequest, Options, SetRequest, Value};
use micro_tests::{Authed, Cli, NodeAddrs, ServerProcess, TestCluster};

async fn client(c: &TestCluster, i: usize) -> anyhow::Result<ConfigClient<Authed>> {
    Ok(ConfigClient::new(c.channel(i).await?))
}

async fn set(
    c: &TestCluster,
    i: usize,
    path: &str,
    data: &str,
    secret: bool,
) -> anyhow::Result<()> {
    let req = SetRequest {
        namespace: String::new(),
        path: path.into(),
        value: Some(Value {
            data: data.into(),
            format: String::new(),
        }),
        options: Some(Options { secret }),
    };
    client(c, i).await?.set(req).await?;
    Ok(())
}

async fn get(c: &TestCluster, i: usize, path: &str, secret: bool) -> anyhow::Result<String> {
    let req = GetRequest {
        namespace: String::new(),
        path: path.into(),
        options: Some(Options { secret }),
    };
    Ok(client(c, i)
        .await?
        .get(req)
        .await?
        .into_inner()
        .value
        .map(|v| v.data)
        .unwrap_or_default())
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_merges_and_secrets_never_reach_disk_in_clear() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &["--snapshot-threshold", "5"]).await?;
    set(&c, 1, "helloworld", r#"{"a":1}"#, false).await?;
    set(&c, 1, "helloworld", r#"{"b":2}"#, false).await?;
    assert_eq!(get(&c, 2, "helloworld", false).await?, r#"{"a":1,"b":2}"#);
    set(&c, 2, "helloworld.a", "\"<x>\"", false).await?;
    assert_eq!(
        get(&c, 0, "helloworld", false).await?,
        r#"{"a":"<x>","b":2}"#
    );
    assert_eq!(get(&c, 0, "helloworld.nope", false).await?, "null");

    // Secrets: masked unless asked for, readable on every node, never stored in clear.
    let needle = "s3cr3t-Value-0123456789";
    set(&c, 1, "key.subkey1", &format!("\"{needle}\""), true).await?;
    set(&c, 1, "key.subkey2", "42", true).await?;
    set(&c, 1, "key.subkey3", "true", true).await?;
    assert_eq!(
        get(&c, 2, "key", false).await?,
        r#"{"subkey1":"[secret]","subkey2":"[secret]","subkey3":"[secret]"}"#
    );
    assert_eq!(
        get(&c, 0, "key.subkey1", true).await?,
        format!("\"{needle}\"")
    );
    assert_eq!(
        get(&c, 2, "key", true).await?,
        format!(r#"{{"subkey1":"{needle}","subkey2":42,"subkey3":true}}"#)
    );
    // Enough entries for snapshots to be taken, so they are covered by the scan too.
    for i in 0..12 {
        set(&c, i % 3, &format!("filler.k{i}"), "1", false).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = files_containing(c.dir(), needle.as_bytes());
    assert!(hits.is_empty(), "secret found in clear in {hits:?}");

    // A node given a different key is refused before it becomes a member.
    let before = c.members(0).await?.members.len();
    let mut stranger = ServerProcess::spawn(
        NodeAddrs::free(),
        &c.dir().join("other-key"),
        &[
            "--join".into(),
            c.nodes[0].addrs.peer.clone(),
            "--join-token".into(),
            c.token.clone(),
            "--config-secret-key".into(),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
        ],
    )?;
    assert_ne!(stranger.wait_exit(Duration::from_secs(60))?, Some(0));
    assert!(
        stranger.log_text().contains("differs from the cluster's"),
        "{}",
        stranger.log_text()
    );
    assert_eq!(c.members(0).await?.members.len(), before);

    // Bad input: not JSON, an empty path segment.
    let bad = SetRequest {
        path: "a..b".into(),
        value: Some(Value {
            data: "1".into(),
            format: String::new(),
        }),
        ..Default::default()
    };
    assert_eq!(
        client(&c, 0).await?.set(bad).await.err().map(|e| e.code()),
        Some(tonic::Code::InvalidArgument)
    );
    let bad = SetRequest {
        path: "a".into(),
        value: Some(Value {
            data: "{nope".into(),
            format: String::new(),
        }),
        ..Default::default()
    };
    let err = client(&c, 0).await?.set(bad).await.err();
    assert!(
        err.as_ref()
            .is_some_and(|e| e.message().contains("Request is invalid JSON")),
        "{err:?}"
    );

    // Over HTTP, as the gateway's /config/get.
    let (code, body) = c
        .post(1, "/config/get", &serde_json::json!({"path": "helloworld"}))
        .await?;
    assert_eq!(code, 200);
    assert_eq!(body["value"]["data"], r#"{"a":"<x>","b":2}"#);
    Ok(())
}

/// The seed reference's Config walkthrough, writing through one node and reading through another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_config_walkthrough_prints_micros_outputs() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    let (w, r) = (Cli::new()?, Cli::new()?);
    w.use_env_as_admin("writer", &c.nodes[1].addrs.proxy)?;
    r.use_env_as_admin("reader", &c.nodes[2].addrs.proxy)?;
    let set = |args: &[&str]| {
        let mut full = vec!["config", "set"];
        full.extend_from_slice(args);
        let o = w.run(&full);
        assert_eq!(
            (o.code, o.stdout.as_str()),
            (0, ""),
            "set {args:?}: {}",
            o.combined()
        );
    };
    let get = |args: &[&str]| {
        let mut full = vec!["config", "get"];
        full.extend_from_slice(args);
        r.run(&full).stdout
    };
    assert!(r
        .run(&["config", "get", "helloworld"])
        .combined()
        .contains("Not found"));
    set(&["helloworld.somekey", "hello"]);
    assert_eq!(get(&["helloworld.somekey"]), "hello\n");
    set(&["helloworld.someotherkey", "Hi there!"]);
    assert_eq!(
        get(&["helloworld"]),
        "{\"somekey\":\"hello\",\"someotherkey\":\"Hi there!\"}\n"
    );
    set(&["helloworld.someboolkey", "true"]);
    assert_eq!(get(&["helloworld.someboolkey"]), "true\n");
    set(&["helloworld.keywithsubs.subkey1", "So easy!"]);
    assert_eq!(
        get(&["helloworld"]),
        "{\"keywithsubs\":{\"subkey1\":\"So easy!\"},\"someboolkey\":true,\"somekey\":\"hello\",\"someotherkey\":\"Hi there!\"}\n"
    );
    assert_eq!(
        w.run(&["config", "del", "helloworld.someotherkey"]).stdout,
        ""
    );
    assert_eq!(
        get(&["helloworld"]),
        "{\"keywithsubs\":{\"subkey1\":\"So easy!\"},\"someboolkey\":true,\"somekey\":\"hello\"}\n"
    );
    assert_eq!(
        w.run(&["config", "del", "helloworld.keywithsubs"]).stdout,
        ""
    );
    assert_eq!(
        get(&["helloworld"]),
        "{\"someboolkey\":true,\"somekey\":\"hello\"}\n"
    );

    set(&["--secret", "helloworld.hushkey", "Very secret stuff"]);
    assert_eq!(get(&["helloworld.hushkey"]), "[secret]\n");
    assert_eq!(
        get(&["--secret", "helloworld.hushkey"]),
        "Very secret stuff\n"
    );
    assert_eq!(
        get(&["helloworld"]),
        "{\"hushkey\":\"[secret]\",\"someboolkey\":true,\"somekey\":\"hello\"}\n"
    );
    assert_eq!(
        get(&["--secret", "helloworld"]),
        "{\"hushkey\":\"Very secret stuff\",\"someboolkey\":true,\"somekey\":\"hello\"}\n"
    );
    set(&["--secret", "helloworld.hush_number_key", "42"]);
    assert_eq!(
        get(&["helloworld"]),
        "{\"hush_number_key\":\"[secret]\",\"hushkey\":\"[secret]\",\"someboolkey\":true,\"somekey\":\"hello\"}\n"
    );
    assert_eq!(
        get(&["--secret", "helloworld"]),
        "{\"hush_number_key\":42,\"hushkey\":\"Very secret stuff\",\"someboolkey\":true,\"somekey\":\"hello\"}\n"
    );

    assert_eq!(w.run(&["config", "del", "helloworld"]).stdout, "");
    set(&["helloworld", r#"{"a": "val1", "b": "val2"}"#]);
    assert_eq!(get(&["helloworld.a"]), "val1\n");
    assert_eq!(w.run(&["config", "del", "helloworld"]).stdout, "");
    set(&["helloworld", r#"{"a":1}"#]);
    assert_eq!(get(&["helloworld"]), "{\"a\":1}\n");
    set(&["helloworld", r#"{"b":2}"#]);
    assert_eq!(get(&["helloworld"]), "{\"a\":1,\"b\":2}\n");
    set(&["html", "<b>&</b>"]);
    assert_eq!(get(&["html"]), "<b>&</b>\n");

    // Tokens are saved per namespace: nobody logged in to `other`, so the CLI has no token
    // for it (namespace isolation itself is covered by tests/auth.rs).
    let other = r.run(&["--namespace", "other", "config", "get", "helloworld"]);
    assert_eq!(other.code, 2, "{}", other.combined());
    assert!(other
        .combined()
        .contains("Not authorized to perform this request"));
    Ok(())
}

/// Config.Watch from a follower: the current value, then only changes at the watched path,
/// secrets masked; resuming from a revision skips what the watcher already saw.
#[tokio::test]
async fn watch_streams_changes_from_any_node_and_resumes_by_revision() -> anyhow::Result<()> {
    use micro_proto::config::{WatchRequest, WatchResponse};
    use tonic::Streaming;

    let c = TestCluster::start(3, &[]).await?;
    let c = &c;
    let watch = |i: usize, revision: u64| async move {
        let req = WatchRequest {
            namespace: String::new(),
            path: "app".into(),
            revision,
            options: None,
        };
        anyhow::Ok(client(c, i).await?.watch(req).await?.into_inner())
    };
    async fn next(s: &mut Streaming<WatchResponse>) -> Option<WatchResponse> {
        match tokio::time::timeout(Duration::from_secs(1), s.message()).await {
            Ok(Ok(Some(m))) => Some(m),
            Ok(other) => panic!("watch ended: {other:?}"),
            Err(_) => None,
        }
    }
    let data = |m: &WatchResponse| m.value.as_ref().map(|v| v.data.clone()).unwrap_or_default();

    let mut s = watch(2, 0).await?;
    let first = next(&mut s).await.expect("the current value comes first");
    assert_eq!(data(&first), "null");
    set(c, 0, "app", r#"{"a":1}"#, false).await?;
    let m = next(&mut s).await.expect("the change");
    assert_eq!(data(&m), r#"{"a":1}"#);
    let seen = m.revision;
    set(c, 1, "elsewhere", "true", false).await?;
    assert!(
        next(&mut s).await.is_none(),
        "changes elsewhere send nothing"
    );
    set(c, 0, "app.pw", "\"hunter2\"", true).await?;
    let m = next(&mut s).await.expect("the secret change");
    assert_eq!(data(&m), r#"{"a":1,"pw":"[secret]"}"#);
    drop(s);

    // Resuming on another node from a revision already seen sends only what came after.
    let mut resumed = watch(1, m.revision).await?;
    assert!(next(&mut resumed).await.is_none());
    set(c, 2, "app.a", "2", false).await?;
    assert_eq!(
        data(&next(&mut resumed).await.expect("change")),
        r#"{"a":2,"pw":"[secret]"}"#
    );
    let mut behind = watch(0, seen).await?;
    assert_eq!(
        data(&next(&mut behind).await.expect("missed changes")),
        r#"{"a":2,"pw":"[secret]"}"#
    );

    // Anonymous watchers are refused.
    let anon =
        micro_tests::auth::connect(&c.nodes[0].addrs.proxy, &micro_tests::Bearer::anonymous())
            .await?;
    let err = ConfigClient::new(anon)
        .watch(WatchRequest {
            path: "app".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    Ok(())
}

/// `rotate-key`: new secrets use the new key at once, old ones are resealed in the background
/// while reads keep working, and a key leaves the ring once nothing uses it.
#[tokio::test]
async fn rotating_the_key_reseals_every_secret_and_drops_unused_keys() -> anyhow::Result<()> {
    use micro_proto::config::{KeyInfo, KeysRequest, RotateKeyRequest};

    let c = TestCluster::start(3, &[]).await?;
    let c = &c;
    let keys = |i: usize| async move {
        anyhow::Ok(
            client(c, i)
                .await?
                .keys(KeysRequest {})
                .await?
                .into_inner()
                .keys,
        )
    };
    let secrets = [
        ("app.pw", "\"hunter2-rot\""),
        ("app.n", "4242"),
        ("db.token", "\"tok-rot-9\""),
    ];
    for (path, value) in secrets {
        set(c, 0, path, value, true).await?;
    }
    let before = keys(1).await?;
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(before[0].operator && before[0].active && before[0].secrets == 3);

    let check_reads = |i: usize| async move {
        for (path, value) in secrets {
            assert_eq!(get(c, i, path, true).await?, value, "{path}");
        }
        assert_eq!(
            get(c, i, "app", false).await?,
            r#"{"n":"[secret]","pw":"[secret]"}"#
        );
        anyhow::Ok(())
    };
    let first = client(c, 1)
        .await?
        .rotate_key(RotateKeyRequest {})
        .await?
        .into_inner()
        .key_id;
    check_reads(2).await?;
    set(c, 2, "late.pw", "\"after-rotation\"", true).await?;

    let settled = |want: &'static str| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ks: Vec<KeyInfo> = keys(0).await?;
            if ks.len() == 1 && ks[0].active && !ks[0].operator && ks[0].secrets == 4 {
                return anyhow::Ok(ks[0].id.clone());
            }
            anyhow::ensure!(std::time::Instant::now() < deadline, "{want}: {ks:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    assert_eq!(settled("resealed under the first data key").await?, first);
    check_reads(0).await?;

    let second = client(c, 2)
        .await?
        .rotate_key(RotateKeyRequest {})
        .await?
        .into_inner()
        .key_id;
    assert_ne!(first, second);
    check_reads(1).await?;
    assert_eq!(settled("first data key dropped").await?, second);
    check_reads(2).await?;
    assert_eq!(get(c, 1, "late.pw", true).await?, "\"after-rotation\"");

    for needle in ["hunter2-rot", "tok-rot-9", "after-rotation"] {
        let hits = files_containing(c.dir(), needle.as_bytes());
        assert!(hits.is_empty(), "{needle} in clear in {hits:?}");
    }
    Ok(())
}
