//! The workloads as rows, run round after round with micro and its twin interleaved
//! (micro, etcd, micro, etcd, …, the order flipped every round), and their medians.

use std::time::Duration;

use micro_bench::Report;

use crate::systems::{Other, Target, Workload};

/// How long and how much each run measures.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Length of one measured run.
    pub duration: Duration,
    /// Operations per run instead (smoke mode).
    pub ops: Option<u64>,
}

impl Budget {
    fn flags(&self) -> Vec<String> {
        let mut f = vec![
            "--duration".into(),
            humantime::format_duration(self.duration).to_string(),
        ];
        if let Some(n) = self.ops {
            f.extend(["--ops".into(), n.to_string()]);
        }
        f
    }
}

fn row(
    name: String,
    micro: &'static str,
    other: Option<(Other, &'static str)>,
    target: Target,
    budget: &Budget,
    extra: &[&str],
) -> Workload {
    let mut args = budget.flags();
    args.extend(extra.iter().map(|s| s.to_string()));
    Workload {
        name,
        micro,
        other,
        target,
        args,
    }
}

/// The workloads 1–5 and 7 (failover and memory are measured apart). `smoke` keeps
/// the heartbeat workload small.
pub fn workloads(budget: &Budget, smoke: bool) -> Vec<Workload> {
    let etcd = |w| Some((Other::Etcd, w));
    let mut rows = vec![
        row(
            "1 serial put, leader".into(),
            "put",
            etcd("put"),
            Target::Leader,
            budget,
            &["--clients", "1"],
        ),
        row(
            "1 serial put, follower".into(),
            "put",
            etcd("put"),
            Target::Follower,
            budget,
            &["--clients", "1"],
        ),
    ];
    for c in ["1", "8", "16", "64", "256"] {
        rows.push(row(
            format!("2 put c={c}"),
            "put",
            etcd("put"),
            Target::All,
            budget,
            &["--clients", c],
        ));
    }
    for (stale, label) in [(false, "linearizable"), (true, "stale")] {
        for c in ["1", "16", "64"] {
            let mut extra = vec!["--clients", c];
            if stale {
                extra.push("--stale");
            }
            rows.push(row(
                format!("3 get {label} c={c}"),
                "get",
                etcd("get"),
                Target::All,
                budget,
                &extra,
            ));
        }
    }
    for (name, w, extra) in [
        ("4 http put c=1", "put", &["--clients", "1"][..]),
        ("4 http put c=64", "put", &["--clients", "64"][..]),
        (
            "4 http get linearizable c=1",
            "get",
            &["--clients", "1"][..],
        ),
        (
            "4 http get linearizable c=64",
            "get",
            &["--clients", "64"][..],
        ),
        (
            "4 http get stale c=64",
            "get",
            &["--clients", "64", "--stale"][..],
        ),
    ] {
        let mut extra = extra.to_vec();
        extra.push("--http");
        rows.push(row(name.into(), w, etcd(w), Target::All, budget, &extra));
    }
    rows.push(row(
        "5 put 256 B keys, 1 KiB values, c=200".into(),
        "put",
        etcd("put"),
        Target::All,
        budget,
        &[
            "--clients",
            "200",
            "--key-size",
            "256",
            "--value-size",
            "1024",
            "--keys",
            "10000",
        ],
    ));
    for c in ["1", "64"] {
        rows.push(row(
            format!("7 durable publish c={c} (vs NATS JetStream)"),
            "publish",
            Some((Other::Nats, "publish")),
            Target::All,
            budget,
            &["--clients", c],
        ));
    }
    let (instances, interval) = if smoke {
        ("200", "2s")
    } else {
        ("10000", "10s")
    };
    let heartbeat = Budget {
        duration: humantime::parse_duration(interval).expect("constant duration"),
        ops: budget.ops,
    };
    rows.push(row(
        format!("7 {instances} heartbeats every {interval} (etcd: lease keep-alives)"),
        "heartbeat",
        etcd("keepalive"),
        Target::All,
        &heartbeat,
        &[
            "--clients",
            "64",
            "--instances",
            instances,
            "--interval",
            interval,
        ],
    ));
    rows
}

/// Every run of one row: micro's reports and the twin's.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Runs {
    /// The row's name.
    pub name: String,
    /// micro's reports, one per round.
    pub micro: Vec<Report>,
    /// The twin's reports, one per round.
    pub other: Vec<Report>,
    /// Which twin ("etcd", "nats", or empty).
    pub other_name: String,
}

/// Median, low and high of `xs` (zeros when empty).
pub fn spread(mut xs: Vec<f64>) -> (f64, f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let median = if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    (median, xs[0], xs[n - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_the_middle_and_the_ends() {
        assert_eq!(spread(vec![3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(spread(vec![4.0, 1.0]), (2.5, 1.0, 4.0));
        assert_eq!(spread(vec![]), (0.0, 0.0, 0.0));
    }

    #[test]
    fn every_row_has_a_twin_and_the_budget() {
        let b = Budget {
            duration: Duration::from_secs(5),
            ops: Some(100),
        };
        for w in workloads(&b, true) {
            assert!(w.other.is_some(), "{}", w.name);
            assert!(w.args.windows(2).any(|a| a == ["--ops", "100"]), "{w:?}");
        }
    }
}
