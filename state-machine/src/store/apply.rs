//! Applying store commands. Deterministic: time and revision come from the [`ApplyContext`].

use super::{validate_key, validate_name, MAX_VALUE_BYTES};
use super::{Precondition, StoreCommand, StoreError, StoreResponse, StoredRecord, Table};
use crate::kv::{ApplyError, KvRead, Txn};
use crate::ApplyContext;

/// Applies one store command to `txn`.
pub fn apply(
    txn: &mut Txn<'_>,
    cmd: StoreCommand,
    ctx: &ApplyContext,
) -> Result<StoreResponse, ApplyError> {
    match cmd {
        StoreCommand::Write {
            table,
            key,
            value,
            metadata,
            ttl_ms,
            precondition,
        } => {
            if let Err(e) = validate(&table, &key).and_then(|_| validate_value(&value)) {
                return Ok(StoreResponse::Err(e));
            }
            let current = load(txn, &table, &key)?;
            if let Err(e) = check(&key, precondition, current.as_ref(), ctx.time_ms) {
                return Ok(StoreResponse::Err(e));
            }
            if let Some(deadline) = current.as_ref().and_then(|r| r.expires_at_ms) {
                txn.delete(table.expiry_key(deadline, &key));
            }
            let expires_at_ms = ttl_ms
                .filter(|t| *t > 0)
                .map(|t| ctx.time_ms.saturating_add(t));
            let record = StoredRecord {
                value,
                metadata,
                expires_at_ms,
                revision: ctx.index,
            };
            if let Some(deadline) = expires_at_ms {
                txn.put(table.expiry_key(deadline, &key), Vec::new());
            }
            txn.put(table.record_key(&key), encode(&record)?);
            mark_in_use(txn, &table)?;
            Ok(StoreResponse::Written {
                revision: ctx.index,
            })
        }
        StoreCommand::Delete {
            table,
            key,
            precondition,
        } => {
            if let Err(e) = validate(&table, &key) {
                return Ok(StoreResponse::Err(e));
            }
            let current = load(txn, &table, &key)?;
            if let Err(e) = check(&key, precondition, current.as_ref(), ctx.time_ms) {
                return Ok(StoreResponse::Err(e));
            }
            let existed = current.as_ref().is_some_and(|r| !r.expired_at(ctx.time_ms));
            if let Some(record) = current {
                remove(txn, &table, &key, &record);
            }
            Ok(StoreResponse::Deleted { existed })
        }
        StoreCommand::Batch { commands } => {
            let mut results = Vec::with_capacity(commands.len());
            for c in commands {
                results.push(match c {
                    StoreCommand::Write { .. } | StoreCommand::Delete { .. } => apply(txn, c, ctx)?,
                    _ => StoreResponse::Err(StoreError::InvalidArgument(
                        "a store batch holds only writes and deletes".into(),
                    )),
                });
            }
            Ok(StoreResponse::Batch { results })
        }
        StoreCommand::PurgeExpired { limit } => {
            let mut count = 0;
            for (index_key, _) in txn.scan_prefix(super::EXPIRY_PREFIX)? {
                if count >= limit {
                    break;
                }
                let (deadline, record_key) = split_expiry_key(&index_key)?;
                if deadline > ctx.time_ms {
                    break;
                }
                txn.delete(index_key.clone());
                txn.delete(record_key);
                count += 1;
            }
            Ok(StoreResponse::Purged { count })
        }
    }
}

fn validate(table: &Table, key: &str) -> Result<(), StoreError> {
    validate_name("database", &table.database)?;
    validate_name("table", &table.table)?;
    validate_key(key)
}

fn validate_value(value: &[u8]) -> Result<(), StoreError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::InvalidArgument(format!(
            "value is larger than {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(())
}

fn check(
    key: &str,
    precondition: Option<Precondition>,
    current: Option<&StoredRecord>,
    now_ms: u64,
) -> Result<(), StoreError> {
    let live = current.filter(|r| !r.expired_at(now_ms));
    let failed = |expected: String| StoreError::PreconditionFailed {
        key: key.to_owned(),
        expected,
        found: live.map_or_else(
            || "absent".to_owned(),
            |r| format!("revision {}", r.revision),
        ),
    };
    match precondition {
        None => Ok(()),
        Some(Precondition::Absent) if live.is_none() => Ok(()),
        Some(Precondition::Absent) => Err(failed("absent".into())),
        Some(Precondition::Revision(r)) if live.is_some_and(|c| c.revision == r) => Ok(()),
        Some(Precondition::Revision(r)) => Err(failed(format!("revision {r}"))),
    }
}

/// Loads the stored record for `key`, expired or not.
pub(crate) fn load(
    kv: &dyn KvRead,
    table: &Table,
    key: &str,
) -> Result<Option<StoredRecord>, ApplyError> {
    kv.get(&table.record_key(key))?
        .map(|b| decode(&b))
        .transpose()
}

fn remove(txn: &mut Txn<'_>, table: &Table, key: &str, record: &StoredRecord) {
    if let Some(deadline) = record.expires_at_ms {
        txn.delete(table.expiry_key(deadline, key));
    }
    txn.delete(table.record_key(key));
}

fn mark_in_use(txn: &mut Txn<'_>, table: &Table) -> Result<(), ApplyError> {
    for marker in [table.database_marker(), table.table_marker()] {
        if txn.get(&marker)?.is_none() {
            txn.put(marker, Vec::new());
        }
    }
    Ok(())
}

/// Splits `x/<deadline BE><db>\0<table>\0<key>` into the deadline and the record key.
fn split_expiry_key(k: &[u8]) -> Result<(u64, Vec<u8>), ApplyError> {
    let corrupt = || ApplyError::Corrupt("expiry index key".into());
    let deadline = k.get(2..10).ok_or_else(corrupt)?;
    let deadline = u64::from_be_bytes(deadline.try_into().map_err(|_| corrupt())?);
    Ok((deadline, [b"s/".as_slice(), &k[10..]].concat()))
}

pub(crate) fn encode(r: &StoredRecord) -> Result<Vec<u8>, ApplyError> {
    bincode::serialize(r).map_err(|e| ApplyError::Corrupt(format!("encode record: {e}")))
}

pub(crate) fn decode(b: &[u8]) -> Result<StoredRecord, ApplyError> {
    bincode::deserialize(b).map_err(|e| ApplyError::Corrupt(format!("decode record: {e}")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::kv::commit_to_map;
    use crate::store::{read, QueryOptions};

    fn run(
        map: &mut BTreeMap<Vec<u8>, Vec<u8>>,
        cmd: StoreCommand,
        index: u64,
        time_ms: u64,
    ) -> StoreResponse {
        let mut txn = Txn::new(map);
        let r = apply(&mut txn, cmd, &ApplyContext { index, time_ms }).unwrap();
        let changes = txn.into_changes();
        commit_to_map(map, changes);
        r
    }

    fn t() -> Table {
        Table::new("micro", "micro").unwrap()
    }

    fn write(key: &str, ttl_ms: Option<u64>, precondition: Option<Precondition>) -> StoreCommand {
        StoreCommand::Write {
            table: t(),
            key: key.into(),
            value: b"v".to_vec(),
            metadata: BTreeMap::new(),
            ttl_ms,
            precondition,
        }
    }

    #[test]
    fn revision_is_the_log_index_and_preconditions_guard_writes() {
        let mut m = BTreeMap::new();
        assert_eq!(
            run(&mut m, write("k", None, Some(Precondition::Absent)), 5, 0),
            StoreResponse::Written { revision: 5 }
        );
        assert!(matches!(
            run(&mut m, write("k", None, Some(Precondition::Absent)), 6, 0),
            StoreResponse::Err(StoreError::PreconditionFailed { .. })
        ));
        assert!(matches!(
            run(
                &mut m,
                write("k", None, Some(Precondition::Revision(4))),
                7,
                0
            ),
            StoreResponse::Err(StoreError::PreconditionFailed { .. })
        ));
        assert_eq!(
            run(
                &mut m,
                write("k", None, Some(Precondition::Revision(5))),
                8,
                0
            ),
            StoreResponse::Written { revision: 8 }
        );
    }

    #[test]
    fn expired_records_vanish_and_purge_removes_them() {
        let mut m = BTreeMap::new();
        run(&mut m, write("k", Some(1000), None), 1, 10_000);
        assert!(read(&m, &t(), "k", &QueryOptions::default(), 10_999).is_ok());
        assert_eq!(
            read(&m, &t(), "k", &QueryOptions::default(), 11_000),
            Err(StoreError::NotFound)
        );
        // An expired key counts as absent for preconditions.
        assert_eq!(
            run(
                &mut m,
                write("j", Some(10), Some(Precondition::Absent)),
                2,
                10_000
            ),
            StoreResponse::Written { revision: 2 }
        );
        assert_eq!(
            run(&mut m, StoreCommand::PurgeExpired { limit: 1 }, 3, 20_000),
            StoreResponse::Purged { count: 1 }
        );
        assert_eq!(
            run(&mut m, StoreCommand::PurgeExpired { limit: 10 }, 4, 20_000),
            StoreResponse::Purged { count: 1 }
        );
        assert!(m
            .keys()
            .all(|k| !k.starts_with(b"s/") && !k.starts_with(b"x/")));
    }

    #[test]
    fn invalid_input_changes_nothing() {
        let mut m = BTreeMap::new();
        let r = run(&mut m, write("", None, None), 1, 0);
        assert!(matches!(
            r,
            StoreResponse::Err(StoreError::InvalidArgument(_))
        ));
        let big = StoreCommand::Write {
            table: t(),
            key: "k".into(),
            value: vec![0; MAX_VALUE_BYTES + 1],
            metadata: BTreeMap::new(),
            ttl_ms: None,
            precondition: None,
        };
        assert!(matches!(
            run(&mut m, big, 2, 0),
            StoreResponse::Err(StoreError::InvalidArgument(_))
        ));
        assert!(m.is_empty());
    }
}
