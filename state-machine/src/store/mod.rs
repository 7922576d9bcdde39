//! The store service: records in `database`/`table` namespaces with TTLs, revisions and
//! preconditions.
//!
//! Keyspace: `s/<db>\0<table>\0<key>` holds a [`StoredRecord`]; `x/<deadline BE>\0<db>\0<table>\0<key>`
//! indexes expiring records; `d/<db>` and `t/<db>\0<table>` mark databases and tables in use.
//! Invariant: a record whose deadline is at or before the time a reader asks about is never
//! returned, whether or not a purge has removed it yet.

mod apply;
mod command;
mod error;
mod model;
mod query;

pub use apply::apply;
pub use command::{StoreCommand, StoreResponse};
pub use error::StoreError;
pub use model::{
    validate_key, validate_name, Field, Precondition, StoredRecord, Table, EXPIRY_PREFIX,
    MAX_KEY_BYTES, MAX_VALUE_BYTES,
};
pub use query::{databases, list, read, tables, Order, QueryOptions, RecordView};
