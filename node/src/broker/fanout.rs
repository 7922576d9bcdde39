//! [`Fanout`]: publish and subscribe across the cluster. Subscribers live in this node's
//! [`Hub`]; the announcer tells the other members what they listen to (on every change, and a
//! heartbeat every [`REFRESH`]), and a publish sends one frame to each member that needs the
//! message, over the cluster's authenticated peer channel. Nothing goes through raft.
//!
//! A subscription is announced before `subscribe` returns (or after [`ANNOUNCE_WAIT`] if a
//! member does not answer): messages published on other nodes after that reach it. Only a
//! member whose announcement is lost learns of it later, at the next refresh; messages
//! published meanwhile miss it (at-most-once). Members not heard from for [`STALE`] are
//! forgotten, as is a member that a frame could not reach, until it announces again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{stream, StreamExt};
use micro_raft::{AppError, AppHandler, Cluster, NodeId};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::hub::{Delivery, Hub, HubFull, Limits, Subscription};
use super::interest::{Interest, InterestTable, Update, Version};
use super::message::{Message, Topic};
use super::peer::{decode, encode, PeerMessage, PeerReply, CHANNEL};

/// How often interest is re-announced (a heartbeat when unchanged).
pub const REFRESH: Duration = Duration::from_secs(1);
/// How long a member's interest is kept without hearing from it.
pub const STALE: Duration = Duration::from_secs(5);
/// How long `subscribe` waits for the members to learn of the subscription.
pub const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);
/// How long one frame to a member may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);
/// Frames in flight at once per publish or announcement round.
const PARALLEL_SENDS: usize = 16;
/// What a node's subscriber queues may hold before messages are dropped for them.
pub const LIMITS: Limits = Limits {
    messages: 64,
    bytes: 8 * 1024 * 1024,
    total_bytes: 256 * 1024 * 1024,
    subscriptions: 10_000,
};

/// Cluster-wide publish/subscribe on one node.
pub struct Fanout {
    cluster: Arc<Cluster>,
    hub: Arc<Hub>,
    /// std Mutex: held for lookups and updates, never across `.await`.
    table: Mutex<InterestTable>,
    /// This process's start, which orders its announcements after an earlier run's.
    started_ms: u64,
    /// The highest hub version the announcer has finished telling the members.
    announced: watch::Sender<u64>,
    /// Wakes the announcer before its next tick (a member it did not know appeared).
    wake: Notify,
}

/// What one publish did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// Delivery to this node's subscribers.
    pub local: Delivery,
    /// Members the message was sent to.
    pub peers: usize,
    /// Of those, members that did not take it.
    pub failed: usize,
}

impl Fanout {
    /// A broker for this member, answering its peers on the broker channel. Run
    /// [`Fanout::announce`] beside it.
    pub fn new(cluster: Arc<Cluster>) -> Arc<Fanout> {
        Self::with_limits(cluster, LIMITS)
    }

    /// [`Fanout::new`] with other queue and subscription limits.
    pub fn with_limits(cluster: Arc<Cluster>, limits: Limits) -> Arc<Self> {
        let fanout = Arc::new(Fanout {
            cluster: cluster.clone(),
            hub: Hub::new(limits),
            table: Mutex::new(InterestTable::default()),
            started_ms: micro_raft::now_ms(),
            announced: watch::Sender::new(0),
            wake: Notify::new(),
        });
        // Weak: the cluster holds its handlers for its whole life; the broker must not be
        // kept alive by them.
        cluster.register_app(CHANNEL, Arc::new(Inbox(Arc::downgrade(&fanout))));
        fanout
    }

    fn table(&self) -> std::sync::MutexGuard<'_, InterestTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Delivers `message` to this node's subscribers of `topic` and hands it to every member
    /// with subscribers of it; returns once those members took it (or failed to, within
    /// [`SEND_TIMEOUT`]). Losses are counted, not reported: the broker is at-most-once.
    pub async fn publish(&self, topic: Topic, message: Message) -> Published {
        let message = Arc::new(message);
        let local = self.hub.interest_in(&topic);
        let plan = self
            .table()
            .plan(&topic, local.as_ref(), &mut rand::thread_rng());
        let delivered = self
            .hub
            .deliver(&topic, &message, plan.local_plain, &plan.local_groups);
        record(&delivered);
        let mut out = Published {
            local: delivered,
            peers: plan.remote.len(),
            failed: 0,
        };
        let sends = plan.remote.into_iter().map(|(id, hop)| {
            let frame = encode(&PeerMessage::Deliver {
                topic: topic.clone(),
                message: Message::clone(&message),
                plain: hop.plain,
                groups: hop.groups,
            });
            async move {
                let outcome = match frame {
                    Ok(frame) => self.send(id, &hop.address, frame).await.map(drop),
                    Err(e) => Err(e),
                };
                (id, outcome)
            }
        });
        let outcomes: Vec<(NodeId, Result<(), String>)> = stream::iter(sends)
            .buffer_unordered(PARALLEL_SENDS)
            .collect()
            .await;
        for (id, outcome) in outcomes {
            if let Err(e) = outcome {
                out.failed += 1;
                metrics::counter!("micro_broker_dropped_total", "reason" => "peer_failed")
                    .increment(1);
                tracing::debug!(node = %format!("{id:016x}"), error = %e, "broker delivery to a member failed");
            }
        }
        out
    }

    /// Subscribes to `topic` (in queue group `queue`), and waits until the other members know
    /// (at most [`ANNOUNCE_WAIT`]).
    pub async fn subscribe(
        &self,
        topic: Topic,
        queue: Option<String>,
    ) -> Result<Subscription, HubFull> {
        let (subscription, version) = self.hub.subscribe(topic, queue)?;
        let mut announced = self.announced.subscribe();
        let told = tokio::time::timeout(ANNOUNCE_WAIT, announced.wait_for(|v| *v >= version));
        if told.await.is_err() {
            tracing::debug!("a subscription was not announced to every member in time");
        }
        Ok(subscription)
    }

    /// Sends one frame to a member; a member that cannot be reached is forgotten until it
    /// announces itself again.
    async fn send(&self, id: NodeId, address: &str, frame: Vec<u8>) -> Result<PeerReply, String> {
        match self
            .cluster
            .send_app(address, CHANNEL, frame, SEND_TIMEOUT)
            .await
        {
            Ok(answer) => decode(&answer),
            Err(e) => {
                if matches!(e, AppError::Unreachable { .. } | AppError::Lost { .. }) {
                    self.table().forget(id);
                }
                Err(e.to_string())
            }
        }
    }

    /// The announcer: tells the other members this node's interest whenever it changes and
    /// every [`REFRESH`], forgets members gone quiet, and at `stop` tells them it has no
    /// subscribers any more.
    pub async fn announce(self: Arc<Self>, stop: CancellationToken) {
        let mut versions = self.hub.versions();
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The version each member acknowledged last.
        let mut told: HashMap<NodeId, Version> = HashMap::new();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                changed = versions.changed() => if changed.is_err() { break },
                _ = tick.tick() => {}
                _ = self.wake.notified() => {}
            }
            let (seq, interest) = self.hub.interest();
            let version = Version {
                started_ms: self.started_ms,
                seq,
            };
            self.tell_all(version, &interest, &mut told).await;
            self.announced.send_replace(seq);
            let gone = self.table().expire(Instant::now(), STALE);
            metrics::gauge!("micro_broker_subscriptions").set(self.subscriptions() as f64);
            metrics::gauge!("micro_broker_members_heard").set(self.known_members() as f64);
            for id in gone {
                tracing::debug!(node = %format!("{id:016x}"), "forgot a quiet member's broker interest");
            }
        }
        // Leaving: nothing here listens any more, whatever the hub still holds while the
        // edges drain.
        let version = Version {
            started_ms: self.started_ms,
            seq: u64::MAX,
        };
        self.tell_all(version, &Interest::new(), &mut HashMap::new())
            .await;
    }

    /// One announcement round: a heartbeat to members that hold `version`, the full interest
    /// to the others.
    async fn tell_all(
        &self,
        version: Version,
        interest: &Interest,
        told: &mut HashMap<NodeId, Version>,
    ) {
        let members = self.cluster.other_members();
        told.retain(|id, _| members.iter().any(|(m, _)| m == id));
        let this = self.cluster.id();
        let address = self.cluster.this().peer_address.clone();
        let rounds = members.into_iter().map(|(id, node)| {
            let known = told.get(&id) == Some(&version);
            let address = address.clone();
            async move {
                let peer = node.peer_address;
                if known {
                    let beat = encode(&PeerMessage::Heartbeat {
                        from: this,
                        version,
                    });
                    match beat {
                        Ok(frame) => match self.send(id, &peer, frame).await {
                            Ok(PeerReply::Ok) => return (id, true),
                            Ok(PeerReply::Unknown) => {}
                            Err(_) => return (id, false),
                        },
                        Err(_) => return (id, false),
                    }
                }
                let full = encode(&PeerMessage::Interest {
                    from: this,
                    address,
                    version,
                    interest: interest.clone(),
                });
                let ok = match full {
                    Ok(frame) => matches!(self.send(id, &peer, frame).await, Ok(PeerReply::Ok)),
                    Err(_) => false,
                };
                (id, ok)
            }
        });
        let outcomes: Vec<(NodeId, bool)> = stream::iter(rounds)
            .buffer_unordered(PARALLEL_SENDS)
            .collect()
            .await;
        for (id, ok) in outcomes {
            if ok {
                told.insert(id, version);
            } else {
                told.remove(&id);
            }
        }
    }

    /// Answers another member's broker message.
    fn receive(&self, message: PeerMessage) -> PeerReply {
        let now = Instant::now();
        match message {
            PeerMessage::Interest {
                from,
                address,
                version,
                interest,
            } => {
                if self.table().update(from, address, version, interest, now) == Update::New {
                    // Tell a newcomer our interest now rather than at the next tick.
                    self.wake.notify_one();
                }
                PeerReply::Ok
            }
            PeerMessage::Heartbeat { from, version } => {
                if self.table().touch(from, version, now) {
                    PeerReply::Ok
                } else {
                    PeerReply::Unknown
                }
            }
            PeerMessage::Deliver {
                topic,
                message,
                plain,
                groups,
            } => {
                let delivery = self.hub.deliver(&topic, &Arc::new(message), plain, &groups);
                record(&delivery);
                PeerReply::Ok
            }
        }
    }

    /// Subscriptions this node holds.
    pub fn subscriptions(&self) -> usize {
        self.hub.subscriptions()
    }

    /// Members whose interest this node holds.
    pub fn known_members(&self) -> usize {
        self.table().len()
    }
}

/// Counts a local delivery.
fn record(d: &Delivery) {
    metrics::counter!("micro_broker_delivered_total").increment(d.delivered as u64);
    if d.dropped_slow > 0 {
        metrics::counter!("micro_broker_dropped_total", "reason" => "slow_subscriber")
            .increment(d.dropped_slow as u64);
    }
    if d.unrouted > 0 {
        metrics::counter!("micro_broker_dropped_total", "reason" => "no_subscriber")
            .increment(d.unrouted as u64);
    }
}

/// The broker's handler on the cluster's application channel.
struct Inbox(Weak<Fanout>);

impl AppHandler for Inbox {
    fn handle(&self, body: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, String>> {
        Box::pin(async move {
            let fanout = self.0.upgrade().ok_or("the broker has stopped")?;
            let message: PeerMessage = decode(&body)?;
            message.check()?;
            encode(&fanout.receive(message))
        })
    }
}
