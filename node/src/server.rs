//! Starting and stopping a node: bind listeners, start the raft member, serve the edges.
//!
//! Shutdown order: a leader hands leadership over (so stopping costs no election timeout), the
//! edges stop accepting and finish in-flight requests, workers stop, raft shuts down, storage
//! flushes, the peer server stops, and remaining tasks get a bounded wait.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use micro_proto::{
    auth as auth_pb, broker as broker_pb, cluster as cluster_pb, config as config_pb,
    events as events_pb, registry as registry_pb, store as store_pb,
};
use micro_raft::{Cluster, ClusterOptions, MemberNode, StartMode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{JsonService, Services};
use crate::auth::{AuthService, Guard, GuardLayer, Tokens};
use crate::broker::{BrokerService, Fanout};
use crate::cluster::ClusterService;
use crate::config::{advertised, advertised_host, Config, ValidConfig};
use crate::config_service::{
    reseal_secrets, ConfigService, Keys, SecretCipher, CONFIG_KEY_NAME, KEY_BYTES,
};
use crate::events::EventsService;
use crate::expiry::remove_due;
use crate::json_grpc::JsonGrpcLayer;
use crate::registry::{announce, RegistryService};
use crate::store::StoreService;

/// Largest gRPC message accepted (values are at most 1 MiB).
const MAX_GRPC_MESSAGE: usize = 4 * 1024 * 1024;
/// How long shutdown lets the edges finish in-flight requests.
const EDGE_DRAIN: Duration = Duration::from_secs(5);
/// How long shutdown waits for leftover tasks.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// The bound sockets a node serves on; tests bind port 0.
pub struct Listeners {
    /// HTTP gateway.
    pub api: TcpListener,
    /// gRPC proxy.
    pub proxy: TcpListener,
    /// Peer QUIC.
    pub peer: std::net::UdpSocket,
    /// Health, readiness and metrics.
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds the addresses of `cfg`.
    pub async fn bind(cfg: &ValidConfig) -> anyhow::Result<Listeners> {
        let api = TcpListener::bind(cfg.api_address)
            .await
            .with_context(|| format!("binding --api-address {}", cfg.api_address))?;
        let proxy = TcpListener::bind(cfg.proxy_address)
            .await
            .with_context(|| format!("binding --proxy-address {}", cfg.proxy_address))?;
        let peer = std::net::UdpSocket::bind(cfg.peer_address)
            .with_context(|| format!("binding --peer-address {}", cfg.peer_address))?;
        let admin = TcpListener::bind(cfg.admin_address)
            .await
            .with_context(|| format!("binding --admin-address {}", cfg.admin_address))?;
        Ok(Listeners {
            api,
            proxy,
            peer,
            admin,
        })
    }
}

/// A running node.
pub struct Node {
    cluster: Arc<Cluster>,
    tracker: TaskTracker,
    /// Cancels the edges and workers (a child of the root token).
    stop: CancellationToken,
    /// Cancels the peer server, after raft has shut down. Not a child of the root token: a
    /// leader handing over at shutdown still needs its peers' votes and appends.
    peer_stop: CancellationToken,
    edges: Vec<tokio::task::JoinHandle<()>>,
    /// How the node came up.
    pub mode: StartMode,
    /// Bound gateway address.
    pub api_address: SocketAddr,
    /// Bound proxy address.
    pub proxy_address: SocketAddr,
    /// Bound admin address.
    pub admin_address: SocketAddr,
}

/// The address members record for a listener bound to `bound`: a wildcard bind takes the
/// advertised peer host (`advertise_host`, when `--advertise-address` was given).
fn advertise_with(advertise_host: Option<&str>, bound: SocketAddr) -> String {
    match advertise_host {
        Some(host) if bound.ip().is_unspecified() => format!("{host}:{}", bound.port()),
        _ => advertised(bound).to_string(),
    }
}

impl Node {
    /// Starts a node on `listeners`; it runs until `stop` is cancelled and `shutdown` is called.
    pub async fn start(
        cfg: ValidConfig,
        listeners: Listeners,
        stop: CancellationToken,
    ) -> anyhow::Result<Node> {
        crate::admin::install_metrics();
        let tracker = TaskTracker::new();
        let api_address = listeners.api.local_addr()?;
        let admin_address = listeners.admin.local_addr()?;
        let proxy_address = listeners.proxy.local_addr()?;
        let peer_bound = listeners.peer.local_addr()?;
        let peer_adv = match &cfg.advertise_address {
            Some(a) => a.clone(),
            None if cfg.peer_address.port() == 0 => advertised(peer_bound).to_string(),
            None => advertised(cfg.peer_address).to_string(),
        };
        let host = cfg.advertise_address.as_deref().map(advertised_host);
        let this = MemberNode {
            api_address: advertise_with(host, api_address),
            proxy_address: advertise_with(host, proxy_address),
            peer_address: peer_adv,
        };
        // Checked before the cluster is founded, so a bad backup writes nothing.
        crate::restore::check_unfinished(&cfg.data_dir)?;
        let restore = match &cfg.restore {
            Some(file) => Some(crate::restore::prepare(&cfg, file)?),
            None => None,
        };
        let opts = ClusterOptions {
            data_dir: cfg.data_dir.clone(),
            peer_socket: listeners.peer,
            this,
            join: cfg.join.map(|(target, token)| (target, token.0)),
            bootstrap_token: cfg.bootstrap_token.map(|t| t.0),
            ca: cfg.ca.map(|(cert, key)| (cert, key.0)),
            snapshot_threshold: cfg.snapshot_threshold,
            secrets: cfg
                .config_secret_key
                .iter()
                .map(|k| (CONFIG_KEY_NAME.to_owned(), k.0.clone()))
                .collect(),
            generated_secrets: vec![(CONFIG_KEY_NAME.to_owned(), KEY_BYTES)],
            learner: cfg.learner,
            force_new_cluster: cfg.force_new_cluster,
        };
        let peer_stop = CancellationToken::new();
        // Stops the peer server if start-up fails past this point; disarmed once it succeeds.
        let peer_guard = peer_stop.clone().drop_guard();
        let (cluster, mode) = Cluster::start(opts, &tracker, peer_stop.clone())
            .await
            .context("starting the raft member")?;
        if let Some(pending) = restore {
            crate::restore::load(pending, &cluster)
                .await
                .context("restoring the backup")?;
        }
        let stop = stop.child_token();

        let store = StoreService::new(cluster.clone(), &tracker, stop.clone());
        let cluster_svc = ClusterService::new(cluster.clone());
        let key = cluster.shared_secret(CONFIG_KEY_NAME).context(
            "the cluster has no config secret key, which sealing secrets and signing tokens need",
        )?;
        let cipher = SecretCipher::new(key).context("the cluster's config secret key")?;
        let keys = Keys::new(cluster.clone(), cipher.clone());
        let config_svc = ConfigService::new(cluster.clone(), keys.clone());
        let tokens = Arc::new(Tokens::new(cluster.clone(), cipher.clone()));
        let guard = Arc::new(Guard::new(cluster.clone(), tokens.clone()));
        let auth_svc = AuthService::new(cluster.clone(), tokens, cipher, cfg.disable_admin);
        let registry_svc = RegistryService::new(cluster.clone(), &tracker, stop.clone());
        let fanout = Fanout::new(cluster.clone());
        let broker_svc = BrokerService::new(fanout.clone(), stop.clone());
        let events_svc = EventsService::new(cluster.clone(), &tracker, stop.clone());
        let services = Arc::new(Services::new(
            guard.clone(),
            [
                ("store", Arc::new(store.clone()) as Arc<dyn JsonService>),
                (
                    "cluster",
                    Arc::new(cluster_svc.clone()) as Arc<dyn JsonService>,
                ),
                (
                    "config",
                    Arc::new(config_svc.clone()) as Arc<dyn JsonService>,
                ),
                ("auth", Arc::new(auth_svc.clone()) as Arc<dyn JsonService>),
                (
                    "registry",
                    Arc::new(registry_svc.clone()) as Arc<dyn JsonService>,
                ),
                (
                    "broker",
                    Arc::new(broker_svc.clone()) as Arc<dyn JsonService>,
                ),
                (
                    "events",
                    Arc::new(events_svc.clone()) as Arc<dyn JsonService>,
                ),
            ],
        ));
        let mut edges = Vec::new();
        let (admin_cluster, admin_stop) = (cluster.clone(), stop.clone());
        edges.push(tokio::spawn(async move {
            match crate::admin::serve(listeners.admin, admin_cluster, admin_stop).await {
                Ok(()) => tracing::info!("admin listener stopped"),
                Err(e) => tracing::error!(error = %e, "admin listener failed"),
            }
        }));
        let api_stop = stop.clone();
        let api_services = services.clone();
        edges.push(tokio::spawn(async move {
            if let Err(e) =
                micro_gateway::serve(listeners.api, api_services, crate::VERSION.into(), api_stop)
                    .await
            {
                tracing::error!(error = %e, "api gateway stopped");
            }
        }));
        let grpc = tonic::transport::Server::builder()
            .layer(GuardLayer::new(guard))
            .layer(JsonGrpcLayer::new(services.clone(), MAX_GRPC_MESSAGE))
            .add_service(
                store_pb::store_server::StoreServer::new(store)
                    .max_decoding_message_size(MAX_GRPC_MESSAGE),
            )
            .add_service(
                config_pb::config_server::ConfigServer::new(config_svc)
                    .max_decoding_message_size(MAX_GRPC_MESSAGE),
            )
            .add_service(
                cluster_pb::cluster_server::ClusterServer::new(cluster_svc)
                    .max_decoding_message_size(MAX_GRPC_MESSAGE),
            )
            .add_service(
                auth_pb::auth_server::AuthServer::new(auth_svc.clone())
                    .max_decoding_message_size(MAX_GRPC_MESSAGE),
            )
            .add_service(
                auth_pb::accounts_server::AccountsServer::new(auth_svc.clone())
                    .max_decoding_message_size(MAX_GRPC_MESSAGE),
            )
            .add_service(
                auth_pb::rules_server::RulesServer::new(auth_svc)
                    .max_decoding_message_size(MAX_GRPC_MESSAGE),
            )
            .add_service(
                registry_pb::registry_server::RegistryServer::new(registry_svc.clone())
                    .max_decoding_message_size(MAX_GRPC_MESSAGE),
            )
            .add_service(
                broker_pb::broker_server::BrokerServer::new(broker_svc)
                    .max_decoding_message_size(MAX_GRPC_MESSAGE),
            )
            .add_service(
                events_pb::stream_server::StreamServer::new(events_svc.clone())
                    .max_decoding_message_size(MAX_GRPC_MESSAGE),
            )
            .add_service(
                events_pb::store_server::StoreServer::new(events_svc)
                    .max_decoding_message_size(MAX_GRPC_MESSAGE),
            );
        let proxy_stop = stop.clone();
        // tonic sets TCP_NODELAY only on listeners it binds itself. Without it, the last small
        // write of an answer waits for the client's delayed ACK: 44 ms per gRPC read.
        let incoming = tokio_stream::StreamExt::map(
            tokio_stream::wrappers::TcpListenerStream::new(listeners.proxy),
            |accepted| {
                if let Ok(stream) = &accepted {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::warn!(error = %e, "cannot set TCP_NODELAY on a gRPC connection");
                    }
                }
                accepted
            },
        );
        edges.push(tokio::spawn(async move {
            match grpc
                .serve_with_incoming_shutdown(incoming, proxy_stop.cancelled_owned())
                .await
            {
                Ok(()) => tracing::info!("gRPC proxy stopped"),
                Err(e) => tracing::error!(error = %e, "gRPC proxy failed"),
            }
        }));
        tracker.spawn(remove_due(
            cluster.clone(),
            crate::store::EXPIRY,
            stop.clone(),
        ));
        tracker.spawn(remove_due(
            cluster.clone(),
            crate::registry::EXPIRY,
            stop.clone(),
        ));
        tracker.spawn(reseal_secrets(cluster.clone(), keys, stop.clone()));
        if let Some(after) = cfg.autopilot_cleanup_dead {
            tracker.spawn(crate::autopilot::cleanup_dead(
                cluster.clone(),
                after,
                stop.clone(),
            ));
        }
        tracker.spawn(announce(
            registry_svc,
            format!("{:016x}", cluster.id()),
            cluster.this().proxy_address.clone(),
            stop.clone(),
        ));
        tracker.spawn(fanout.announce(stop.clone()));
        tracker.spawn(report_raft_failure(cluster.clone(), stop.clone()));
        tracker.spawn(remove_due(
            cluster.clone(),
            crate::events::RETENTION,
            stop.clone(),
        ));

        peer_guard.disarm();
        Ok(Node {
            cluster,
            tracker,
            stop,
            peer_stop,
            edges,
            mode,
            api_address,
            proxy_address,
            admin_address,
        })
    }

    /// The raft member.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Stops the node in order; teardown errors are logged, not returned.
    pub async fn shutdown(self) {
        match self.cluster.hand_over_leadership().await {
            Ok(Some(to)) => tracing::info!(to = %format!("{to:016x}"), "handed leadership over"),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not hand leadership over; the others will elect")
            }
        }
        self.stop.cancel();
        // In-flight requests get a bounded drain: a client that keeps an idle connection open
        // must not hold the node up forever.
        let deadline = tokio::time::Instant::now() + EDGE_DRAIN;
        for mut edge in self.edges {
            match tokio::time::timeout_at(deadline, &mut edge).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "edge task ended abnormally"),
                Err(_) => {
                    tracing::warn!(
                        "an edge still had open connections after {EDGE_DRAIN:?}; closing it"
                    );
                    edge.abort();
                }
            }
        }
        self.cluster.shutdown().await;
        self.peer_stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = self.tracker.len(),
                "tasks still running after the shutdown grace period"
            );
        }
    }
}

/// Logs, once, that raft stopped on an error and what the operator must do: the process goes
/// on answering (every request gets the reason) until it is restarted.
async fn report_raft_failure(cluster: Arc<Cluster>, stop: CancellationToken) {
    tokio::select! {
        _ = stop.cancelled() => {}
        why = cluster.raft_failed() => tracing::error!(
            error = %why,
            "raft stopped: this node serves no reads or writes until it is restarted; fix the \
             cause (free disk space, replace a failing disk) and restart it on its data dir"
        ),
    }
}

/// Runs `micro server` until `stop` is cancelled.
pub async fn run(config: Config, stop: CancellationToken) -> anyhow::Result<()> {
    let cfg = config.validate().context("invalid server configuration")?;
    let data_dir = cfg.data_dir.clone();
    let token_given = cfg.bootstrap_token.is_some();
    let listeners = Listeners::bind(&cfg).await?;
    let node = Node::start(cfg, listeners, stop.clone()).await?;
    let c = node.cluster().clone();
    let how = match node.mode {
        StartMode::Bootstrapped => "bootstrapped a new cluster",
        StartMode::Joined => "joined the cluster",
        StartMode::Restarted => "restarted from its data dir",
    };
    tracing::info!(
        node = %format!("{:016x}", c.id()),
        data_dir = %data_dir.display(),
        api = %node.api_address,
        proxy = %node.proxy_address,
        admin = %node.admin_address,
        peer = %c.this().peer_address,
        "micro server {how}"
    );
    if node.mode == StartMode::Bootstrapped && !token_given {
        // Printed once, to the terminal only (never to logs); also in <data-dir>/join-token.
        println!(
            "Join token (also in {}): {}",
            data_dir.join("join-token").display(),
            c.join_token()
        );
    }
    stop.cancelled().await;
    tracing::info!("shutting down");
    node.shutdown().await;
    Ok(())
}
