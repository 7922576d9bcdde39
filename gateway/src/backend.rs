//! The seam between the gateway and the server: a resolved call (`CallRequest`) and the `Backend`
//! trait that answers it. `node` implements `Backend`; the gateway never sees services directly.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::GatewayError;

/// One HTTP request, resolved to a Micro service call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRequest {
    /// Target service name, e.g. `store` or `v1.foo`.
    pub service: String,
    /// Target endpoint as `Handler.Method`, e.g. `Store.Read`.
    pub endpoint: String,
    /// The request payload; always a JSON object (query fields, form fields and body merged).
    pub body: serde_json::Value,
    /// The `Micro-Namespace` header if present and non-empty. Choosing a default (`micro`, or
    /// the token issuer) is the backend's job, because it needs the auth state to do so.
    pub namespace: Option<String>,
    /// Request headers with lower-cased names, repeated values joined by `,`, `connection`
    /// dropped. A `micro-token` cookie is copied to `authorization` as `Bearer <token>` when the
    /// request has no `Authorization` header, as Micro's auth wrapper does.
    pub headers: BTreeMap<String, String>,
}

/// The messages of a streaming call, in order; an `Err` is the last item.
pub type JsonStream = BoxStream<'static, Result<serde_json::Value, GatewayError>>;

/// What the gateway forwards calls to. Implementations resolve the service, authorize the caller
/// and return the response JSON, or a `GatewayError` whose variant picks the HTTP status
/// (unknown service or endpoint: `NotFound`).
pub trait Backend: Send + Sync + 'static {
    /// Performs one call.
    fn call(&self, req: CallRequest) -> BoxFuture<'_, Result<serde_json::Value, GatewayError>>;

    /// Opens a streaming call, which the gateway answers as server-sent events (requests that
    /// accept `text/event-stream`). An `Err` here is answered as a plain error response, before
    /// any event. The default serves no streaming endpoint.
    fn stream(&self, req: CallRequest) -> BoxFuture<'_, Result<JsonStream, GatewayError>> {
        Box::pin(async move {
            Err(GatewayError::NotFound(format!(
                "endpoint {} of service {} does not stream",
                req.endpoint, req.service
            )))
        })
    }
}
