//! Who listens where: each node's [`Interest`] (topics with plain subscribers, queue groups
//! with their member counts), the [`InterestTable`] of the other members' interest as they
//! last announced it, and [`InterestTable::plan`], which decides where one message goes.
//!
//! Every plain subscriber gets every message, so each node with plain subscribers of the topic
//! gets it. Each queue group gets it once cluster-wide: one node is chosen among those with
//! members of the group, at random weighted by member count, so every member of a group takes
//! an equal share wherever it is connected and whichever node the publisher uses.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use micro_raft::NodeId;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::message::Topic;

/// What one node's subscribers of one topic are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInterest {
    /// Whether it has subscribers outside queue groups.
    pub plain: bool,
    /// Queue groups with members there, and how many.
    pub groups: BTreeMap<String, u32>,
}

/// Everything one node's subscribers listen to.
pub type Interest = BTreeMap<Topic, TopicInterest>;

/// Orders a node's announcements: later incarnations (start time) win, then later changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Version {
    /// When the announcing process started (ms since the epoch).
    pub started_ms: u64,
    /// The hub's interest version in that process.
    pub seq: u64,
}

/// Another member's interest as last announced.
#[derive(Debug, Clone)]
struct Remote {
    address: String,
    version: Version,
    interest: Interest,
    seen: Instant,
}

/// How an announcement changed the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// A node (or a new incarnation of one) the table did not know.
    New,
    /// A newer interest of a known node.
    Changed,
    /// Nothing new (a repeat, or an older announcement that arrived late).
    Unchanged,
}

/// The other members' interest.
#[derive(Debug, Default)]
pub struct InterestTable {
    nodes: BTreeMap<NodeId, Remote>,
}

/// Where one message goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Deliver to this node's plain subscribers.
    pub local_plain: bool,
    /// Deliver to one member of each of these local queue groups.
    pub local_groups: Vec<String>,
    /// One hop per other node that gets the message.
    pub remote: BTreeMap<NodeId, Hop>,
}

/// What another node is asked to deliver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hop {
    /// Its peer address.
    pub address: String,
    /// Deliver to its plain subscribers.
    pub plain: bool,
    /// Deliver to one member of each of these of its queue groups.
    pub groups: Vec<String>,
}

/// Where a queue group's copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Local,
    Remote(NodeId),
}

impl InterestTable {
    /// Records `node`'s announcement.
    pub fn update(
        &mut self,
        node: NodeId,
        address: String,
        version: Version,
        interest: Interest,
        now: Instant,
    ) -> Update {
        let outcome = match self.nodes.get(&node) {
            None => Update::New,
            Some(known) if version.started_ms > known.version.started_ms => Update::New,
            Some(known) if version > known.version => Update::Changed,
            Some(known) => {
                if version == known.version {
                    self.touch(node, version, now);
                }
                return Update::Unchanged;
            }
        };
        self.nodes.insert(
            node,
            Remote {
                address,
                version,
                interest,
                seen: now,
            },
        );
        outcome
    }

    /// Records that `node` is still at `version`; false if the table holds another version of
    /// it (or none), so the node must announce its interest in full.
    pub fn touch(&mut self, node: NodeId, version: Version, now: Instant) -> bool {
        match self.nodes.get_mut(&node) {
            Some(known) if known.version == version => {
                known.seen = now;
                true
            }
            _ => false,
        }
    }

    /// Forgets `node` (it could not be reached); its next announcement brings it back.
    pub fn forget(&mut self, node: NodeId) {
        self.nodes.remove(&node);
    }

    /// Forgets nodes not heard from within `max_age`; returns them.
    pub fn expire(&mut self, now: Instant, max_age: Duration) -> Vec<NodeId> {
        let stale: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, r)| now.saturating_duration_since(r.seen) > max_age)
            .map(|(id, _)| *id)
            .collect();
        for id in &stale {
            self.nodes.remove(id);
        }
        stale
    }

    /// Nodes the table knows.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Where a message on `topic` goes, given this node's own interest in it.
    pub fn plan(&self, topic: &Topic, local: Option<&TopicInterest>, rng: &mut impl Rng) -> Plan {
        let mut plan = Plan {
            local_plain: local.is_some_and(|l| l.plain),
            ..Plan::default()
        };
        let remote: Vec<(NodeId, &Remote, &TopicInterest)> = self
            .nodes
            .iter()
            .filter_map(|(id, r)| r.interest.get(topic).map(|t| (*id, r, t)))
            .collect();
        for (id, r, t) in &remote {
            if t.plain {
                plan.hop(*id, r).plain = true;
            }
        }
        let groups: BTreeSet<&String> = local
            .into_iter()
            .flat_map(|l| l.groups.keys())
            .chain(remote.iter().flat_map(|(_, _, t)| t.groups.keys()))
            .collect();
        for group in groups {
            let mut candidates: Vec<(Target, u64)> = Vec::new();
            if let Some(n) = local.and_then(|l| l.groups.get(group)) {
                candidates.push((Target::Local, u64::from(*n)));
            }
            for (id, _, t) in &remote {
                if let Some(n) = t.groups.get(group) {
                    candidates.push((Target::Remote(*id), u64::from(*n)));
                }
            }
            match pick(&candidates, rng) {
                Some(Target::Local) => plan.local_groups.push(group.clone()),
                Some(Target::Remote(id)) => {
                    if let Some((_, r, _)) = remote.iter().find(|(n, _, _)| *n == id) {
                        plan.hop(id, r).groups.push(group.clone());
                    }
                }
                None => {}
            }
        }
        plan
    }
}

impl Plan {
    /// The hop to `id`, created on first use.
    fn hop(&mut self, id: NodeId, remote: &Remote) -> &mut Hop {
        self.remote.entry(id).or_insert_with(|| Hop {
            address: remote.address.clone(),
            ..Hop::default()
        })
    }
}

/// One candidate at random, weighted; `None` when all weights are zero.
fn pick(candidates: &[(Target, u64)], rng: &mut impl Rng) -> Option<Target> {
    let total: u64 = candidates.iter().map(|(_, w)| *w).sum();
    if total == 0 {
        return None;
    }
    let mut at = rng.gen_range(0..total);
    for (target, weight) in candidates {
        if at < *weight {
            return Some(*target);
        }
        at -= weight;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn topic(name: &str) -> Topic {
        Topic {
            namespace: "micro".into(),
            name: name.into(),
        }
    }

    fn v(started_ms: u64, seq: u64) -> Version {
        Version { started_ms, seq }
    }

    fn interest(name: &str, plain: bool, groups: &[(&str, u32)]) -> Interest {
        [(
            topic(name),
            TopicInterest {
                plain,
                groups: groups.iter().map(|(g, n)| (g.to_string(), *n)).collect(),
            },
        )]
        .into()
    }

    #[test]
    fn announcements_are_ordered_by_incarnation_then_version() {
        let mut t = InterestTable::default();
        let now = Instant::now();
        let a = || "a:1".to_string();
        assert_eq!(
            t.update(1, a(), v(10, 5), interest("x", true, &[]), now),
            Update::New
        );
        assert_eq!(
            t.update(1, a(), v(10, 6), Interest::new(), now),
            Update::Changed
        );
        // A late, older announcement changes nothing.
        assert_eq!(
            t.update(1, a(), v(10, 5), interest("x", true, &[]), now),
            Update::Unchanged
        );
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!(t.plan(&topic("x"), None, &mut rng).remote.is_empty());
        // A restarted process starts its versions again, and wins.
        assert_eq!(
            t.update(1, a(), v(11, 1), interest("x", true, &[]), now),
            Update::New
        );
        assert!(t.touch(1, v(11, 1), now));
        assert!(
            !t.touch(1, v(11, 2), now),
            "a heartbeat for a version never announced"
        );
        assert!(
            !t.touch(2, v(11, 1), now),
            "a heartbeat from an unknown node"
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn quiet_and_unreachable_members_are_forgotten() {
        let mut t = InterestTable::default();
        let start = Instant::now();
        t.update(1, "a:1".into(), v(1, 1), interest("x", true, &[]), start);
        t.update(2, "b:1".into(), v(1, 1), interest("x", true, &[]), start);
        let later = start + Duration::from_secs(3);
        assert!(t.touch(2, v(1, 1), later));
        assert_eq!(
            t.expire(start + Duration::from_secs(6), Duration::from_secs(5)),
            [1]
        );
        t.forget(2);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn plain_interest_reaches_every_node_and_groups_one() {
        let mut t = InterestTable::default();
        let now = Instant::now();
        t.update(
            1,
            "a:1".into(),
            v(1, 1),
            interest("x", true, &[("g", 1)]),
            now,
        );
        t.update(
            2,
            "b:1".into(),
            v(1, 1),
            interest("x", false, &[("g", 3)]),
            now,
        );
        t.update(
            3,
            "c:1".into(),
            v(1, 1),
            interest("y", true, &[("g", 1)]),
            now,
        );
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut counts = BTreeMap::new();
        for _ in 0..400 {
            let p = t.plan(&topic("x"), None, &mut rng);
            assert!(!p.local_plain);
            assert!(p.local_groups.is_empty());
            assert!(p.remote[&1].plain, "node 1 has plain subscribers");
            assert!(
                !p.remote.contains_key(&3),
                "node 3 listens to another topic"
            );
            let with_g: Vec<_> = p.remote.iter().filter(|(_, h)| h.groups == ["g"]).collect();
            assert_eq!(with_g.len(), 1, "{p:?}");
            *counts.entry(*with_g[0].0).or_insert(0) += 1;
            assert_eq!(p.remote.contains_key(&2), *with_g[0].0 == 2, "no empty hop");
        }
        // Weighted by members: node 2 holds three of the four.
        assert!(counts[&2] > counts[&1] * 2, "{counts:?}");
        // With local members, this node competes like any other.
        let local = TopicInterest {
            plain: true,
            groups: [("g".to_string(), 4)].into(),
        };
        let p = (0..100)
            .map(|_| t.plan(&topic("x"), Some(&local), &mut rng))
            .find(|p| p.local_groups == ["g"]);
        assert!(p.is_some_and(|p| p.local_plain));
    }
}
