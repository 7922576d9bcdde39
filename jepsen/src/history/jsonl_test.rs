//! Tests of the JSON-lines codec: round trips, the documented example, and error line numbers.

use super::*;

fn sample() -> History {
    let w = |v: &str| OpKind::Write { value: v.into() };
    History::new(vec![
        Op::invoke(1, "k1", w("a"), 100).ok_written(7, 900),
        Op::invoke(2, "k1", OpKind::Read, 950).ok_read(
            Some(Versioned {
                value: "a".into(),
                revision: 7,
            }),
            1200,
        ),
        Op::invoke(
            3,
            "k1",
            OpKind::Cas {
                expected: Some(7),
                value: "b".into(),
            },
            1000,
        )
        .info(None),
        Op::invoke(
            4,
            "k2",
            OpKind::Cas {
                expected: None,
                value: "c".into(),
            },
            1100,
        )
        .fail(1300),
        Op::invoke(5, "k2", OpKind::Read, 1400).ok_read(None, 1500),
        Op::invoke(6, "k2", w("d"), 1600).info(Some(2000)),
        Op::invoke(7, "k2", OpKind::Read, 1700).fail(1800),
        // Plain registers and token uses (config and auth workloads).
        Op::invoke(0, "s1", w("0:4"), 2000)
            .on_node(0)
            .secret(true)
            .ok_done(2900),
        Op::invoke(1, "s1", OpKind::Read, 3000)
            .on_node(1)
            .secret(true)
            .via("get")
            .ok_value(Some("0:4".into()), 3200),
        Op::invoke(2, "c0", OpKind::Delete, 3300)
            .on_node(2)
            .ok_done(3900),
        Op::invoke(3, "a0-1", OpKind::Read, 4000)
            .on_node(1)
            .token("t7")
            .via("secret")
            .ok_value(Some("a0-1".into()), 4500),
        Op::invoke(4, "a0-1", OpKind::Use, 4600)
            .on_node(2)
            .token("t7")
            .via("inspect")
            .ok_accepted(Some("a0-1".into()), 4700),
        Op::invoke(4, "a0-1", OpKind::Use, 4800)
            .token("t7")
            .via("bearer")
            .ok_accepted(None, 4900),
        Op::invoke(5, "a0-1", OpKind::Use, 5000)
            .token("t7")
            .error("token not issued by this cluster")
            .fail(5100),
        Op::invoke(6, "c0", OpKind::Delete, 5200).info(None),
    ])
}

fn parse(text: &str) -> Result<History, HistoryError> {
    History::read_from(text.as_bytes())
}

#[test]
fn round_trips_every_kind_and_outcome() {
    let history = sample();
    let mut buf = Vec::new();
    history.write_to(&mut buf).unwrap();
    assert_eq!(parse(std::str::from_utf8(&buf).unwrap()).unwrap(), history);
}

#[test]
fn round_trips_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    sample().write_jsonl(&path).unwrap();
    assert_eq!(History::read_jsonl(&path).unwrap(), sample());
}

#[test]
fn parses_the_documented_example() {
    let text = r#"
{"process":1,"key":"k1","f":"write","invoke_ns":100,"complete_ns":900,"outcome":"ok","value":"a","revision":7}
{"process":2,"key":"k1","f":"read","invoke_ns":950,"complete_ns":1200,"outcome":"ok","value":"a","revision":7}
{"process":3,"key":"k1","f":"cas","invoke_ns":1000,"outcome":"info","value":"b","expected_revision":7}
{"process":4,"key":"k2","f":"cas","invoke_ns":1100,"complete_ns":1300,"outcome":"fail","value":"c","expected_revision":null}
{"process":5,"key":"k2","f":"read","invoke_ns":1400,"complete_ns":1500,"outcome":"ok","value":null}
{"process":0,"key":"s1","f":"write","invoke_ns":2000,"complete_ns":2900,"outcome":"ok","value":"0:4","node":0,"secret":true}
{"process":1,"key":"s1","f":"read","invoke_ns":3000,"complete_ns":3200,"outcome":"ok","value":"0:4","node":1,"secret":true,"via":"get"}
{"process":2,"key":"c0","f":"delete","invoke_ns":3300,"complete_ns":3900,"outcome":"ok","node":2}
{"process":3,"key":"a0-1","f":"read","invoke_ns":4000,"complete_ns":4500,"outcome":"ok","value":"a0-1","node":1,"token":"t7","via":"secret"}
{"process":4,"key":"a0-1","f":"use","invoke_ns":4600,"complete_ns":4700,"outcome":"ok","value":"a0-1","node":2,"token":"t7","via":"inspect"}
"#;
    let history = parse(text).unwrap();
    let sample = sample();
    assert_eq!(history.ops[..5], sample.ops[..5]);
    assert_eq!(history.ops[5..], sample.ops[7..12]);
}

#[test]
fn plain_answers_carry_no_revision() {
    let ops = &sample().ops;
    for op in &ops[7..12] {
        assert!(op.is_plain() || op.kind == OpKind::Use, "{op}");
        assert!(!op.to_json_line().contains("revision"), "{op}");
    }
    // `secret` is written only when true.
    assert!(!ops[9].to_json_line().contains("secret"));
}

#[test]
fn absent_read_is_written_as_explicit_null() {
    let op = Op::invoke(5, "k2", OpKind::Read, 1).ok_read(None, 2);
    assert!(op.to_json_line().contains(r#""value":null"#));
}

fn line_error(text: &str) -> HistoryError {
    parse(text).unwrap_err()
}

#[test]
fn malformed_json_names_the_line() {
    let good = sample().ops[0].to_json_line();
    let err = line_error(&format!("{good}\n\n{{\"process\":1,"));
    assert!(
        matches!(err, HistoryError::Malformed { line: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("line 3"), "{err}");
}

#[test]
fn unknown_fields_are_rejected() {
    let err = line_error(
        r#"{"process":1,"key":"k","f":"read","invoke_ns":1,"complete_ns":2,"outcome":"ok","value":null,"revison":3}"#,
    );
    assert!(
        matches!(err, HistoryError::Malformed { line: 1, .. }),
        "{err}"
    );
}

#[test]
fn inconsistent_fields_are_named() {
    let cases = [
        (
            r#"{"process":1,"key":"k","f":"cas","invoke_ns":1,"complete_ns":2,"outcome":"ok","value":"a","expected_revision":null}"#,
            InvalidOp::MissingField { field: "revision" },
        ),
        (
            r#"{"process":1,"key":"k","f":"cas","invoke_ns":1,"complete_ns":2,"outcome":"fail","value":"a"}"#,
            InvalidOp::MissingField {
                field: "expected_revision",
            },
        ),
        (
            r#"{"process":1,"key":"k","f":"read","invoke_ns":1,"complete_ns":2,"outcome":"ok"}"#,
            InvalidOp::MissingField { field: "value" },
        ),
        (
            r#"{"process":1,"key":"k","f":"delete","invoke_ns":1,"complete_ns":2,"outcome":"ok","value":"a"}"#,
            InvalidOp::UnexpectedField { field: "value" },
        ),
        (
            r#"{"process":1,"key":"k","f":"delete","invoke_ns":1,"complete_ns":2,"outcome":"ok","revision":3}"#,
            InvalidOp::UnexpectedField { field: "revision" },
        ),
        (
            r#"{"process":1,"key":"k","f":"use","invoke_ns":1,"complete_ns":2,"outcome":"ok"}"#,
            InvalidOp::MissingField { field: "token" },
        ),
        (
            r#"{"process":1,"key":"k","f":"use","invoke_ns":1,"complete_ns":2,"outcome":"fail","token":"t","value":"a"}"#,
            InvalidOp::UnexpectedField { field: "value" },
        ),
        (
            r#"{"process":1,"key":"k","f":"write","invoke_ns":1,"complete_ns":2,"outcome":"fail","value":"a","revision":3}"#,
            InvalidOp::UnexpectedField { field: "revision" },
        ),
        (
            r#"{"process":1,"key":"k","f":"read","invoke_ns":1,"outcome":"info","value":"a"}"#,
            InvalidOp::UnexpectedField { field: "value" },
        ),
        (
            r#"{"process":1,"key":"k","f":"write","invoke_ns":1,"outcome":"ok","value":"a","revision":3}"#,
            InvalidOp::MissingCompletion,
        ),
        (
            r#"{"process":1,"key":"k","f":"write","invoke_ns":5,"complete_ns":2,"outcome":"fail","value":"a"}"#,
            InvalidOp::CompletesBeforeInvoke {
                invoke_ns: 5,
                complete_ns: 2,
            },
        ),
    ];
    for (text, want) in cases {
        let err = line_error(&format!("\n{text}"));
        match err {
            HistoryError::InvalidLine { line: 2, source } => assert_eq!(source, want, "{text}"),
            other => panic!("{text}: unexpected {other}"),
        }
    }
}

#[test]
fn writing_rejects_a_mismatched_result() {
    let bad = Op::invoke(1, "k", OpKind::Read, 1).ok_written(3, 2);
    let err = History::new(vec![bad]).write_to(Vec::new()).unwrap_err();
    assert!(
        matches!(err, HistoryError::InvalidOp { index: 0, .. }),
        "{err}"
    );
}

#[test]
fn missing_file_is_an_open_error() {
    let err = History::read_jsonl("/nonexistent/history.jsonl").unwrap_err();
    assert!(matches!(err, HistoryError::Open { .. }), "{err}");
}
