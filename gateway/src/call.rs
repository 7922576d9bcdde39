//! The fallback handler that turns any other HTTP request into a backend call:
//! resolve the path → build the JSON payload → `Backend::call` → compact JSON or Micro error
//! (or, for a streaming endpoint, `Backend::stream` → server-sent events).

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
    match answer(backend.as_ref(), request).await {
        Ok(response) => response,
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

/// Resolves the call and forwards it: one JSON answer, or server-sent events for an endpoint
/// the backend streams.
async fn answer(backend: &dyn Backend, request: Request) -> Result<Response, Failure> {
    let call = resolve(request).await?;
    let service = call.service.clone();
    let failed = |error| Failure {
        error,
        service: Some(service.clone()),
    };
    if backend.streams(&call.service, &call.endpoint) {
        let stream = backend.stream(call).await.map_err(failed)?;
        return Ok(sse::response(stream, &service));
    }
    let value = backend.call(call).await.map_err(failed)?;
    Ok(json_response(&value))
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

/// Resolves the path and builds the call's payload and metadata.
async fn resolve(request: Request) -> Result<CallRequest, Failure> {
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
    Ok(CallRequest {
        service: route.service,
        endpoint: route.endpoint,
        body,
        namespace: metadata::namespace(&parts.headers),
        headers: metadata::from_headers(&parts.headers),
    })
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
