//! Builds the JSON payload of a call from the HTTP request, after Micro's `requestPayload`:
//! query fields for body-less methods, the JSON body merged over the query fields otherwise,
//! and form bodies as objects of strings. Bodies are read under a size limit.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method};
use futures::StreamExt;
use serde_json::{Map, Value};

use crate::{query, GatewayError};

/// How the request body is to be read, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    /// JSON, the default for any type Micro does not treat specially.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

impl BodyKind {
    /// Classifies the content type, rejecting the binary and envelope formats Micro forwards raw
    /// to gRPC, which a JSON backend cannot take.
    fn from_headers(headers: &HeaderMap) -> Result<BodyKind, GatewayError> {
        let raw = headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let essence = raw
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-www-form-urlencoded" => Ok(BodyKind::Form),
            "multipart/form-data"
            | "application/grpc"
            | "application/grpc+proto"
            | "application/proto"
            | "application/protobuf"
            | "application/proto-rpc"
            | "application/json-rpc"
            | "application/octet-stream" => Err(GatewayError::BadRequest(format!(
                "content type {essence:?} is not supported by the HTTP gateway; \
                 send application/json or application/x-www-form-urlencoded"
            ))),
            _ => Ok(BodyKind::Json),
        }
    }
}

/// Whether Micro reads a body for this method. Other methods send only the query fields.
pub(crate) fn carries_body(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

/// Reads the whole body, failing with `PayloadTooLarge` as soon as it exceeds `limit` bytes
/// (up front when `Content-Length` already says so).
pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, GatewayError> {
    let too_large =
        || GatewayError::PayloadTooLarge(format!("request body exceeds the {limit} byte limit"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            GatewayError::BadRequest(format!("failed to read the request body: {e}"))
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// The payload of a body-less request: the query fields.
pub(crate) fn from_query(raw_query: &str) -> Result<Value, GatewayError> {
    query::to_json(raw_query).map(Value::Object)
}

/// The payload of a request with a body. JSON bodies must be objects; query fields are merged
/// under them (the body wins on conflicts, as Micro's merge-patch order does). An empty body is
/// `{}`. Form bodies, plus the query fields, become an object of strings with repeated keys
/// joined by `,`.
pub(crate) fn from_body(
    headers: &HeaderMap,
    raw_query: &str,
    body: &[u8],
) -> Result<Value, GatewayError> {
    match BodyKind::from_headers(headers)? {
        BodyKind::Form => Ok(Value::Object(form_fields(body, raw_query))),
        BodyKind::Json => {
            let mut fields = query::to_json(raw_query)?;
            merge(&mut fields, json_object(body)?);
            Ok(Value::Object(fields))
        }
    }
}

/// Parses the body as a JSON object; empty (or all-whitespace) bodies are `{}`.
fn json_object(body: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(GatewayError::BadRequest(format!(
            "request body must be a JSON object, got {}",
            json_kind(&other)
        ))),
        Err(e) => Err(GatewayError::BadRequest(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

/// Names a JSON value's type for error messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Deep-merges `patch` into `base`: objects merge key by key, anything else in `patch`
/// replaces what `base` has. Nulls are kept, as in Micro's merge of two merge-patches.
fn merge(base: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Object(incoming) => match base.get_mut(&key) {
                Some(Value::Object(existing)) => merge(existing, incoming),
                _ => {
                    base.insert(key, Value::Object(incoming));
                }
            },
            other => {
                base.insert(key, other);
            }
        }
    }
}

/// Go's `r.Form` flattened as Micro does: body fields first, then query fields, repeated keys
/// joined by `,`, every value a string.
fn form_fields(body: &[u8], raw_query: &str) -> Map<String, Value> {
    let mut joined: Map<String, Value> = Map::new();
    let pairs = form_urlencoded::parse(body).chain(form_urlencoded::parse(raw_query.as_bytes()));
    for (key, value) in pairs {
        match joined.get_mut(key.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                joined.insert(key.into_owned(), Value::String(value.into_owned()));
            }
        }
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(content_type: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        map
    }

    fn compact(value: &Value) -> String {
        serde_json::to_string(value).unwrap()
    }

    #[test]
    fn body_wins_over_query_and_objects_merge() {
        let body = br#"{"a":{"x":1},"b":"body","n":null}"#;
        let value = from_body(&HeaderMap::new(), "a.y=2&b=query&c=3", body).unwrap();
        assert_eq!(
            compact(&value),
            r#"{"a":{"x":1,"y":2},"b":"body","c":3,"n":null}"#
        );
    }

    #[test]
    fn empty_body_is_an_empty_object() {
        assert_eq!(
            compact(&from_body(&HeaderMap::new(), "", b"").unwrap()),
            "{}"
        );
        assert_eq!(
            compact(&from_body(&HeaderMap::new(), "", b" \n").unwrap()),
            "{}"
        );
        assert_eq!(
            compact(&from_body(&HeaderMap::new(), "k=v", b"").unwrap()),
            r#"{"k":"v"}"#
        );
    }

    #[test]
    fn invalid_json_says_where() {
        let err = from_body(&headers("application/json"), "", b"{\"a\":").unwrap_err();
        let GatewayError::BadRequest(detail) = err else {
            panic!("expected BadRequest, got {err:?}");
        };
        assert!(
            detail.starts_with("request body is not valid JSON"),
            "{detail}"
        );
        assert!(detail.contains("line 1 column"), "{detail}");
    }

    #[test]
    fn non_object_json_is_rejected() {
        let err = from_body(&HeaderMap::new(), "", b"[1,2]").unwrap_err();
        assert_eq!(
            err,
            GatewayError::BadRequest("request body must be a JSON object, got an array".into())
        );
    }

    #[test]
    fn form_bodies_are_objects_of_strings() {
        let value = from_body(
            &headers("application/x-www-form-urlencoded; charset=utf-8"),
            "n=3",
            b"name=Jane+Doe&n=5&n=6&ok=true",
        )
        .unwrap();
        assert_eq!(
            compact(&value),
            r#"{"n":"5,6,3","name":"Jane Doe","ok":"true"}"#
        );
    }

    #[test]
    fn binary_content_types_are_rejected() {
        for ct in [
            "application/grpc",
            "application/octet-stream",
            "multipart/form-data; boundary=x",
        ] {
            assert!(
                matches!(
                    from_body(&headers(ct), "", b"x"),
                    Err(GatewayError::BadRequest(_))
                ),
                "{ct}"
            );
        }
    }

    #[test]
    fn only_write_methods_carry_bodies() {
        assert!(carries_body(&Method::POST));
        assert!(carries_body(&Method::DELETE));
        assert!(!carries_body(&Method::GET));
        assert!(!carries_body(&Method::HEAD));
    }
}
