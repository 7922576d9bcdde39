//! Micro's JSON over gRPC on the proxy: a call whose `content-type` is `application/grpc+json`
//! (or whose `x-content-type` metadata is `application/json`, which clients that cannot change
//! the content type send) carries JSON messages, and is answered by the same JSON dispatch as
//! the HTTP gateway. The dynamic CLI commands (`micro registry getService …`) use it. Runs
//! behind the guard, which has admitted the caller already.

// gRPC answers are `tonic::Status` by nature here; boxing it would only be undone at the edge.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use http_body_util::{BodyExt, Limited, StreamBody};
use micro_gateway::GatewayError;
use tonic::body::BoxBody;
use tonic::codegen::http;
use tonic::Status;

use crate::api::Services;
use crate::auth::{grpc_route, Caller};

/// Routes JSON calls to `services`; protobuf calls pass through untouched.
#[derive(Clone)]
pub struct JsonGrpcLayer {
    services: Arc<Services>,
    max_message: usize,
}

impl JsonGrpcLayer {
    /// A layer answering JSON calls through `services`, accepting messages up to `max_message`.
    pub fn new(services: Arc<Services>, max_message: usize) -> Self {
        JsonGrpcLayer {
            services,
            max_message,
        }
    }
}

impl<S> tower::Layer<S> for JsonGrpcLayer {
    type Service = JsonGrpc<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JsonGrpc {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service that answers JSON calls itself and passes the rest on.
#[derive(Clone)]
pub struct JsonGrpc<S> {
    inner: S,
    layer: JsonGrpcLayer,
}

/// Whether a request carries JSON messages.
fn is_json<B>(req: &http::Request<B>) -> bool {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.to_ascii_lowercase())
            .unwrap_or_default()
    };
    header("content-type").starts_with("application/grpc+json")
        || header("x-content-type").starts_with("application/json")
}

impl<S> tower::Service<http::Request<BoxBody>> for JsonGrpc<S>
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

    fn call(&mut self, req: http::Request<BoxBody>) -> Self::Future {
        if !is_json(&req) {
            let fut = self.inner.call(req);
            return Box::pin(fut);
        }
        let layer = self.layer.clone();
        Box::pin(async move {
            Ok(match answer(&layer, req).await {
                Ok(response) => response,
                Err(status) => status.into_http(),
            })
        })
    }
}

fn gateway_status(e: GatewayError) -> Status {
    let body = serde_json::to_string(&e.body()).unwrap_or_else(|_| e.detail().to_owned());
    let code = match e.status().as_u16() {
        400 | 413 => tonic::Code::InvalidArgument,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        404 => tonic::Code::NotFound,
        408 => tonic::Code::DeadlineExceeded,
        409 => tonic::Code::Aborted,
        429 => tonic::Code::ResourceExhausted,
        503 => tonic::Code::Unavailable,
        _ => tonic::Code::Internal,
    };
    Status::new(code, body)
}

/// Reads the one request message, dispatches it and frames the answer(s).
async fn answer(
    layer: &JsonGrpcLayer,
    req: http::Request<BoxBody>,
) -> Result<http::Response<BoxBody>, Status> {
    let caller = req
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::internal("the request was not admitted"))?;
    let path = req.uri().path().to_owned();
    let (service, endpoint) =
        grpc_route(&path).ok_or_else(|| Status::unimplemented(format!("no such method {path}")))?;
    let body = Limited::new(req.into_body(), layer.max_message + 5)
        .collect()
        .await
        .map_err(|e| Status::invalid_argument(format!("reading the request: {e}")))?
        .to_bytes();
    let request = decode_message(body)?;
    let services = &layer.services;
    if let Some(started) = services
        .stream_admitted(&service, &endpoint, caller.clone(), request.clone())
        .await
    {
        let messages = started.map_err(gateway_status)?;
        let frames = messages
            .map(|m| m.map_err(gateway_status).and_then(|v| frame(&v)))
            .map(Some)
            .chain(stream::once(async { None }));
        return Ok(response(frames));
    }
    let value = services
        .call_admitted(&service, &endpoint, caller, request)
        .await
        .map_err(gateway_status)?;
    let one = stream::iter([Some(frame(&value)), None]);
    Ok(response(one))
}

/// The JSON value of the single request message (`{}` when it is empty).
fn decode_message(mut body: Bytes) -> Result<serde_json::Value, Status> {
    if body.len() < 5 {
        return Err(Status::invalid_argument(
            "the request holds no gRPC message",
        ));
    }
    let compressed = body.get_u8();
    let len = body.get_u32() as usize;
    if compressed != 0 {
        return Err(Status::unimplemented(
            "compressed JSON messages are not supported",
        ));
    }
    if body.len() != len {
        return Err(Status::invalid_argument(
            "the request must hold exactly one gRPC message",
        ));
    }
    if body.is_empty() {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_slice(&body)
        .map_err(|e| Status::invalid_argument(format!("Request is invalid JSON: {e}")))
}

/// A gRPC length-prefixed message holding `v` as JSON.
fn frame(v: &serde_json::Value) -> Result<Bytes, Status> {
    let json = serde_json::to_vec(v).map_err(|e| Status::internal(e.to_string()))?;
    let mut out = BytesMut::with_capacity(json.len() + 5);
    out.put_u8(0);
    out.put_u32(json.len() as u32);
    out.put_slice(&json);
    Ok(out.freeze())
}

/// A streaming response: each `Some(Ok)` is a message; the first error, or the final `None`,
/// ends it with the status trailers.
fn response(
    frames: impl futures::Stream<Item = Option<Result<Bytes, Status>>> + Send + 'static,
) -> http::Response<BoxBody> {
    let body = frames.scan(false, |done, item| {
        if *done {
            return futures::future::ready(None);
        }
        let frame = match item {
            Some(Ok(bytes)) => http_body::Frame::data(bytes),
            Some(Err(status)) => {
                *done = true;
                http_body::Frame::trailers(trailers(&status))
            }
            None => {
                *done = true;
                http_body::Frame::trailers(trailers(&Status::ok("")))
            }
        };
        futures::future::ready(Some(Ok::<_, Status>(frame)))
    });
    let mut res = http::Response::new(BoxBody::new(StreamBody::new(body)));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc+json"),
    );
    res
}

fn trailers(status: &Status) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    // `add_header` fills grpc-status and grpc-message (percent-encoded) as tonic does.
    let _ = status.add_header(&mut map);
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_frame_and_unframe() {
        let v = serde_json::json!({"service": "store"});
        assert_eq!(decode_message(frame(&v).unwrap()).unwrap(), v);
        assert_eq!(
            decode_message(Bytes::from_static(&[0, 0, 0, 0, 0])).unwrap(),
            serde_json::json!({})
        );
        for bad in [
            &b""[..],
            &[0, 0, 0, 0, 9, b'{'],
            &[1, 0, 0, 0, 0],
            &[0, 0, 0, 0, 1, b'x'],
        ] {
            assert!(
                decode_message(Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
