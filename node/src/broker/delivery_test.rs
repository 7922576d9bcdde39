//! Property: in a simulated cluster (one hub and interest table per node, frames delivered by
//! direct calls instead of the peer channel), every message reaches every plain subscriber of
//! its topic once, exactly one member of each queue group of its topic, and nobody else,
//! whichever node it is published on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::{FutureExt, StreamExt};
use proptest::prelude::*;
use rand::SeedableRng;

use super::hub::{Hub, Limits, Subscription};
use super::interest::{InterestTable, Version};
use super::message::{Message, Topic};

const NAMESPACES: [&str; 2] = ["micro", "foo"];
const TOPICS: [&str; 2] = ["a", "b"];
const GROUPS: [&str; 2] = ["g1", "g2"];

#[derive(Debug, Clone)]
struct Sub {
    node: usize,
    topic: Topic,
    group: Option<String>,
}

fn topic(ns: usize, name: usize) -> Topic {
    Topic {
        namespace: NAMESPACES[ns].into(),
        name: TOPICS[name].into(),
    }
}

fn subs(nodes: usize) -> impl Strategy<Value = Vec<Sub>> {
    prop::collection::vec(
        (0..nodes, 0..2usize, 0..2usize, prop::option::of(0..2usize)),
        0..12,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(node, ns, t, g)| Sub {
                node,
                topic: topic(ns, t),
                group: g.map(|g| GROUPS[g].to_string()),
            })
            .collect()
    })
}

fn received(sub: &mut Subscription) -> Vec<u32> {
    let mut out = Vec::new();
    while let Some(Some(m)) = sub.next().now_or_never() {
        let mut n = [0u8; 4];
        n.copy_from_slice(&m.body);
        out.push(u32::from_be_bytes(n));
    }
    out
}

proptest! {
    #[test]
    fn each_message_reaches_every_plain_subscriber_and_one_member_per_group(
        (nodes, subs, publishes, seed) in (1..5usize).prop_flat_map(|n| (
            Just(n),
            subs(n),
            prop::collection::vec((0..n, 0..2usize, 0..2usize), 1..20),
            any::<u64>(),
        ))
    ) {
        let hubs: Vec<Arc<Hub>> = (0..nodes)
            .map(|_| Hub::new(Limits { messages: 1024, bytes: 1 << 20, total_bytes: 1 << 30, subscriptions: 1024 }))
            .collect();
        let mut held: Vec<(Sub, Subscription)> = subs
            .iter()
            .map(|s| {
                let (sub, _) = hubs[s.node].subscribe(s.topic.clone(), s.group.clone()).unwrap();
                (s.clone(), sub)
            })
            .collect();
        // Every node learns the others' interest, as the announcer would tell it.
        let now = Instant::now();
        let tables: Vec<InterestTable> = (0..nodes)
            .map(|me| {
                let mut t = InterestTable::default();
                for (other, hub) in hubs.iter().enumerate().filter(|(o, _)| *o != me) {
                    let (seq, interest) = hub.interest();
                    t.update(other as u64, other.to_string(), Version { started_ms: 1, seq }, interest, now);
                }
                t
            })
            .collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut sent: BTreeMap<Topic, Vec<u32>> = BTreeMap::new();
        for (n, (node, ns, t)) in publishes.iter().enumerate() {
            let topic = topic(*ns, *t);
            let message = Arc::new(Message { body: (n as u32).to_be_bytes().to_vec(), ..Default::default() });
            let plan = tables[*node].plan(&topic, hubs[*node].interest_in(&topic).as_ref(), &mut rng);
            hubs[*node].deliver(&topic, &message, plan.local_plain, &plan.local_groups);
            for (id, hop) in plan.remote {
                prop_assert_ne!(id as usize, *node);
                prop_assert_eq!(hop.address, id.to_string());
                let d = hubs[id as usize].deliver(&topic, &message, hop.plain, &hop.groups);
                prop_assert_eq!(d.unrouted + d.dropped_slow, 0);
            }
            sent.entry(topic).or_default().push(n as u32);
        }
        let mut groups: BTreeMap<(Topic, String), Vec<u32>> = BTreeMap::new();
        for (s, sub) in held.iter_mut() {
            let got = received(sub);
            let expected = sent.get(&s.topic).cloned().unwrap_or_default();
            match &s.group {
                None => prop_assert_eq!(got, expected, "plain subscriber {:?}", s),
                Some(g) => groups.entry((s.topic.clone(), g.clone())).or_default().extend(got),
            }
        }
        for ((topic, group), mut got) in groups {
            got.sort_unstable();
            let expected = sent.get(&topic).cloned().unwrap_or_default();
            prop_assert_eq!(got, expected, "queue group {} of {:?}", group, topic);
        }
    }
}
