//! Publish throughput of the events service: 64 concurrent publishers against a three-node
//! cluster, each waiting for its publish to be acknowledged (committed and fsynced on a
//! quorum) before sending the next. A program that prints figures, not a test of them:
//!
//! ```text
//! cargo build --release --bin micro
//! MICRO_BIN=target/release/micro cargo test --release -p micro-tests --test events_bench \
//!     -- --ignored --nocapture
//! ```
//!
//! `EVENTS_BENCH_SECS` (default 10) sets the length of each of the three runs,
//! `EVENTS_BENCH_PUBLISHERS` (default 64) the number of publishers, `EVENTS_BENCH_WINDOW`
//! (default 1) how many publishes each publisher keeps outstanding on its connection (an
//! asynchronous publisher; each publish is still acknowledged on its own), and
//! `EVENTS_BENCH_TARGET=leader` sends every publish to the leader instead of spreading them
//! over the nodes.

use std::time::{Duration, Instant};

use micro_proto::events::stream_client::StreamClient;
use micro_proto::events::PublishRequest;
use micro_tests::{auth, TestCluster};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One run: publishers publish for `secs`, each with `window` publishes outstanding; returns
/// (events, elapsed, sorted latencies).
async fn run(
    proxies: &[String],
    bearer: &auth::Bearer,
    topic: &str,
    publishers: usize,
    window: usize,
    secs: u64,
) -> anyhow::Result<(usize, Duration, Vec<Duration>)> {
    let mut channels = Vec::new();
    for p in 0..publishers {
        channels.push(auth::connect(&proxies[p % proxies.len()], bearer).await?);
    }
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (p, channel) in channels
        .into_iter()
        .enumerate()
        .flat_map(|(p, ch)| std::iter::repeat_n((p, ch), window))
    {
        let topic = topic.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut client = StreamClient::new(channel);
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < until {
                let sent = Instant::now();
                client
                    .publish(PublishRequest {
                        topic: topic.clone(),
                        payload: format!("{{\"publisher\":{p},\"n\":{n}}}").into_bytes(),
                        ..Default::default()
                    })
                    .await?;
                latencies.push(sent.elapsed());
                n += 1;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed();
    all.sort();
    Ok((all.len(), elapsed, all))
}

/// Means of the node's batching histograms, from its `/metrics`.
async fn summary(admin: &str) -> anyhow::Result<String> {
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await?
        .text()
        .await?;
    let value = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .fold(0.0, |a, b| a + b)
    };
    let mean =
        |name: &str| value(&format!("{name}_sum")) / value(&format!("{name}_count")).max(1.0);
    Ok(format!(
        "publish batches {:.0} (mean {:.1} events), fsync mean {:.2} ms over {:.1} entries, \
         apply mean {:.2} ms, proposal mean {:.2} ms",
        value("micro_events_publish_batch_events_count"),
        mean("micro_events_publish_batch_events"),
        mean("micro_raft_fsync_seconds") * 1000.0,
        mean("micro_raft_fsync_batch_entries"),
        mean("micro_raft_apply_seconds") * 1000.0,
        mean("micro_raft_proposal_seconds") * 1000.0,
    ))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn publish_throughput_with_64_publishers() -> anyhow::Result<()> {
    let secs: u64 = env_or("EVENTS_BENCH_SECS", 10);
    let publishers: usize = env_or("EVENTS_BENCH_PUBLISHERS", 64);
    let window: usize = env_or("EVENTS_BENCH_WINDOW", 1);
    let to_leader = std::env::var("EVENTS_BENCH_TARGET").is_ok_and(|t| t == "leader");
    let mut c = TestCluster::start(3, &[]).await?;
    let proxies: Vec<String> = if to_leader {
        let l = c.leader(Duration::from_secs(30)).await?;
        vec![c.nodes[l].addrs.proxy.clone()]
    } else {
        c.nodes.iter().map(|n| n.addrs.proxy.clone()).collect()
    };
    let mut rates = Vec::new();
    for round in 0..3 {
        let topic = format!("bench-{round}");
        let (events, elapsed, lat) =
            run(&proxies, &c.admin, &topic, publishers, window, secs).await?;
        let rate = events as f64 / elapsed.as_secs_f64();
        println!(
            "run {round}: {events} events in {:.2}s = {rate:.0} events/s; latency p50 {:?} \
             p99 {:?} max {:?}",
            elapsed.as_secs_f64(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            percentile(&lat, 1.0),
        );
        rates.push(rate);
    }
    for (i, node) in c.nodes.iter().enumerate() {
        println!("node {i}: {}", summary(&node.addrs.admin).await?);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!(
        "median of 3 runs: {:.0} durable events/s ({publishers} publishers x {window} \
         outstanding, {})",
        rates[1],
        if to_leader {
            "all to the leader"
        } else {
            "spread over 3 nodes"
        }
    );
    Ok(())
}
