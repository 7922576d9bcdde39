//! What every consumer loop shares: where deliveries go, the acknowledgements a client sends,
//! and the deliveries it holds unacknowledged (bounded by `max_in_flight`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use micro_proto::events as pb;
use micro_raft::Cluster;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::convert::ConsumeSpec;
use crate::error::ApiError;

/// Deliveries buffered for a client that reads slowly; past it the consumer waits.
pub const OUTBOX: usize = 32;
/// Acknowledgements buffered from a client before its stream reader waits.
pub const ACK_BUFFER: usize = 1024;
/// Most events handed out per claim or per local read.
pub const BATCH: usize = 100;

/// Where a consumer's deliveries go; an `Err` ends the stream.
pub type Outbox = mpsc::Sender<Result<pb::Event, ApiError>>;

/// A client's acknowledgement of one delivery, by id or sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckMsg {
    /// The event's id (may be empty when `sequence` is given).
    pub id: String,
    /// The event's sequence (0 when only the id is given).
    pub sequence: u64,
    /// `true` acknowledges; `false` asks for redelivery now.
    pub success: bool,
}

impl From<pb::AckRequest> for AckMsg {
    fn from(a: pb::AckRequest) -> Self {
        AckMsg {
            id: a.id,
            sequence: a.sequence,
            success: a.success,
        }
    }
}

/// One running consumer: its options, its stream and how it ends.
pub struct Consumer {
    /// The node's raft member.
    pub cluster: Arc<Cluster>,
    /// What to consume and how.
    pub spec: ConsumeSpec,
    /// Where deliveries go.
    pub out: Outbox,
    /// Ends the consumer (node shutdown, or a broken inbound stream).
    pub stop: CancellationToken,
}

impl Consumer {
    /// Sends one item to the client; `false` when the client or the node went away.
    pub async fn send(&self, item: Result<pb::Event, ApiError>) -> bool {
        tokio::select! {
            sent = self.out.send(item) => sent.is_ok(),
            _ = self.stop.cancelled() => false,
        }
    }

    /// Whether the consumer should end.
    pub fn ended(&self) -> bool {
        self.stop.is_cancelled() || self.out.is_closed()
    }

    /// Resolves when the consumer should end.
    pub async fn ending(&self) {
        tokio::select! {
            _ = self.stop.cancelled() => {}
            _ = self.out.closed() => {}
        }
    }
}

/// What a client sends after its first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Settle one delivery.
    Ack(AckMsg),
    /// Commit the acknowledgements so far, hand back the rest, and end the stream.
    Close,
}

/// Messages from the client; `None` inside once its side of the stream closed (or it never
/// had one, as over HTTP).
pub struct Acks(pub Option<mpsc::Receiver<Inbound>>);

impl Acks {
    /// Waits for the next message; never resolves once the client stopped sending.
    pub async fn next(&mut self) -> Option<Inbound> {
        match self.0.as_mut() {
            Some(rx) => {
                let got = rx.recv().await;
                if got.is_none() {
                    self.0 = None;
                }
                got
            }
            None => std::future::pending().await,
        }
    }

    /// Every message already received, without waiting.
    pub fn drain(&mut self) -> Vec<Inbound> {
        let mut out = Vec::new();
        if let Some(rx) = self.0.as_mut() {
            while let Ok(a) = rx.try_recv() {
                out.push(a);
            }
        }
        out
    }
}

/// A delivery the client holds unacknowledged.
#[derive(Debug, Clone)]
pub struct Held {
    /// When it is due again (locally; the group's own deadline is in the replicated state).
    pub deadline: Instant,
    /// Times handed out so far.
    pub attempts: u32,
    /// The event's id, to resolve acknowledgements by id.
    pub id: String,
}

/// Deliveries held by one consumer, by sequence, with an id index.
#[derive(Debug, Default)]
pub struct HeldSet {
    by_seq: BTreeMap<u64, Held>,
    by_id: HashMap<String, u64>,
}

impl HeldSet {
    /// How many are held.
    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    /// Records a delivery.
    pub fn insert(&mut self, seq: u64, held: Held) {
        self.by_id.insert(held.id.clone(), seq);
        self.by_seq.insert(seq, held);
    }

    /// Forgets a delivery.
    pub fn remove(&mut self, seq: u64) -> Option<Held> {
        let held = self.by_seq.remove(&seq)?;
        self.by_id.remove(&held.id);
        Some(held)
    }

    /// Every held sequence with its attempts, in sequence order.
    pub fn entries(&self) -> Vec<(u64, u32)> {
        self.by_seq.iter().map(|(s, h)| (*s, h.attempts)).collect()
    }

    /// Mutable access to a delivery.
    pub fn get_mut(&mut self, seq: u64) -> Option<&mut Held> {
        self.by_seq.get_mut(&seq)
    }

    /// The sequence an acknowledgement refers to, if this consumer holds it.
    pub fn resolve(&self, ack: &AckMsg) -> Option<u64> {
        if ack.sequence > 0 {
            return self
                .by_seq
                .contains_key(&ack.sequence)
                .then_some(ack.sequence);
        }
        self.by_id.get(&ack.id).copied()
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_seq.values().map(|h| h.deadline).min()
    }

    /// Deliveries due at `now`, earliest deadline first (then by sequence).
    pub fn due(&self, now: Instant) -> Vec<u64> {
        let mut due: Vec<(Instant, u64)> = self
            .by_seq
            .iter()
            .filter(|(_, h)| h.deadline <= now)
            .map(|(s, h)| (h.deadline, *s))
            .collect();
        due.sort();
        due.into_iter().map(|(_, s)| s).collect()
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
pub async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn held_deliveries_resolve_by_id_or_sequence_and_come_due_in_order() {
        let now = Instant::now();
        let mut set = HeldSet::default();
        let held = |secs: u64, id: &str| Held {
            deadline: now + Duration::from_secs(secs),
            attempts: 1,
            id: id.into(),
        };
        set.insert(5, held(2, "e5"));
        set.insert(3, held(1, "e3"));
        set.insert(9, held(1, "e9"));
        let ack = |id: &str, sequence| AckMsg {
            id: id.into(),
            sequence,
            success: true,
        };
        assert_eq!(set.resolve(&ack("e5", 0)), Some(5));
        assert_eq!(set.resolve(&ack("", 9)), Some(9));
        assert_eq!(set.resolve(&ack("", 4)), None);
        assert_eq!(set.due(now + Duration::from_secs(1)), [3, 9]);
        assert_eq!(set.next_deadline(), Some(now + Duration::from_secs(1)));
        set.remove(3);
        assert_eq!(set.resolve(&ack("e3", 0)), None);
        assert_eq!(set.len(), 2);
    }
}
