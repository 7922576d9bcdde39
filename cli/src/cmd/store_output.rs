//! Rendering of `micro store` results, kept apart from transport so it can be unit-tested.
//!
//! Plain reads print each value on its own line; `-v` prints `KEY VALUE EXPIRY`; `--output json`
//! prints an indented array. Empty results print nothing at all.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use base64::Engine;
use micro_proto::store::Record;
use serde::Serialize;

use crate::relative_time;
use crate::table::Table;

/// Longest value shown in the `-v` table before it is cut with `...`.
const TABLE_VALUE_CHARS: usize = 50;
/// Bytes of a binary value shown (as hex) in the `-v` table, as Micro does.
const TABLE_HEX_BYTES: usize = 20;

/// Each value followed by `\n`, bytes as stored.
pub fn values(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        out.extend_from_slice(&record.value);
        out.push(b'\n');
    }
    out
}

/// The `-v` table: `KEY VALUE EXPIRY`, expiry `None` or e.g. `4 seconds from now`.
pub fn records_table(records: &[Record]) -> String {
    if records.is_empty() {
        return String::new();
    }
    let mut table = Table::with_header(&["KEY", "VALUE", "EXPIRY"]);
    for record in records {
        table.row(vec![
            record.key.clone(),
            table_value(&record.value),
            expiry(record.expiry),
        ]);
    }
    table.render()
}

/// A value as one table cell: printable text (cut at 50 characters) or `0x` + hex of the first
/// 20 bytes.
fn table_value(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) if !text.chars().any(char::is_control) => {
            if text.chars().count() > TABLE_VALUE_CHARS {
                let cut: String = text.chars().take(TABLE_VALUE_CHARS).collect();
                format!("{cut}...")
            } else {
                text.to_owned()
            }
        }
        _ => {
            let hex: String = value
                .iter()
                .take(TABLE_HEX_BYTES)
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("0x{hex}")
        }
    }
}

/// Seconds remaining → `None` or humanised.
fn expiry(seconds: i64) -> String {
    match u64::try_from(seconds) {
        Ok(s) if s > 0 => relative_time::from_now(s),
        _ => "None".to_owned(),
    }
}

/// One record in `--output json`.
#[derive(Debug, Serialize)]
struct RecordJson<'a> {
    key: &'a str,
    /// The value when it is UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    /// The value, base64-encoded, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
    /// Seconds remaining; 0 = never expires.
    expiry: i64,
    metadata: BTreeMap<&'a str, FieldJson<'a>>,
    revision: u64,
}

/// One metadata field in `--output json`.
#[derive(Debug, Serialize)]
struct FieldJson<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    value: &'a str,
}

/// Records as an indented JSON array followed by `\n`.
pub fn records_json(records: &[Record]) -> Result<Vec<u8>> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<RecordJson<'_>> = records
        .iter()
        .map(|r| {
            let text = std::str::from_utf8(&r.value).ok();
            RecordJson {
                key: &r.key,
                value: text,
                value_base64: match text {
                    Some(_) => None,
                    None => Some(base64::engine::general_purpose::STANDARD.encode(&r.value)),
                },
                expiry: r.expiry,
                metadata: r
                    .metadata
                    .iter()
                    .map(|(k, f)| {
                        (
                            k.as_str(),
                            FieldJson {
                                kind: &f.r#type,
                                value: &f.value,
                            },
                        )
                    })
                    .collect(),
                revision: r.revision,
            }
        })
        .collect();
    pretty(&rows)
}

/// Names as an indented JSON array followed by `\n`.
pub fn names_json(names: &[String]) -> Result<Vec<u8>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    pretty(&names)
}

/// One name per line.
pub fn lines(names: &[String]) -> String {
    names.iter().map(|n| format!("{n}\n")).collect()
}

/// Two-space indented JSON plus a trailing newline.
fn pretty(value: &impl Serialize) -> Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(value).context("encoding JSON output")?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use micro_proto::store::Field;

    fn record(key: &str, value: &[u8], expiry: i64) -> Record {
        Record {
            key: key.into(),
            value: value.to_vec(),
            expiry,
            ..Default::default()
        }
    }

    #[test]
    fn plain_values_one_per_line() {
        let recs = [record("a", b"val1", 0), record("b", b"val 2", 0)];
        assert_eq!(values(&recs), b"val1\nval 2\n");
        assert!(values(&[]).is_empty());
    }

    #[test]
    fn verbose_table() {
        let long = "x".repeat(60);
        let recs = [
            record("somekey", b"val1", 0),
            record("k2", b"bar", 4),
            record("bin", &[0xff; 30], 3600),
            record("long", long.as_bytes(), 0),
        ];
        let expected = format!(
            "KEY      VALUE{pad}  EXPIRY\n\
             somekey  val1{pad4}  None\n\
             k2       bar{pad3}  4 seconds from now\n\
             bin      0x{ff}  1 hour from now\n\
             long     {x50}...  None\n",
            pad = " ".repeat(53 - 5),
            pad4 = " ".repeat(53 - 4),
            pad3 = " ".repeat(53 - 3),
            ff = "ff".repeat(20) + &" ".repeat(53 - 42),
            x50 = "x".repeat(50),
        );
        assert_eq!(records_table(&recs), expected);
        assert_eq!(records_table(&[]), "");
    }

    #[test]
    fn json_records() {
        let mut r = record("k", b"v", 5);
        r.revision = 9;
        r.metadata.insert(
            "m".into(),
            Field {
                r#type: "string".into(),
                value: "x".into(),
            },
        );
        let bin = record("b", &[0xff, 0x00], 0);
        let out = String::from_utf8(records_json(&[r, bin]).unwrap()).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!([
                {"key": "k", "value": "v", "expiry": 5, "revision": 9,
                 "metadata": {"m": {"type": "string", "value": "x"}}},
                {"key": "b", "value_base64": "/wA=", "expiry": 0, "revision": 0, "metadata": {}}
            ])
        );
        assert!(out.starts_with("[\n  {"), "not indented: {out}");
        assert!(records_json(&[]).unwrap().is_empty());
    }

    #[test]
    fn names() {
        let names = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(lines(&names), "a\nb\n");
        assert_eq!(lines(&[]), "");
        assert_eq!(names_json(&names).unwrap(), b"[\n  \"a\",\n  \"b\"\n]\n");
        assert!(names_json(&[]).unwrap().is_empty());
    }
}
