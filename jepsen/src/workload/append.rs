//! The append workload: clients publish unique events to one topic through every node; at
//! the end every acknowledged event must be in the topic's log on every node, exactly once,
//! and every node's log must order the events identically.

use std::collections::BTreeMap;
use std::time::Instant;

use micro_proto::events::store_client::StoreClient as EventsClient;
use micro_proto::events::stream_client::StreamClient;
use micro_proto::events::{PublishRequest, ReadRequest};

use super::{definitely_not_applied, dial, Connection};
use crate::checker::AddOutcome;

const TOPIC: &str = "jepsen-append";
/// Events per read page (the most a Store.Read returns).
const PAGE: u64 = 1000;

/// One client publishing unique events through `proxy` until `until`. No publisher id is
/// sent, so nothing in the server de-duplicates a retried append: the log must not hold an
/// event twice on its own.
pub async fn append_client(
    process: u64,
    proxy: String,
    until: Instant,
) -> BTreeMap<String, AddOutcome> {
    let mut adds = BTreeMap::new();
    let mut conn = Connection::to(proxy, StreamClient::new);
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let element = format!("{process:04}-{n:08}");
        let outcome = match conn.get().await {
            None => AddOutcome::Fail,
            Some(c) => {
                let req = PublishRequest {
                    topic: TOPIC.into(),
                    payload: element.clone().into_bytes(),
                    ..Default::default()
                };
                match c.publish(req).await {
                    Ok(_) => AddOutcome::Ok,
                    Err(s) if definitely_not_applied(&s) => AddOutcome::Fail,
                    Err(_) => AddOutcome::Info,
                }
            }
        };
        if outcome != AddOutcome::Ok {
            conn.failed().await;
        }
        adds.insert(element, outcome);
    }
    adds
}

/// The topic's whole log read from every node, in log order (node name → payloads).
pub async fn final_logs(proxies: &[String]) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    for (i, proxy) in proxies.iter().enumerate() {
        let mut c = dial(proxy)
            .await
            .map(EventsClient::new)
            .ok_or_else(|| anyhow::anyhow!("node {i} ({proxy}) does not answer"))?;
        let mut log = Vec::new();
        loop {
            let req = ReadRequest {
                topic: TOPIC.into(),
                limit: PAGE,
                offset: log.len() as u64,
            };
            let page = match c.read(req).await {
                Ok(r) => r.into_inner().events,
                // Nothing was ever appended: the topic does not exist.
                Err(s) if s.code() == tonic::Code::NotFound && log.is_empty() => Vec::new(),
                Err(s) => return Err(s.into()),
            };
            let last = (page.len() as u64) < PAGE;
            log.extend(
                page.into_iter()
                    .map(|e| String::from_utf8_lossy(&e.payload).into_owned()),
            );
            if last {
                break;
            }
        }
        out.insert(format!("node{i}"), log);
    }
    Ok(out)
}
