//! The lease checker, for the registry workload: an instance that renewed is listed until its
//! lease runs out, and one that went silent is gone soon after its lease ran out.
//!
//! Times are the run's monotonic nanoseconds. A renewal acknowledged at `complete` and sent at
//! `invoke` guarantees the instance until at least `invoke + ttl` (the leader stamps the entry
//! after `invoke`); a read ran at some moment between its own `invoke` and `complete`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::AddOutcome;

/// One registration or renewal of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renewal {
    /// The instance (node id).
    pub instance: String,
    /// When it was sent.
    pub invoke_ns: u64,
    /// When it was answered (`None` for info renewals).
    pub complete_ns: Option<u64>,
    /// How it ended.
    pub outcome: AddOutcome,
}

/// One listing of the service's instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// The node it was read from.
    pub node: usize,
    /// When it was sent.
    pub invoke_ns: u64,
    /// When it was answered.
    pub complete_ns: u64,
    /// The instances listed.
    pub instances: BTreeSet<String>,
}

/// What the checker is told about the run.
#[derive(Debug, Clone, Copy)]
pub struct LeaseConfig {
    /// The lease every registration asked for.
    pub ttl_ns: u64,
    /// How late a silent instance may still be listed after its lease ran out (the expiry
    /// worker's step and the removal's commit), and how much clock difference between nodes
    /// the checks allow either way.
    pub slack_ns: u64,
}

/// A listing that broke a lease rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseViolation {
    /// The instance.
    pub instance: String,
    /// The listing (its index in the listings given).
    pub listing: usize,
    /// The renewal that should have kept it (false expiry) or its last renewal (overstay).
    pub renewal_invoke_ns: u64,
}

/// The lease checker's findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LeaseReport {
    /// Renewing instances missing from a listing made while a renewal still held them.
    pub false_expiries: Vec<LeaseViolation>,
    /// Silent instances still listed well after their last lease ran out.
    pub overstays: Vec<LeaseViolation>,
    /// Listings checked.
    pub listings: usize,
    /// Renewals by outcome: ok, fail, info.
    pub renewals: [usize; 3],
}

impl LeaseReport {
    /// Whether no rule was broken.
    pub fn is_valid(&self) -> bool {
        self.false_expiries.is_empty() && self.overstays.is_empty()
    }
}

/// Checks `listings` against `renewals`. `silent` names instances whose client stopped
/// renewing them for good; every renewal of theirs is in `renewals`.
pub fn check_leases(
    renewals: &[Renewal],
    listings: &[Listing],
    silent: &BTreeSet<String>,
    config: LeaseConfig,
) -> LeaseReport {
    let mut report = LeaseReport {
        listings: listings.len(),
        ..Default::default()
    };
    let mut by_instance: BTreeMap<&str, Vec<&Renewal>> = BTreeMap::new();
    for r in renewals {
        report.renewals[match r.outcome {
            AddOutcome::Ok => 0,
            AddOutcome::Fail => 1,
            AddOutcome::Info => 2,
        }] += 1;
        by_instance.entry(&r.instance).or_default().push(r);
    }
    for (instance, rs) in &by_instance {
        for (i, l) in listings.iter().enumerate() {
            let listed = l.instances.contains(*instance);
            if !listed {
                // The latest-starting acknowledged renewal answered before the listing began.
                let holding = rs
                    .iter()
                    .filter(|r| r.outcome == AddOutcome::Ok)
                    .filter(|r| r.complete_ns.is_some_and(|c| c <= l.invoke_ns))
                    .map(|r| r.invoke_ns)
                    .max();
                if let Some(since) = holding {
                    if l.complete_ns + config.slack_ns < since + config.ttl_ns {
                        report.false_expiries.push(LeaseViolation {
                            instance: instance.to_string(),
                            listing: i,
                            renewal_invoke_ns: since,
                        });
                    }
                }
            } else if silent.contains(*instance) {
                // Any renewal, even one whose outcome is unknown, may have extended the lease
                // from as late as its answer (or, unanswered, its deadline); judge from the
                // latest such moment.
                let last = rs
                    .iter()
                    .filter(|r| r.outcome != AddOutcome::Fail)
                    .map(|r| r.complete_ns.unwrap_or(u64::MAX))
                    .max();
                if let Some(last) = last {
                    let gone_by = last
                        .saturating_add(config.ttl_ns)
                        .saturating_add(config.slack_ns);
                    if l.invoke_ns > gone_by {
                        report.overstays.push(LeaseViolation {
                            instance: instance.to_string(),
                            listing: i,
                            renewal_invoke_ns: last,
                        });
                    }
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const CONFIG: LeaseConfig = LeaseConfig {
        ttl_ns: 4 * S,
        slack_ns: S,
    };

    fn renewal(instance: &str, invoke: u64, complete: Option<u64>, outcome: AddOutcome) -> Renewal {
        Renewal {
            instance: instance.into(),
            invoke_ns: invoke,
            complete_ns: complete,
            outcome,
        }
    }

    fn listing(invoke: u64, complete: u64, instances: &[&str]) -> Listing {
        Listing {
            node: 0,
            invoke_ns: invoke,
            complete_ns: complete,
            instances: instances.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_renewed_instance_must_be_listed_until_its_lease_ends() {
        let renewals = [renewal("a", 10 * S, Some(11 * S), AddOutcome::Ok)];
        let silent = BTreeSet::new();
        // Listed while held, absent after the lease and slack: fine.
        let fine = [
            listing(12 * S, 12 * S + 1, &["a"]),
            listing(16 * S, 16 * S + 1, &[]),
        ];
        assert!(check_leases(&renewals, &fine, &silent, CONFIG).is_valid());
        // Absent 2 s after the renewal: a false expiry.
        let early = [listing(12 * S, 12 * S + 1, &[])];
        let report = check_leases(&renewals, &early, &silent, CONFIG);
        assert_eq!(report.false_expiries.len(), 1);
        assert_eq!(report.false_expiries[0].renewal_invoke_ns, 10 * S);
        // A listing that began before the renewal was answered proves nothing.
        let racing = [listing(10 * S + 5, 12 * S, &[])];
        assert!(check_leases(&renewals, &racing, &silent, CONFIG).is_valid());
    }

    #[test]
    fn failed_and_unknown_renewals_do_not_hold_an_instance() {
        let renewals = [
            renewal("a", 10 * S, Some(11 * S), AddOutcome::Fail),
            renewal("a", 12 * S, None, AddOutcome::Info),
        ];
        let early = [listing(13 * S, 13 * S + 1, &[])];
        assert!(check_leases(&renewals, &early, &BTreeSet::new(), CONFIG).is_valid());
    }

    #[test]
    fn a_silent_instance_must_go_once_its_last_lease_ends() {
        let renewals = [
            renewal("b", 10 * S, Some(11 * S), AddOutcome::Ok),
            renewal("b", 12 * S, Some(13 * S), AddOutcome::Fail),
        ];
        let silent = BTreeSet::from(["b".to_owned()]);
        // Last lease from the ok renewal: gone by 11 + 4 + 1 = 16 s.
        let fine = [listing(15 * S, 15 * S + 1, &["b"])];
        assert!(check_leases(&renewals, &fine, &silent, CONFIG).is_valid());
        let late = [listing(17 * S, 17 * S + 1, &["b"])];
        let report = check_leases(&renewals, &late, &silent, CONFIG);
        assert_eq!(report.overstays.len(), 1);
        // An unanswered renewal may still land: no bound can be judged.
        let mut unknown = renewals.to_vec();
        unknown.push(renewal("b", 14 * S, None, AddOutcome::Info));
        assert!(check_leases(&unknown, &late, &silent, CONFIG).is_valid());
        // Instances still renewing may be listed forever.
        assert!(check_leases(&renewals, &late, &BTreeSet::new(), CONFIG).is_valid());
    }
}
