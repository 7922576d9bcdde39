//! Read-only store queries. `now_ms` filters out expired records.

use super::apply::decode;
use super::{StoreError, StoredRecord, Table};
use crate::kv::{ApplyError, KvRead};

/// Sort order of multi-record results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Ascending by key (Micro's default).
    #[default]
    Asc,
    /// Descending by key.
    Desc,
}

impl Order {
    /// Parses Micro's `order` option: empty or `asc` → ascending, `desc` → descending.
    pub fn parse(s: &str) -> Result<Order, StoreError> {
        match s.to_ascii_lowercase().as_str() {
            "" | "asc" => Ok(Order::Asc),
            "desc" => Ok(Order::Desc),
            other => Err(StoreError::InvalidArgument(format!(
                "invalid order {other:?}, must be asc or desc"
            ))),
        }
    }
}

/// Options of [`read`] (Micro's `ReadOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// Treat the key as a prefix.
    pub prefix: bool,
    /// Treat the key as a suffix.
    pub suffix: bool,
    /// Most records returned; 0 means no limit.
    pub limit: u64,
    /// Records skipped first.
    pub offset: u64,
    /// Key order.
    pub order: Order,
}

/// A live record as returned to readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView {
    /// The key.
    pub key: String,
    /// The stored record.
    pub record: StoredRecord,
}

/// Micro's Store.Read: an exact key (NotFound when absent), or 0..n records by prefix/suffix.
pub fn read(
    kv: &dyn KvRead,
    table: &Table,
    key: &str,
    opts: &QueryOptions,
    now_ms: u64,
) -> Result<Vec<RecordView>, StoreError> {
    if !opts.prefix && !opts.suffix {
        let found = super::apply::load(kv, table, key).map_err(internal)?;
        return match found {
            Some(record) if !record.expired_at(now_ms) => Ok(vec![RecordView {
                key: key.to_owned(),
                record,
            }]),
            _ => Err(StoreError::NotFound),
        };
    }
    let prefix = if opts.prefix { key } else { "" };
    let suffix = if opts.suffix { key } else { "" };
    let mut out = scan(kv, table, prefix, suffix, now_ms)?;
    if opts.order == Order::Desc {
        out.reverse();
    }
    Ok(page(out, opts.offset, opts.limit))
}

/// Micro's Store.List: live keys with an optional prefix and suffix, offset then limit.
pub fn list(
    kv: &dyn KvRead,
    table: &Table,
    prefix: &str,
    suffix: &str,
    opts: &QueryOptions,
    now_ms: u64,
) -> Result<Vec<String>, StoreError> {
    let mut keys: Vec<String> = scan(kv, table, prefix, suffix, now_ms)?
        .into_iter()
        .map(|r| r.key)
        .collect();
    if opts.order == Order::Desc {
        keys.reverse();
    }
    Ok(page(keys, opts.offset, opts.limit))
}

/// Databases that have ever held a record, sorted.
pub fn databases(kv: &dyn KvRead) -> Result<Vec<String>, StoreError> {
    markers(kv, b"d/".to_vec())
}

/// Tables of `database` that have ever held a record, sorted.
pub fn tables(kv: &dyn KvRead, database: &str) -> Result<Vec<String>, StoreError> {
    markers(kv, [b"t/".as_slice(), database.as_bytes(), &[0]].concat())
}

fn markers(kv: &dyn KvRead, prefix: Vec<u8>) -> Result<Vec<String>, StoreError> {
    kv.scan_prefix(&prefix)
        .map_err(internal)?
        .into_iter()
        .map(|(k, _)| {
            String::from_utf8(k[prefix.len()..].to_vec())
                .map_err(|_| internal(ApplyError::Corrupt("marker".into())))
        })
        .collect()
}

fn scan(
    kv: &dyn KvRead,
    table: &Table,
    prefix: &str,
    suffix: &str,
    now_ms: u64,
) -> Result<Vec<RecordView>, StoreError> {
    let base = table.record_prefix();
    let mut start = base.clone();
    start.extend_from_slice(prefix.as_bytes());
    let mut out = Vec::new();
    for (k, v) in kv.scan_prefix(&start).map_err(internal)? {
        let key = String::from_utf8(k[base.len()..].to_vec())
            .map_err(|_| internal(ApplyError::Corrupt("record key".into())))?;
        if !key.ends_with(suffix) {
            continue;
        }
        let record = decode(&v).map_err(internal)?;
        if !record.expired_at(now_ms) {
            out.push(RecordView { key, record });
        }
    }
    Ok(out)
}

fn page<T>(items: Vec<T>, offset: u64, limit: u64) -> Vec<T> {
    let it = items
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX));
    if limit == 0 {
        it.collect()
    } else {
        it.take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect()
    }
}

fn internal(e: ApplyError) -> StoreError {
    StoreError::Storage(e.to_string())
}
