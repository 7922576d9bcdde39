//! The printed report: operations by type and outcome, the fault timeline, the verdict and the
//! anomaly found, if any.

use std::collections::BTreeMap;
use std::path::Path;

use crate::checker::{LeaseReport, Listing, Report, SetReport};
use crate::history::{History, OpKind, Outcome};
use crate::nemesis::NemesisEvent;

fn print_timeline(timeline: &[NemesisEvent]) {
    println!("\nfault timeline:");
    if timeline.is_empty() {
        println!("  (no faults)");
    }
    for e in timeline {
        println!(
            "  {:>8.3}s  {:<5} {}  [{:?}]",
            e.at_ms as f64 / 1000.0,
            e.action,
            e.fault,
            e.outcome
        );
    }
}

/// Prints the register report.
pub fn print_register(history: &History, timeline: &[NemesisEvent], report: &Report, path: &Path) {
    let mut table: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for op in &history.ops {
        let kind = match op.kind {
            OpKind::Read => "read",
            OpKind::Write { .. } => "write",
            OpKind::Cas { .. } => "cas",
        };
        let outcome = match op.outcome {
            Outcome::Ok(_) => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        };
        *table.entry((kind, outcome)).or_default() += 1;
    }
    println!(
        "\noperations ({} in {}):",
        history.ops.len(),
        path.display()
    );
    println!("  {:<6} {:>8} {:>8} {:>8}", "type", "ok", "fail", "info");
    for kind in ["read", "write", "cas"] {
        let n = |o| table.get(&(kind, o)).copied().unwrap_or(0);
        println!(
            "  {:<6} {:>8} {:>8} {:>8}",
            kind,
            n("ok"),
            n("fail"),
            n("info")
        );
    }
    print_timeline(timeline);
    println!(
        "\nchecker: {} keys, {} ops",
        report.keys.len(),
        report.counts.ops
    );
    for k in &report.keys {
        println!(
            "  key {:<6} {:>6} ops  {:>10} steps  {}",
            k.key,
            k.counts.ops,
            k.steps,
            short(&k.verdict.to_string())
        );
    }
    println!("\nverdict: {}", report.verdict);
}

/// Prints the set report.
pub fn print_set(report: &SetReport, timeline: &[NemesisEvent]) {
    let a = &report.attempted;
    println!(
        "\nadds: {} ok, {} fail, {} info ({} of the info adds took effect)",
        a.ok,
        a.fail,
        a.info,
        report.recovered.len()
    );
    print_timeline(timeline);
    let count = |m: &BTreeMap<String, std::collections::BTreeSet<String>>| {
        m.values().map(|s| s.len()).sum::<usize>()
    };
    println!(
        "\nlost {}, duplicated {}, unexpected {}, failed-but-present {}, divergent {}",
        count(&report.lost),
        report.duplicated.values().map(|m| m.len()).sum::<usize>(),
        count(&report.unexpected),
        count(&report.failed_present),
        report.divergent.len()
    );
    if let Some((node, lost)) = report.lost.iter().next() {
        println!(
            "  e.g. {node} lost {:?}",
            lost.iter().take(5).collect::<Vec<_>>()
        );
    }
    println!(
        "\nverdict: {}",
        if report.is_valid() {
            "valid"
        } else {
            "INVALID"
        }
    );
}

fn short(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Prints the registry workload's report.
pub fn print_leases(report: &LeaseReport, listings: &[Listing], timeline: &[NemesisEvent]) {
    let [ok, fail, info] = report.renewals;
    println!(
        "\nrenewals: {ok} ok, {fail} fail, {info} info; listings: {}",
        report.listings
    );
    print_timeline(timeline);
    println!(
        "\nfalse expiries {}, overstays {}",
        report.false_expiries.len(),
        report.overstays.len()
    );
    for (what, found) in [
        ("missing while renewed", &report.false_expiries),
        ("listed after its lease", &report.overstays),
    ] {
        if let Some(v) = found.first() {
            let l = &listings[v.listing];
            println!(
                "  e.g. {} {what}: node {} listing at {:.3}-{:.3} s, renewal at {:.3} s",
                v.instance,
                l.node,
                l.invoke_ns as f64 / 1e9,
                l.complete_ns as f64 / 1e9,
                v.renewal_invoke_ns as f64 / 1e9
            );
        }
    }
    println!(
        "\nverdict: {}",
        if report.is_valid() {
            "valid"
        } else {
            "INVALID"
        }
    );
}
