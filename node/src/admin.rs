//! The admin listener (`--admin-address`, :8082): `/health` (the process answers and its raft
//! runs), `/ready`
//! (a member of a cluster whose leader confirms it with a quorum, with this node caught up to
//! that leader; 503 with the reason otherwise) and `/metrics` (Prometheus text, with the
//! process's CPU seconds and resident memory as `process_*`).
//!
//! Metrics go through the `metrics` facade, so any crate records without plumbing; one
//! Prometheus recorder is installed per process. Raft gauges are read at scrape time.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use micro_raft::Cluster;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long `/ready` waits for the leader's confirmation.
const READY_TIMEOUT: Duration = Duration::from_secs(2);
/// Latency buckets, in seconds, for every histogram.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets for histograms of counts (entries per fsync batch).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
/// Process CPU, memory and file descriptors (`process_*`), sampled at each scrape.
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use; `None` if another recorder was
/// installed first (then `/metrics` shows only the raft gauges).
fn recorder() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Suffix("_entries".into()), BATCH_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Installs the metrics recorder; call before anything records.
pub fn install_metrics() {
    PROCESS.get_or_init(|| {
        let collector = metrics_process::Collector::default();
        collector.describe();
        collector
    });
    if recorder().is_none() {
        tracing::warn!("another metrics recorder is installed; /metrics shows raft gauges only");
    }
}

/// Serves the admin endpoints on `listener` until `stop`.
pub async fn serve(
    listener: TcpListener,
    cluster: Arc<Cluster>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .with_state(cluster);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

/// Counts one request in `micro_requests_total`. Only services this node serves get their own
/// labels, so arbitrary paths cannot grow the label set.
pub fn count_request(edge: &'static str, service: &str, endpoint: &str, code: &str) {
    let (service, endpoint) = match service {
        "store" | "config" | "auth" | "cluster" | "registry" | "broker" | "events" => {
            (service.to_owned(), endpoint.to_owned())
        }
        _ => ("other".to_owned(), "other".to_owned()),
    };
    metrics::counter!(
        "micro_requests_total",
        "edge" => edge,
        "service" => service,
        "endpoint" => endpoint,
        "code" => code.to_owned()
    )
    .increment(1);
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// 200 while the process serves; 503 once its raft stopped on an error (a full or failing
/// disk), which only a restart cures, so a liveness probe restarts it.
async fn health(State(cluster): State<Arc<Cluster>>) -> Response {
    match cluster.storage_failure() {
        None => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
        Some(reason) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "failed", "reason": reason}),
        ),
    }
}

async fn ready(State(cluster): State<Arc<Cluster>>) -> Response {
    let status = cluster.local_status();
    let reason = match tokio::time::timeout(READY_TIMEOUT, cluster.read_barrier()).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!(
            "no leader confirmed a read index within {READY_TIMEOUT:?}"
        )),
    };
    let body = serde_json::json!({
        "ready": reason.is_none(),
        "reason": reason,
        "id": format!("{:016x}", cluster.id()),
        "role": status.role,
        "leader": status.leader.map(|l| format!("{l:016x}")),
        "term": status.term,
        "applied_index": status.applied_index,
    });
    let code = if reason.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(code, body)
}

/// User plus system CPU time of this process, in seconds (also what `micro bench` reads of
/// itself).
pub fn cpu_seconds() -> Option<f64> {
    let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
    Some((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

async fn metrics_text(State(cluster): State<Arc<Cluster>>) -> Response {
    let s = cluster.local_status();
    let commit_index = cluster.commit_index().await.unwrap_or(s.applied_index);
    let gauges = [
        ("micro_raft_term", s.term),
        ("micro_raft_commit_index", commit_index),
        ("micro_raft_last_log_index", s.last_log_index),
        ("micro_raft_applied_index", s.applied_index),
        ("micro_raft_snapshot_index", s.snapshot_index),
        ("micro_raft_purged_index", s.purged_index),
        (
            "micro_raft_log_entries",
            s.last_log_index.saturating_sub(s.purged_index),
        ),
        ("micro_raft_is_leader", u64::from(s.role == "leader")),
        ("micro_raft_has_leader", u64::from(s.leader.is_some())),
    ];
    let mut text = String::new();
    for (name, value) in gauges {
        text.push_str(&format!("# TYPE {name} gauge\n{name} {value}\n"));
    }
    if let Some(cpu) = cpu_seconds() {
        // `process_cpu_seconds_total` counts whole seconds only; benchmarks need finer.
        text.push_str(&format!(
            "# TYPE micro_process_cpu_seconds gauge\nmicro_process_cpu_seconds {cpu:.3}\n"
        ));
    }
    text.push_str(&format!(
        "# TYPE micro_raft_role gauge\nmicro_raft_role{{role=\"{}\"}} 1\n",
        s.role
    ));
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
    if let Some(handle) = recorder() {
        text.push_str(&handle.render());
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}
