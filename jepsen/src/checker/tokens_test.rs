//! Tests of the token checker on hand-written auth histories.

use super::*;
use crate::history::Invocation;

const CONFIG: TokenConfig = TokenConfig {
    valid_for_ns: 1_000,
};

fn on(kind: OpKind, account: &str, t0: u64, node: usize) -> Invocation {
    Op::invoke(1, account, kind, t0).on_node(node)
}

/// An ok token request on `node` that issued `token` for `account`.
fn issue(account: &str, token: &str, t0: u64, node: usize) -> Op {
    on(OpKind::Read, account, t0, node)
        .via("secret")
        .token(token)
        .ok_value(Some(account.into()), t0 + 5)
}

fn present(account: &str, token: &str, t0: u64, node: usize) -> Invocation {
    on(OpKind::Use, account, t0, node)
        .via("inspect")
        .token(token)
}

fn delete(account: &str, t0: u64, t1: u64) -> Op {
    on(OpKind::Delete, account, t0, 2).ok_done(t1)
}

fn run(ops: Vec<Op>) -> TokenReport {
    check_tokens(&History::new(ops), CONFIG).unwrap()
}

#[test]
fn issued_tokens_accepted_everywhere_pass() {
    let report = run(vec![
        issue("a1", "t1", 0, 0),
        present("a1", "t1", 10, 1).ok_accepted(Some("a1".into()), 20),
        present("a1", "t1", 10, 2)
            .via("bearer")
            .ok_accepted(None, 20),
        present("a1", "t1", 30, 0).ok_accepted(Some("a1".into()), 40),
        // Unknown outcomes are not judged.
        present("a1", "t1", 50, 2).info(None),
    ]);
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.issued, 1);
    assert_eq!(report.uses, [3, 0, 1]);
    assert_eq!(report.cross_node, 2);
}

#[test]
fn deletion_does_not_revoke_issued_tokens() {
    let report = run(vec![
        on(OpKind::Write { value: "a1".into() }, "a1", 0, 0).ok_done(5),
        issue("a1", "t1", 10, 0),
        delete("a1", 20, 30),
        present("a1", "t1", 40, 1).ok_accepted(Some("a1".into()), 50),
    ]);
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.after_delete, 1);
    // Refusing it after the deletion is a violation all the same: nothing promises revocation.
    let report = run(vec![
        issue("a1", "t1", 10, 0),
        delete("a1", 20, 30),
        present("a1", "t1", 40, 1).fail(50),
    ]);
    assert_eq!(report.violations.len(), 1, "{report:?}");
    assert_eq!(report.violations[0].kind, TokenViolationKind::Refused);
}

#[test]
fn a_refused_token_is_a_violation() {
    let report = run(vec![
        issue("a1", "t1", 0, 0),
        present("a1", "t1", 10, 1).ok_accepted(Some("a1".into()), 20),
        present("a1", "t1", 30, 2).fail(40),
    ]);
    assert!(!report.is_valid());
    let v = &report.violations[0];
    assert_eq!(
        (v.kind, v.use_index, v.issued_index),
        (TokenViolationKind::Refused, 2, Some(0))
    );
    assert!(v.description.contains("refused"), "{}", v.description);
}

#[test]
fn a_token_accepted_as_another_account_is_a_violation() {
    let report = run(vec![
        issue("a1", "t1", 0, 0),
        present("a1", "t1", 10, 1).ok_accepted(Some("a2".into()), 20),
    ]);
    assert_eq!(
        report.violations.first().map(|v| v.kind),
        Some(TokenViolationKind::WrongAccount)
    );
}

#[test]
fn unknown_tokens_are_flagged_and_expired_ones_not_judged() {
    let report = run(vec![present("a1", "nope", 10, 1).ok_accepted(None, 20)]);
    assert_eq!(
        report.violations.first().map(|v| v.kind),
        Some(TokenViolationKind::UnknownToken)
    );
    // Refused past its validity window (1000 ns after the request was sent): not judged.
    let report = run(vec![
        issue("a1", "t1", 0, 0),
        present("a1", "t1", 2_000, 1).fail(2_010),
    ]);
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.expired, 1);
}

#[test]
fn token_requests_that_found_no_account_issue_nothing() {
    let absent = on(OpKind::Read, "a1", 0, 0).via("secret").ok_value(None, 5);
    let report = run(vec![absent]);
    assert_eq!(report.issued, 0);
}

#[test]
fn a_use_without_a_token_is_malformed() {
    let op = on(OpKind::Use, "a1", 0, 0).ok_accepted(None, 5);
    let err = check_tokens(&History::new(vec![op]), CONFIG).unwrap_err();
    assert!(
        matches!(err, HistoryError::InvalidOp { index: 0, .. }),
        "{err}"
    );
}
