//! The gateway backend: routes `/{service}/{endpoint}` calls to the node's services, decoding
//! and encoding Micro's JSON (snake_case, 64-bit integers as strings, bytes as base64).
//!
//! Each service plugs in as a [`JsonService`] under its name; adding a service is one more
//! entry in [`Services::new`], and unknown services and endpoints answer 404 the same way.
//! Streaming endpoints (`JsonService::stream`) are answered as server-sent events.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use micro_gateway::{Backend, CallRequest, GatewayError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{Caller, Guard};
use crate::error::ApiError;

/// The pending answer of a JSON endpoint.
pub type JsonAnswer<'a> = BoxFuture<'a, Result<serde_json::Value, GatewayError>>;
/// The answers of a streaming JSON endpoint, one JSON value per message (the gateway's type:
/// it sends them as server-sent events).
pub use micro_gateway::JsonStream;
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

    /// [`JsonService::call`] for endpoints that read the request's metadata (its headers,
    /// lower-cased, as Micro passes them on); the others ignore it.
    fn call_with_metadata(
        &self,
        endpoint: &str,
        caller: Caller,
        _metadata: &BTreeMap<String, String>,
        body: serde_json::Value,
    ) -> Option<JsonAnswer<'_>> {
        self.call(endpoint, caller, body)
    }

    /// Whether `endpoint` streams its answers (served by [`JsonService::stream`]).
    fn streams(&self, _endpoint: &str) -> bool {
        false
    }

    /// Starts the streaming `endpoint` (e.g. `Registry.Watch`); `None` if there is no such
    /// streaming endpoint.
    fn stream(
        &self,
        _endpoint: &str,
        _caller: Caller,
        _body: serde_json::Value,
    ) -> Option<JsonStreamAnswer<'_>> {
        None
    }
}

/// What a streaming method answers: messages as a receiver of gRPC results (the shape tonic
/// streams take) or as a stream of API results.
pub trait Answers: Send + 'static {
    /// The message type.
    type Message: Serialize + Send + 'static;
    /// The messages, failures rendered for the gateway.
    fn into_results(self) -> BoxStream<'static, Result<Self::Message, GatewayError>>;
}

impl<T: Serialize + Send + 'static> Answers
    for tokio::sync::mpsc::Receiver<Result<T, tonic::Status>>
{
    type Message = T;

    fn into_results(self) -> BoxStream<'static, Result<T, GatewayError>> {
        tokio_stream::wrappers::ReceiverStream::new(self)
            .map(|item| item.map_err(|s| crate::error::status_to_gateway(&s)))
            .boxed()
    }
}

impl<T: Serialize + Send + 'static> Answers
    for tokio_stream::wrappers::ReceiverStream<Result<T, ApiError>>
{
    type Message = T;

    fn into_results(self) -> BoxStream<'static, Result<T, GatewayError>> {
        self.map(|item| item.map_err(GatewayError::from)).boxed()
    }
}

/// Decodes `body` as `Req`, starts the stream `f` answers, and encodes each message: the body
/// of every streaming JSON endpoint.
pub async fn json_stream<Req, A, F, Fut>(
    body: serde_json::Value,
    f: F,
) -> Result<JsonStream, GatewayError>
where
    Req: DeserializeOwned,
    A: Answers,
    F: FnOnce(Req) -> Fut,
    Fut: Future<Output = Result<A, ApiError>>,
{
    let req: Req = serde_json::from_value(body)
        .map_err(|e| GatewayError::BadRequest(format!("invalid request: {e}")))?;
    let answers = f(req).await.map_err(GatewayError::from)?;
    Ok(answers
        .into_results()
        .map(|item| {
            item.and_then(|resp| {
                serde_json::to_value(resp).map_err(|e| GatewayError::Internal(e.to_string()))
            })
        })
        .boxed())
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
            count(&service, &endpoint, outcome.as_ref().err());
            outcome
        })
    }

    fn streams(&self, service: &str, endpoint: &str) -> bool {
        self.by_name
            .get(service)
            .is_some_and(|s| s.streams(endpoint))
    }

    fn stream(&self, req: CallRequest) -> BoxFuture<'_, Result<JsonStream, GatewayError>> {
        Box::pin(async move {
            let (service, endpoint) = (req.service.clone(), req.endpoint.clone());
            let outcome = self.open(req).await;
            count(&service, &endpoint, outcome.as_ref().err());
            outcome
        })
    }
}

/// Counts one gateway request by its outcome (a stream counts when it opens).
fn count(service: &str, endpoint: &str, error: Option<&GatewayError>) {
    let code = error.map_or(200, |e| e.status().as_u16());
    crate::admin::count_request("http", service, endpoint, &code.to_string());
}

impl Services {
    /// Admits the caller, then routes the call to its service with the request's headers.
    async fn dispatch(&self, req: CallRequest) -> Result<serde_json::Value, GatewayError> {
        let caller = self.admit(&req).await?;
        let answer = self.service(&req.service)?.call_with_metadata(
            &req.endpoint,
            caller,
            &req.headers,
            req.body,
        );
        match answer {
            Some(answer) => answer.await,
            None => Err(no_endpoint(&req.service, &req.endpoint)),
        }
    }

    /// Admits the caller, then opens the streaming call on its service.
    async fn open(&self, req: CallRequest) -> Result<JsonStream, GatewayError> {
        let caller = self.admit(&req).await?;
        self.stream_admitted(&req.service, &req.endpoint, caller, req.body)
            .await
            .unwrap_or_else(|| Err(no_endpoint(&req.service, &req.endpoint)))
    }

    /// The guard's verdict on the call.
    async fn admit(&self, req: &CallRequest) -> Result<Caller, GatewayError> {
        // Rules apply to every path, existing or not, as Micro's gateway checks them
        // before routing: a locked-down namespace reveals nothing to anonymous callers.
        self.guard
            .admit(
                &req.service,
                &req.endpoint,
                req.namespace.as_deref(),
                req.headers.get("authorization").map(String::as_str),
            )
            .await
            .map_err(GatewayError::from)
    }

    fn service(&self, name: &str) -> Result<&Arc<dyn JsonService>, GatewayError> {
        self.by_name
            .get(name)
            .ok_or_else(|| GatewayError::NotFound(format!("service {name} not found")))
    }

    /// Calls a unary endpoint for a caller the guard already admitted.
    pub async fn call_admitted(
        &self,
        service: &str,
        endpoint: &str,
        caller: Caller,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, GatewayError> {
        match self.service(service)?.call(endpoint, caller, body) {
            Some(answer) => answer.await,
            None => Err(no_endpoint(service, endpoint)),
        }
    }

    /// Starts a streaming endpoint for a caller the guard already admitted; `None` when the
    /// endpoint is not a streaming one.
    pub async fn stream_admitted(
        &self,
        service: &str,
        endpoint: &str,
        caller: Caller,
        body: serde_json::Value,
    ) -> Option<Result<JsonStream, GatewayError>> {
        match self.service(service) {
            Ok(s) => Some(s.stream(endpoint, caller, body)?.await),
            Err(e) => Some(Err(e)),
        }
    }
}

fn no_endpoint(service: &str, endpoint: &str) -> GatewayError {
    GatewayError::NotFound(format!(
        "endpoint {endpoint} not found on service {service}"
    ))
}
