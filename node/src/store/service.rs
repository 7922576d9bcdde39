//! [`StoreService`]: validate → build command → propose (or read behind the barrier) → map.
//! The tonic impl and the HTTP dispatch both call the same methods.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use micro_proto::store as pb;
use micro_raft::Cluster;
use micro_state_machine::context::applied_time_ms;
use micro_state_machine::store::{self, QueryOptions, StoreCommand, StoreResponse, Table};
use micro_state_machine::{Command, Response};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Status};

use super::convert;
use crate::auth::Caller;
use crate::batcher::{Batch, Batcher};
use crate::error::ApiError;

/// Micro's default table.
const DEFAULT_TABLE: &str = "micro";
/// Keys per `ListResponse` message of the stream.
const LIST_CHUNK: usize = 1000;

/// The store service of one node.
#[derive(Clone)]
pub struct StoreService {
    cluster: Arc<Cluster>,
    /// Concurrent writes and deletes on this node leave as one `StoreCommand::Batch` entry.
    changes: Batcher<Changes>,
}

/// Writes and deletes, batched: concurrent callers share one raft entry, one forward to the
/// leader and one apply, which is most of what a write costs.
struct Changes;

impl Batch for Changes {
    type Item = StoreCommand;
    type Outcome = StoreResponse;
    const SIZE_METRIC: &'static str = "micro_store_write_batch_size";

    fn size(cmd: &StoreCommand) -> usize {
        match cmd {
            StoreCommand::Write { key, value, .. } => key.len() + value.len(),
            _ => 64,
        }
    }

    /// A record's revision is the entry's index, so one batch writes a key once.
    fn key(cmd: &StoreCommand) -> Option<Vec<u8>> {
        match cmd {
            StoreCommand::Write { table, key, .. } | StoreCommand::Delete { table, key, .. } => {
                bincode::serialize(&(table, key)).ok()
            }
            _ => None,
        }
    }

    fn command(commands: Vec<StoreCommand>) -> Command {
        Command::Store(StoreCommand::Batch { commands })
    }

    fn outcomes(response: Response) -> Result<Vec<Result<StoreResponse, ApiError>>, ApiError> {
        match response {
            Response::Store(StoreResponse::Batch { results }) => Ok(results
                .into_iter()
                .map(|r| match r {
                    StoreResponse::Err(e) => Err(convert::store_error(e)),
                    r => Ok(r),
                })
                .collect()),
            other => Err(ApiError::Internal(format!(
                "a store batch produced {other:?}"
            ))),
        }
    }
}

/// The table a request addresses (its database defaults to the caller's namespace), once the
/// caller is known to administer that database, as Micro's store demands.
fn table(caller: &Caller, database: &str, table: &str) -> Result<Table, ApiError> {
    let db = if database.is_empty() {
        caller.namespace.as_str()
    } else {
        database
    };
    caller.authorize_admin(db)?;
    let t = if table.is_empty() {
        DEFAULT_TABLE
    } else {
        table
    };
    Table::new(db, t).map_err(convert::store_error)
}

impl StoreService {
    /// A service answering through `cluster`; its write batcher runs on `tracker` until
    /// `stop`.
    pub fn new(cluster: Arc<Cluster>, tracker: &TaskTracker, stop: CancellationToken) -> Self {
        StoreService {
            changes: Batcher::start(cluster.clone(), tracker, stop),
            cluster,
        }
    }

    /// Waits for the read barrier unless `stale`, and returns "now" for expiry filtering: the
    /// cluster time (the leader's at the read point, or this node's reading when stale), but
    /// never before the last applied entry's time, so a record the state machine already
    /// considers expired is never returned.
    async fn prepare_read(&self, stale: bool) -> Result<u64, ApiError> {
        let now = if stale {
            self.cluster.clock_ms()
        } else {
            self.cluster.read_barrier().await?.time_ms
        };
        let applied = applied_time_ms(self.cluster.reader())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(now.max(applied))
    }

    async fn propose(&self, cmd: StoreCommand) -> Result<StoreResponse, ApiError> {
        self.changes.submit(cmd).await
    }

    /// Store.Read.
    pub async fn read(
        &self,
        caller: &Caller,
        req: pb::ReadRequest,
    ) -> Result<pb::ReadResponse, ApiError> {
        let opts = req.options.unwrap_or_default();
        let t = table(caller, &opts.database, &opts.table)?;
        if !opts.prefix && !opts.suffix {
            store::validate_key(&req.key).map_err(convert::store_error)?;
        }
        let query = QueryOptions {
            prefix: opts.prefix,
            suffix: opts.suffix,
            limit: opts.limit,
            offset: opts.offset,
            order: convert::order(&opts.order)?,
        };
        let now = self.prepare_read(opts.stale).await?;
        let records = store::read(self.cluster.reader(), &t, &req.key, &query, now)
            .map_err(convert::store_error)?;
        Ok(pb::ReadResponse {
            records: records
                .into_iter()
                .map(|r| convert::record(r, now))
                .collect(),
        })
    }

    /// Store.Write.
    pub async fn write(
        &self,
        caller: &Caller,
        req: pb::WriteRequest,
    ) -> Result<pb::WriteResponse, ApiError> {
        let record = req
            .record
            .ok_or_else(|| ApiError::BadRequest("no record specified".into()))?;
        let opts = req.options.unwrap_or_default();
        let t = table(caller, &opts.database, &opts.table)?;
        store::validate_key(&record.key).map_err(convert::store_error)?;
        if record.value.len() > store::MAX_VALUE_BYTES {
            return Err(ApiError::BadRequest(format!(
                "value is larger than {} bytes",
                store::MAX_VALUE_BYTES
            )));
        }
        let ttl_ms = match record.expiry {
            0 => None,
            s if s < 0 => return Err(ApiError::BadRequest("expiry must not be negative".into())),
            s => Some(u64::try_from(s).unwrap_or(u64::MAX).saturating_mul(1000)),
        };
        let cmd = StoreCommand::Write {
            table: t,
            key: record.key,
            value: record.value,
            metadata: convert::metadata(record.metadata),
            ttl_ms,
            precondition: convert::precondition(opts.precondition)?,
        };
        match self.propose(cmd).await? {
            StoreResponse::Written { revision } => Ok(pb::WriteResponse { revision }),
            other => Err(ApiError::Internal(format!(
                "unexpected store response {other:?}"
            ))),
        }
    }

    /// Store.Delete. Deleting an absent key succeeds, as in Micro.
    pub async fn delete(
        &self,
        caller: &Caller,
        req: pb::DeleteRequest,
    ) -> Result<pb::DeleteResponse, ApiError> {
        let opts = req.options.unwrap_or_default();
        let t = table(caller, &opts.database, &opts.table)?;
        store::validate_key(&req.key).map_err(convert::store_error)?;
        let cmd = StoreCommand::Delete {
            table: t,
            key: req.key,
            precondition: convert::precondition(opts.precondition)?,
        };
        self.propose(cmd).await?;
        Ok(pb::DeleteResponse {})
    }

    /// Store.List, as chunks of keys.
    pub async fn list(
        &self,
        caller: &Caller,
        req: pb::ListRequest,
    ) -> Result<Vec<pb::ListResponse>, ApiError> {
        let opts = req.options.unwrap_or_default();
        let t = table(caller, &opts.database, &opts.table)?;
        let query = QueryOptions {
            limit: opts.limit,
            offset: opts.offset,
            order: convert::order(&opts.order)?,
            ..Default::default()
        };
        let now = self.prepare_read(opts.stale).await?;
        let keys = store::list(
            self.cluster.reader(),
            &t,
            &opts.prefix,
            &opts.suffix,
            &query,
            now,
        )
        .map_err(convert::store_error)?;
        if keys.is_empty() {
            return Ok(vec![pb::ListResponse { keys: vec![] }]);
        }
        Ok(keys
            .chunks(LIST_CHUNK)
            .map(|c| pb::ListResponse { keys: c.to_vec() })
            .collect())
    }

    /// Store.List as one message: Micro streams List, but over plain HTTP the chunks are
    /// joined.
    pub async fn list_joined(
        &self,
        caller: &Caller,
        req: pb::ListRequest,
    ) -> Result<pb::ListResponse, ApiError> {
        let chunks = self.list(caller, req).await?;
        Ok(pb::ListResponse {
            keys: chunks.into_iter().flat_map(|c| c.keys).collect(),
        })
    }

    /// Store.Databases: every database, so only for admins of `micro`.
    pub async fn databases(
        &self,
        caller: &Caller,
        _req: pb::DatabasesRequest,
    ) -> Result<pb::DatabasesResponse, ApiError> {
        caller.authorize_admin(crate::namespace::DEFAULT_NAMESPACE)?;
        self.prepare_read(false).await?;
        let databases = store::databases(self.cluster.reader()).map_err(convert::store_error)?;
        Ok(pb::DatabasesResponse { databases })
    }

    /// Store.Tables.
    pub async fn tables(
        &self,
        caller: &Caller,
        req: pb::TablesRequest,
    ) -> Result<pb::TablesResponse, ApiError> {
        let db = if req.database.is_empty() {
            caller.namespace.clone()
        } else {
            req.database
        };
        caller.authorize_admin(&db)?;
        self.prepare_read(false).await?;
        let tables = store::tables(self.cluster.reader(), &db).map_err(convert::store_error)?;
        Ok(pb::TablesResponse { tables })
    }
}

type ListStream = Pin<Box<dyn Stream<Item = Result<pb::ListResponse, Status>> + Send>>;

crate::handlers::grpc_service!(pb::store_server::Store, StoreService {
    read => read(pb::ReadRequest) -> pb::ReadResponse;
    write => write(pb::WriteRequest) -> pb::WriteResponse;
    delete => delete(pb::DeleteRequest) -> pb::DeleteResponse;
    databases => databases(pb::DatabasesRequest) -> pb::DatabasesResponse;
    tables => tables(pb::TablesRequest) -> pb::TablesResponse;
}
    type ListStream = ListStream;

    async fn list(
        &self,
        req: Request<pb::ListRequest>,
    ) -> Result<tonic::Response<ListStream>, Status> {
        let caller = crate::auth::admitted(&req)?;
        let chunks = StoreService::list(self, &caller, req.into_inner()).await?;
        let stream: ListStream = Box::pin(futures::stream::iter(chunks.into_iter().map(Ok)));
        Ok(tonic::Response::new(stream))
    }
);

crate::handlers::json_service!(StoreService {
    "Store.Read" => read,
    "Store.Write" => write,
    "Store.Delete" => delete,
    "Store.List" => list_joined,
    "Store.Databases" => databases,
    "Store.Tables" => tables,
});
