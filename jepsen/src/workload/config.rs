//! The config workload: reads, writes and deletes of a few paths through `config.Config`, every
//! other one a secret (sealed with `options.secret` on the node that takes the write, read back
//! decrypted on whichever node serves the read); each path is checked as a plain register.

use std::time::Instant;

use micro_proto::config::{
    config_client::ConfigClient, DeleteRequest, GetRequest, Options, ReadRequest, SetRequest, Value,
};
use micro_tests::Authed;
use rand::rngs::StdRng;
use rand::Rng;

use super::{definitely_not_applied, Clock, Connection, PROCESS_STRIDE};
use crate::history::{Invocation, Op, OpKind, Outcome};

/// The namespace every path lives in: its own document, touched by nothing else.
const NAMESPACE: &str = "jepsen";

type Client = ConfigClient<Authed>;

/// The paths of a run with `n` keys: `c0`, `s1`, `c2`, … where `s` paths hold secrets.
pub fn config_keys(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 2 {
            0 => format!("c{i}"),
            _ => format!("s{i}"),
        })
        .collect()
}

fn is_secret(key: &str) -> bool {
    key.starts_with('s')
}

/// A config answer's JSON text as a register value: a JSON string is the value written,
/// `null` is absence; anything else (a masked `"[secret]"` is a string too) is kept verbatim,
/// so the checker reports it as a value nobody wrote.
fn decode(data: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(data) {
        Ok(serde_json::Value::Null) => None,
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => Some(data.to_owned()),
    }
}

/// Sends one op through `conn` and records it; `legacy` reads through Config.Read (masked,
/// plain paths only) instead of Config.Get.
async fn perform(
    conn: &mut Connection<Client>,
    inv: Invocation,
    legacy: bool,
    clock: &Clock,
) -> Op {
    let Some(client) = conn.get().await else {
        let op = inv.fail(clock.now_ns());
        conn.failed().await;
        return op;
    };
    let (namespace, path) = (NAMESPACE.to_owned(), inv.key.clone());
    let options = Some(Options {
        secret: inv.meta.secret,
    });
    let op = match inv.kind.clone() {
        OpKind::Read => {
            let answer = if legacy {
                let r = client.read(ReadRequest { namespace, path }).await;
                r.map(|r| {
                    let change = r.into_inner().change.and_then(|c| c.change_set);
                    change.map(|c| c.data).unwrap_or_default()
                })
            } else {
                let r = client.get(GetRequest {
                    namespace,
                    path,
                    options,
                });
                r.await
                    .map(|r| r.into_inner().value.map(|v| v.data).unwrap_or_default())
            };
            match answer {
                Ok(data) => inv.ok_value(decode(&data), clock.now_ns()),
                // A namespace without a document: the path is absent.
                Err(s) if s.code() == tonic::Code::NotFound => inv.ok_read(None, clock.now_ns()),
                // A failed read changed nothing.
                Err(_) => inv.fail(clock.now_ns()),
            }
        }
        OpKind::Write { value } => {
            let data = serde_json::Value::String(value).to_string();
            let request = SetRequest {
                namespace,
                path,
                value: Some(Value {
                    data,
                    format: "json".into(),
                }),
                options,
            };
            finish(inv, client.set(request).await.map(|_| ()), clock)
        }
        OpKind::Delete => {
            let request = DeleteRequest { namespace, path };
            finish(inv, client.delete(request).await.map(|_| ()), clock)
        }
        // This workload asks for neither.
        OpKind::Cas { .. } | OpKind::Use => inv.fail(clock.now_ns()),
    };
    if !matches!(op.outcome, Outcome::Ok(_)) {
        conn.failed().await;
    }
    op
}

/// A write's or delete's outcome. A delete answered "not found" met a namespace without a
/// document: nothing was there to remove, so nothing changed.
fn finish(inv: Invocation, r: Result<(), tonic::Status>, clock: &Clock) -> Op {
    match r {
        Ok(()) => inv.ok_done(clock.now_ns()),
        Err(s) if definitely_not_applied(&s) => inv.fail(clock.now_ns()),
        Err(_) => inv.info(Some(clock.now_ns())),
    }
}

/// The invocation of `kind` on `key` through node `node`, annotated.
fn invoke(
    process: u64,
    node: usize,
    key: &str,
    kind: OpKind,
    legacy: bool,
    clock: &Clock,
) -> Invocation {
    let secret = is_secret(key) && kind != OpKind::Delete;
    let inv = Op::invoke(process, key, kind, clock.now_ns())
        .on_node(node)
        .secret(secret);
    match (&inv.kind, legacy) {
        (OpKind::Read, true) => inv.via("read"),
        (OpKind::Read, false) => inv.via("get"),
        _ => inv,
    }
}

/// One client pinned to node `node` (`proxy`), issuing ops until `until`: 40% reads (plain
/// paths half through the legacy Config.Read), 45% writes, 15% deletes.
pub async fn config_client(
    mut process: u64,
    node: usize,
    proxy: String,
    keys: Vec<String>,
    clock: Clock,
    until: Instant,
    mut rng: StdRng,
) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut conn = Connection::to(proxy, ConfigClient::new);
    let mut counter = 0u64;
    while Instant::now() < until && !keys.is_empty() {
        let key = &keys[rng.gen_range(0..keys.len())];
        counter += 1;
        let (kind, legacy) = match rng.gen_range(0..20) {
            0..=7 => (OpKind::Read, !is_secret(key) && rng.gen_bool(0.5)),
            8..=16 => {
                let value = format!("{process}:{counter}");
                (OpKind::Write { value }, false)
            }
            _ => (OpKind::Delete, false),
        };
        let inv = invoke(process, node, key, kind, legacy, &clock);
        let op = perform(&mut conn, inv, legacy, &clock).await;
        let unknown = op.outcome == Outcome::Info;
        ops.push(op);
        if unknown {
            process += PROCESS_STRIDE;
        }
    }
    ops
}

/// After the faults healed: every path read from every node (secrets decrypted), as ordinary
/// ops of the history.
pub async fn final_config_reads(
    proxies: &[String],
    keys: &[String],
    clock: &Clock,
    first_process: u64,
) -> Vec<Op> {
    let mut ops = Vec::new();
    for (node, proxy) in proxies.iter().enumerate() {
        let mut conn = Connection::to(proxy.clone(), ConfigClient::new);
        let process = first_process + node as u64;
        for key in keys {
            let inv = invoke(process, node, key, OpKind::Read, false, clock);
            ops.push(perform(&mut conn, inv, false, clock).await);
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_alternate_plain_and_secret() {
        assert_eq!(config_keys(4), ["c0", "s1", "c2", "s3"]);
        assert!(is_secret("s1") && !is_secret("c0"));
    }

    #[test]
    fn answers_decode_to_register_values() {
        assert_eq!(decode("null"), None);
        assert_eq!(decode(r#""0:4""#), Some("0:4".to_owned()));
        // A masked secret or an unexpected shape stays visible to the checker.
        assert_eq!(decode(r#""[secret]""#), Some("[secret]".to_owned()));
        assert_eq!(decode(r#"{"a":1}"#), Some(r#"{"a":1}"#.to_owned()));
        assert_eq!(decode(""), Some(String::new()));
    }
}
