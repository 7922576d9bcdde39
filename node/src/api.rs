//! The gateway backend: routes `/{service}/{endpoint}` calls to the node's services, decoding
//! and encoding Micro's JSON (snake_case, 64-bit integers as strings, bytes as base64).

use std::future::Future;

use futures::future::BoxFuture;
use micro_gateway::{Backend, CallRequest, GatewayError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cluster::ClusterService;
use crate::error::ApiError;
use crate::namespace;
use crate::store::StoreService;

/// Every service the gateway can reach on this node.
pub struct Services {
    /// The store service.
    pub store: StoreService,
    /// The cluster admin service.
    pub cluster: ClusterService,
}

/// Decodes the body as `Req`, runs `f`, encodes the answer.
async fn json<Req, Resp, F, Fut>(
    body: serde_json::Value,
    f: F,
) -> Result<serde_json::Value, GatewayError>
where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: FnOnce(Req) -> Fut,
    Fut: Future<Output = Result<Resp, ApiError>>,
{
    let req: Req = serde_json::from_value(body)
        .map_err(|e| GatewayError::BadRequest(format!("invalid request: {e}")))?;
    let resp = f(req).await.map_err(GatewayError::from)?;
    serde_json::to_value(resp).map_err(|e| GatewayError::Internal(e.to_string()))
}

impl Backend for Services {
    fn call(&self, req: CallRequest) -> BoxFuture<'_, Result<serde_json::Value, GatewayError>> {
        Box::pin(async move {
            let ns = namespace::resolve(req.namespace.as_deref());
            let ns = ns.as_str();
            let store = &self.store;
            match (req.service.as_str(), req.endpoint.as_str()) {
                ("store", "Store.Read") => json(req.body, |r| store.read(ns, r)).await,
                ("store", "Store.Write") => json(req.body, |r| store.write(ns, r)).await,
                ("store", "Store.Delete") => json(req.body, |r| store.delete(ns, r)).await,
                ("store", "Store.List") => {
                    json(req.body, |r| async move {
                        let chunks = store.list(ns, r).await?;
                        let keys: Vec<String> = chunks.into_iter().flat_map(|c| c.keys).collect();
                        Ok(micro_proto::store::ListResponse { keys })
                    })
                    .await
                }
                ("store", "Store.Databases") => {
                    json(req.body, |_: micro_proto::store::DatabasesRequest| {
                        store.databases()
                    })
                    .await
                }
                ("store", "Store.Tables") => json(req.body, |r| store.tables(ns, r)).await,
                ("cluster", "Cluster.Members") => json(req.body, |r| self.cluster.members(r)).await,
                ("store" | "cluster", endpoint) => Err(GatewayError::NotFound(format!(
                    "endpoint {endpoint} not found on service {}",
                    req.service
                ))),
                (service, _) => Err(GatewayError::NotFound(format!(
                    "service {service} not found"
                ))),
            }
        })
    }
}
