//! Conversions between the `events` protobuf messages and the state machine's types, and the
//! defaults and limits of consumer options.

use std::time::Duration;

use micro_proto::events as pb;
use micro_state_machine::events::{
    validate_name, EventsError, Retention, StartPosition, StoredEvent,
};

use crate::error::ApiError;

/// Ack wait when the consumer gives none (NATS Streaming's and Micro's memory stream's 30 s).
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
/// The shortest ack wait honoured: shorter ones are raised to it, so a consumer that never
/// acks cannot turn redelivery into a stream of raft writes.
pub const MIN_ACK_WAIT: Duration = Duration::from_millis(100);
/// Deliveries a consumer may hold unacknowledged when it does not say.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 100;
/// The most deliveries a consumer may hold unacknowledged.
pub const MAX_IN_FLIGHT: usize = 1000;

/// A validated `ConsumeRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumeSpec {
    /// The topic.
    pub topic: String,
    /// The consumer group; `None` for an ephemeral consumer.
    pub group: Option<String>,
    /// Where a new group or an ephemeral consumer starts.
    pub start: StartPosition,
    /// Acknowledge each event once it is handed to the transport.
    pub auto_ack: bool,
    /// How long a delivery may stay unacknowledged.
    pub ack_wait: Duration,
    /// Most redeliveries of one event; `None` is unlimited.
    pub retry_limit: Option<u32>,
    /// Most unacknowledged deliveries held by this consumer.
    pub max_in_flight: usize,
}

impl ConsumeSpec {
    /// The ack wait in whole milliseconds, as claims carry it.
    pub fn ack_wait_ms(&self) -> u64 {
        u64::try_from(self.ack_wait.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Validates a consume request and fills in the documented defaults.
pub fn consume_spec(req: &pb::ConsumeRequest) -> Result<ConsumeSpec, ApiError> {
    validate_name("topic", &req.topic).map_err(events_error)?;
    let group = match req.group.as_str() {
        "" => None,
        g => {
            validate_name("group", g).map_err(events_error)?;
            Some(g.to_owned())
        }
    };
    let start = match req.start.as_ref().and_then(|s| s.position) {
        Some(p) => start_position(p)?,
        None if req.offset < 0 => {
            return Err(ApiError::BadRequest("offset must not be negative".into()))
        }
        None if req.offset > 0 => {
            StartPosition::Time(u64::try_from(req.offset).unwrap_or(0).saturating_mul(1000))
        }
        None => StartPosition::Latest,
    };
    let ack_wait = match req.ack_wait {
        w if w < 0 => return Err(ApiError::BadRequest("ack_wait must not be negative".into())),
        0 => DEFAULT_ACK_WAIT,
        w => Duration::from_nanos(u64::try_from(w).unwrap_or(0)).max(MIN_ACK_WAIT),
    };
    let retry_limit = match req.retry_limit {
        l if l <= 0 => None,
        l => Some(u32::try_from(l).unwrap_or(u32::MAX)),
    };
    let max_in_flight = match req.max_in_flight {
        0 => DEFAULT_MAX_IN_FLIGHT,
        n => usize::try_from(n)
            .unwrap_or(MAX_IN_FLIGHT)
            .min(MAX_IN_FLIGHT),
    };
    Ok(ConsumeSpec {
        topic: req.topic.clone(),
        group,
        start,
        auto_ack: req.auto_ack,
        ack_wait,
        retry_limit,
        max_in_flight,
    })
}

fn start_position(p: pb::start_position::Position) -> Result<StartPosition, ApiError> {
    use pb::start_position::Position;
    Ok(match p {
        Position::Earliest(_) => StartPosition::Earliest,
        Position::Latest(_) => StartPosition::Latest,
        Position::Sequence(s) => StartPosition::Sequence(s),
        Position::Time(t) => StartPosition::Time(
            u64::try_from(t)
                .map_err(|_| ApiError::BadRequest("start time must not be negative".into()))?,
        ),
    })
}

/// The wire form of a stored event.
pub fn event(topic: &str, seq: u64, attempt: u32, e: StoredEvent) -> pb::Event {
    pb::Event {
        id: e.id,
        topic: topic.to_owned(),
        metadata: e.metadata.into_iter().collect(),
        payload: e.payload,
        timestamp: e.timestamp,
        sequence: seq,
        attempt,
    }
}

/// A retention from the wire (`max_age` in seconds).
pub fn retention(r: &pb::Retention) -> Retention {
    Retention {
        max_age_ms: r.max_age.saturating_mul(1000),
        max_bytes: r.max_bytes,
        max_events: r.max_events,
    }
}

/// A retention on the wire (`max_age` in whole seconds, rounded up).
pub fn retention_pb(r: &Retention) -> pb::Retention {
    pb::Retention {
        max_age: r.max_age_ms.div_ceil(1000),
        max_bytes: r.max_bytes,
        max_events: r.max_events,
    }
}

/// The API error of a domain error.
pub fn events_error(e: EventsError) -> ApiError {
    match e {
        EventsError::InvalidArgument(m) => ApiError::BadRequest(m),
        e @ EventsError::PastEnd { .. } => ApiError::BadRequest(e.to_string()),
        e @ EventsError::GroupNotFound { .. } => ApiError::NotFound(e.to_string()),
        EventsError::Storage(m) => ApiError::Internal(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> pb::ConsumeRequest {
        pb::ConsumeRequest {
            topic: "t".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = consume_spec(&req()).unwrap();
        assert_eq!(s.group, None);
        assert_eq!(s.start, StartPosition::Latest);
        assert_eq!(s.ack_wait, DEFAULT_ACK_WAIT);
        assert_eq!(s.retry_limit, None);
        assert_eq!(s.max_in_flight, DEFAULT_MAX_IN_FLIGHT);
        assert!(!s.auto_ack);
    }

    #[test]
    fn options_map_and_clamp() {
        let s = consume_spec(&pb::ConsumeRequest {
            group: "g".into(),
            offset: 7,
            ack_wait: 1_000,
            retry_limit: 3,
            max_in_flight: 5_000,
            ..req()
        })
        .unwrap();
        assert_eq!(s.group.as_deref(), Some("g"));
        assert_eq!(s.start, StartPosition::Time(7_000));
        assert_eq!(s.ack_wait, MIN_ACK_WAIT);
        assert_eq!(s.retry_limit, Some(3));
        assert_eq!(s.max_in_flight, MAX_IN_FLIGHT);
        let explicit = pb::StartPosition {
            position: Some(pb::start_position::Position::Sequence(4)),
        };
        let s = consume_spec(&pb::ConsumeRequest {
            offset: 7,
            retry_limit: -1,
            start: Some(explicit),
            ..req()
        })
        .unwrap();
        assert_eq!(s.start, StartPosition::Sequence(4));
        assert_eq!(s.retry_limit, None);
    }

    #[test]
    fn bad_options_are_refused() {
        for bad in [
            pb::ConsumeRequest {
                topic: String::new(),
                ..req()
            },
            pb::ConsumeRequest {
                group: "a b".into(),
                ..req()
            },
            pb::ConsumeRequest {
                offset: -1,
                ..req()
            },
            pb::ConsumeRequest {
                ack_wait: -5,
                ..req()
            },
            pb::ConsumeRequest {
                start: Some(pb::StartPosition {
                    position: Some(pb::start_position::Position::Time(-1)),
                }),
                ..req()
            },
        ] {
            assert!(
                matches!(consume_spec(&bad), Err(ApiError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}
