//! The register workload: reads, blind writes and compare-and-set by revision on a few keys
//! (high contention, like etcd's robustness traffic), checked for linearizability per key.

use std::collections::HashMap;
use std::time::Instant;

use micro_proto::store::{
    precondition, Precondition, ReadOptions, ReadRequest, Record, WriteOptions, WriteRequest,
};
use rand::rngs::StdRng;
use rand::Rng;

use super::{definitely_not_applied, Clock, Connection, DATABASE, PROCESS_STRIDE};
use crate::history::{Op, OpKind, Versioned};

/// The table of the register workload.
const TABLE: &str = "register";

/// Shape of the register traffic.
#[derive(Debug, Clone)]
pub struct RegisterConfig {
    /// The keys under contention.
    pub keys: Vec<String>,
}

fn read_request(key: &str) -> ReadRequest {
    let options = ReadOptions {
        database: DATABASE.into(),
        table: TABLE.into(),
        ..Default::default()
    };
    ReadRequest {
        key: key.into(),
        options: Some(options),
    }
}

fn write_request(key: &str, value: &str, expected: Option<Option<u64>>) -> WriteRequest {
    let precondition = expected.map(|e| Precondition {
        condition: Some(match e {
            Some(r) => precondition::Condition::Revision(r),
            None => precondition::Condition::Absent(true),
        }),
    });
    WriteRequest {
        record: Some(Record {
            key: key.into(),
            value: value.as_bytes().to_vec(),
            ..Default::default()
        }),
        options: Some(WriteOptions {
            database: DATABASE.into(),
            table: TABLE.into(),
            precondition,
        }),
    }
}

fn versioned(r: micro_proto::store::ReadResponse) -> Option<Versioned> {
    r.records.into_iter().next().map(|rec| Versioned {
        value: String::from_utf8_lossy(&rec.value).into_owned(),
        revision: rec.revision,
    })
}

/// Performs one op through `conn` (dialing `proxy` when needed) and records it.
async fn perform(
    conn: &mut Connection,
    process: u64,
    key: &str,
    kind: OpKind,
    clock: &Clock,
) -> Op {
    let inv = Op::invoke(process, key, kind.clone(), clock.now_ns());
    let Some(client) = conn.get().await else {
        let op = inv.fail(clock.now_ns());
        conn.failed().await;
        return op;
    };
    let op = match kind {
        OpKind::Read => match client.read(read_request(key)).await {
            Ok(r) => inv.ok_read(versioned(r.into_inner()), clock.now_ns()),
            Err(s) if s.code() == tonic::Code::NotFound => inv.ok_read(None, clock.now_ns()),
            // A failed read changed nothing.
            Err(_) => inv.fail(clock.now_ns()),
        },
        OpKind::Write { value } => finish_write(
            inv,
            client.write(write_request(key, &value, None)).await,
            clock,
        ),
        OpKind::Cas { expected, value } => finish_write(
            inv,
            client
                .write(write_request(key, &value, Some(expected)))
                .await,
            clock,
        ),
        // This workload never asks for these; were it to, nothing was sent.
        OpKind::Delete | OpKind::Use => inv.fail(clock.now_ns()),
    };
    if !matches!(op.outcome, crate::history::Outcome::Ok(_)) {
        conn.failed().await;
    }
    op
}

fn finish_write(
    inv: crate::history::Invocation,
    r: Result<tonic::Response<micro_proto::store::WriteResponse>, tonic::Status>,
    clock: &Clock,
) -> Op {
    match r {
        Ok(w) => inv.ok_written(w.into_inner().revision, clock.now_ns()),
        Err(s) if definitely_not_applied(&s) => inv.fail(clock.now_ns()),
        Err(_) => inv.info(Some(clock.now_ns())),
    }
}

/// One client pinned to `proxy`, issuing ops until `until`.
pub async fn register_client(
    mut process: u64,
    proxy: String,
    config: RegisterConfig,
    clock: Clock,
    until: Instant,
    mut rng: StdRng,
) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut conn = Connection::new(proxy);
    let mut seen: HashMap<String, Option<u64>> = HashMap::new();
    let mut counter = 0u64;
    while Instant::now() < until && !config.keys.is_empty() {
        let key = config.keys[rng.gen_range(0..config.keys.len())].clone();
        counter += 1;
        let value = format!("{process}:{counter}");
        let kind = match rng.gen_range(0..10) {
            0..=3 => OpKind::Read,
            4..=6 => OpKind::Write { value },
            _ => OpKind::Cas {
                expected: seen.get(&key).copied().flatten(),
                value,
            },
        };
        let op = perform(&mut conn, process, &key, kind, &clock).await;
        if let crate::history::Outcome::Ok(result) = &op.outcome {
            match result {
                crate::history::OpResult::Read(v) => {
                    seen.insert(key.clone(), v.as_ref().map(|v| v.revision));
                }
                crate::history::OpResult::Written { revision } => {
                    seen.insert(key.clone(), Some(*revision));
                }
                // Answers of plain registers and uses, which this workload does not make.
                crate::history::OpResult::Value(_)
                | crate::history::OpResult::Done
                | crate::history::OpResult::Accepted { .. } => {}
            }
        }
        let unknown = matches!(op.outcome, crate::history::Outcome::Info);
        ops.push(op);
        if unknown {
            process += PROCESS_STRIDE;
        }
    }
    ops
}

/// After the faults healed: every key read from every node, as ordinary ops of the history.
pub async fn final_reads(
    proxies: &[String],
    config: &RegisterConfig,
    clock: &Clock,
    first_process: u64,
) -> Vec<Op> {
    let mut ops = Vec::new();
    for (i, proxy) in proxies.iter().enumerate() {
        let mut conn = Connection::new(proxy.clone());
        for key in &config.keys {
            ops.push(
                perform(
                    &mut conn,
                    first_process + i as u64,
                    key,
                    OpKind::Read,
                    clock,
                )
                .await,
            );
        }
    }
    ops
}
