//! Conversions between the store's wire types (`micro_proto::store`) and domain types.

use std::collections::{BTreeMap, HashMap};

use micro_proto::store as pb;
use micro_state_machine::store::{Field, Order, Precondition, RecordView, StoreError};

use crate::error::ApiError;

/// Converts a domain store error into the API error category.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound("not found".into()),
        e @ StoreError::PreconditionFailed { .. } => ApiError::Conflict(e.to_string()),
        StoreError::InvalidArgument(m) => ApiError::BadRequest(m),
        StoreError::Storage(m) => ApiError::Internal(m),
    }
}

/// Parses Micro's `order` option.
pub fn order(s: &str) -> Result<Order, ApiError> {
    Order::parse(s).map_err(store_error)
}

/// The wire precondition, if any.
pub fn precondition(p: Option<pb::Precondition>) -> Result<Option<Precondition>, ApiError> {
    match p.and_then(|p| p.condition) {
        None => Ok(None),
        Some(pb::precondition::Condition::Revision(r)) => Ok(Some(Precondition::Revision(r))),
        Some(pb::precondition::Condition::Absent(true)) => Ok(Some(Precondition::Absent)),
        Some(pb::precondition::Condition::Absent(false)) => Err(ApiError::BadRequest(
            "precondition absent must be true when set".into(),
        )),
    }
}

/// Record metadata from the wire.
pub fn metadata(m: HashMap<String, pb::Field>) -> BTreeMap<String, Field> {
    m.into_iter()
        .map(|(k, f)| {
            (
                k,
                Field {
                    kind: f.r#type,
                    value: f.value,
                },
            )
        })
        .collect()
}

/// A live record for the wire; `expiry` is the whole seconds remaining (rounded up), 0 = never.
pub fn record(view: RecordView, now_ms: u64) -> pb::Record {
    let expiry = view.record.expires_at_ms.map_or(0, |d| {
        let ms = d.saturating_sub(now_ms);
        i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX)
    });
    pb::Record {
        key: view.key,
        value: view.record.value,
        expiry,
        metadata: view
            .record
            .metadata
            .into_iter()
            .map(|(k, f)| {
                (
                    k,
                    pb::Field {
                        r#type: f.kind,
                        value: f.value,
                    },
                )
            })
            .collect(),
        revision: view.record.revision,
    }
}

#[cfg(test)]
mod tests {
    use micro_state_machine::store::StoredRecord;

    use super::*;

    #[test]
    fn expiry_rounds_remaining_time_up() {
        let view = |d| RecordView {
            key: "k".into(),
            record: StoredRecord {
                value: vec![],
                metadata: BTreeMap::new(),
                expires_at_ms: d,
                revision: 3,
            },
        };
        assert_eq!(record(view(None), 0).expiry, 0);
        assert_eq!(record(view(Some(10_001)), 0).expiry, 11);
        assert_eq!(record(view(Some(10_000)), 0).expiry, 10);
    }

    #[test]
    fn absent_false_is_rejected() {
        let p = pb::Precondition {
            condition: Some(pb::precondition::Condition::Absent(false)),
        };
        assert!(precondition(Some(p)).is_err());
    }
}
