//! The set workload: every acknowledged write must be present, once, on every node at the end.

use std::collections::BTreeMap;
use std::time::Instant;

use micro_proto::store::{ListOptions, ListRequest, Record, WriteOptions, WriteRequest};

use super::{connect, unique_adds, Connection, DATABASE};
use crate::checker::AddOutcome;

const TABLE: &str = "set";

/// One client adding unique elements through `proxy` until `until`.
pub async fn set_client(
    process: u64,
    proxy: String,
    until: Instant,
) -> BTreeMap<String, AddOutcome> {
    unique_adds(
        process,
        Connection::new(proxy),
        until,
        |mut c, element| async move {
            let req = WriteRequest {
                record: Some(Record {
                    key: element,
                    value: b"1".to_vec(),
                    ..Default::default()
                }),
                options: Some(WriteOptions {
                    database: DATABASE.into(),
                    table: TABLE.into(),
                    precondition: None,
                }),
            };
            c.write(req).await
        },
    )
    .await
}

/// The final, linearizable listing of the set from every node (node name → elements).
pub async fn final_listings(proxies: &[String]) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    for (i, proxy) in proxies.iter().enumerate() {
        let mut c = connect(proxy)
            .await
            .ok_or_else(|| anyhow::anyhow!("node {i} ({proxy}) does not answer"))?;
        let req = ListRequest {
            options: Some(ListOptions {
                database: DATABASE.into(),
                table: TABLE.into(),
                ..Default::default()
            }),
        };
        let mut stream = c.list(req).await?.into_inner();
        let mut keys = Vec::new();
        while let Some(m) = stream.message().await? {
            keys.extend(m.keys);
        }
        out.insert(format!("node{i}"), keys);
    }
    Ok(out)
}
