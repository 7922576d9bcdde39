//! [`Hub`]: the subscribers connected to this node, by topic, and local delivery.
//!
//! Every subscriber owns a bounded queue. Delivery never waits: a message that finds a
//! subscriber's queue full is dropped for that subscriber and counted (the broker is
//! at-most-once), so a subscriber that never reads costs at most its queue, never more.
//! A queue group gets each message once: its members take turns, skipping full queues.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{mpsc, watch};

use super::interest::{Interest, TopicInterest};
use super::message::{Message, Topic};

/// A subscriber's queue.
type Sender = mpsc::Sender<Arc<Message>>;

/// The subscribers of one node.
pub struct Hub {
    /// std Mutex: held for map updates, snapshots and non-blocking sends, never across
    /// `.await`.
    state: Mutex<State>,
    /// Follows [`State::version`], so the announcer wakes when interest changes.
    versions: watch::Sender<u64>,
    /// Messages a subscriber's queue holds before new ones are dropped for it.
    buffer: usize,
    /// Most subscriptions this node holds at once.
    max_subscriptions: usize,
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
    plain: BTreeMap<u64, Sender>,
    groups: BTreeMap<String, Group>,
}

#[derive(Default)]
struct Group {
    members: Vec<(u64, Sender)>,
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
    /// A hub giving each subscriber a queue of `buffer` messages, holding at most
    /// `max_subscriptions`.
    pub fn new(buffer: usize, max_subscriptions: usize) -> Arc<Hub> {
        Arc::new(Hub {
            state: Mutex::new(State::default()),
            versions: watch::Sender::new(0),
            buffer: buffer.max(1),
            max_subscriptions,
        })
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
        queue: Option<String>,
    ) -> Result<(Subscription, u64), HubFull> {
        let (tx, rx) = mpsc::channel(self.buffer);
        let mut state = self.state();
        if state.count >= self.max_subscriptions {
            return Err(HubFull(self.max_subscriptions));
        }
        state.next_id += 1;
        state.count += 1;
        let id = state.next_id;
        let subs = state.topics.entry(topic.clone()).or_default();
        match &queue {
            None => {
                subs.plain.insert(id, tx);
            }
            Some(q) => subs
                .groups
                .entry(q.clone())
                .or_default()
                .members
                .push((id, tx)),
        }
        let version = bump(&mut state, &self.versions);
        let sub = Subscription {
            rx,
            hub: self.clone(),
            topic,
            queue,
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
            for tx in subs.plain.values() {
                match tx.try_send(message.clone()) {
                    Ok(()) => out.delivered += 1,
                    Err(mpsc::error::TrySendError::Full(_)) => out.dropped_slow += 1,
                    // Gone: its subscription is being dropped and unsubscribes itself.
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
        for name in groups {
            match subs.groups.get_mut(name).map(|group| group.offer(message)) {
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
    /// Gives `message` to the next member whose queue has room; false if none had.
    fn offer(&mut self, message: &Arc<Message>) -> bool {
        let n = self.members.len();
        for i in 0..n {
            let at = (self.next + i) % n;
            if self.members[at].1.try_send(message.clone()).is_ok() {
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
    hub: Arc<Hub>,
    topic: Topic,
    queue: Option<String>,
    id: u64,
}

impl Stream for Subscription {
    type Item = Arc<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub
            .unsubscribe(&self.topic, self.queue.as_deref(), self.id);
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

    #[test]
    fn plain_subscribers_get_every_message_and_groups_take_turns() {
        let hub = Hub::new(16, 100);
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
        let hub = Hub::new(4, 100);
        let mut foo = topic("t");
        foo.namespace = "foo".into();
        let (mut in_foo, _) = hub.subscribe(foo, None).unwrap();
        hub.deliver(&topic("t"), &msg("x"), true, &[]);
        assert!(drain(&mut in_foo).is_empty());
    }

    #[test]
    fn a_full_queue_drops_for_that_subscriber_only_and_groups_skip_it() {
        let hub = Hub::new(2, 100);
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
    fn dropping_a_subscription_unsubscribes_and_bumps_the_version() {
        let hub = Hub::new(4, 2);
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
