//! Keeps this node's own services registered, as Micro's core services register themselves:
//! each one as an instance `<service>-<node id>` at this node's proxy address, renewed well
//! within its lease, and deregistered when the node stops.

use std::sync::Arc;
use std::time::Duration;

use micro_proto::registry as pb;
use tokio_util::sync::CancellationToken;

use super::service::{RegistryService, DEFAULT_DOMAIN};
use super::Schemas;

/// Each service a node runs, with the protobuf services that make up its endpoints.
pub const CORE_SERVICES: &[(&str, &[&str])] = &[
    ("auth", &["auth.Auth", "auth.Accounts", "auth.Rules"]),
    ("broker", &["broker.Broker"]),
    ("cluster", &["cluster.Cluster"]),
    ("config", &["config.Config"]),
    ("events", &["events.Stream", "events.Store"]),
    ("registry", &["registry.Registry"]),
    ("store", &["store.Store"]),
];
/// Lease of each registration (Micro's default).
const TTL: Duration = Duration::from_secs(90);
/// Renewal period (Micro's services re-register every 30 s).
const RENEW: Duration = Duration::from_secs(30);
/// Retry period while registering fails (no leader yet, no quorum).
const RETRY: Duration = Duration::from_secs(2);
/// How long deregistering at shutdown may take before the node stops anyway.
const DEREGISTER_BOUND: Duration = Duration::from_secs(1);

/// This node's registrations, built once.
fn registrations(node_id: &str, address: &str) -> anyhow::Result<Vec<pb::Service>> {
    let schemas = Schemas::load()?;
    Ok(CORE_SERVICES
        .iter()
        .map(|(name, protos)| pb::Service {
            name: (*name).to_owned(),
            version: crate::VERSION.to_owned(),
            metadata: Default::default(),
            endpoints: protos.iter().flat_map(|p| schemas.endpoints(p)).collect(),
            nodes: vec![pb::Node {
                id: format!("{name}-{node_id}"),
                address: address.to_owned(),
                port: 0,
                metadata: [("protocol".to_owned(), "grpc".to_owned())].into(),
            }],
            options: Some(pb::Options {
                ttl: TTL.as_secs() as i64,
                domain: DEFAULT_DOMAIN.to_owned(),
            }),
        })
        .collect())
}

/// Registers the core services of the node `node_id` (reached at `address`) until `stop`,
/// then deregisters them (bounded, best effort: an expired lease removes them otherwise).
pub async fn announce(
    registry: RegistryService,
    node_id: String,
    address: String,
    stop: CancellationToken,
) {
    let services = match registrations(&node_id, &address) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot describe this node's services for the registry");
            return;
        }
    };
    loop {
        let mut failed = false;
        for svc in services.iter() {
            if let Err(e) = registry
                .register_in(DEFAULT_DOMAIN.to_owned(), svc.clone())
                .await
            {
                tracing::debug!(service = %svc.name, error = %e, "registration not renewed");
                failed = true;
            }
        }
        let wait = if failed { RETRY } else { RENEW };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    let leave = async {
        for svc in services.iter() {
            let _ = registry
                .deregister_in(DEFAULT_DOMAIN.to_owned(), svc.clone())
                .await;
        }
    };
    if tokio::time::timeout(DEREGISTER_BOUND, leave).await.is_err() {
        tracing::debug!("deregistering this node's services timed out; their leases will end");
    }
}
