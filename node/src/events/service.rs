//! [`EventsService`]: Micro's `events.Stream` and `events.Store`. Every method needs an admin
//! of namespace `micro` (events are not namespaced), as in Micro. The tonic impls and the HTTP
//! dispatch share the methods; Consume is a bidirectional gRPC stream, or server-sent events
//! over HTTP.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use micro_proto::events as pb;
use micro_raft::Cluster;
use micro_state_machine::events::{
    self, validate_event, validate_id, validate_name, EventsCommand, EventsResponse, NewEvent,
};
use micro_state_machine::{Command, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Status, Streaming};

use super::consumer::{AckMsg, Acks, Consumer, Inbound, Outbox, ACK_BUFFER, OUTBOX};
use super::convert::{self, consume_spec, events_error};
use super::publisher::Publisher;
use super::{ephemeral, group};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::namespace::DEFAULT_NAMESPACE;

/// Events returned by a read that asks for none (Micro's default).
const DEFAULT_READ_LIMIT: u64 = 250;
/// The most events one read returns.
const MAX_READ_LIMIT: u64 = 1000;
/// How long a Consume call may wait for the client's first message.
const FIRST_MESSAGE: std::time::Duration = std::time::Duration::from_secs(30);

/// The events service of one node.
#[derive(Clone)]
pub struct EventsService {
    cluster: Arc<Cluster>,
    publisher: Publisher,
    /// Ends every consumer when the node stops, so streams do not hold the edges open.
    stop: CancellationToken,
    /// Runs the consumers (and the readers of their clients' messages), so shutdown waits
    /// for them to settle.
    tracker: TaskTracker,
}

/// A consumer's deliveries, as the edges stream them.
type Deliveries = ReceiverStream<Result<pb::Event, ApiError>>;

impl EventsService {
    /// A service answering through `cluster`; its batcher runs on `tracker` until `stop`.
    pub fn new(cluster: Arc<Cluster>, tracker: &TaskTracker, stop: CancellationToken) -> Self {
        EventsService {
            publisher: Publisher::start(cluster.clone(), tracker, stop.clone()),
            cluster,
            stop,
            tracker: tracker.clone(),
        }
    }

    async fn propose(&self, cmd: EventsCommand) -> Result<EventsResponse, ApiError> {
        match self.cluster.write(Command::Events(cmd)).await? {
            Response::Events(EventsResponse::Err(e)) => Err(events_error(e)),
            Response::Events(r) => Ok(r),
            other => Err(ApiError::Internal(format!(
                "an events command produced {other:?}"
            ))),
        }
    }

    /// Stream.Publish: appends the event once committed on a quorum; answers its id and
    /// sequence (extensions).
    pub async fn publish(
        &self,
        caller: &Caller,
        req: pb::PublishRequest,
    ) -> Result<pb::PublishResponse, ApiError> {
        caller.authorize_admin(DEFAULT_NAMESPACE)?;
        validate_name("topic", &req.topic).map_err(events_error)?;
        if req.timestamp < 0 {
            return Err(ApiError::BadRequest(
                "timestamp must not be negative".into(),
            ));
        }
        let dedupe = !req.id.is_empty();
        let id = if dedupe {
            validate_id(&req.id).map_err(events_error)?;
            req.id
        } else {
            uuid::Uuid::new_v4().to_string()
        };
        let event = NewEvent {
            topic: req.topic,
            id: id.clone(),
            payload: req.payload,
            metadata: req.metadata.into_iter().collect(),
            // As Micro's publisher does: the time of publishing unless the caller gives one.
            // The wall clock, not the cluster clock, which lags real time after an outage.
            timestamp: Some(if req.timestamp > 0 {
                req.timestamp
            } else {
                i64::try_from(micro_raft::now_ms() / 1000).unwrap_or(i64::MAX)
            }),
            dedupe,
        };
        validate_event(&event).map_err(events_error)?;
        let appended = self.publisher.submit(event).await?;
        Ok(pb::PublishResponse {
            id,
            sequence: appended.seq,
            duplicate: appended.duplicate,
        })
    }

    /// Starts a consumer for `req` that sends to `out`, taking acknowledgements from `acks`,
    /// until `stop` (which it cancels when it ends). Errors in the request, and a start past
    /// the end of an ephemeral consumer's topic, are answered here, before any delivery.
    async fn consume(
        &self,
        caller: &Caller,
        req: pb::ConsumeRequest,
        acks: Option<mpsc::Receiver<Inbound>>,
        out: Outbox,
        stop: CancellationToken,
    ) -> Result<(), ApiError> {
        caller.authorize_admin(DEFAULT_NAMESPACE)?;
        let spec = consume_spec(&req)?;
        let start = match &spec.group {
            Some(_) => None,
            None => {
                self.cluster.read_barrier().await?;
                let reader = self.cluster.reader();
                Some(events::resolve_start(reader, &spec.topic, spec.start).map_err(events_error)?)
            }
        };
        let group = spec.group.clone();
        let consumer = Consumer {
            cluster: self.cluster.clone(),
            spec,
            out,
            stop,
        };
        let acks = Acks(acks);
        match (group, start) {
            (Some(g), _) => self.tracker.spawn(group::run(consumer, acks, g)),
            (None, Some(cursor)) => self.tracker.spawn(ephemeral::run(consumer, acks, cursor)),
            (None, None) => return Err(ApiError::Internal("no start for a consumer".into())),
        };
        Ok(())
    }

    /// Stream.Consume over gRPC: the first message starts consuming; later ones may carry
    /// acknowledgements, or ask to close. A message that does not decode ends the stream with
    /// an error, since its acknowledgement would otherwise be lost silently.
    async fn consume_grpc(
        &self,
        caller: &Caller,
        mut inbound: Streaming<pb::ConsumeRequest>,
    ) -> Result<Deliveries, ApiError> {
        let first = tokio::time::timeout(FIRST_MESSAGE, inbound.message())
            .await
            .map_err(|_| ApiError::BadRequest("no ConsumeRequest was sent in time".into()))?
            .map_err(|s| ApiError::BadRequest(s.message().to_owned()))?
            .ok_or_else(|| ApiError::BadRequest("no ConsumeRequest was sent".into()))?;
        let (ack_tx, ack_rx) = mpsc::channel(ACK_BUFFER);
        let (out, deliveries) = mpsc::channel(OUTBOX);
        let stop = self.stop.child_token();
        self.consume(caller, first, Some(ack_rx), out.clone(), stop.clone())
            .await?;
        self.tracker.spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = stop.cancelled() => return,
                    next = inbound.message() => next,
                };
                match next {
                    Ok(Some(m)) => {
                        let msg = match (m.close, m.ack) {
                            (true, _) => Inbound::Close,
                            (false, Some(ack)) => Inbound::Ack(AckMsg::from(ack)),
                            (false, None) => continue,
                        };
                        if ack_tx.send(msg.clone()).await.is_err() || msg == Inbound::Close {
                            return;
                        }
                    }
                    // The client closed its side: deliveries go on, acks are over.
                    Ok(None) => return,
                    Err(status) => {
                        let e = ApiError::BadRequest(format!(
                            "a message on the Consume stream is not a ConsumeRequest ({}); \
                             acknowledge with ConsumeRequest.ack",
                            status.message()
                        ));
                        let _ = out.send(Err(e)).await;
                        stop.cancel();
                        return;
                    }
                }
            }
        });
        Ok(ReceiverStream::new(deliveries))
    }

    /// Stream.Consume over HTTP (server-sent events). Acknowledgements cannot travel on the
    /// stream, so a consumer must either auto-ack or use a group (acking with Stream.Ack).
    pub async fn consume_sse(
        &self,
        caller: &Caller,
        req: pb::ConsumeRequest,
    ) -> Result<Deliveries, ApiError> {
        if req.group.is_empty() && !req.auto_ack {
            return Err(ApiError::BadRequest(
                "an HTTP consumer cannot acknowledge on its stream: set auto_ack, or consume \
                 with a group and acknowledge with /events/stream/ack"
                    .into(),
            ));
        }
        let (out, deliveries) = mpsc::channel(OUTBOX);
        self.consume(caller, req, None, out, self.stop.child_token())
            .await?;
        Ok(ReceiverStream::new(deliveries))
    }

    /// Stream.Ack (extension): settles one delivery to a named group, by sequence or id.
    /// Settling a delivery that is not pending (already acknowledged, or dropped) succeeds.
    pub async fn ack(
        &self,
        caller: &Caller,
        req: pb::AckRequest,
    ) -> Result<pb::AckResponse, ApiError> {
        caller.authorize_admin(DEFAULT_NAMESPACE)?;
        validate_name("topic", &req.topic).map_err(events_error)?;
        validate_name("group", &req.group).map_err(events_error)?;
        let seq = match (req.sequence, req.id.as_str()) {
            (0, "") => return Err(ApiError::BadRequest("id or sequence is required".into())),
            (0, id) => {
                self.cluster.read_barrier().await?;
                events::pending_by_id(self.cluster.reader(), &req.topic, &req.group, id)
                    .map_err(events_error)?
                    .ok_or_else(|| {
                        ApiError::NotFound(format!(
                            "group {:?} has no pending delivery of event {id:?} in topic {:?}",
                            req.group, req.topic
                        ))
                    })?
            }
            (seq, _) => seq,
        };
        self.propose(EventsCommand::Ack {
            topic: req.topic,
            group: req.group,
            seqs: vec![seq],
            success: req.success,
        })
        .await?;
        Ok(pb::AckResponse {})
    }

    /// Store.Read: up to `limit` (0 = 250, at most 1000) retained events in log order after
    /// skipping `offset`. An unknown topic, or an offset past the end, reads nothing.
    pub async fn read(
        &self,
        caller: &Caller,
        req: pb::ReadRequest,
    ) -> Result<pb::ReadResponse, ApiError> {
        caller.authorize_admin(DEFAULT_NAMESPACE)?;
        validate_name("topic", &req.topic).map_err(events_error)?;
        let limit = match req.limit {
            0 => DEFAULT_READ_LIMIT,
            n => n.min(MAX_READ_LIMIT),
        };
        self.cluster.read_barrier().await?;
        let found = events::read(
            self.cluster.reader(),
            &req.topic,
            req.offset,
            usize::try_from(limit).unwrap_or(usize::MAX),
        )
        .map_err(events_error)?;
        Ok(pb::ReadResponse {
            events: found
                .into_iter()
                .map(|v| convert::event(&req.topic, v.seq, 0, v.event))
                .collect(),
        })
    }

    /// Store.Read over HTTP: a negative `limit` or `offset` gets its own message before the
    /// body is decoded (protobuf's unsigned fields would only say the JSON does not match).
    pub async fn read_json(
        &self,
        caller: &Caller,
        body: serde_json::Value,
    ) -> Result<pb::ReadResponse, ApiError> {
        for field in ["limit", "offset"] {
            let negative = match &body[field] {
                serde_json::Value::Number(n) => n.as_i64().is_some_and(|n| n < 0),
                serde_json::Value::String(s) => s.trim_start().starts_with('-'),
                _ => false,
            };
            if negative {
                return Err(ApiError::BadRequest(format!(
                    "{field} must not be negative"
                )));
            }
        }
        let req = serde_json::from_value(body)
            .map_err(|e| ApiError::BadRequest(format!("invalid request: {e}")))?;
        self.read(caller, req).await
    }

    /// Store.Write: refused, as in Micro.
    pub async fn write(
        &self,
        caller: &Caller,
        _req: pb::WriteRequest,
    ) -> Result<pb::WriteResponse, ApiError> {
        caller.authorize_admin(DEFAULT_NAMESPACE)?;
        Err(ApiError::NotImplemented(
            "Writing to the store directly is not supported".into(),
        ))
    }

    /// Store.Topics (extension): every topic with its retained range, size and retention.
    pub async fn topics(
        &self,
        caller: &Caller,
        _req: pb::TopicsRequest,
    ) -> Result<pb::TopicsResponse, ApiError> {
        caller.authorize_admin(DEFAULT_NAMESPACE)?;
        self.cluster.read_barrier().await?;
        let topics = events::topics(self.cluster.reader()).map_err(events_error)?;
        Ok(pb::TopicsResponse {
            topics: topics
                .into_iter()
                .map(|(topic, m)| {
                    let groups = events::groups(self.cluster.reader(), &topic)
                        .map_err(events_error)?
                        .into_iter()
                        .map(|(group, g)| pb::GroupInfo {
                            group,
                            cursor: g.cursor,
                            pending: g.pending,
                            dropped: g.dropped,
                        })
                        .collect();
                    Ok(pb::TopicInfo {
                        first_sequence: m.first_seq,
                        next_sequence: m.next_seq,
                        count: m.count(),
                        bytes: m.bytes,
                        retention: Some(convert::retention_pb(&m.retention)),
                        groups,
                        topic,
                    })
                })
                .collect::<Result<_, ApiError>>()?,
        })
    }

    /// Store.SetRetention (extension): replaces a topic's retention; what it no longer keeps
    /// is removed (up to 10,000 events at once, the rest by the retention worker).
    pub async fn set_retention(
        &self,
        caller: &Caller,
        req: pb::SetRetentionRequest,
    ) -> Result<pb::SetRetentionResponse, ApiError> {
        caller.authorize_admin(DEFAULT_NAMESPACE)?;
        validate_name("topic", &req.topic).map_err(events_error)?;
        let retention = req
            .retention
            .as_ref()
            .map(convert::retention)
            .ok_or_else(|| ApiError::BadRequest("retention is required".into()))?;
        match self
            .propose(EventsCommand::SetRetention {
                topic: req.topic,
                retention,
            })
            .await?
        {
            EventsResponse::RetentionSet { trimmed } => {
                Ok(pb::SetRetentionResponse { removed: trimmed })
            }
            other => Err(ApiError::Internal(format!(
                "unexpected events response {other:?}"
            ))),
        }
    }
}

type ConsumeStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

/// A delivery as tonic streams it; the item type is tonic's, large error and all.
#[allow(clippy::result_large_err)]
fn status_of(item: Result<pb::Event, ApiError>) -> Result<pb::Event, Status> {
    item.map_err(Status::from)
}

crate::handlers::grpc_service!(pb::stream_server::Stream, EventsService {
    publish => publish(pb::PublishRequest) -> pb::PublishResponse;
    ack => ack(pb::AckRequest) -> pb::AckResponse;
}
    type ConsumeStream = ConsumeStream;

    async fn consume(
        &self,
        req: Request<Streaming<pb::ConsumeRequest>>,
    ) -> Result<tonic::Response<ConsumeStream>, Status> {
        let caller = crate::auth::admitted(&req)?;
        let deliveries = EventsService::consume_grpc(self, &caller, req.into_inner()).await?;
        let stream: ConsumeStream = Box::pin(deliveries.map(status_of));
        Ok(tonic::Response::new(stream))
    }
);

crate::handlers::grpc_service!(pb::store_server::Store, EventsService {
    read => read(pb::ReadRequest) -> pb::ReadResponse;
    write => write(pb::WriteRequest) -> pb::WriteResponse;
    topics => topics(pb::TopicsRequest) -> pb::TopicsResponse;
    set_retention => set_retention(pb::SetRetentionRequest) -> pb::SetRetentionResponse;
});

crate::handlers::json_service!(EventsService {
    "Stream.Publish" => publish,
    "Stream.Ack" => ack,
    "Store.Read" => read_json,
    "Store.Write" => write,
    "Store.Topics" => topics,
    "Store.SetRetention" => set_retention,
} streams {
    "Stream.Consume" => consume_sse,
});
