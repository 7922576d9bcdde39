//! The HTTP API gateway (Micro's `:8080`): maps `/{service}/{endpoint}` requests to JSON calls
//! on a [`Backend`] that the server implements, and renders answers and errors as Micro does.
//!
//! Layout:
//! - `backend`: [`CallRequest`] and the [`Backend`] trait, the seam to the server.
//! - `error`: [`GatewayError`] and its rendering as Micro's error JSON ([`ErrorBody`]).
//! - `route`: path → service/endpoint resolution ([`Route`]).
//! - `query`: query string → JSON object.
//! - `payload`: request body reading (size limit) and payload construction.
//! - `metadata`: request headers → call metadata and namespace.
//! - `cors`: CORS headers and `OPTIONS` short-circuit.
//! - `root`: `/` (version) and `/favicon.ico`.
//! - `call`: the fallback handler that forwards everything else.
//! - `sse`: streaming calls answered as server-sent events.
//!
//! Must not depend on node, raft, state-machine.

mod backend;
mod call;
mod cors;
mod error;
mod metadata;
mod payload;
mod query;
mod root;
mod route;
mod sse;

use std::sync::Arc;

use axum::routing::any;
use axum::{middleware, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use backend::{Backend, CallRequest, JsonStream};
pub use error::{ErrorBody, GatewayError};
pub use route::Route;

/// The largest request body accepted; larger bodies are answered `413` with Micro's error JSON.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Builds the gateway's router: `/` answers `{"version": "<version>"}`, `/favicon.ico` is empty,
/// and every other path is resolved and forwarded to `backend`. CORS applies to all responses.
pub fn router(backend: Arc<dyn Backend>, version: &str) -> Router {
    let version_body: Arc<str> = Arc::from(root::version_body(version));
    Router::new()
        .route(
            "/",
            any(move || {
                let body = Arc::clone(&version_body);
                async move { root::version(&body) }
            }),
        )
        .route("/favicon.ico", any(root::favicon))
        .fallback(call::call)
        .with_state(backend)
        .layer(middleware::from_fn(cors::cors))
}

/// Serves the gateway on `listener` until `stop` is cancelled, then drains in-flight requests
/// (axum's graceful shutdown) and returns.
pub async fn serve(
    listener: TcpListener,
    backend: Arc<dyn Backend>,
    version: String,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, %version, "HTTP gateway listening");
    axum::serve(listener, router(backend, &version))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await?;
    tracing::info!(%addr, "HTTP gateway stopped");
    Ok(())
}
