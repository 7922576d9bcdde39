//! The gateway backend: routes `/{service}/{endpoint}` calls to the node's services, decoding
//! and encoding Micro's JSON (snake_case, 64-bit integers as strings, bytes as base64).
//!
//! Each service plugs in as a [`JsonService`] under its name; adding a service is one more
//! entry in [`Services::new`], and unknown services and endpoints answer 404 the same way.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use micro_gateway::{Backend, CallRequest, GatewayError, JsonStream};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{Caller, Guard};
use crate::error::ApiError;

/// The pending answer of a JSON endpoint.
pub type JsonAnswer<'a> = BoxFuture<'a, Result<serde_json::Value, GatewayError>>;

/// The pending start of a streaming JSON endpoint.
pub type JsonStreamAnswer<'a> = BoxFuture<'a, Result<JsonStream, GatewayError>>;

/// One service's JSON face.
pub trait JsonService: Send + Sync + 'static {
    /// Answers `endpoint` (e.g. `Store.Read`) for an admitted `caller`; `None` if there is no
    /// such endpoint.
    fn call(
        &self,
        endpoint: &str,
        caller: Caller,
        body: serde_json::Value,
    ) -> Option<JsonAnswer<'_>>;

    /// Opens streaming `endpoint` (served as server-sent events); `None` if it does not stream.
    fn stream(
        &self,
        _endpoint: &str,
        _caller: Caller,
        _body: serde_json::Value,
    ) -> Option<JsonStreamAnswer<'_>> {
        None
    }
}

/// Decodes `body` as `Req`, runs `f`, encodes the answer: the body of every JSON endpoint.
pub async fn json<Req, Resp, F, Fut>(
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

/// Decodes `body` as `Req`, opens the stream `f` returns, and encodes each message: the body of
/// every streaming JSON endpoint.
pub async fn json_stream<Req, Resp, S, F, Fut>(
    body: serde_json::Value,
    f: F,
) -> Result<JsonStream, GatewayError>
where
    Req: DeserializeOwned,
    Resp: Serialize,
    S: Stream<Item = Result<Resp, ApiError>> + Send + 'static,
    F: FnOnce(Req) -> Fut,
    Fut: Future<Output = Result<S, ApiError>>,
{
    let req: Req = serde_json::from_value(body)
        .map_err(|e| GatewayError::BadRequest(format!("invalid request: {e}")))?;
    let stream = f(req).await.map_err(GatewayError::from)?;
    Ok(stream
        .map(|item| {
            let resp = item.map_err(GatewayError::from)?;
            serde_json::to_value(resp).map_err(|e| GatewayError::Internal(e.to_string()))
        })
        .boxed())
}

/// Every service the gateway can reach on this node, by name, behind the guard.
pub struct Services {
    guard: Arc<Guard>,
    by_name: BTreeMap<&'static str, Arc<dyn JsonService>>,
}

impl Services {
    /// The services, keyed by their Micro service name; every call passes `guard` first.
    pub fn new(
        guard: Arc<Guard>,
        services: impl IntoIterator<Item = (&'static str, Arc<dyn JsonService>)>,
    ) -> Self {
        Services {
            guard,
            by_name: services.into_iter().collect(),
        }
    }
}

impl Backend for Services {
    fn call(&self, req: CallRequest) -> BoxFuture<'_, Result<serde_json::Value, GatewayError>> {
        Box::pin(async move {
            let (service, endpoint) = (req.service.clone(), req.endpoint.clone());
            let outcome = self.dispatch(req).await;
            count(&service, &endpoint, &outcome);
            outcome
        })
    }

    fn stream(&self, req: CallRequest) -> BoxFuture<'_, Result<JsonStream, GatewayError>> {
        Box::pin(async move {
            let (service, endpoint) = (req.service.clone(), req.endpoint.clone());
            let outcome = self.dispatch_stream(req).await;
            count(&service, &endpoint, &outcome);
            outcome
        })
    }
}

/// Counts a call by the status it was answered with (a stream counts when it opens).
fn count<T>(service: &str, endpoint: &str, outcome: &Result<T, GatewayError>) {
    let code = match outcome {
        Ok(_) => 200,
        Err(e) => e.status().as_u16(),
    };
    crate::admin::count_request("http", service, endpoint, &code.to_string());
}

impl Services {
    /// Admits the caller, then opens the streaming call on its service.
    async fn dispatch_stream(&self, req: CallRequest) -> Result<JsonStream, GatewayError> {
        let (caller, service) = self.admit(&req)?;
        match service.stream(&req.endpoint, caller, req.body) {
            Some(answer) => answer.await,
            None => Err(GatewayError::NotFound(format!(
                "endpoint {} of service {} does not stream",
                req.endpoint, req.service
            ))),
        }
    }

    /// Admits the caller and finds the service the call is for. Rules apply to every path,
    /// existing or not, as Micro's gateway checks them before routing: a locked-down namespace
    /// reveals nothing to anonymous callers.
    fn admit(&self, req: &CallRequest) -> Result<(Caller, &Arc<dyn JsonService>), GatewayError> {
        let caller = self
            .guard
            .admit(
                &req.service,
                &req.endpoint,
                req.namespace.as_deref(),
                req.headers.get("authorization").map(String::as_str),
            )
            .map_err(GatewayError::from)?;
        let Some(service) = self.by_name.get(req.service.as_str()) else {
            return Err(GatewayError::NotFound(format!(
                "service {} not found",
                req.service
            )));
        };
        Ok((caller, service))
    }

    /// Admits the caller, then routes the call to its service.
    async fn dispatch(&self, req: CallRequest) -> Result<serde_json::Value, GatewayError> {
        let (caller, service) = self.admit(&req)?;
        match service.call(&req.endpoint, caller, req.body) {
            Some(answer) => answer.await,
            None => Err(GatewayError::NotFound(format!(
                "endpoint {} not found on service {}",
                req.endpoint, req.service
            ))),
        }
    }
}
