//! `micro store`: read, list, write, delete, databases and tables against the Store service.
//!
//! Flags and messages follow Micro v3's store CLI; `--if-absent`/`--if-revision` (write, delete),
//! `--stale` (read, list) and a working `--offset` are ours. Rendering lives in `store_output`.

use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use micro_proto::store::store_client::StoreClient;
use micro_proto::store::{
    precondition, DatabasesRequest, DeleteOptions, DeleteRequest, ListOptions, ListRequest,
    ReadOptions, ReadRequest, Record, TablesRequest, WriteOptions, WriteRequest,
};

use super::root::{unknown_subcommand, Globals};
use super::store_output;
use crate::output;

/// The table used when `--table` is not given (Micro's CLI default).
const DEFAULT_TABLE: &str = "micro";

/// `micro store COMMAND`.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: StoreCommand,
}

/// Subcommands of `micro store`.
#[derive(Debug, Clone, Subcommand)]
pub enum StoreCommand {
    /// Read a record (or records by prefix/suffix) and print the values
    Read(ReadArgs),
    /// List keys
    List(ListArgs),
    /// Write a record: micro store write KEY VALUE...
    Write(WriteArgs),
    /// Delete a record
    Delete(DeleteArgs),
    /// List databases
    Databases,
    /// List the tables of a database
    Tables(TablesArgs),
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// Where records live.
#[derive(Debug, Clone, Default, Args)]
pub struct Location {
    /// Database [default: the current namespace]
    #[arg(short, long)]
    pub database: Option<String>,
    /// Table [default: micro]
    #[arg(short, long)]
    pub table: Option<String>,
}

/// Conditions on a write or delete (extension): a failed one changes nothing.
#[derive(Debug, Clone, Default, Args)]
pub struct Conditions {
    /// Only if the key does not currently exist
    #[arg(long, conflicts_with = "if_revision")]
    pub if_absent: bool,
    /// Only if the key currently exists with exactly this revision
    #[arg(long, value_name = "N")]
    pub if_revision: Option<u64>,
}

/// Sort order of keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Order {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// Output format of read and list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Plain lines (or the `-v` table).
    #[default]
    #[value(alias = "text")]
    Table,
    /// Indented JSON.
    Json,
}

/// `micro store read`.
#[derive(Debug, Clone, Default, Args)]
pub struct ReadArgs {
    /// The key (the pattern with --prefix/--suffix)
    pub key: Option<String>,
    /// Read every record whose key starts with KEY
    #[arg(short, long)]
    pub prefix: bool,
    /// Read every record whose key ends with KEY
    #[arg(short, long)]
    pub suffix: bool,
    /// At most this many records (0 = no limit)
    #[arg(short, long, value_name = "N")]
    pub limit: Option<u64>,
    /// Skip this many records first
    #[arg(short, long, value_name = "N")]
    pub offset: Option<u64>,
    /// Key order
    #[arg(long, value_enum)]
    pub order: Option<Order>,
    /// Print a KEY VALUE EXPIRY table
    #[arg(short, long)]
    pub verbose: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Answer from the contacted node's replica without confirming with the leader
    #[arg(long)]
    pub stale: bool,
    #[command(flatten)]
    pub location: Location,
}

/// `micro store list`.
#[derive(Debug, Clone, Default, Args)]
pub struct ListArgs {
    /// Only keys starting with this
    #[arg(short, long)]
    pub prefix: Option<String>,
    /// Only keys ending with this
    #[arg(short, long)]
    pub suffix: Option<String>,
    /// At most this many keys (0 = no limit)
    #[arg(short, long, value_name = "N")]
    pub limit: Option<u64>,
    /// Skip this many keys first
    #[arg(short, long, value_name = "N")]
    pub offset: Option<u64>,
    /// Key order
    #[arg(long, value_enum)]
    pub order: Option<Order>,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Answer from the contacted node's replica without confirming with the leader
    #[arg(long)]
    pub stale: bool,
    #[command(flatten)]
    pub location: Location,
}

/// `micro store write`.
#[derive(Debug, Clone, Default, Args)]
pub struct WriteArgs {
    /// The key
    pub key: Option<String>,
    /// The value; several words are joined with spaces (put `--` before a value starting with `-`)
    #[arg(allow_negative_numbers = true)]
    pub value: Vec<String>,
    /// Time to live, e.g. 10s, 5m, 1h (rounded up to whole seconds)
    #[arg(short, long, value_parser = humantime::parse_duration)]
    pub expiry: Option<Duration>,
    #[command(flatten)]
    pub location: Location,
    #[command(flatten)]
    pub conditions: Conditions,
}

/// `micro store delete`.
#[derive(Debug, Clone, Default, Args)]
pub struct DeleteArgs {
    /// The key
    pub key: Option<String>,
    #[command(flatten)]
    pub location: Location,
    #[command(flatten)]
    pub conditions: Conditions,
}

/// `micro store tables`.
#[derive(Debug, Clone, Default, Args)]
pub struct TablesArgs {
    /// Database [default: the current namespace]
    #[arg(short, long)]
    pub database: Option<String>,
}

impl Location {
    /// Returns (database, table) with the namespace and `micro` as defaults.
    fn resolve(&self, namespace: &str) -> (String, String) {
        let database = self
            .database
            .clone()
            .unwrap_or_else(|| namespace.to_owned());
        let table = self
            .table
            .clone()
            .unwrap_or_else(|| DEFAULT_TABLE.to_owned());
        (database, table)
    }
}

impl Conditions {
    /// The wire precondition, if any was asked for.
    fn to_proto(&self) -> Option<micro_proto::store::Precondition> {
        let condition = match (self.if_absent, self.if_revision) {
            (true, _) => precondition::Condition::Absent(true),
            (false, Some(rev)) => precondition::Condition::Revision(rev),
            (false, None) => return None,
        };
        Some(micro_proto::store::Precondition {
            condition: Some(condition),
        })
    }
}

/// The wire name of an order; empty means the server default (ascending).
fn order_name(order: Option<Order>) -> String {
    match order {
        None => String::new(),
        Some(Order::Asc) => "asc".into(),
        Some(Order::Desc) => "desc".into(),
    }
}

/// Whole seconds of a TTL, rounded up; zero is refused so `0s` cannot mean "never expires".
fn expiry_seconds(expiry: Duration) -> Result<i64> {
    let secs = expiry.as_secs() + u64::from(expiry.subsec_nanos() > 0);
    if secs == 0 {
        bail!("expiry must be at least 1s");
    }
    i64::try_from(secs).map_err(|_| anyhow::anyhow!("expiry is too long"))
}

/// Runs one `micro store …` command.
pub async fn run(args: StoreArgs, globals: &Globals) -> Result<()> {
    match args.command {
        StoreCommand::Read(a) => read(a, globals).await,
        StoreCommand::List(a) => list(a, globals).await,
        StoreCommand::Write(a) => write(a, globals).await,
        StoreCommand::Delete(a) => delete(a, globals).await,
        StoreCommand::Databases => databases(globals).await,
        StoreCommand::Tables(a) => tables(a, globals).await,
        StoreCommand::Unknown(words) => bail!(unknown_subcommand("store", &words)),
    }
}

/// Builds the Read request, refusing a missing key.
fn read_request(args: &ReadArgs, namespace: &str) -> Result<ReadRequest> {
    let Some(key) = args.key.clone() else {
        bail!("Key arg is required")
    };
    let (database, table) = args.location.resolve(namespace);
    let options = ReadOptions {
        database,
        table,
        prefix: args.prefix,
        suffix: args.suffix,
        limit: args.limit.unwrap_or(0),
        offset: args.offset.unwrap_or(0),
        order: order_name(args.order),
        stale: args.stale,
    };
    Ok(ReadRequest {
        key,
        options: Some(options),
    })
}

async fn read(args: ReadArgs, globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let request = read_request(&args, session.namespace())?;
    let client = session.client().await?;
    let records: Vec<Record> = client
        .call(|ch| {
            let req = client.request(request.clone());
            async move { Ok(StoreClient::new(ch).read(req).await?.into_inner().records) }
        })
        .await?;
    let rendered = match (args.output, args.verbose) {
        (Output::Json, _) => store_output::records_json(&records)?,
        (Output::Table, true) => store_output::records_table(&records).into_bytes(),
        (Output::Table, false) => store_output::values(&records),
    };
    output::print(rendered);
    Ok(())
}

async fn list(args: ListArgs, globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let (database, table) = args.location.resolve(session.namespace());
    let request = ListRequest {
        options: Some(ListOptions {
            database,
            table,
            prefix: args.prefix.clone().unwrap_or_default(),
            suffix: args.suffix.clone().unwrap_or_default(),
            limit: args.limit.unwrap_or(0),
            offset: args.offset.unwrap_or(0),
            order: order_name(args.order),
            stale: args.stale,
        }),
    };
    let client = session.client().await?;
    let keys = client
        .call(|ch| {
            let req = client.request(request.clone());
            async move {
                let mut stream = StoreClient::new(ch).list(req).await?.into_inner();
                let mut keys = Vec::new();
                while let Some(batch) = stream.message().await? {
                    keys.extend(batch.keys);
                }
                Ok(keys)
            }
        })
        .await?;
    output::print(match args.output {
        Output::Json => store_output::names_json(&keys)?,
        Output::Table => store_output::lines(&keys).into_bytes(),
    });
    Ok(())
}

/// Builds the Write request, refusing missing arguments.
fn write_request(args: &WriteArgs, namespace: &str) -> Result<WriteRequest> {
    let (Some(key), false) = (args.key.clone(), args.value.is_empty()) else {
        bail!("Key and Value args are required");
    };
    let expiry = args.expiry.map(expiry_seconds).transpose()?.unwrap_or(0);
    let (database, table) = args.location.resolve(namespace);
    Ok(WriteRequest {
        record: Some(Record {
            key,
            value: args.value.join(" ").into_bytes(),
            expiry,
            ..Default::default()
        }),
        options: Some(WriteOptions {
            database,
            table,
            precondition: args.conditions.to_proto(),
        }),
    })
}

async fn write(args: WriteArgs, globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let request = write_request(&args, session.namespace())?;
    let client = session.client().await?;
    client
        .mutate(|ch| {
            let req = client.request(request.clone());
            async move { StoreClient::new(ch).write(req).await.map(drop) }
        })
        .await?;
    Ok(())
}

/// Builds the Delete request, refusing a missing key.
fn delete_request(args: &DeleteArgs, namespace: &str) -> Result<DeleteRequest> {
    let Some(key) = args.key.clone() else {
        bail!("key is required")
    };
    let (database, table) = args.location.resolve(namespace);
    let precondition = args.conditions.to_proto();
    Ok(DeleteRequest {
        key,
        options: Some(DeleteOptions {
            database,
            table,
            precondition,
        }),
    })
}

async fn delete(args: DeleteArgs, globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let request = delete_request(&args, session.namespace())?;
    let client = session.client().await?;
    client
        .mutate(|ch| {
            let req = client.request(request.clone());
            async move { StoreClient::new(ch).delete(req).await.map(drop) }
        })
        .await?;
    Ok(())
}

async fn databases(globals: &Globals) -> Result<()> {
    let client = globals.client().await?;
    let names = client
        .call(|ch| {
            let req = client.request(DatabasesRequest {});
            async move {
                Ok(StoreClient::new(ch)
                    .databases(req)
                    .await?
                    .into_inner()
                    .databases)
            }
        })
        .await?;
    output::print(store_output::lines(&names));
    Ok(())
}

async fn tables(args: TablesArgs, globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let database = args
        .database
        .unwrap_or_else(|| session.namespace().to_owned());
    let client = session.client().await?;
    let names = client
        .call(|ch| {
            let req = client.request(TablesRequest {
                database: database.clone(),
            });
            async move { Ok(StoreClient::new(ch).tables(req).await?.into_inner().tables) }
        })
        .await?;
    output::print(store_output::lines(&names));
    Ok(())
}

#[cfg(test)]
#[path = "store_test.rs"]
mod tests;
