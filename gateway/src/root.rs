//! The routes the gateway answers itself, as Micro's API does: `/` reports the version and
//! `/favicon.ico` is an empty `200`. Every other path is a call (see `call`).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The body of `GET /`: `{"version": "<version>"}`, byte for byte Micro's (with the space after
/// the colon). The version is JSON-escaped so an odd build string cannot break the document.
pub(crate) fn version_body(version: &str) -> String {
    let quoted = serde_json::to_string(version).unwrap_or_else(|_| String::from("\"unknown\""));
    format!("{{\"version\": {quoted}}}")
}

/// Answers `/` with the version body. Micro sets no content type; Go sniffs it as plain text,
/// so that is what is sent here.
pub(crate) fn version(body: &str) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body.to_owned(),
    )
        .into_response()
}

/// Answers `/favicon.ico` with an empty `200`.
pub(crate) async fn favicon() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_body_matches_micro() {
        assert_eq!(version_body("v3.3.0"), r#"{"version": "v3.3.0"}"#);
        assert_eq!(version_body("a\"b"), r#"{"version": "a\"b"}"#);
    }
}
