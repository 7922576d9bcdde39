//! Why a call to the server failed, in the words the CLI prints (Micro v3's `CliError` texts).
//!
//! The server may put a Micro error JSON `{"Id","Code","Detail","Status"}` (either key case) in the
//! gRPC status message; when present its `Detail` is what users see.

use serde_json::Value;
use tonic::{Code, Status};

/// A failed RPC, classified by what the user should be told. Exit codes live in `crate::exit`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// No address of the environment accepted a connection.
    #[error("Failed to connect to micro server at {addresses}")]
    Connect {
        /// The addresses tried, comma-separated.
        addresses: String,
    },
    /// Every reachable server answered `Unavailable` (for example: no leader elected yet).
    #[error("Failed to connect to micro server at {address}: {detail}")]
    Unavailable {
        /// The last server that answered.
        address: String,
        /// What it said.
        detail: String,
    },
    /// The key or object does not exist (Micro's `not found`, printed `Not found`).
    #[error("not found")]
    NotFound,
    /// The request did not complete in time.
    #[error("Request timed out")]
    Timeout,
    /// The caller is not authenticated (Micro's 401).
    #[error("Not authorized to perform this request")]
    Unauthorized,
    /// The caller is authenticated but not allowed to do this (Micro's 403), with the detail.
    #[error("{0}")]
    Forbidden(String),
    /// The server refuses to do this now, for example too many login attempts (Micro's 429).
    #[error("{0}")]
    Throttled(String),
    /// The server refused the request as given: bad argument or failed precondition.
    #[error("{0}")]
    Rejected(String),
    /// Any other server error, with its detail.
    #[error("{0}")]
    Server(String),
}

impl RpcError {
    /// Classifies a status returned by a server that was reached. `Unavailable` is handled by the
    /// failover loop, which knows the address; here it becomes [`RpcError::Unavailable`] with an
    /// unknown address.
    pub fn from_status(status: &Status) -> Self {
        let micro = MicroError::parse(status.message());
        let detail = match micro.detail {
            Some(d) if !d.is_empty() => d,
            _ if !status.message().is_empty() => status.message().to_owned(),
            _ => status.code().description().to_owned(),
        };
        match status.code() {
            Code::NotFound => RpcError::NotFound,
            Code::DeadlineExceeded => RpcError::Timeout,
            Code::Unauthenticated => RpcError::Unauthorized,
            Code::Unavailable => RpcError::Unavailable {
                address: "?".into(),
                detail,
            },
            Code::PermissionDenied => RpcError::Forbidden(detail),
            Code::ResourceExhausted => RpcError::Throttled(detail),
            Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::Aborted
            | Code::AlreadyExists
            | Code::OutOfRange => RpcError::Rejected(detail),
            // tonic reports its own client-side timeout this way.
            Code::Cancelled if status.message().contains("Timeout expired") => RpcError::Timeout,
            _ => match micro.code {
                Some(401) => RpcError::Unauthorized,
                Some(403) => RpcError::Forbidden(detail),
                Some(404) => RpcError::NotFound,
                Some(408) => RpcError::Timeout,
                Some(429) => RpcError::Throttled(detail),
                Some(400 | 409 | 412) => RpcError::Rejected(detail),
                _ => RpcError::Server(detail),
            },
        }
    }
}

impl RpcError {
    /// The server's own words, for the errors that carry them (commands that prefix server
    /// errors, like `Error creating account: <detail>`, use this).
    pub fn server_detail(&self) -> Option<&str> {
        match self {
            RpcError::Forbidden(d)
            | RpcError::Throttled(d)
            | RpcError::Rejected(d)
            | RpcError::Server(d) => Some(d),
            RpcError::Connect { .. }
            | RpcError::Unavailable { .. }
            | RpcError::NotFound
            | RpcError::Timeout
            | RpcError::Unauthorized => None,
        }
    }
}

/// The parts of a Micro error JSON we use.
#[derive(Debug, Default, PartialEq, Eq)]
struct MicroError {
    /// `Code`: an HTTP status.
    code: Option<i64>,
    /// `Detail`: the human message.
    detail: Option<String>,
}

impl MicroError {
    /// Reads `{"Id","Code","Detail","Status"}` with keys in any case; anything else is empty.
    fn parse(message: &str) -> Self {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(message.trim()) else {
            return MicroError::default();
        };
        let field = |name: &str| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        MicroError {
            code: field("code").and_then(Value::as_i64),
            detail: field("detail").and_then(Value::as_str).map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_error_json_detail_is_used() {
        let s = Status::failed_precondition(
            r#"{"Id":"store","Code":409,"Detail":"revision mismatch","Status":"Conflict"}"#,
        );
        assert_eq!(
            RpcError::from_status(&s),
            RpcError::Rejected("revision mismatch".into())
        );
        let s = Status::invalid_argument(r#"{"id":"x","code":400,"detail":"bad key"}"#);
        assert_eq!(
            RpcError::from_status(&s),
            RpcError::Rejected("bad key".into())
        );
        let s = Status::internal("plain text");
        assert_eq!(
            RpcError::from_status(&s),
            RpcError::Server("plain text".into())
        );
    }

    #[test]
    fn codes_map_to_micro_messages() {
        assert_eq!(
            RpcError::from_status(&Status::not_found("x")),
            RpcError::NotFound
        );
        assert_eq!(
            RpcError::from_status(&Status::deadline_exceeded("")),
            RpcError::Timeout
        );
        assert_eq!(
            RpcError::from_status(&Status::unauthenticated("")),
            RpcError::Unauthorized
        );
        assert_eq!(
            RpcError::from_status(&Status::aborted("conflict")),
            RpcError::Rejected("conflict".into())
        );
        assert_eq!(RpcError::NotFound.to_string(), "not found");
        assert_eq!(RpcError::Timeout.to_string(), "Request timed out");
    }

    #[test]
    fn auth_refusals_keep_the_servers_detail() {
        let s = Status::resource_exhausted(
            r#"{"Id":"auth","Code":429,"Detail":"Too many login attempts for account admin; try again in 30 seconds","Status":"Too Many Requests"}"#,
        );
        let err = RpcError::from_status(&s);
        assert_eq!(
            err,
            RpcError::Throttled(
                "Too many login attempts for account admin; try again in 30 seconds".into()
            )
        );
        assert_eq!(
            err.to_string(),
            "Too many login attempts for account admin; try again in 30 seconds"
        );
        let s = Status::permission_denied(r#"{"Code":403,"Detail":"access denied to namespace"}"#);
        assert_eq!(
            RpcError::from_status(&s),
            RpcError::Forbidden("access denied to namespace".into())
        );
        // The same codes given only in Micro's JSON.
        let s = Status::unknown(r#"{"Code":429,"Detail":"slow down"}"#);
        assert_eq!(
            RpcError::from_status(&s),
            RpcError::Throttled("slow down".into())
        );
        let s = Status::unknown(r#"{"Code":403,"Detail":"no"}"#);
        assert_eq!(RpcError::from_status(&s), RpcError::Forbidden("no".into()));
        let s = Status::invalid_argument(r#"{"Code":400,"Detail":"Secret not correct"}"#);
        assert_eq!(
            RpcError::from_status(&s).server_detail(),
            Some("Secret not correct")
        );
        assert_eq!(RpcError::Unauthorized.server_detail(), None);
    }

    #[test]
    fn micro_code_is_used_when_grpc_code_is_generic() {
        let s = Status::unknown(r#"{"Code":401,"Detail":"no account"}"#);
        assert_eq!(RpcError::from_status(&s), RpcError::Unauthorized);
        let s = Status::internal(r#"{"Code":408,"Detail":"slow"}"#);
        assert_eq!(RpcError::from_status(&s), RpcError::Timeout);
        let s = Status::internal("");
        assert!(matches!(RpcError::from_status(&s), RpcError::Server(d) if !d.is_empty()));
    }
}
