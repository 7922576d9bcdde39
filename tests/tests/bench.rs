//! `micro bench` against a three-node cluster: each workload runs and reports what it did
//! (counts and the presence of figures, never their values).

use micro_tests::{Cli, TestCluster};
use serde_json::Value;

fn bench(cli: &Cli, args: &[&str]) -> Value {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = cli.run(&all);
    assert_eq!(out.code, 0, "micro {all:?}: {}", out.combined());
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_runs_and_reports_its_figures() -> anyhow::Result<()> {
    let c = TestCluster::start(3, &[]).await?;
    let cli = Cli::new()?;
    cli.use_env_as_admin("bench", &c.nodes[0].addrs.proxy)?;
    let admin: Vec<String> = c.nodes.iter().map(|n| n.addrs.admin.clone()).collect();
    let admin = admin.join(",");

    let put = bench(
        &cli,
        &["put", "--clients", "4", "--ops", "200", "--admin", &admin],
    );
    assert_eq!(put["ops"], 200, "{put}");
    assert_eq!(put["errors"], 0, "{put}");
    assert!(
        put["server_cpu_s"].as_f64().is_some_and(|s| s > 0.0),
        "{put}"
    );
    assert_eq!(
        put["server_rss_mib"].as_array().map(Vec::len),
        Some(3),
        "{put}"
    );
    let p = put["latency_ms"].as_array().unwrap();
    assert!(
        p.windows(2).all(|w| w[0].as_f64() <= w[1].as_f64()),
        "percentiles ascend: {put}"
    );

    let get = bench(
        &cli,
        &[
            "get", "--keys", "50", "--ops", "100", "--target", "follower", "--http",
        ],
    );
    assert_eq!(
        (get["ops"].as_u64(), get["errors"].as_u64()),
        (Some(100), Some(0)),
        "{get}"
    );
    assert!(
        get["server_cpu_s"].is_null(),
        "no --admin, no server figure: {get}"
    );
    let stale = bench(
        &cli,
        &[
            "get", "--keys", "50", "--ops", "100", "--stale", "--target", "leader",
        ],
    );
    assert_eq!(stale["ops"], 100, "{stale}");

    // Server figures read from the processes themselves, as micro-compare reads etcd's.
    let pids: Vec<String> = c
        .nodes
        .iter()
        .filter_map(|n| n.pid())
        .map(|p| p.to_string())
        .collect();
    let publish = bench(
        &cli,
        &[
            "publish",
            "--clients",
            "8",
            "--ops",
            "100",
            "--pids",
            &pids.join(","),
        ],
    );
    assert_eq!(
        (publish["ops"].as_u64(), publish["errors"].as_u64()),
        (Some(100), Some(0)),
        "{publish}"
    );
    assert!(
        publish["server_cpu_s"].as_f64().is_some_and(|s| s > 0.0),
        "{publish}"
    );
    assert_eq!(
        publish["server_rss_mib"].as_array().map(Vec::len),
        Some(3),
        "{publish}"
    );

    let hb = bench(
        &cli,
        &[
            "heartbeat",
            "--instances",
            "200",
            "--interval",
            "2s",
            "--duration",
            "2s",
            "--clients",
            "16",
        ],
    );
    assert_eq!(hb["errors"], 0, "{hb}");
    assert_eq!(hb["ops"], 200, "every instance renewed once: {hb}");
    Ok(())
}
