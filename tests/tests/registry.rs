//! The registry on a three-node cluster: a registration made through one node is read through
//! another, a lapsed lease is expired by the leader and watchers elsewhere see the delete, an
//! instance that keeps renewing survives a leader kill -9, watches resume from a revision, and
//! every node lists the core services.

use std::time::{Duration, Instant};

use micro_proto::registry::{
    registry_client::RegistryClient, GetRequest, ListRequest, Node, Options, Service, WatchRequest,
};
use micro_tests::{auth::Bearer, Authed, TestCluster};
use tonic::Code;

async fn client(c: &TestCluster, i: usize) -> anyhow::Result<RegistryClient<Authed>> {
    Ok(RegistryClient::new(c.channel(i).await?))
}

fn instance(name: &str, node: &str, ttl: i64) -> Service {
    Service {
        name: name.into(),
        version: "1.0.0".into(),
        nodes: vec![Node {
            id: node.into(),
            address: "10.0.0.1:9090".into(),
            ..Default::default()
        }],
        options: Some(Options {
            ttl,
            domain: String::new(),
        }),
        ..Default::default()
    }
}

async fn node_ids(c: &TestCluster, i: usize, name: &str) -> anyhow::Result<Vec<String>> {
    let req = GetRequest {
        service: name.into(),
        options: None,
    };
    match client(c, i).await?.get_service(req).await {
        Ok(r) => Ok(r
            .into_inner()
            .services
            .into_iter()
            .flat_map(|s| s.nodes)
            .map(|n| n.id)
            .collect()),
        Err(s) if s.code() == Code::NotFound => Ok(Vec::new()),
        Err(s) => Err(s.into()),
    }
}

/// What a watcher saw: (action, node ids, revision) per result.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<String>, u64)>>>;

/// Collects a watch's results on a task.
fn collect(mut stream: tonic::Streaming<micro_proto::registry::Result>) -> Seen {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = seen.clone();
    tokio::spawn(async move {
        while let Ok(Some(r)) = stream.message().await {
            let ids = r
                .service
                .map(|s| s.nodes.into_iter().map(|n| n.id).collect())
                .unwrap_or_default();
            out.lock().unwrap().push((r.action, ids, r.revision));
        }
    });
    seen
}

async fn wait_for<F: Fn() -> bool>(what: &str, within: Duration, f: F) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_instance_expires_and_a_watcher_on_another_node_sees_the_delete(
) -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    let watch = WatchRequest {
        service: "greeter".into(),
        ..Default::default()
    };
    let seen = collect(client(&c, 2).await?.watch(watch).await?.into_inner());

    client(&c, 0)
        .await?
        .register(instance("greeter", "g-1", 2))
        .await?;
    // Linearizable: visible through another node as soon as the write is acknowledged.
    assert_eq!(node_ids(&c, 2, "greeter").await?, vec!["g-1"]);
    wait_for("the create event", Duration::from_secs(10), || {
        seen.lock().unwrap().iter().any(|e| e.0 == "create")
    })
    .await;

    // No renewal: the leader expires it and every node stops listing it.
    wait_for("the delete event", Duration::from_secs(20), || {
        seen.lock().unwrap().iter().any(|e| e.0 == "delete")
    })
    .await;
    for i in 0..3 {
        assert!(node_ids(&c, i, "greeter").await?.is_empty(), "node {i}");
    }
    let events = seen.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1].1, vec!["g-1"]);
    assert!(events[1].2 > events[0].2, "revisions increase: {events:?}");

    // A watch resumed from before the create replays both changes from any node.
    let resume = WatchRequest {
        service: "greeter".into(),
        options: None,
        revision: events[0].2 - 1,
    };
    let replay = collect(client(&c, 1).await?.watch(resume).await?.into_inner());
    wait_for("the replay", Duration::from_secs(10), || {
        replay.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(*replay.lock().unwrap(), events);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_renewing_through_a_leader_kill_stays_registered() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, &[]).await?;
    let leader = c.leader(Duration::from_secs(10)).await?;
    let watcher = (leader + 1) % 3;
    let watch = WatchRequest {
        service: "pinger".into(),
        ..Default::default()
    };
    let seen = collect(client(&c, watcher).await?.watch(watch).await?.into_inner());

    // Renew every second through whichever node answers, as a service would; TTL 6 s.
    let channels: Vec<Authed> = futures::future::try_join_all((0..3).map(|i| c.channel(i))).await?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renewer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut ok = 0u32;
            let mut turn = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..3 {
                    turn += 1;
                    let mut cl = RegistryClient::new(channels[turn % 3].clone());
                    let req = tonic::Request::new(instance("pinger", "p-1", 6));
                    let call = tokio::time::timeout(Duration::from_secs(2), cl.register(req));
                    if matches!(call.await, Ok(Ok(_))) {
                        ok += 1;
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            ok
        })
    };
    wait_for("the registration", Duration::from_secs(10), || {
        seen.lock().unwrap().iter().any(|e| e.0 == "create")
    })
    .await;

    c.nodes[leader].kill();
    let new_leader = c.leader(Duration::from_secs(15)).await?;
    assert_ne!(new_leader, leader);
    // Well past the TTL counted from before the kill.
    tokio::time::sleep(Duration::from_secs(10)).await;
    c.nodes[leader].start()?;
    c.nodes[leader].wait_ready(Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let renewals = renewer.await?;
    assert!(renewals >= 5, "only {renewals} renewals succeeded");

    for i in 0..3 {
        assert_eq!(node_ids(&c, i, "pinger").await?, vec!["p-1"], "node {i}");
    }
    let events = seen.lock().unwrap().clone();
    assert!(
        events.iter().all(|e| e.0 != "delete"),
        "a renewing instance was expired: {events:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_lists_the_core_services_and_bad_registrations_are_refused() -> anyhow::Result<()>
{
    let c = TestCluster::start(3, &[]).await?;
    let core = [
        "auth", "broker", "cluster", "config", "events", "registry", "store",
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = client(&c, 1)
            .await?
            .list_services(ListRequest { options: None })
            .await?
            .into_inner()
            .services;
        let complete = core.iter().all(|name| {
            listed
                .iter()
                .find(|s| s.name == *name)
                .is_some_and(|s| s.nodes.len() == 3 && !s.endpoints.is_empty())
        });
        if complete {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "core services not all registered: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let mut reg = client(&c, 0).await?;
    reg.register(instance("svc", "n-1", 30)).await?;
    let mut other_version = instance("svc", "n-1", 30);
    other_version.version = "2.0.0".into();
    let conflict = reg.register(other_version).await.unwrap_err();
    assert_eq!(conflict.code(), Code::Aborted, "{conflict:?}");
    assert!(
        conflict.message().contains("deregister it first"),
        "{conflict:?}"
    );

    let negative = reg.register(instance("svc", "n-2", -1)).await.unwrap_err();
    assert_eq!(negative.code(), Code::InvalidArgument);
    let unnamed = reg.register(instance("", "n-3", 30)).await.unwrap_err();
    assert_eq!(unnamed.code(), Code::InvalidArgument);
    let mut empty = instance("svc", "n-4", 30);
    empty.nodes.clear();
    assert_eq!(
        reg.register(empty).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    // The default domain is public to read, but registering needs an admin.
    let anon = micro_tests::auth::connect(&c.nodes[0].addrs.proxy, &Bearer::anonymous()).await?;
    let mut anon = RegistryClient::new(anon);
    assert_eq!(node_ids(&c, 0, "svc").await?, vec!["n-1"]);
    anon.get_service(GetRequest {
        service: "svc".into(),
        options: None,
    })
    .await?;
    let refused = anon.register(instance("svc", "n-5", 30)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let stale = WatchRequest {
        service: String::new(),
        options: None,
        revision: 1,
    };
    // Revision 1 is still held (the history keeps 10,000 changes), so resuming works.
    reg.watch(stale).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_services_and_calls_registry_endpoints_as_dynamic_commands(
) -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    let cli = micro_tests::Cli::new()?;
    let proxies = format!("{},{}", c.nodes[2].addrs.proxy, c.nodes[0].addrs.proxy);
    cli.use_env_as_admin("three", &proxies)?;

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = cli.run(&["services"]);
        assert_eq!(out.code, 0, "{}", out.combined());
        if out.stdout == "auth\nbroker\ncluster\nconfig\nevents\nregistry\nstore\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "micro services printed {:?}",
            out.stdout
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let help = cli.run(&["registry", "--help"]);
    assert_eq!(help.code, 0, "{}", help.combined());
    assert!(
        help.stdout.contains(
            "COMMANDS:\n\tderegister\n\tgetService\n\tlistServices\n\tregister\n\twatch\n"
        ),
        "{}",
        help.stdout
    );
    let flags = cli.run(&["registry", "getService", "--help"]);
    assert!(
        flags.stdout.contains(
            "FLAGS:\n\t--service string\n\t--options_ttl int64\n\t--options_domain string\n"
        ),
        "{}",
        flags.stdout
    );

    // Register through the dynamic command (node 3 first in the env), read through node 1.
    let out = cli.run(&[
        "registry",
        "register",
        "--name=greeter",
        "--version=2",
        r#"--nodes=[{"id":"g-1","address":"10.0.0.9:80"}]"#,
        "--options-ttl=60",
    ]);
    assert_eq!(out.code, 0, "{}", out.combined());
    assert_eq!(out.stdout, "{}\n");
    assert_eq!(node_ids(&c, 0, "greeter").await?, vec!["g-1"]);
    let got = cli.run(&["registry", "getService", "--service", "greeter"]);
    assert_eq!(got.code, 0, "{}", got.combined());
    let v: serde_json::Value = serde_json::from_str(&got.stdout)?;
    assert_eq!(v["services"][0]["nodes"][0]["address"], "10.0.0.9:80");
    assert!(
        got.stdout.starts_with("{\n\t\"services\""),
        "TAB-indented: {}",
        got.stdout
    );

    let unknown = cli.run(&["registry", "getService", "--bogus=1"]);
    assert_ne!(unknown.code, 0);
    assert!(
        unknown.combined().contains("Unknown flag: bogus"),
        "{}",
        unknown.combined()
    );
    let missing = cli.run(&["registry", "getService", "--service=nope"]);
    assert_ne!(missing.code, 0);
    assert!(
        missing.combined().contains("Not found"),
        "{}",
        missing.combined()
    );
    let no_such = cli.run(&["nosuchservice", "call"]);
    assert!(
        no_such
            .combined()
            .contains("Unrecognized micro command: nosuchservice"),
        "{}",
        no_such.combined()
    );

    let out = cli.run(&["registry", "deregister", "--name=greeter", "--version=2"]);
    assert_eq!(out.code, 0, "{}", out.combined());
    assert!(node_ids(&c, 1, "greeter").await?.is_empty());
    Ok(())
}
