//! [`Hub`]: the subscribers connected to this node, by topic, and local delivery.
//!
//! Every subscriber owns a bounded queue: at most [`Limits::messages`] messages and
//! [`Limits::bytes`] bytes (one message of any allowed size always fits an empty queue), and
//! all queues together hold at most [`Limits::total_bytes`]. Delivery never waits: a message
//! that does not fit is dropped for that subscriber and counted (the broker is at-most-once),
//! so subscribers that never read cost at most their queues, never more. A queue group gets
//! each message once: its members take turns, skipping full queues.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{mpsc, watch};

use super::interest::{Interest, TopicInterest};
use super::message::{Message, Topic};

/// How much the hub's queues may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages one subscriber's queue holds.
    pub messages: usize,
    /// Bytes one subscriber's queue holds (a message always fits an empty queue).
    pub bytes: usize,
    /// Bytes all queues of the node hold together (a message shared by several queues counts
    /// once per queue).
    pub total_bytes: usize,
    /// Subscriptions the node holds at once.
    pub subscriptions: usize,
}

/// The sending end of a subscriber's queue and the bytes it holds.
struct Queue {
    tx: mpsc::Sender<Arc<Message>>,
    bytes: Arc<AtomicUsize>,
}

/// What offering a message to a queue came to.
enum Offer {
    Taken,
    Full,
    /// The subscriber is going away (it unsubscribes itself).
    Gone,
}

/// What a queued message counts for against the byte budgets.
fn cost(m: &Message) -> usize {
    m.body.len() + m.header_bytes() + 64
}

/// The subscribers of one node.
pub struct Hub {
    /// std Mutex: held for map updates, snapshots and non-blocking sends, never across
    /// `.await`. Offers happen under it, so a budget check and its charge cannot interleave
    /// with another offer.
    state: Mutex<State>,
    /// Follows [`State::version`], so the announcer wakes when interest changes.
    versions: watch::Sender<u64>,
    limits: Limits,
    /// Bytes held by all queues.
    queued: Arc<AtomicUsize>,
}

#[derive(Default)]
struct State {
    topics: HashMap<Topic, Subscribers>,
    next_id: u64,
    count: usize,
    /// Bumped on every subscribe and unsubscribe.
    version: u64,
}

#[derive(Default)]
struct Subscribers {
    plain: BTreeMap<u64, Queue>,
    groups: BTreeMap<String, Group>,
}

#[derive(Default)]
struct Group {
    members: Vec<(u64, Queue)>,
    /// Whose turn it is.
    next: usize,
}

/// What one local delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Subscribers that received the message.
    pub delivered: usize,
    /// Subscribers (or whole queue groups) whose queues were full.
    pub dropped_slow: usize,
    /// Queue groups named for delivery that have no member here any more.
    pub unrouted: usize,
}

/// The node holds as many subscriptions as it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this node already holds {0} subscriptions, its limit")]
pub struct HubFull(pub usize);

impl Hub {
    /// A hub holding queues within `limits`.
    pub fn new(limits: Limits) -> Arc<Hub> {
        Arc::new(Hub {
            state: Mutex::new(State::default()),
            versions: watch::Sender::new(0),
            limits: Limits {
                messages: limits.messages.max(1),
                ..limits
            },
            queued: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Offers `message` to `queue` within the budgets.
    fn offer(&self, queue: &Queue, message: &Arc<Message>) -> Offer {
        let cost = cost(message);
        let mine = queue.bytes.load(Ordering::Acquire);
        if (mine > 0 && mine + cost > self.limits.bytes)
            || self.queued.load(Ordering::Acquire) + cost > self.limits.total_bytes
        {
            return Offer::Full;
        }
        // Charged before sending: the subscriber refunds what it takes out.
        queue.bytes.fetch_add(cost, Ordering::AcqRel);
        self.queued.fetch_add(cost, Ordering::AcqRel);
        match queue.tx.try_send(message.clone()) {
            Ok(()) => Offer::Taken,
            Err(e) => {
                queue.bytes.fetch_sub(cost, Ordering::AcqRel);
                self.queued.fetch_sub(cost, Ordering::AcqRel);
                match e {
                    mpsc::error::TrySendError::Full(_) => Offer::Full,
                    mpsc::error::TrySendError::Closed(_) => Offer::Gone,
                }
            }
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing every subscriber, so keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to `topic`, in queue group `queue` if given. Returns the subscription and the
    /// interest version that includes it.
    pub fn subscribe(
        self: &Arc<Self>,
        topic: Topic,
        group: Option<String>,
    ) -> Result<(Subscription, u64), HubFull> {
        let (tx, rx) = mpsc::channel(self.limits.messages);
        let bytes = Arc::new(AtomicUsize::new(0));
        let queue = Queue {
            tx,
            bytes: bytes.clone(),
        };
        let mut state = self.state();
        if state.count >= self.limits.subscriptions {
            return Err(HubFull(self.limits.subscriptions));
        }
        state.next_id += 1;
        state.count += 1;
        let id = state.next_id;
        let subs = state.topics.entry(topic.clone()).or_default();
        match &group {
            None => {
                subs.plain.insert(id, queue);
            }
            Some(g) => subs
                .groups
                .entry(g.clone())
                .or_default()
                .members
                .push((id, queue)),
        }
        let version = bump(&mut state, &self.versions);
        let sub = Subscription {
            rx,
            bytes,
            hub: self.clone(),
            topic,
            group,
            id,
        };
        Ok((sub, version))
    }

    fn unsubscribe(&self, topic: &Topic, queue: Option<&str>, id: u64) {
        let mut state = self.state();
        let Some(subs) = state.topics.get_mut(topic) else {
            return;
        };
        let removed = match queue {
            None => subs.plain.remove(&id).is_some(),
            Some(q) => match subs.groups.get_mut(q) {
                Some(group) => {
                    let before = group.members.len();
                    group.members.retain(|(m, _)| *m != id);
                    let removed = group.members.len() < before;
                    if group.members.is_empty() {
                        subs.groups.remove(q);
                    }
                    removed
                }
                None => false,
            },
        };
        if subs.plain.is_empty() && subs.groups.is_empty() {
            state.topics.remove(topic);
        }
        if removed {
            state.count = state.count.saturating_sub(1);
            bump(&mut state, &self.versions);
        }
    }

    /// Delivers `message` to every plain subscriber of `topic` (if `plain`) and to one member
    /// of each queue group in `groups`. Never waits.
    pub fn deliver(
        &self,
        topic: &Topic,
        message: &Arc<Message>,
        plain: bool,
        groups: &[String],
    ) -> Delivery {
        let mut out = Delivery::default();
        let mut state = self.state();
        let Some(subs) = state.topics.get_mut(topic) else {
            out.unrouted = groups.len();
            return out;
        };
        if plain {
            for queue in subs.plain.values() {
                match self.offer(queue, message) {
                    Offer::Taken => out.delivered += 1,
                    Offer::Full => out.dropped_slow += 1,
                    Offer::Gone => {}
                }
            }
        }
        for name in groups {
            let taken = subs
                .groups
                .get_mut(name)
                .map(|group| group.offer(|q| self.offer(q, message)));
            match taken {
                Some(true) => out.delivered += 1,
                Some(false) => out.dropped_slow += 1,
                None => out.unrouted += 1,
            }
        }
        out
    }

    /// Everything this node's subscribers listen to, and the version it was taken at.
    pub fn interest(&self) -> (u64, Interest) {
        let state = self.state();
        let interest = state
            .topics
            .iter()
            .map(|(topic, subs)| (topic.clone(), subs.interest()))
            .collect();
        (state.version, interest)
    }

    /// What this node's subscribers of `topic` listen to, if any.
    pub fn interest_in(&self, topic: &Topic) -> Option<TopicInterest> {
        self.state().topics.get(topic).map(Subscribers::interest)
    }

    /// Follows the interest version.
    pub fn versions(&self) -> watch::Receiver<u64> {
        self.versions.subscribe()
    }

    /// Subscriptions held now.
    pub fn subscriptions(&self) -> usize {
        self.state().count
    }
}

/// Bumps the interest version and tells the watchers.
fn bump(state: &mut State, versions: &watch::Sender<u64>) -> u64 {
    state.version += 1;
    versions.send_replace(state.version);
    state.version
}

impl Subscribers {
    fn interest(&self) -> TopicInterest {
        TopicInterest {
            plain: !self.plain.is_empty(),
            groups: self
                .groups
                .iter()
                .map(|(name, g)| {
                    let members = u32::try_from(g.members.len()).unwrap_or(u32::MAX);
                    (name.clone(), members)
                })
                .collect(),
        }
    }
}

impl Group {
    /// Gives the message to the next member whose queue takes it (`offer`); false if none
    /// did.
    fn offer(&mut self, mut offer: impl FnMut(&Queue) -> Offer) -> bool {
        let n = self.members.len();
        for i in 0..n {
            let at = (self.next + i) % n;
            if matches!(offer(&self.members[at].1), Offer::Taken) {
                self.next = (at + 1) % n;
                return true;
            }
        }
        false
    }
}

/// One subscriber's messages; dropping it unsubscribes.
pub struct Subscription {
    rx: mpsc::Receiver<Arc<Message>>,
    /// Bytes its queue holds (shared with the hub's sending end).
    bytes: Arc<AtomicUsize>,
    hub: Arc<Hub>,
    topic: Topic,
    group: Option<String>,
    id: u64,
}

impl Subscription {
    /// Refunds the budgets for a message taken out of the queue.
    fn refund(&self, message: &Message) {
        let cost = cost(message);
        self.bytes.fetch_sub(cost, Ordering::AcqRel);
        self.hub.queued.fetch_sub(cost, Ordering::AcqRel);
    }
}

impl Stream for Subscription {
    type Item = Arc<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(m)) = &polled {
            self.refund(m);
        }
        polled
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub
            .unsubscribe(&self.topic, self.group.as_deref(), self.id);
        // Nothing can be sent any more; give back what the queue still held.
        self.rx.close();
        while let Ok(m) = self.rx.try_recv() {
            self.refund(&m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn topic(name: &str) -> Topic {
        Topic {
            namespace: "micro".into(),
            name: name.into(),
        }
    }

    fn msg(body: &str) -> Arc<Message> {
        Arc::new(Message {
            body: body.as_bytes().to_vec(),
            ..Default::default()
        })
    }

    /// Everything waiting in `sub`, without blocking.
    fn drain(sub: &mut Subscription) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(Some(m)) = futures::StreamExt::next(sub).now_or_never() {
            out.push(String::from_utf8_lossy(&m.body).into_owned());
        }
        out
    }

    fn limits(messages: usize, subscriptions: usize) -> Limits {
        Limits {
            messages,
            bytes: 1 << 20,
            total_bytes: 1 << 30,
            subscriptions,
        }
    }

    #[test]
    fn plain_subscribers_get_every_message_and_groups_take_turns() {
        let hub = Hub::new(limits(16, 100));
        let (mut a, _) = hub.subscribe(topic("t"), None).unwrap();
        let (mut b, _) = hub.subscribe(topic("t"), None).unwrap();
        let (mut q1, _) = hub.subscribe(topic("t"), Some("q".into())).unwrap();
        let (mut q2, _) = hub.subscribe(topic("t"), Some("q".into())).unwrap();
        let (mut other, _) = hub.subscribe(topic("u"), None).unwrap();
        for i in 0..4 {
            let d = hub.deliver(&topic("t"), &msg(&i.to_string()), true, &["q".into()]);
            assert_eq!(d.delivered, 3);
        }
        assert_eq!(drain(&mut a), ["0", "1", "2", "3"]);
        assert_eq!(drain(&mut b), ["0", "1", "2", "3"]);
        assert_eq!(drain(&mut q1), ["0", "2"]);
        assert_eq!(drain(&mut q2), ["1", "3"]);
        assert!(drain(&mut other).is_empty());
        // Only the groups named get the message; plain subscribers only when asked.
        let d = hub.deliver(&topic("t"), &msg("g"), false, &["q".into(), "gone".into()]);
        assert_eq!((d.delivered, d.unrouted), (1, 1));
        assert!(drain(&mut a).is_empty());
    }

    #[test]
    fn namespaces_are_separate_topics() {
        let hub = Hub::new(limits(4, 100));
        let mut foo = topic("t");
        foo.namespace = "foo".into();
        let (mut in_foo, _) = hub.subscribe(foo, None).unwrap();
        hub.deliver(&topic("t"), &msg("x"), true, &[]);
        assert!(drain(&mut in_foo).is_empty());
    }

    #[test]
    fn a_full_queue_drops_for_that_subscriber_only_and_groups_skip_it() {
        let hub = Hub::new(limits(2, 100));
        let (mut slow, _) = hub.subscribe(topic("t"), None).unwrap();
        let (mut fast, _) = hub.subscribe(topic("t"), None).unwrap();
        let (mut g_slow, _) = hub.subscribe(topic("t"), Some("g".into())).unwrap();
        let (mut g_fast, _) = hub.subscribe(topic("t"), Some("g".into())).unwrap();
        let mut dropped = 0;
        for i in 0..10 {
            let d = hub.deliver(&topic("t"), &msg(&i.to_string()), true, &["g".into()]);
            dropped += d.dropped_slow;
            assert_eq!(drain(&mut fast), [i.to_string()]);
            // g_fast reads everything it gets; g_slow never reads.
            let got = drain(&mut g_fast);
            assert!(got.len() <= 1);
        }
        assert_eq!(drain(&mut slow), ["0", "1"], "slow keeps only its queue");
        assert_eq!(dropped, 8, "dropped for the slow subscriber, counted");
        assert_eq!(
            drain(&mut g_slow).len(),
            2,
            "the group skipped its full member"
        );
    }

    #[test]
    fn byte_budgets_bound_each_queue_and_the_node_and_are_refunded() {
        let big = |c: char| {
            Arc::new(Message {
                body: vec![c as u8; 1000],
                ..Default::default()
            })
        };
        let hub = Hub::new(Limits {
            messages: 100,
            bytes: 2500,
            total_bytes: 5000,
            subscriptions: 10,
        });
        let (mut a, _) = hub.subscribe(topic("t"), None).unwrap();
        let (b, _) = hub.subscribe(topic("t"), None).unwrap();
        let (c, _) = hub.subscribe(topic("t"), None).unwrap();
        // Each queue takes two messages (2128 bytes); a third would pass 2500. Together the
        // three queues would pass the node's 5000 at the fifth message.
        let d1 = hub.deliver(&topic("t"), &big('1'), true, &[]);
        let d2 = hub.deliver(&topic("t"), &big('2'), true, &[]);
        assert_eq!((d1.delivered, d2.delivered), (3, 1), "{d2:?}");
        assert_eq!(d2.dropped_slow, 2);
        assert_eq!(drain(&mut a).len(), 2);
        let d3 = hub.deliver(&topic("t"), &big('3'), true, &[]);
        assert_eq!(d3.delivered, 2, "a drained: a and one more fit again");
        drop(c);
        drop(b);
        assert_eq!(drain(&mut a).len(), 1);
        assert_eq!(hub.queued.load(Ordering::Acquire), 0, "all refunded");
        // An empty queue always takes one message, whatever its size.
        let huge = Arc::new(Message {
            body: vec![0; 4000],
            ..Default::default()
        });
        assert_eq!(hub.deliver(&topic("t"), &huge, true, &[]).delivered, 1);
        assert_eq!(hub.deliver(&topic("t"), &huge, true, &[]).delivered, 0);
    }

    #[test]
    fn dropping_a_subscription_unsubscribes_and_bumps_the_version() {
        let hub = Hub::new(limits(4, 2));
        let (a, v1) = hub.subscribe(topic("t"), Some("g".into())).unwrap();
        let (b, v2) = hub.subscribe(topic("t"), None).unwrap();
        assert!(v2 > v1);
        assert_eq!(hub.subscribe(topic("t"), None).err(), Some(HubFull(2)));
        let (_, interest) = hub.interest();
        assert_eq!(
            interest.get(&topic("t")),
            Some(&TopicInterest {
                plain: true,
                groups: [("g".to_string(), 1)].into()
            })
        );
        drop(a);
        assert_eq!(
            hub.interest_in(&topic("t")).map(|i| i.groups.len()),
            Some(0)
        );
        drop(b);
        let (v, interest) = hub.interest();
        assert!(interest.is_empty());
        assert!(v > v2);
        assert_eq!(hub.subscriptions(), 0);
        assert_eq!(*hub.versions().borrow(), v);
    }
}
