//! CORS as Micro's API sets it (`service/api/server/http/cors.go`): permissive headers on every
//! response, and every `OPTIONS` request answered `200` with no body before routing or any call.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The methods advertised in `Access-Control-Allow-Methods`.
const ALLOW_METHODS: &str = "POST, PATCH, GET, OPTIONS, PUT, DELETE";

/// The request headers advertised in `Access-Control-Allow-Headers`.
const ALLOW_HEADERS: &str =
    "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, Micro-Namespace";

/// Middleware: short-circuits `OPTIONS`, then adds the CORS headers that are not already set.
/// `Access-Control-Allow-Origin` echoes the request `Origin`, or is `*` without one.
pub(crate) async fn cors(request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers
        .entry(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .or_insert(origin);
    headers
        .entry(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
        .or_insert(HeaderValue::from_static("true"));
    headers
        .entry(header::ACCESS_CONTROL_ALLOW_METHODS)
        .or_insert(HeaderValue::from_static(ALLOW_METHODS));
    headers
        .entry(header::ACCESS_CONTROL_ALLOW_HEADERS)
        .or_insert(HeaderValue::from_static(ALLOW_HEADERS));
    response
}
