//! Tests of the set and append-order checkers on hand-written listings.

use super::*;

fn adds(list: &[(&str, AddOutcome)]) -> BTreeMap<String, AddOutcome> {
    list.iter().map(|(e, o)| (e.to_string(), *o)).collect()
}

fn listings(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    list.iter()
        .map(|(n, es)| (n.to_string(), es.iter().map(|e| e.to_string()).collect()))
        .collect()
}

#[test]
fn consistent_listings_pass() {
    let a = adds(&[
        ("a", AddOutcome::Ok),
        ("b", AddOutcome::Ok),
        ("c", AddOutcome::Info),
        ("d", AddOutcome::Info),
        ("e", AddOutcome::Fail),
    ]);
    let l = listings(&[("n1", &["a", "b", "c"]), ("n2", &["c", "b", "a"])]);
    let report = check_set(&a, &l);
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.recovered, BTreeSet::from(["c".to_owned()]));
    assert_eq!(
        report.attempted,
        SetCounts {
            ok: 2,
            fail: 1,
            info: 2
        }
    );
}

#[test]
fn reports_every_anomaly_per_node() {
    let a = adds(&[
        ("a", AddOutcome::Ok),
        ("b", AddOutcome::Ok),
        ("c", AddOutcome::Info),
        ("f", AddOutcome::Fail),
    ]);
    let l = listings(&[
        ("n1", &["a", "b", "b", "c"]),
        ("n2", &["a", "zzz", "f"]),
        ("n3", &["a", "b"]),
    ]);
    let report = check_set(&a, &l);
    assert!(!report.is_valid());
    assert_eq!(
        report.lost,
        BTreeMap::from([("n2".to_owned(), BTreeSet::from(["b".to_owned()]))])
    );
    assert_eq!(
        report.duplicated,
        BTreeMap::from([("n1".to_owned(), BTreeMap::from([("b".to_owned(), 2)]))])
    );
    assert_eq!(
        report.unexpected,
        BTreeMap::from([("n2".to_owned(), BTreeSet::from(["zzz".to_owned()]))])
    );
    assert_eq!(
        report.failed_present,
        BTreeMap::from([("n2".to_owned(), BTreeSet::from(["f".to_owned()]))])
    );
    let divergent: BTreeSet<String> = ["b", "c", "f", "zzz"].map(String::from).into();
    assert_eq!(report.divergent, divergent);
}

#[test]
fn same_order_accepts_prefixes_and_missing_elements() {
    let l = listings(&[
        ("n1", &["a", "b", "c", "d"]),
        ("n2", &["a", "b"]),
        ("n3", &["a", "c", "d", "e"]),
    ]);
    assert_eq!(check_same_order(&l), Vec::new());
    assert_eq!(check_same_order(&BTreeMap::new()), Vec::new());
}

#[test]
fn same_order_reports_the_first_divergence() {
    let l = listings(&[("n1", &["a", "b", "c"]), ("n2", &["a", "c", "b"])]);
    assert_eq!(
        check_same_order(&l),
        vec![OrderDivergence {
            reference: "n1".into(),
            node: "n2".into(),
            position: 1,
            expected: Some("b".into()),
            found: Some("c".into()),
        }]
    );
}
