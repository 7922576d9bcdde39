//! Black-box tests of the gateway router through `tower::ServiceExt::oneshot`, against a fake
//! backend that echoes the `CallRequest` it receives (or fails on request), plus one `serve` run
//! over a real socket.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use futures::future::BoxFuture;
use micro_gateway::{
    router, serve, Backend, CallRequest, ErrorBody, GatewayError, JsonStream, MAX_BODY_BYTES,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Echoes every call as JSON; service `fail` answers with the error its endpoint names.
#[derive(Default)]
struct EchoBackend {
    calls: AtomicUsize,
}

impl Backend for EchoBackend {
    fn call(&self, req: CallRequest) -> BoxFuture<'_, Result<Value, GatewayError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if req.service == "fail" {
                let detail = format!("{} failed", req.endpoint);
                return Err(match req.endpoint.as_str() {
                    "Fail.BadRequest" => GatewayError::BadRequest(detail),
                    "Fail.Unauthorized" => GatewayError::Unauthorized(detail),
                    "Fail.Forbidden" => GatewayError::Forbidden(detail),
                    "Fail.NotFound" => GatewayError::NotFound(detail),
                    "Fail.Conflict" => GatewayError::Conflict(detail),
                    "Fail.PayloadTooLarge" => GatewayError::PayloadTooLarge(detail),
                    "Fail.Timeout" => GatewayError::Timeout(detail),
                    "Fail.Unavailable" => GatewayError::Unavailable(detail),
                    _ => GatewayError::Internal(detail),
                });
            }
            if req.service == "html" {
                return Ok(json!({"html": "<b>&</b>"}));
            }
            Ok(json!({
                "service": req.service,
                "endpoint": req.endpoint,
                "body": req.body,
                "namespace": req.namespace,
                "headers": req.headers,
            }))
        })
    }

    /// Service `ticks` streams its body's `n` numbers, then fails; others do not stream.
    fn stream(&self, req: CallRequest) -> BoxFuture<'_, Result<JsonStream, GatewayError>> {
        Box::pin(async move {
            if req.service != "ticks" {
                return Err(GatewayError::NotFound("no stream here".into()));
            }
            let n = req.body["n"].as_u64().unwrap_or(0);
            let items = (0..n)
                .map(|i| Ok(json!({"tick": i})))
                .chain(std::iter::once(Err(GatewayError::Unavailable(
                    "gone".into(),
                ))));
            Ok(Box::pin(futures::stream::iter(items)) as JsonStream)
        })
    }
}

fn app() -> (axum::Router, Arc<EchoBackend>) {
    let backend = Arc::new(EchoBackend::default());
    (router(backend.clone(), "v3.3.0"), backend)
}

async fn send(request: Request<Body>) -> (Response, Vec<u8>) {
    let (app, _) = app();
    let response = app.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap().to_vec();
    (Response::from_parts(parts, Body::empty()), bytes)
}

async fn get(uri: &str) -> (Response, Vec<u8>) {
    send(Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(uri: &str, content_type: &str, body: impl Into<Body>) -> (Response, Vec<u8>) {
    send(
        Request::post(uri)
            .header("content-type", content_type)
            .body(body.into())
            .unwrap(),
    )
    .await
}

fn echoed(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn error_body(bytes: &[u8]) -> ErrorBody {
    let value: Value = serde_json::from_slice(bytes).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{value}");
    for key in ["Id", "Code", "Detail", "Status"] {
        assert!(value.get(key).is_some(), "missing {key} in {value}");
    }
    serde_json::from_value(value).unwrap()
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test]
async fn streaming_calls_are_server_sent_events() {
    let request = |path: &str| {
        Request::get(path)
            .header("accept", "text/event-stream")
            .body(Body::empty())
            .unwrap()
    };
    let (response, body) = send(request("/ticks/stream?n=2")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), "text/event-stream");
    let text = String::from_utf8(body).unwrap();
    assert_eq!(
        text,
        "data: {\"tick\":0}\n\ndata: {\"tick\":1}\n\nevent: error\ndata: \
         {\"Id\":\"ticks\",\"Code\":503,\"Detail\":\"gone\",\"Status\":\"Service Unavailable\"}\n\n"
    );
    // Failing before the stream starts is a plain Micro error response.
    let (response, body) = send(request("/echo/stream")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_body(&body).detail, "no stream here");
}

#[tokio::test]
async fn root_reports_the_version() {
    let (response, body) = get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body, br#"{"version": "v3.3.0"}"#);
}

#[tokio::test]
async fn favicon_is_empty() {
    let (response, body) = get("/favicon.ico").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body.is_empty());
}

#[tokio::test]
async fn paths_resolve_to_service_and_endpoint() {
    let table = [
        ("/foo", "foo", "Foo.Call"),
        ("/foo/bar", "foo", "Foo.Bar"),
        ("/v1/foo/bar", "v1.foo", "Foo.Bar"),
        ("/foo/bar/baz", "foo", "Bar.Baz"),
        ("/foo/bar/baz/cat", "foo.bar", "Baz.Cat"),
        (
            "/registry/list-services",
            "registry",
            "Registry.ListServices",
        ),
        (
            "/registry/listServices",
            "registry",
            "Registry.ListServices",
        ),
    ];
    for (path, service, endpoint) in table {
        let (response, body) = get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let value = echoed(&body);
        assert_eq!(value["service"], service, "{path}");
        assert_eq!(value["endpoint"], endpoint, "{path}");
    }
}

#[tokio::test]
async fn bad_path_segments_are_400() {
    for path in ["/foo//bar", "/foo/b%20r", "/foo/bar!", "/foo/../bar"] {
        let (response, body) = get(path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let error = error_body(&body);
        assert_eq!(error.code, 400);
        assert_eq!(error.status, "Bad Request");
    }
}

#[tokio::test]
async fn get_query_becomes_json() {
    let (response, body) =
        get("/helloworld?name=Jane&n=5&ok=true&a.b=1&c[d]=2&list[]=x&list[]=y").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), "application/json");
    assert_eq!(
        echoed(&body)["body"],
        json!({"name": "Jane", "n": 5, "ok": true, "a": {"b": 1}, "c": {"d": 2}, "list": ["x", "y"]})
    );
}

#[tokio::test]
async fn get_without_query_is_empty_object() {
    let (_, body) = get("/store/list").await;
    assert_eq!(echoed(&body)["body"], json!({}));
}

#[tokio::test]
async fn post_body_is_merged_with_query() {
    let (response, body) = post(
        "/store/write?record.key=fromquery&extra=1",
        "application/json",
        r#"{"record":{"value":"v"},"extra":2}"#,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        echoed(&body)["body"],
        json!({"record": {"key": "fromquery", "value": "v"}, "extra": 2})
    );
}

#[tokio::test]
async fn post_without_body_is_empty_object() {
    let (_, body) = post("/store/list", "application/json", "").await;
    assert_eq!(echoed(&body)["body"], json!({}));
}

#[tokio::test]
async fn form_bodies_become_strings() {
    let (_, body) = post(
        "/helloworld",
        "application/x-www-form-urlencoded",
        "name=Jane&n=5",
    )
    .await;
    assert_eq!(echoed(&body)["body"], json!({"name": "Jane", "n": "5"}));
}

#[tokio::test]
async fn malformed_json_is_400_with_micro_error() {
    let (response, body) = post("/store/write", "application/json", r#"{"key": "#).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&response, "content-type"), "application/json");
    let error = error_body(&body);
    assert_eq!(error.id, "micro.gateway.bad_request");
    assert_eq!(error.code, 400);
    assert_eq!(error.status, "Bad Request");
    assert!(
        error.detail.contains("not valid JSON") && error.detail.contains("line 1 column"),
        "{}",
        error.detail
    );
}

#[tokio::test]
async fn non_object_json_is_400() {
    let (response, body) = post("/store/write", "application/json", "[1,2,3]").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(error_body(&body).detail.contains("must be a JSON object"));
}

#[tokio::test]
async fn oversized_body_is_413_json() {
    let big = vec![b' '; MAX_BODY_BYTES + 1];

    // Declared up front with Content-Length.
    let declared = Request::post("/store/write")
        .header("content-type", "application/json")
        .header("content-length", big.len().to_string())
        .body(Body::from(big.clone()))
        .unwrap();
    // Streamed without a length, so the limit trips while reading.
    let chunks = big
        .chunks(64 * 1024)
        .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
        .collect::<Vec<_>>();
    let streamed = Request::post("/store/write")
        .header("content-type", "application/json")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();

    for request in [declared, streamed] {
        let (response, body) = send(request).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(header(&response, "content-type"), "application/json");
        let error = error_body(&body);
        assert_eq!(error.code, 413);
        assert_eq!(error.id, "micro.gateway.payload_too_large");
    }
}

#[tokio::test]
async fn body_at_the_limit_is_accepted() {
    let mut body = vec![b' '; MAX_BODY_BYTES - 2];
    body.extend_from_slice(b"{}");
    let (response, _) = post("/store/write", "application/json", body).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn options_is_empty_200_and_never_reaches_backend() {
    let (app, backend) = app();
    for path in ["/", "/store/read", "/foo//bad"] {
        let response = app
            .clone()
            .oneshot(
                Request::builder()
                    .method(Method::OPTIONS)
                    .uri(path)
                    .header("origin", "https://example.com")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            "https://example.com"
        );
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert!(body.is_empty());
    }
    assert_eq!(backend.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cors_headers_on_every_response() {
    let responses = [
        get("/").await.0,
        get("/store/read").await.0,
        get("/fail/not-found").await.0,
        post("/x", "application/json", "nope").await.0,
    ];
    for response in &responses {
        assert_eq!(header(response, "access-control-allow-origin"), "*");
        assert_eq!(header(response, "access-control-allow-credentials"), "true");
        assert_eq!(
            header(response, "access-control-allow-methods"),
            "POST, PATCH, GET, OPTIONS, PUT, DELETE"
        );
        assert_eq!(
            header(response, "access-control-allow-headers"),
            "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, Micro-Namespace"
        );
    }
}

#[tokio::test]
async fn headers_and_namespace_are_passed_on() {
    let (_, body) = send(
        Request::get("/helloworld")
            .header("Micro-Namespace", "foo")
            .header("X-Custom", "abc")
            .header("Authorization", "Bearer t")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let value = echoed(&body);
    assert_eq!(value["namespace"], "foo");
    assert_eq!(value["headers"]["micro-namespace"], "foo");
    assert_eq!(value["headers"]["x-custom"], "abc");
    assert_eq!(value["headers"]["authorization"], "Bearer t");

    let (_, body) = get("/helloworld").await;
    assert_eq!(echoed(&body)["namespace"], Value::Null);
}

#[tokio::test]
async fn responses_are_compact_and_not_html_escaped() {
    let (response, body) = get("/html").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body, br#"{"html":"<b>&</b>"}"#);
}

#[tokio::test]
async fn backend_errors_map_to_status_codes() {
    let table = [
        ("bad-request", 400, "Bad Request"),
        ("unauthorized", 401, "Unauthorized"),
        ("forbidden", 403, "Forbidden"),
        ("not-found", 404, "Not Found"),
        ("conflict", 409, "Conflict"),
        ("payload-too-large", 413, "Request Entity Too Large"),
        ("timeout", 408, "Request Timeout"),
        ("unavailable", 503, "Service Unavailable"),
        ("internal", 500, "Internal Server Error"),
    ];
    for (endpoint, code, status) in table {
        let (response, body) = get(&format!("/fail/{endpoint}")).await;
        assert_eq!(response.status().as_u16(), code, "{endpoint}");
        assert_eq!(header(&response, "content-type"), "application/json");
        let error = error_body(&body);
        assert_eq!(error.code, code);
        assert_eq!(error.status, status);
        assert!(error.detail.ends_with("failed"), "{}", error.detail);
    }
}

#[tokio::test]
async fn serve_answers_and_stops_on_cancel() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve(
        listener,
        Arc::new(EchoBackend::default()),
        "v9.9.9".to_owned(),
        stop.clone(),
    ));

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.ends_with(r#"{"version": "v9.9.9"}"#), "{raw}");

    stop.cancel();
    let result = tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("serve did not stop after cancel")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}
