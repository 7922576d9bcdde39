//! [`BrokerService`]: Micro's `broker.Broker` on both edges. Both methods need an account
//! (else 401 `access denied to namespace`), and its issuer is the namespace of the topic, so
//! accounts of one namespace never see another's messages.
//!
//! Publish copies the request's metadata into the message headers the publisher did not set,
//! as Micro does, except credentials (`authorization`, `cookie`) and transport headers, which
//! would leak tokens to every subscriber or mean nothing to them.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use micro_gateway::GatewayError;
use micro_proto::broker as pb;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Status};

use super::fanout::Fanout;
use super::message::{check_queue, check_topic, Invalid, Message, Topic};
use crate::api::{JsonAnswer, JsonService, JsonStreamAnswer};
use crate::auth::{Caller, Claims};
use crate::error::ApiError;

/// Request headers never copied into a message.
const NOT_COPIED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "accept",
    "accept-encoding",
    "connection",
    "content-length",
    "content-type",
    "host",
    "keep-alive",
    "te",
    "transfer-encoding",
    "upgrade",
    "user-agent",
];

/// Messages of one subscription, until it or the node ends.
pub type Messages = BoxStream<'static, pb::Message>;

/// The broker service of one node.
#[derive(Clone)]
pub struct BrokerService {
    fanout: Arc<Fanout>,
    /// Ends every subscription when the node stops.
    stop: CancellationToken,
}

fn invalid(e: Invalid) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// The caller's account; Micro's broker refuses anonymous callers.
fn account(caller: &Caller) -> Result<&Claims, ApiError> {
    caller
        .account
        .as_ref()
        .ok_or_else(|| ApiError::Unauthorized("access denied to namespace".into()))
}

/// Whether request header `name` is copied into published messages.
fn copied(name: &str) -> bool {
    !NOT_COPIED.contains(&name) && !name.starts_with("grpc-")
}

/// A gRPC request's ASCII metadata as lower-cased names and values (repeats joined by `,`).
fn grpc_metadata(metadata: &tonic::metadata::MetadataMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for entry in metadata.iter() {
        if let tonic::metadata::KeyAndValueRef::Ascii(key, value) = entry {
            let Ok(value) = value.to_str() else { continue };
            out.entry(key.as_str().to_owned())
                .and_modify(|joined| {
                    joined.push(',');
                    joined.push_str(value);
                })
                .or_insert_with(|| value.to_owned());
        }
    }
    out
}

impl BrokerService {
    /// A service over `fanout`; its subscriptions end when `stop` is cancelled.
    pub fn new(fanout: Arc<Fanout>, stop: CancellationToken) -> Self {
        BrokerService { fanout, stop }
    }

    /// Broker.Publish: to every subscriber of the topic in the caller's namespace, on every
    /// node; returns once local subscribers and the members with subscribers have it.
    pub async fn publish(
        &self,
        caller: &Caller,
        metadata: &BTreeMap<String, String>,
        req: pb::PublishRequest,
    ) -> Result<pb::Empty, ApiError> {
        let account = account(caller)?;
        let Some(message) = req.message else {
            return Err(invalid(Invalid::MissingMessage));
        };
        check_topic(&req.topic).map_err(invalid)?;
        let mut header = message.header;
        for (name, value) in metadata {
            if copied(name) {
                header.entry(name.clone()).or_insert_with(|| value.clone());
            }
        }
        let message = Message {
            header,
            body: message.body,
        };
        message.check().map_err(invalid)?;
        let topic = Topic {
            namespace: account.iss.clone(),
            name: req.topic,
        };
        metrics::counter!("micro_broker_published_total").increment(1);
        self.fanout.publish(topic, message).await;
        Ok(pb::Empty {})
    }

    /// Broker.Subscribe: the topic's messages in the caller's namespace, from every node; with
    /// a queue, each message goes to one subscriber of that queue cluster-wide.
    pub async fn subscribe(
        &self,
        caller: &Caller,
        req: pb::SubscribeRequest,
    ) -> Result<Messages, ApiError> {
        let account = account(caller)?;
        check_topic(&req.topic).map_err(invalid)?;
        check_queue(&req.queue).map_err(invalid)?;
        let topic = Topic {
            namespace: account.iss.clone(),
            name: req.topic,
        };
        let queue = (!req.queue.is_empty()).then_some(req.queue);
        let subscription = self
            .fanout
            .subscribe(topic, queue)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(subscription
            .take_until(self.stop.clone().cancelled_owned())
            .map(|m| pb::Message {
                header: m.header.clone(),
                body: m.body.clone(),
            })
            .boxed())
    }
}

crate::handlers::grpc_service!(pb::broker_server::Broker, BrokerService {}
    type SubscribeStream = BoxStream<'static, Result<pb::Message, Status>>;

    async fn publish(
        &self,
        req: Request<pb::PublishRequest>,
    ) -> Result<tonic::Response<pb::Empty>, Status> {
        let caller = crate::auth::admitted(&req)?;
        let metadata = grpc_metadata(req.metadata());
        let answer = BrokerService::publish(self, &caller, &metadata, req.into_inner()).await?;
        Ok(tonic::Response::new(answer))
    }

    async fn subscribe(
        &self,
        req: Request<pb::SubscribeRequest>,
    ) -> Result<tonic::Response<Self::SubscribeStream>, Status> {
        let caller = crate::auth::admitted(&req)?;
        let messages = BrokerService::subscribe(self, &caller, req.into_inner()).await?;
        Ok(tonic::Response::new(messages.map(Ok).boxed()))
    }
);

impl JsonService for BrokerService {
    fn call(
        &self,
        endpoint: &str,
        caller: Caller,
        body: serde_json::Value,
    ) -> Option<JsonAnswer<'_>> {
        self.call_with_metadata(endpoint, caller, &BTreeMap::new(), body)
    }

    fn call_with_metadata(
        &self,
        endpoint: &str,
        caller: Caller,
        metadata: &BTreeMap<String, String>,
        body: serde_json::Value,
    ) -> Option<JsonAnswer<'_>> {
        match endpoint {
            "Broker.Publish" => {
                let metadata = metadata.clone();
                Some(Box::pin(crate::api::json(body, move |r| async move {
                    self.publish(&caller, &metadata, r).await
                })))
            }
            _ => None,
        }
    }

    fn streams(&self, endpoint: &str) -> bool {
        endpoint == "Broker.Subscribe"
    }

    /// Broker.Subscribe over HTTP: each message is a server-sent event holding the message
    /// in Micro's JSON (`{"header":{…},"body":"<base64>"}`).
    fn stream(
        &self,
        endpoint: &str,
        caller: Caller,
        body: serde_json::Value,
    ) -> Option<JsonStreamAnswer<'_>> {
        if endpoint != "Broker.Subscribe" {
            return None;
        }
        Some(Box::pin(async move {
            let req: pb::SubscribeRequest = serde_json::from_value(body)
                .map_err(|e| GatewayError::BadRequest(format!("invalid request: {e}")))?;
            let messages = self.subscribe(&caller, req).await?;
            Ok(messages
                .map(|m| serde_json::to_value(m).map_err(|e| GatewayError::Internal(e.to_string())))
                .boxed())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_transport_headers_are_not_copied() {
        for name in [
            "authorization",
            "cookie",
            "content-type",
            "grpc-timeout",
            "te",
        ] {
            assert!(!copied(name), "{name}");
        }
        for name in ["micro-namespace", "x-request-id", "foobar"] {
            assert!(copied(name), "{name}");
        }
        let mut md = tonic::metadata::MetadataMap::new();
        md.insert("x-a", "1".parse().unwrap());
        md.append("x-a", "2".parse().unwrap());
        md.insert_bin(
            "x-b-bin",
            tonic::metadata::MetadataValue::from_bytes(b"\xff"),
        );
        let got = grpc_metadata(&md);
        assert_eq!(got.get("x-a").map(String::as_str), Some("1,2"));
        assert!(!got.contains_key("x-b-bin"));
    }
}
