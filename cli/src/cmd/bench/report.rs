//! How the reports of `micro bench` print as a table.

use micro_bench::Report;

use crate::table::Table;

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
