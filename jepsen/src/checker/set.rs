//! The set checker: compares what clients added with the final listing read from every node.
//!
//! For set-style workloads it reports lost, duplicated, unexpected, failed-yet-present and
//! divergent elements; for append-style logs [`check_same_order`] checks every node agrees on
//! the order of the elements they share.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// How a client's attempt to add one element ended, per the outcome contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AddOutcome {
    /// Acknowledged: must be present on every node.
    Ok,
    /// Known not applied: must be absent everywhere.
    Fail,
    /// Unknown: may be present or absent, but the same on every node after convergence.
    Info,
}

/// The set checker's findings. Maps are keyed by node name; empty maps mean no anomaly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetReport {
    /// Acknowledged elements missing from a node's listing.
    pub lost: BTreeMap<String, BTreeSet<String>>,
    /// Elements a node listed more than once, with how many times.
    pub duplicated: BTreeMap<String, BTreeMap<String, usize>>,
    /// Elements a node listed that no client ever tried to add.
    pub unexpected: BTreeMap<String, BTreeSet<String>>,
    /// Elements whose add failed (known not applied) yet a node listed.
    pub failed_present: BTreeMap<String, BTreeSet<String>>,
    /// Elements some nodes list and others do not (nodes have not converged).
    pub divergent: BTreeSet<String>,
    /// Info adds present on every node: they took effect (informational, not an anomaly).
    pub recovered: BTreeSet<String>,
    /// Attempted adds, by outcome.
    pub attempted: SetCounts,
}

/// Attempted adds by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SetCounts {
    /// Acknowledged adds.
    pub ok: usize,
    /// Failed adds.
    pub fail: usize,
    /// Adds with an unknown outcome.
    pub info: usize,
}

impl SetReport {
    /// Whether no anomaly was found (`recovered` is not an anomaly).
    pub fn is_valid(&self) -> bool {
        self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.unexpected.is_empty()
            && self.failed_present.is_empty()
            && self.divergent.is_empty()
    }
}

/// Checks final per-node listings (node name → elements, in listed order) against the adds
/// clients attempted (element → outcome).
pub fn check_set(
    adds: &BTreeMap<String, AddOutcome>,
    listings: &BTreeMap<String, Vec<String>>,
) -> SetReport {
    let mut report = SetReport::default();
    for outcome in adds.values() {
        match outcome {
            AddOutcome::Ok => report.attempted.ok += 1,
            AddOutcome::Fail => report.attempted.fail += 1,
            AddOutcome::Info => report.attempted.info += 1,
        }
    }
    let mut nodes_listing: BTreeMap<&str, usize> = BTreeMap::new();
    for (node, listing) in listings {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for e in listing {
            *seen.entry(e).or_default() += 1;
        }
        let dups: BTreeMap<String, usize> = seen
            .iter()
            .filter(|(_, &n)| n > 1)
            .map(|(e, &n)| ((*e).to_owned(), n))
            .collect();
        insert_nonempty(&mut report.duplicated, node, dups);
        let lost = adds
            .iter()
            .filter(|(e, o)| **o == AddOutcome::Ok && !seen.contains_key(e.as_str()))
            .map(|(e, _)| e.clone())
            .collect();
        insert_nonempty(&mut report.lost, node, lost);
        let listed_with = |want: Option<AddOutcome>| -> BTreeSet<String> {
            seen.keys()
                .filter(|e| adds.get(**e).copied() == want)
                .map(|e| (*e).to_owned())
                .collect()
        };
        insert_nonempty(&mut report.unexpected, node, listed_with(None));
        insert_nonempty(
            &mut report.failed_present,
            node,
            listed_with(Some(AddOutcome::Fail)),
        );
        for e in seen.keys() {
            *nodes_listing.entry(e).or_default() += 1;
        }
    }
    for (e, n) in nodes_listing {
        if n < listings.len() {
            report.divergent.insert(e.to_owned());
        } else if adds.get(e) == Some(&AddOutcome::Info) {
            report.recovered.insert(e.to_owned());
        }
    }
    report
}

fn insert_nonempty<V: IsEmpty>(map: &mut BTreeMap<String, V>, node: &str, v: V) {
    if !v.is_empty() {
        map.insert(node.to_owned(), v);
    }
}

/// Collections that can be empty; lets `insert_nonempty` skip nodes without findings.
trait IsEmpty {
    fn is_empty(&self) -> bool;
}

impl<T> IsEmpty for BTreeSet<T> {
    fn is_empty(&self) -> bool {
        BTreeSet::is_empty(self)
    }
}

impl<K, V> IsEmpty for BTreeMap<K, V> {
    fn is_empty(&self) -> bool {
        BTreeMap::is_empty(self)
    }
}

/// Where a node's log orders shared elements differently from the reference node's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderDivergence {
    /// The reference node (the first by name).
    pub reference: String,
    /// The node that disagrees.
    pub node: String,
    /// Position in the two logs restricted to the elements both contain.
    pub position: usize,
    /// The reference's element there (`None`: the reference's restricted log ended).
    pub expected: Option<String>,
    /// The node's element there (`None`: the node's restricted log ended).
    pub found: Option<String>,
}

/// Checks that append-style logs (node name → log) order the elements they share identically.
///
/// Each node is compared with the first node by name, both logs restricted to the elements
/// both contain; missing elements are the set checker's business. Returns the first divergence
/// of each disagreeing node, empty when all agree.
pub fn check_same_order(logs: &BTreeMap<String, Vec<String>>) -> Vec<OrderDivergence> {
    let Some((reference, base)) = logs.iter().next() else {
        return Vec::new();
    };
    let base_set: BTreeSet<&String> = base.iter().collect();
    let mut out = Vec::new();
    for (node, log) in logs.iter().skip(1) {
        let log_set: BTreeSet<&String> = log.iter().collect();
        let a: Vec<&String> = base.iter().filter(|e| log_set.contains(e)).collect();
        let b: Vec<&String> = log.iter().filter(|e| base_set.contains(e)).collect();
        let position = (0..a.len().max(b.len())).find(|&k| a.get(k) != b.get(k));
        if let Some(position) = position {
            out.push(OrderDivergence {
                reference: reference.clone(),
                node: node.clone(),
                position,
                expected: a.get(position).map(|e| (*e).clone()),
                found: b.get(position).map(|e| (*e).clone()),
            });
        }
    }
    out
}

#[cfg(test)]
#[path = "set_test.rs"]
mod tests;
