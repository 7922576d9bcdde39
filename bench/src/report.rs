//! What one benchmark run measured, as `micro bench -o json` and `micro-compare` print it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::Tally;

/// The figures of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Workload name, with its shape (clients, via).
    pub workload: String,
    /// Operations completed without error.
    pub ops: u64,
    /// Operations that failed.
    pub errors: u64,
    /// The first failure, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Wall time of the measured phase, seconds.
    pub seconds: f64,
    /// Successful operations per second.
    pub ops_per_sec: f64,
    /// Latency percentiles in milliseconds: p50, p90, p99, p99.9.
    pub latency_ms: [f64; 4],
    /// CPU seconds this client used.
    pub client_cpu_s: f64,
    /// CPU seconds the servers used during the measured phase (summed), if known.
    pub server_cpu_s: Option<f64>,
    /// Resident memory of each server at the end, MiB.
    pub server_rss_mib: Vec<f64>,
}

/// Server figures around a run: CPU seconds summed over the servers, and each one's memory.
#[derive(Debug, Clone, Default)]
pub struct ServerFigures {
    /// CPU seconds, summed.
    pub cpu_s: f64,
    /// Resident memory of each server, MiB.
    pub rss_mib: Vec<f64>,
}

impl Report {
    /// The report of a run named `workload` that measured `tally` in `elapsed`, using
    /// `client_cpu_s` of its own CPU; `servers` are the server figures before and after.
    pub fn new(
        workload: String,
        tally: &Tally,
        elapsed: Duration,
        client_cpu_s: f64,
        servers: Option<(ServerFigures, ServerFigures)>,
    ) -> Report {
        let seconds = elapsed.as_secs_f64();
        let q = |p| tally.quantile_ms(p);
        Report {
            workload,
            ops: tally.done,
            errors: tally.errors,
            first_error: tally.first_error.clone(),
            seconds,
            ops_per_sec: tally.done as f64 / seconds.max(f64::EPSILON),
            latency_ms: [q(0.5), q(0.9), q(0.99), q(0.999)],
            client_cpu_s,
            server_cpu_s: servers.as_ref().map(|(b, a)| a.cpu_s - b.cpu_s),
            server_rss_mib: servers.map(|(_, a)| a.rss_mib).unwrap_or_default(),
        }
    }

    /// Operations per CPU second, client and server together (the fairest figure on shared
    /// cores); client only when server CPU is unknown.
    pub fn ops_per_cpu_s(&self) -> f64 {
        let cpu = self.client_cpu_s + self.server_cpu_s.unwrap_or(0.0);
        if cpu > 0.0 {
            self.ops as f64 / cpu
        } else {
            0.0
        }
    }
}

/// CPU and memory of the server processes `pids` on this machine, now; `None` without pids
/// or when one is gone.
pub fn server_figures(pids: &[u32]) -> Option<ServerFigures> {
    if pids.is_empty() {
        return None;
    }
    let mut f = ServerFigures::default();
    for &pid in pids {
        f.cpu_s += crate::process::cpu_seconds(Some(pid))?;
        f.rss_mib.push(crate::process::rss_mib(pid)?);
    }
    Some(f)
}
