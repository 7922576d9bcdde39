//! The side-by-side table, as Markdown (so BENCHMARKS.md holds it as printed).

use std::fmt::Write;
use std::time::Duration;

use crate::suite::{spread, Runs};

fn median_of(reports: &[micro_bench::Report], f: impl Fn(&micro_bench::Report) -> f64) -> f64 {
    spread(reports.iter().map(f).collect()).0
}

fn rate(reports: &[micro_bench::Report]) -> String {
    if reports.is_empty() {
        return "-".into();
    }
    let (m, lo, hi) = spread(reports.iter().map(|r| r.ops_per_sec).collect());
    format!("{m:.0} ({lo:.0}–{hi:.0})")
}

fn latency(reports: &[micro_bench::Report]) -> String {
    if reports.is_empty() {
        return "-".into();
    }
    format!(
        "{:.2} / {:.2}",
        median_of(reports, |r| r.latency_ms[0]),
        median_of(reports, |r| r.latency_ms[2])
    )
}

fn per_cpu(reports: &[micro_bench::Report]) -> String {
    if reports.is_empty() {
        return "-".into();
    }
    format!(
        "{:.0}",
        median_of(reports, micro_bench::Report::ops_per_cpu_s)
    )
}

fn errors(reports: &[micro_bench::Report]) -> u64 {
    reports.iter().map(|r| r.errors).sum()
}

/// The throughput rows: medians over rounds with their range, the ratio micro/twin, median
/// p50 and p99, and operations per CPU second (client and servers).
pub fn throughput(rows: &[Runs]) -> String {
    let mut t = String::from(
        "| workload | vs | micro ops/s (range) | other ops/s (range) | micro/other | micro p50 / p99 ms | other p50 / p99 ms | micro ops/CPU-s | other ops/CPU-s | errors micro / other |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let ratio = {
            let a = median_of(&r.micro, |x| x.ops_per_sec);
            let b = median_of(&r.other, |x| x.ops_per_sec);
            if b > 0.0 && !r.micro.is_empty() {
                format!("{:.2}×", a / b)
            } else {
                "-".into()
            }
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |",
            r.name,
            if r.other_name.is_empty() {
                "-"
            } else {
                &r.other_name
            },
            rate(&r.micro),
            rate(&r.other),
            ratio,
            latency(&r.micro),
            latency(&r.other),
            per_cpu(&r.micro),
            per_cpu(&r.other),
            errors(&r.micro),
            errors(&r.other),
        );
    }
    t
}

/// Failover trials of each side: median and range.
pub fn failover(micro: &[Duration], etcd: &[Duration], failures: (usize, usize)) -> String {
    let ms = |xs: &[Duration]| {
        if xs.is_empty() {
            return "-".to_string();
        }
        let (m, lo, hi) = spread(xs.iter().map(|d| d.as_secs_f64() * 1000.0).collect());
        format!("{m:.0} ms ({lo:.0}–{hi:.0}, {} trials)", xs.len())
    };
    format!(
        "| 6 leader failover (kill -9 → first write) | micro | etcd |\n|---|---|---|\n\
         | median (range) | {} | {} |\n| trials without a write within 30 s | {} | {} |\n",
        ms(micro),
        ms(etcd),
        failures.0,
        failures.1
    )
}

/// Resident memory per node, idle (after start) and loaded (the most seen at the end of a
/// run), MiB.
pub fn memory(rows: &[(&str, Vec<f64>, Vec<f64>)]) -> String {
    let mut t = String::from("| 8 resident memory, MiB per node | idle | loaded (max at the end of a run) |\n|---|---|---|\n");
    let list = |xs: &[f64]| {
        if xs.is_empty() {
            return "-".to_string();
        }
        xs.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (name, idle, loaded) in rows {
        let _ = writeln!(t, "| {name} | {} | {} |", list(idle), list(loaded));
    }
    t
}
