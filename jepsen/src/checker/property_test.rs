//! Property tests: histories generated from a sequential register are linearizable, and
//! corrupting one read makes them not; plus a scale test for checker speed.

use std::time::Instant;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use super::linearizable_test::search_only;
use super::simulated::{script, simulate};
use super::*;
use crate::history::{History, OpKind, OpResult, Outcome, Versioned};

fn config() -> CheckerConfig {
    CheckerConfig {
        threads: 1,
        ..CheckerConfig::default()
    }
}

proptest! {
    #[test]
    fn simulated_histories_are_linearizable(
        steps in vec(any::<(u8, u8, u8)>(), 0..300),
        processes in 1usize..7,
        keys in 1usize..4,
    ) {
        let history = simulate(&steps, processes, keys);
        let report = check(&history, &config()).unwrap();
        prop_assert!(report.is_linearizable(), "{}", report.verdict);
        prop_assert!(search_only(&history));
    }

    #[test]
    fn a_read_of_a_never_written_value_is_a_violation(
        steps in vec(any::<(u8, u8, u8)>(), 1..300),
        processes in 1usize..7,
        keys in 1usize..4,
        pick in any::<Index>(),
    ) {
        let mut history = simulate(&steps, processes, keys);
        let reads: Vec<usize> = (0..history.ops.len())
            .filter(|&i| history.ops[i].kind == OpKind::Read)
            .filter(|&i| matches!(history.ops[i].outcome, Outcome::Ok(_)))
            .collect();
        prop_assume!(!reads.is_empty());
        let bogus = Versioned { value: "never-written".into(), revision: 1_000_000 };
        history.ops[reads[pick.index(reads.len())]].outcome =
            Outcome::Ok(OpResult::Read(Some(bogus)));
        let report = check(&history, &config()).unwrap();
        let kind = report.verdict.violation().map(|v| v.kind);
        prop_assert_eq!(kind, Some(ViolationKind::NeverWrittenValue), "{}", report.verdict);
        prop_assert!(!search_only(&history));
    }

    #[test]
    fn simulated_histories_round_trip_through_json_lines(
        steps in vec(any::<(u8, u8, u8)>(), 0..200),
    ) {
        let history = simulate(&steps, 4, 2);
        let mut buf = Vec::new();
        history.write_to(&mut buf).unwrap();
        prop_assert_eq!(History::read_from(&buf[..]).unwrap(), history);
    }
}

#[test]
fn ten_keys_of_thousands_of_ops_check_in_seconds() {
    let history = simulate(&script(0x5eed, 75_000), 10, 10);
    let start = Instant::now();
    let report = check(&history, &CheckerConfig::default()).unwrap();
    let elapsed = start.elapsed();
    assert!(report.is_linearizable(), "{}", report.verdict);
    assert_eq!(report.keys.len(), 10);
    assert!(report.counts.ops > 25_000, "{:?}", report.counts);
    let steps: u64 = report.keys.iter().map(|k| k.steps).sum();
    eprintln!("checked {:?} in {elapsed:?}, {steps} steps", report.counts);
}
