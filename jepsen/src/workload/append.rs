//! The append workload: clients publish unique events to one topic through every node; at
//! the end every acknowledged event must be in the topic's log on every node, exactly once,
//! and every node's log must order the events identically.

use std::collections::BTreeMap;
use std::time::Instant;

use micro_proto::events::store_client::StoreClient as EventsClient;
use micro_proto::events::stream_client::StreamClient;
use micro_proto::events::{PublishRequest, ReadRequest};

use super::{dial, unique_adds, Connection};
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
    let conn = Connection::to(proxy, StreamClient::new);
    unique_adds(process, conn, until, |mut c, element| async move {
        let req = PublishRequest {
            topic: TOPIC.into(),
            payload: element.into_bytes(),
            ..Default::default()
        };
        c.publish(req).await
    })
    .await
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
