//! What one benchmark run measured, and how it prints.

use serde::Serialize;

use crate::table::Table;

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Workload name, with its shape (clients, via).
    pub workload: String,
    /// Operations completed without error.
    pub ops: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Wall time of the measured phase, seconds.
    pub seconds: f64,
    /// Successful operations per second.
    pub ops_per_sec: f64,
    /// Latency percentiles in milliseconds: p50, p90, p99, p99.9.
    pub latency_ms: [f64; 4],
    /// CPU seconds this client used.
    pub client_cpu_s: f64,
    /// CPU seconds the servers used (summed over `--admin` nodes), if known.
    pub server_cpu_s: Option<f64>,
    /// Resident memory of each `--admin` node at the end, MiB.
    pub server_rss_mib: Vec<f64>,
}

impl Report {
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

/// The reports as an aligned table.
pub fn table(reports: &[Report]) -> String {
    let mut t = Table::with_header(&[
        "WORKLOAD",
        "OPS",
        "OPS/S",
        "P50 MS",
        "P90 MS",
        "P99 MS",
        "P99.9 MS",
        "ERRORS",
        "CLIENT CPU S",
        "SERVER CPU S",
        "OPS/CPU S",
        "SERVER RSS MIB",
    ]);
    for r in reports {
        t.row(vec![
            r.workload.clone(),
            r.ops.to_string(),
            format!("{:.0}", r.ops_per_sec),
            format!("{:.2}", r.latency_ms[0]),
            format!("{:.2}", r.latency_ms[1]),
            format!("{:.2}", r.latency_ms[2]),
            format!("{:.2}", r.latency_ms[3]),
            r.errors.to_string(),
            format!("{:.2}", r.client_cpu_s),
            r.server_cpu_s.map_or("-".into(), |s| format!("{s:.2}")),
            format!("{:.0}", r.ops_per_cpu_s()),
            if r.server_rss_mib.is_empty() {
                "-".into()
            } else {
                r.server_rss_mib
                    .iter()
                    .map(|m| format!("{m:.0}"))
                    .collect::<Vec<_>>()
                    .join(",")
            },
        ]);
    }
    t.render()
}
