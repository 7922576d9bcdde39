//! The node's API error and its two renderings: gRPC statuses and gateway (HTTP) errors.
//!
//! ```text
//! ApiError  ← StoreError (store/convert.rs), ClusterError (below), JSON decode failures
//! ├── tonic::Status   (one exhaustive match; the message is Micro's JSON error body)
//! └── GatewayError    (one exhaustive match; the gateway renders the HTTP body)
//! ```

use micro_gateway::GatewayError;
use micro_raft::ClusterError;

/// Why a request failed, by category. `Clone` so one failed batch answers each of its callers.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// Malformed or invalid request.
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials valid but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// No such key, service or endpoint.
    #[error("{0}")]
    NotFound(String),
    /// A precondition failed; nothing changed.
    #[error("{0}")]
    Conflict(String),
    /// No leader is available to serve the request.
    #[error("{0}")]
    NotLeader(String),
    /// The cluster cannot serve the request now (no quorum).
    #[error("{0}")]
    Unavailable(String),
    /// The node is stopping.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// The caller must slow down (too many failed logins).
    #[error("{0}")]
    TooManyRequests(String),
    /// The request did not complete in time; a write's outcome is unknown.
    #[error("{0}")]
    Timeout(String),
    /// A bug or storage failure.
    #[error("{0}")]
    Internal(String),
    /// The method exists but deliberately does nothing (Micro answers 501 there).
    #[error("{0}")]
    NotImplemented(String),
}

impl ApiError {
    /// Micro's numeric error code (an HTTP status).
    pub fn code(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Timeout(_) => 408,
            ApiError::Conflict(_) => 409,
            ApiError::TooManyRequests(_) => 429,
            ApiError::Internal(_) => 500,
            ApiError::NotImplemented(_) => 501,
            ApiError::NotLeader(_) | ApiError::Unavailable(_) | ApiError::ShuttingDown => 503,
        }
    }

    /// Micro's error body: `{"Id","Code","Detail","Status"}`.
    pub fn micro_json(&self, id: &str) -> String {
        let status = match self.code() {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            408 => "Request Timeout",
            409 => "Conflict",
            429 => "Too Many Requests",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        };
        serde_json::json!({"Id": id, "Code": self.code(), "Detail": self.to_string(), "Status": status}).to_string()
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        let body = e.micro_json("micro");
        match e {
            ApiError::BadRequest(_) => tonic::Status::invalid_argument(body),
            ApiError::Unauthorized(_) => tonic::Status::unauthenticated(body),
            ApiError::Forbidden(_) => tonic::Status::permission_denied(body),
            ApiError::NotFound(_) => tonic::Status::not_found(body),
            ApiError::Conflict(_) => tonic::Status::aborted(body),
            ApiError::TooManyRequests(_) => tonic::Status::resource_exhausted(body),
            ApiError::NotLeader(_) => tonic::Status::unavailable(body),
            ApiError::Unavailable(_) => tonic::Status::unavailable(body),
            ApiError::ShuttingDown => tonic::Status::unavailable(body),
            ApiError::Timeout(_) => tonic::Status::deadline_exceeded(body),
            ApiError::Internal(_) => tonic::Status::internal(body),
            ApiError::NotImplemented(_) => tonic::Status::unimplemented(body),
        }
    }
}

impl From<ApiError> for GatewayError {
    fn from(e: ApiError) -> Self {
        let m = e.to_string();
        match e {
            ApiError::BadRequest(_) => GatewayError::BadRequest(m),
            ApiError::Unauthorized(_) => GatewayError::Unauthorized(m),
            ApiError::Forbidden(_) => GatewayError::Forbidden(m),
            ApiError::NotFound(_) => GatewayError::NotFound(m),
            ApiError::Conflict(_) => GatewayError::Conflict(m),
            ApiError::TooManyRequests(_) => GatewayError::TooManyRequests(m),
            ApiError::NotLeader(_) => GatewayError::Unavailable(m),
            ApiError::Unavailable(_) => GatewayError::Unavailable(m),
            ApiError::ShuttingDown => GatewayError::Unavailable(m),
            ApiError::Timeout(_) => GatewayError::Timeout(m),
            ApiError::Internal(_) => GatewayError::Internal(m),
            ApiError::NotImplemented(_) => GatewayError::NotImplemented(m),
        }
    }
}

impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> Self {
        let m = e.to_string();
        match e {
            ClusterError::NoLeader(_) => ApiError::NotLeader(m),
            ClusterError::Unavailable(_) | ClusterError::Transport(_) => ApiError::Unavailable(m),
            ClusterError::Timeout(_) => ApiError::Timeout(m),
            ClusterError::Refused(_) | ClusterError::JoinRefused(_) => ApiError::Forbidden(m),
            ClusterError::ShuttingDown => ApiError::ShuttingDown,
            ClusterError::Tls(_) | ClusterError::DataDir { .. } | ClusterError::Storage(_) => {
                ApiError::Internal(m)
            }
        }
    }
}

/// A gRPC status from a service as the gateway renders it (streams end with statuses). The
/// status message is Micro's error body when it came from an [`ApiError`].
pub fn status_to_gateway(status: &tonic::Status) -> GatewayError {
    let detail = serde_json::from_str::<serde_json::Value>(status.message())
        .ok()
        .and_then(|v| v.get("Detail").and_then(|d| d.as_str()).map(str::to_owned))
        .unwrap_or_else(|| status.message().to_owned());
    use tonic::Code;
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange => GatewayError::BadRequest(detail),
        Code::Unauthenticated => GatewayError::Unauthorized(detail),
        Code::PermissionDenied => GatewayError::Forbidden(detail),
        Code::NotFound => GatewayError::NotFound(detail),
        Code::Aborted | Code::AlreadyExists | Code::FailedPrecondition => {
            GatewayError::Conflict(detail)
        }
        Code::ResourceExhausted => GatewayError::TooManyRequests(detail),
        Code::DeadlineExceeded => GatewayError::Timeout(detail),
        Code::Unavailable => GatewayError::Unavailable(detail),
        _ => GatewayError::Internal(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_message_is_micro_error_json() {
        let s: tonic::Status = ApiError::NotFound("not found".into()).into();
        assert_eq!(s.code(), tonic::Code::NotFound);
        let v: serde_json::Value = serde_json::from_str(s.message()).unwrap();
        assert_eq!(v["Code"], 404);
        assert_eq!(v["Detail"], "not found");
        assert_eq!(v["Status"], "Not Found");
    }
}
