//! Auth on one node: the `auth.*` services, access tokens, the login throttle, and the guard
//! that admits every request on the gateway and the gRPC proxy.

mod guard;
mod layer;
mod limiter;
mod secrets;
mod service;
mod tokens;

pub use guard::{Caller, Guard};
pub(crate) use layer::grpc_route;
pub use layer::GuardLayer;
pub use limiter::LoginLimiter;
pub use service::AuthService;
pub use tokens::{Claims, TokenError, Tokens};

use crate::error::ApiError;

/// Runs a unary gRPC handler with the [`Caller`] the guard admitted, mapping its error to a
/// status: the shape every tonic method of every service shares.
pub async fn with_caller<Req, Resp, F, Fut>(
    req: tonic::Request<Req>,
    handler: F,
) -> Result<tonic::Response<Resp>, tonic::Status>
where
    F: FnOnce(Caller, Req) -> Fut,
    Fut: std::future::Future<Output = Result<Resp, ApiError>>,
{
    let caller = admitted(&req)?;
    Ok(tonic::Response::new(
        handler(caller, req.into_inner()).await?,
    ))
}

/// The caller [`GuardLayer`] stored in the request; a request without one never passed the
/// guard and is refused.
pub fn admitted<Req>(req: &tonic::Request<Req>) -> Result<Caller, ApiError> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ApiError::Unauthorized("the request was not authenticated".into()))
}
