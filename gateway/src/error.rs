//! `GatewayError`, the one error type of the gateway, and its rendering as Micro's error JSON
//! (`{"Id", "Code", "Detail", "Status"}`, the v3.0–3.9 key case) with the matching HTTP status.
//! Backends return it too, so a backend failure reaches the client in the same shape.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// Why a gateway request failed. Each variant carries the human-readable detail sent to the
/// client and maps to exactly one HTTP status (see [`GatewayError::status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The request itself is malformed: bad path, invalid JSON, unsupported content type.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No (valid) credentials were presented for a call that needs them.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The caller is known but not allowed to make this call.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The service, endpoint or resource does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The call conflicts with current state (already exists, version mismatch).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request body is larger than the gateway accepts.
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// The call did not finish in time.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The caller must slow down (too many failed logins).
    #[error("too many requests: {0}")]
    TooManyRequests(String),
    /// The backend cannot serve the call right now (no leader, shutting down).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or unexpected failure inside the gateway or the backend.
    #[error("internal error: {0}")]
    Internal(String),
    /// The endpoint exists but deliberately does nothing (Micro's 501 answers).
    #[error("not implemented: {0}")]
    NotImplemented(String),
}

/// Micro's error body as it appears on the wire. Field order and key case follow Micro v3.0–3.9
/// (`service/errors/errors.go`), which the CLI and Micro's tests (`"Code"`) rely on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable identifier of the error kind, e.g. `micro.gateway.not_found`.
    #[serde(rename = "Id")]
    pub id: String,
    /// The HTTP status code, repeated in the body as Micro does.
    #[serde(rename = "Code")]
    pub code: u16,
    /// Human-readable cause.
    #[serde(rename = "Detail")]
    pub detail: String,
    /// The HTTP reason phrase of `code`, spelled as Go's `http.StatusText`.
    #[serde(rename = "Status")]
    pub status: String,
}

/// The fixed facts about one variant: stable id, HTTP status and Go's reason phrase for it.
struct Kind {
    id: &'static str,
    status: StatusCode,
    reason: &'static str,
}

impl GatewayError {
    /// The one exhaustive mapping from variant to id, status and reason phrase. A new variant
    /// fails to compile here instead of silently becoming a 500.
    fn kind(&self) -> Kind {
        let (id, status, reason) = match self {
            Self::BadRequest(_) => (
                "micro.gateway.bad_request",
                StatusCode::BAD_REQUEST,
                "Bad Request",
            ),
            Self::Unauthorized(_) => (
                "micro.gateway.unauthorized",
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
            ),
            Self::Forbidden(_) => (
                "micro.gateway.forbidden",
                StatusCode::FORBIDDEN,
                "Forbidden",
            ),
            Self::NotFound(_) => (
                "micro.gateway.not_found",
                StatusCode::NOT_FOUND,
                "Not Found",
            ),
            Self::Conflict(_) => ("micro.gateway.conflict", StatusCode::CONFLICT, "Conflict"),
            // Go's http.StatusText(413); the `http` crate says "Payload Too Large".
            Self::PayloadTooLarge(_) => (
                "micro.gateway.payload_too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Entity Too Large",
            ),
            Self::Timeout(_) => (
                "micro.gateway.timeout",
                StatusCode::REQUEST_TIMEOUT,
                "Request Timeout",
            ),
            Self::TooManyRequests(_) => (
                "micro.gateway.too_many_requests",
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
            ),
            Self::Unavailable(_) => (
                "micro.gateway.unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
            ),
            Self::Internal(_) => (
                "micro.gateway.internal",
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            ),
            Self::NotImplemented(_) => (
                "micro.gateway.not_implemented",
                StatusCode::NOT_IMPLEMENTED,
                "Not Implemented",
            ),
        };
        Kind { id, status, reason }
    }

    /// The stable identifier sent as `Id`.
    pub fn id(&self) -> &'static str {
        self.kind().id
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.kind().status
    }

    /// The message sent as `Detail`, without the variant prefix that `Display` adds.
    pub fn detail(&self) -> &str {
        match self {
            Self::BadRequest(detail)
            | Self::Unauthorized(detail)
            | Self::Forbidden(detail)
            | Self::NotFound(detail)
            | Self::Conflict(detail)
            | Self::PayloadTooLarge(detail)
            | Self::Timeout(detail)
            | Self::TooManyRequests(detail)
            | Self::Unavailable(detail)
            | Self::Internal(detail)
            | Self::NotImplemented(detail) => detail,
        }
    }

    /// The wire body for this error.
    pub fn body(&self) -> ErrorBody {
        self.body_with_id(self.id())
    }

    /// The wire body with another `Id`: Micro puts the name of the service that failed there.
    pub fn body_with_id(&self, id: &str) -> ErrorBody {
        let kind = self.kind();
        ErrorBody {
            id: id.to_owned(),
            code: kind.status.as_u16(),
            detail: self.detail().to_owned(),
            status: kind.reason.to_owned(),
        }
    }

    /// Renders the error as Micro does: status = `Code`, JSON body, `application/json`.
    pub fn render(&self) -> Response {
        self.render_with_id(self.id())
    }

    /// Renders the error with `id` as its `Id` (see [`GatewayError::body_with_id`]).
    pub fn render_with_id(&self, id: &str) -> Response {
        let body = self.body_with_id(id);
        // Serializing four plain fields cannot fail; fall back to a fixed body rather than panic.
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| {
            br#"{"Id":"micro.gateway.internal","Code":500,"Detail":"error body","Status":"Internal Server Error"}"#
                .to_vec()
        });
        (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response()
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        self.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<(GatewayError, u16, &'static str)> {
        let m = || "why".to_owned();
        vec![
            (GatewayError::BadRequest(m()), 400, "Bad Request"),
            (GatewayError::Unauthorized(m()), 401, "Unauthorized"),
            (GatewayError::Forbidden(m()), 403, "Forbidden"),
            (GatewayError::NotFound(m()), 404, "Not Found"),
            (GatewayError::Conflict(m()), 409, "Conflict"),
            (
                GatewayError::PayloadTooLarge(m()),
                413,
                "Request Entity Too Large",
            ),
            (GatewayError::Timeout(m()), 408, "Request Timeout"),
            (GatewayError::TooManyRequests(m()), 429, "Too Many Requests"),
            (GatewayError::Unavailable(m()), 503, "Service Unavailable"),
            (GatewayError::Internal(m()), 500, "Internal Server Error"),
            (GatewayError::NotImplemented(m()), 501, "Not Implemented"),
        ]
    }

    #[test]
    fn every_variant_has_its_status_and_reason() {
        for (error, code, reason) in all() {
            let body = error.body();
            assert_eq!(error.status().as_u16(), code);
            assert_eq!(body.code, code);
            assert_eq!(body.status, reason);
            assert_eq!(body.detail, "why");
            assert!(body.id.starts_with("micro.gateway."), "{}", body.id);
        }
    }

    #[test]
    fn ids_are_distinct() {
        let mut ids: Vec<_> = all().iter().map(|(e, _, _)| e.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all().len());
    }

    #[test]
    fn body_uses_micro_key_case_in_order() {
        let json = serde_json::to_string(&GatewayError::NotFound("no such service".into()).body())
            .unwrap();
        assert_eq!(
            json,
            r#"{"Id":"micro.gateway.not_found","Code":404,"Detail":"no such service","Status":"Not Found"}"#
        );
    }
}
