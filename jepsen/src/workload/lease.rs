//! The registry workload: each client keeps two instances of one service registered through its
//! node with a short TTL, renewing them, stops renewing one of them partway through, and lists
//! the service over and over; the lease checker judges the listings.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use micro_proto::registry::{registry_client::RegistryClient, GetRequest, Node, Options, Service};
use rand::rngs::StdRng;
use rand::Rng;

use super::{definitely_not_applied, dial, Clock};
use crate::checker::{AddOutcome, Listing, Renewal};

/// The lease each registration asks for (Micro's TTL is three renewal periods).
pub const LEASE_TTL: Duration = Duration::from_secs(3);
/// How often an instance renews.
const RENEW_EVERY: Duration = Duration::from_secs(1);
/// Pause between listings.
const LIST_EVERY: Duration = Duration::from_millis(100);
/// The service every instance belongs to.
const SERVICE: &str = "jepsen-lease";

/// What one client did.
#[derive(Debug, Default)]
pub struct LeaseRecord {
    /// Its registrations and renewals.
    pub renewals: Vec<Renewal>,
    /// Its listings.
    pub listings: Vec<Listing>,
    /// The instance it stopped renewing.
    pub silent: BTreeSet<String>,
}

/// One client on node `node` (`proxy`) until `until`; one of its instances goes silent at a
/// random moment in the middle of the run.
pub async fn lease_client(
    process: u64,
    node: usize,
    proxy: String,
    clock: Clock,
    until: Instant,
    mut rng: StdRng,
) -> LeaseRecord {
    let keeps = format!("p{process}-keeps");
    let stops = format!("p{process}-stops");
    let started = Instant::now();
    let run = until.saturating_duration_since(started);
    let silent_at = started + run.mul_f64(rng.gen_range(0.3..0.6));
    let mut record = LeaseRecord::default();
    record.silent.insert(stops.clone());
    let mut client: Option<RegistryClient<_>> = None;
    let mut next_renewal = Instant::now();
    while Instant::now() < until {
        if client.is_none() {
            client = dial(&proxy).await.map(RegistryClient::new);
        }
        let Some(c) = client.as_mut() else {
            tokio::time::sleep(LIST_EVERY).await;
            continue;
        };
        let mut failed = false;
        if Instant::now() >= next_renewal {
            next_renewal += RENEW_EVERY;
            let mut due = vec![keeps.clone()];
            if Instant::now() < silent_at {
                due.push(stops.clone());
            }
            for instance in due {
                let invoke_ns = clock.now_ns();
                let outcome = match c.register(registration(&instance)).await {
                    Ok(_) => AddOutcome::Ok,
                    Err(s) if definitely_not_applied(&s) => AddOutcome::Fail,
                    Err(_) => AddOutcome::Info,
                };
                failed |= outcome != AddOutcome::Ok;
                record.renewals.push(Renewal {
                    instance,
                    invoke_ns,
                    complete_ns: (outcome != AddOutcome::Info).then(|| clock.now_ns()),
                    outcome,
                });
            }
        }
        let invoke_ns = clock.now_ns();
        let listed = c
            .get_service(GetRequest {
                service: SERVICE.into(),
                options: None,
            })
            .await;
        match listed {
            Ok(r) => record.listings.push(Listing {
                node,
                invoke_ns,
                complete_ns: clock.now_ns(),
                instances: r
                    .into_inner()
                    .services
                    .into_iter()
                    .flat_map(|s| s.nodes)
                    .map(|n| n.id)
                    .collect(),
            }),
            // No instance at all is an empty listing, not an error.
            Err(s) if s.code() == tonic::Code::NotFound => record.listings.push(Listing {
                node,
                invoke_ns,
                complete_ns: clock.now_ns(),
                instances: BTreeSet::new(),
            }),
            Err(_) => failed = true,
        }
        if failed {
            client = None;
        }
        tokio::time::sleep(LIST_EVERY).await;
    }
    record
}

fn registration(instance: &str) -> Service {
    Service {
        name: SERVICE.into(),
        version: "1".into(),
        nodes: vec![Node {
            id: instance.into(),
            address: "127.0.0.1:1".into(),
            ..Default::default()
        }],
        options: Some(Options {
            ttl: LEASE_TTL.as_secs() as i64,
            ..Default::default()
        }),
        ..Default::default()
    }
}
