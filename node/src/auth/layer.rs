//! The gRPC proxy's guard: a tower layer in front of every tonic service, so no method can be
//! reached without [`Guard::admit`]. The admitted [`Caller`] rides in the request extensions.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::body::BoxBody;
use tonic::codegen::http;

use super::{Caller, Guard};
use crate::error::ApiError;

/// Wraps services with the guard.
#[derive(Clone)]
pub struct GuardLayer {
    guard: Arc<Guard>,
}

impl GuardLayer {
    /// A layer admitting through `guard`.
    pub fn new(guard: Arc<Guard>) -> Self {
        GuardLayer { guard }
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.guard.clone(),
        }
    }
}

/// A service behind the guard.
#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    guard: Arc<Guard>,
}

impl<S> tower::Service<http::Request<BoxBody>> for GuardService<S>
where
    S: tower::Service<http::Request<BoxBody>, Response = http::Response<BoxBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<BoxBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<BoxBody>) -> Self::Future {
        // The clone that was polled ready serves this call; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let route = grpc_route(request.uri().path());
        let guard = self.guard.clone();
        let asked = Asked::of(&request);
        Box::pin(async move {
            let admitted = asked.admit(&guard, route.as_ref()).await;
            let route = route.unwrap_or_default();
            let response = match admitted {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await?
                }
                Err(e) => tonic::Status::from(e).into_http(),
            };
            // Errors travel as trailers-only responses, so their status is in the headers;
            // a response without one is a success (its status follows in the trailers).
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0");
            crate::admin::count_request("grpc", &route.0, &route.1, code);
            Ok(response)
        })
    }
}

/// What admission needs from a request, copied out so the request itself is not held across
/// the wait (its body is not `Sync`).
struct Asked {
    path: String,
    namespace: Option<String>,
    authorization: Option<String>,
}

impl Asked {
    fn of<B>(request: &http::Request<B>) -> Asked {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Asked {
            path: request.uri().path().to_owned(),
            namespace: header("micro-namespace"),
            authorization: header("authorization"),
        }
    }

    /// Admits the caller, whose path resolved to `route` (`None`: a malformed path).
    async fn admit(
        &self,
        guard: &Guard,
        route: Option<&(String, String)>,
    ) -> Result<Caller, ApiError> {
        let (service, endpoint) = route.ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Method name {:?} invalid format. Expecting service.endpoint",
                self.path
            ))
        })?;
        guard
            .admit(
                service,
                endpoint,
                self.namespace.as_deref(),
                self.authorization.as_deref(),
            )
            .await
    }
}

/// `/store.Store/Read` → (`store`, `Store.Read`): Micro's service name (the package) and
/// endpoint (`Handler.Method`).
pub(crate) fn grpc_route(path: &str) -> Option<(String, String)> {
    let (qualified, method) = path.strip_prefix('/')?.split_once('/')?;
    let (package, handler) = qualified.rsplit_once('.')?;
    if package.is_empty() || handler.is_empty() || method.is_empty() || method.contains('/') {
        return None;
    }
    Some((package.to_owned(), format!("{handler}.{method}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_paths_resolve_to_micro_resources() {
        assert_eq!(
            grpc_route("/store.Store/Read"),
            Some(("store".into(), "Store.Read".into()))
        );
        assert_eq!(
            grpc_route("/go.micro.auth.Auth/Token"),
            Some(("go.micro.auth".into(), "Auth.Token".into()))
        );
        for bad in [
            "",
            "/",
            "/store/Read",
            "/.Store/Read",
            "/store.Store/",
            "/a.B/c/d",
        ] {
            assert_eq!(grpc_route(bad), None, "{bad}");
        }
    }
}
