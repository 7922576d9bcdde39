//! Store domain types and their storage keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StoreError;

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 4096;
/// Largest value accepted, in bytes (etcd's default request limit is 1.5 MiB).
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Prefix of the record deadline index (the expiry worker peeks at its first key).
pub const EXPIRY_PREFIX: &[u8] = b"x/";
/// Longest database or table name, in bytes.
const MAX_NAME_BYTES: usize = 256;

/// A typed metadata value, as Micro's `store.Field`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Field {
    /// Type name, e.g. `string`, `int64`.
    pub kind: String,
    /// The value, rendered as text.
    pub value: String,
}

/// A record as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The value bytes.
    pub value: Vec<u8>,
    /// User metadata.
    pub metadata: BTreeMap<String, Field>,
    /// Absolute deadline in ms since the epoch; `None` never expires.
    pub expires_at_ms: Option<u64>,
    /// Log index of the write that produced this record.
    pub revision: u64,
}

impl StoredRecord {
    /// Whether the record is expired at `now_ms`.
    pub fn expired_at(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|d| d <= now_ms)
    }
}

/// A condition that must hold for a write or delete to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precondition {
    /// The key must exist (unexpired) with exactly this revision.
    Revision(u64),
    /// The key must not exist (or be expired).
    Absent,
}

/// A `database`/`table` pair, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Table {
    /// Database (Micro uses the namespace).
    pub database: String,
    /// Table within the database.
    pub table: String,
}

impl Table {
    /// Validates both names.
    pub fn new(database: &str, table: &str) -> Result<Self, StoreError> {
        validate_name("database", database)?;
        validate_name("table", table)?;
        Ok(Table {
            database: database.to_owned(),
            table: table.to_owned(),
        })
    }

    /// Prefix of every record key of this table.
    pub(crate) fn record_prefix(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(4 + self.database.len() + self.table.len());
        k.extend_from_slice(b"s/");
        k.extend_from_slice(self.database.as_bytes());
        k.push(0);
        k.extend_from_slice(self.table.as_bytes());
        k.push(0);
        k
    }

    /// Storage key of `key` in this table.
    pub(crate) fn record_key(&self, key: &str) -> Vec<u8> {
        let mut k = self.record_prefix();
        k.extend_from_slice(key.as_bytes());
        k
    }

    /// Expiry-index key for `key` expiring at `deadline_ms`.
    pub(crate) fn expiry_key(&self, deadline_ms: u64, key: &str) -> Vec<u8> {
        let mut k = EXPIRY_PREFIX.to_vec();
        k.extend_from_slice(&deadline_ms.to_be_bytes());
        k.extend_from_slice(&self.record_key(key)[2..]);
        k
    }

    pub(crate) fn database_marker(&self) -> Vec<u8> {
        [b"d/".as_slice(), self.database.as_bytes()].concat()
    }

    pub(crate) fn table_marker(&self) -> Vec<u8> {
        [
            b"t/".as_slice(),
            self.database.as_bytes(),
            &[0],
            self.table.as_bytes(),
        ]
        .concat()
    }
}

/// Checks a database or table name: non-empty, short, no NUL (it separates key parts).
pub fn validate_name(what: &str, name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::InvalidArgument(format!("{what} name is empty")));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(StoreError::InvalidArgument(format!(
            "{what} name is longer than {MAX_NAME_BYTES} bytes"
        )));
    }
    if name.contains('\0') {
        return Err(StoreError::InvalidArgument(format!(
            "{what} name contains a NUL byte"
        )));
    }
    Ok(())
}

/// Checks a record key: non-empty and at most [`MAX_KEY_BYTES`].
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidArgument("key is required".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::InvalidArgument(format!(
            "key is longer than {MAX_KEY_BYTES} bytes"
        )));
    }
    Ok(())
}
