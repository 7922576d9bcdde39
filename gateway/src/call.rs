//! The fallback handler that turns any other HTTP request into a backend call:
//! resolve the path → build the JSON payload → `Backend::call` → compact JSON or Micro error;
//! or, when the client accepts `text/event-stream`, `Backend::stream` → server-sent events.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::route::Route;
use crate::{metadata, payload, sse, Backend, CallRequest, GatewayError, MAX_BODY_BYTES};

/// Handles one call request; every failure is rendered as Micro's error JSON. Errors from the
/// backend carry the service's name as `Id`, as Micro's services do
/// (`{"Id":"helloworld","Code":401,…}`); the gateway's own keep their `micro.gateway.*` ids.
pub(crate) async fn call(State(backend): State<Arc<dyn Backend>>, request: Request) -> Response {
    match forward(backend.as_ref(), request).await {
        Ok(Answer::Json(value)) => json_response(&value),
        Ok(Answer::Stream(stream, service)) => sse::respond(stream, service),
        Err(Failure { error, service }) => {
            match &error {
                GatewayError::Internal(_) => tracing::warn!(%error, "gateway call failed"),
                _ => tracing::debug!(%error, "gateway call rejected"),
            }
            match service {
                Some(service) => error.render_with_id(&service),
                None => error.render(),
            }
        }
    }
}

/// A failed call: the error, and the service when the backend produced it.
struct Failure {
    error: GatewayError,
    service: Option<String>,
}

impl From<GatewayError> for Failure {
    fn from(error: GatewayError) -> Self {
        Failure {
            error,
            service: None,
        }
    }
}

/// What the backend answered: one JSON value, or a stream of them (and the service's name).
enum Answer {
    Json(Value),
    Stream(crate::JsonStream, String),
}

/// Resolves, builds and forwards the call, returning the backend's answer.
async fn forward(backend: &dyn Backend, request: Request) -> Result<Answer, Failure> {
    let (parts, body) = request.into_parts();
    let route = Route::from_path(parts.uri.path())?;
    let raw_query = parts.uri.query().unwrap_or("");
    let body = if payload::carries_body(&parts.method) {
        let bytes = payload::read_body(body, &parts.headers, MAX_BODY_BYTES).await?;
        payload::from_body(&parts.headers, raw_query, &bytes)?
    } else {
        payload::from_query(raw_query)?
    };
    tracing::debug!(
        service = %route.service,
        endpoint = %route.endpoint,
        method = %parts.method,
        "forwarding gateway call"
    );
    let service = route.service.clone();
    let call = CallRequest {
        service: route.service,
        endpoint: route.endpoint,
        body,
        namespace: metadata::namespace(&parts.headers),
        headers: metadata::from_headers(&parts.headers),
    };
    let failed = |error| Failure {
        error,
        service: Some(service.clone()),
    };
    if sse::wanted(&parts.headers) {
        let stream = backend.stream(call).await.map_err(failed)?;
        return Ok(Answer::Stream(stream, service.clone()));
    }
    backend.call(call).await.map(Answer::Json).map_err(failed)
}

/// The backend's answer as compact JSON (serde_json does not HTML-escape), `200`.
fn json_response(value: &Value) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => GatewayError::Internal(format!("failed to encode the response as JSON: {e}"))
            .into_response(),
    }
}
