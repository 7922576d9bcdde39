//! The seam between the gateway and the server: a resolved call (`CallRequest`) and the `Backend`
//! trait that answers it, with one JSON value or, for streaming endpoints, a stream of them.
//! `node` implements `Backend`; the gateway never sees services directly.

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

/// What the gateway forwards calls to. Implementations resolve the service, authorize the caller
/// and return the response JSON, or a `GatewayError` whose variant picks the HTTP status
/// (unknown service or endpoint: `NotFound`).
pub trait Backend: Send + Sync + 'static {
    /// Performs one call.
    fn call(&self, req: CallRequest) -> BoxFuture<'_, Result<serde_json::Value, GatewayError>>;

    /// Whether `endpoint` of `service` streams its answers; such calls go to
    /// [`Backend::stream`] and are answered as server-sent events.
    fn streams(&self, _service: &str, _endpoint: &str) -> bool {
        false
    }

    /// Opens a streaming call. Refusals (authorization, validation) are returned here, before
    /// the stream starts, so they are ordinary error responses; an error inside the stream ends
    /// it.
    fn stream(&self, req: CallRequest) -> BoxFuture<'_, Result<JsonStream, GatewayError>> {
        Box::pin(async move {
            Err(GatewayError::NotFound(format!(
                "endpoint {} of service {} does not stream",
                req.endpoint, req.service
            )))
        })
    }
}

/// The answers of a streaming call, one JSON message each.
pub type JsonStream = BoxStream<'static, Result<serde_json::Value, GatewayError>>;
