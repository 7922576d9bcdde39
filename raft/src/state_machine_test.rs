//! The state machine's commit and redo: what a torn apply leaves and what a start repairs.

use super::*;

fn changes(pairs: &[(&str, Option<&str>)]) -> Changes {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
        .collect()
}

fn value(state: &sled::Tree, key: &str) -> Option<String> {
    state
        .get(key)
        .unwrap()
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
}

#[test]
fn a_start_completes_an_apply_that_a_crash_tore() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    let state = state_tree(&db).unwrap();
    commit(&state, changes(&[("a", Some("1")), ("b", Some("1"))])).unwrap();
    // A torn second apply: its record was written, then only part of its changes.
    let torn = changes(&[("a", Some("2")), ("b", None), ("c", Some("2"))]);
    state
        .insert(REDO_KEY, bincode::serialize(&torn).unwrap())
        .unwrap();
    state.insert("c", "2").unwrap();
    assert_eq!(value(&state, "b").as_deref(), Some("1"));

    let sm = StateMachineStore::open(&db).unwrap();
    assert_eq!(value(&sm.state, "a").as_deref(), Some("2"));
    assert_eq!(value(&sm.state, "b"), None);
    assert_eq!(value(&sm.state, "c").as_deref(), Some("2"));
    // Repeating the record on a state it already reached changes nothing.
    StateMachineStore::open(&db).unwrap();
    assert_eq!(value(&state, "a").as_deref(), Some("2"));
    assert_eq!(value(&state, "b"), None);
}

#[test]
fn a_large_apply_drops_the_record_so_a_start_does_not_undo_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    let state = state_tree(&db).unwrap();
    commit(&state, changes(&[("k", Some("small"))])).unwrap();
    assert!(state.get(REDO_KEY).unwrap().is_some());
    let big = "x".repeat(REDO_MAX_BYTES + 1);
    commit(&state, changes(&[("k", Some(&big))])).unwrap();
    assert!(state.get(REDO_KEY).unwrap().is_none());
    StateMachineStore::open(&db).unwrap();
    assert_eq!(value(&state, "k").as_deref(), Some(big.as_str()));
}

#[test]
fn an_unreadable_record_refuses_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    state_tree(&db)
        .unwrap()
        .insert(REDO_KEY, &[0xff; 3][..])
        .unwrap();
    let refused = StateMachineStore::open(&db).err().unwrap().to_string();
    assert!(refused.contains("redo record"), "{refused}");
}
