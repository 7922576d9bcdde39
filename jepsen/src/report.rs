//! The printed report: operations by type and outcome, the fault timeline, the verdict and the
//! anomaly found, if any.

use std::collections::BTreeMap;
use std::path::Path;

use crate::checker::{LeaseReport, Listing, Report, SetReport, TokenReport};
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

/// Ops counted by `f` and outcome.
fn tally(history: &History) -> BTreeMap<(&'static str, &'static str), usize> {
    let mut table = BTreeMap::new();
    for op in &history.ops {
        let outcome = match op.outcome {
            Outcome::Ok(_) => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        };
        *table.entry((op.kind.name(), outcome)).or_default() += 1;
    }
    table
}

/// Prints the register report (also the config workload's: plain reads, writes and deletes).
pub fn print_register(history: &History, timeline: &[NemesisEvent], report: &Report, path: &Path) {
    let table = tally(history);
    println!(
        "\noperations ({} in {}):",
        history.ops.len(),
        path.display()
    );
    println!("  {:<6} {:>8} {:>8} {:>8}", "type", "ok", "fail", "info");
    for kind in ["read", "write", "cas", "delete"] {
        let n = |o| table.get(&(kind, o)).copied().unwrap_or(0);
        // The register workload makes no deletes, the config workload no cas: leave them out.
        if matches!(kind, "cas" | "delete") && n("ok") + n("fail") + n("info") == 0 {
            continue;
        }
        println!(
            "  {:<6} {:>8} {:>8} {:>8}",
            kind,
            n("ok"),
            n("fail"),
            n("info")
        );
    }
    let secret = |f: &str| {
        history
            .ops
            .iter()
            .filter(|op| op.meta.secret && op.kind.name() == f)
            .count()
    };
    if history.ops.iter().any(|op| op.meta.secret) {
        println!(
            "  secrets: {} writes sealed, {} reads decrypted",
            secret("write"),
            secret("read")
        );
    }
    print_timeline(timeline);
    print_keys(report);
    println!("\nverdict: {}", report.verdict);
}

fn print_keys(report: &Report) {
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
}

/// Prints the auth workload's report: account existence per account, then token uses.
pub fn print_auth(
    history: &History,
    timeline: &[NemesisEvent],
    accounts: &Report,
    tokens: &TokenReport,
    path: &Path,
) {
    let table = tally(history);
    let n = |f, o| table.get(&(f, o)).copied().unwrap_or(0);
    let absent = history
        .ops
        .iter()
        .filter(|op| op.kind == OpKind::Read && op.read_value() == Some(None))
        .count();
    println!(
        "\noperations ({} in {}):",
        history.ops.len(),
        path.display()
    );
    println!(
        "  generate  {} ok, {} fail, {} info",
        n("write", "ok"),
        n("write", "fail"),
        n("write", "info")
    );
    println!(
        "  token     {} issued, {} refused as no such account, {} other errors, {} info",
        n("read", "ok").saturating_sub(absent),
        absent,
        n("read", "fail"),
        n("read", "info")
    );
    println!(
        "  delete    {} ok, {} fail, {} info",
        n("delete", "ok"),
        n("delete", "fail"),
        n("delete", "info")
    );
    let [accepted, refused, unknown] = tokens.uses;
    println!(
        "  use       {accepted} accepted ({} on another node than the issuer, {} after the \
         account's deletion), {refused} refused, {unknown} unknown",
        tokens.cross_node, tokens.after_delete
    );
    print_timeline(timeline);
    println!(
        "\naccounts (existence as a plain register): {} accounts, {} ops; {} steps",
        accounts.keys.len(),
        accounts.counts.ops,
        accounts.keys.iter().map(|k| k.steps).sum::<u64>()
    );
    println!("  {}", accounts.verdict);
    println!(
        "tokens: {} issued, {} uses judged, {} past their validity, {} violations",
        tokens.issued,
        accepted + refused,
        tokens.expired,
        tokens.violations.len()
    );
    for v in tokens.violations.iter().take(5) {
        println!("  {:?}: {}", v.kind, v.description);
    }
    let valid = accounts.is_linearizable() && tokens.is_valid();
    println!("\nverdict: {}", if valid { "valid" } else { "INVALID" });
}

/// Prints the set report.
pub fn print_set(
    report: &SetReport,
    order: Option<&[crate::checker::OrderDivergence]>,
    timeline: &[NemesisEvent],
) {
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
    match order.map(|o| o.first()) {
        None => {}
        Some(None) => println!("order: every node's log orders the events alike"),
        Some(Some(d)) => println!(
            "order: {} node(s) disagree; e.g. {} has {:?} where {} has {:?} (position {})",
            order.map_or(0, <[_]>::len),
            d.node,
            d.found,
            d.reference,
            d.expected,
            d.position
        ),
    }
    println!(
        "\nverdict: {}",
        if report.is_valid() && order.is_none_or(<[_]>::is_empty) {
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
