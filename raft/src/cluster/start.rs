//! Starting a member: restart from the data dir, bootstrap a new cluster, or join one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::{Config, SnapshotPolicy};
use rand::Rng;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::data_dir::{Credentials, DataDir, SharedSecrets};
use super::member::{Cluster, MAX_HOPS};
use super::{join, ClusterError};
use crate::frame::{PeerRequest, PeerResponse};
use crate::log_store::LogStore;
use crate::state_machine::StateMachineStore;
use crate::tls::{self, ClusterCa};
use crate::token::{ca_fingerprint, JoinToken};
use crate::transport::{self, NetworkFactory, PeerClient, PeerHandler};
use crate::typ::Raft;
use crate::MemberNode;

/// How a member came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// A new single-node cluster was created.
    Bootstrapped,
    /// This node joined an existing cluster.
    Joined,
    /// This node restarted on its data dir.
    Restarted,
}

/// What a member needs to start.
pub struct ClusterOptions {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The bound UDP socket for peer QUIC.
    pub peer_socket: std::net::UdpSocket,
    /// This node's advertised addresses.
    pub this: MemberNode,
    /// `(peer address of a member, join token)` to join a cluster.
    pub join: Option<(String, String)>,
    /// Without `join`: the join token a bootstrap uses instead of generating one. It must pin
    /// `ca`, so a token can be handed out before the cluster exists (Kubernetes Secrets).
    pub bootstrap_token: Option<String>,
    /// `(certificate PEM, key PEM)` of the CA a bootstrap uses instead of generating one. A
    /// joining or restarting node given one is refused unless it is the cluster's CA.
    pub ca: Option<(String, String)>,
    /// Log entries between snapshots.
    pub snapshot_threshold: u64,
    /// Secrets every member must share, by name. A bootstrap stores them as the cluster's; a
    /// joining or restarting node must hold the same values (it is refused otherwise) and
    /// receives any it was not given from the cluster.
    pub secrets: SharedSecrets,
    /// Secrets a bootstrap generates when not given: `(name, length in bytes)`.
    pub generated_secrets: Vec<(String, usize)>,
    /// Join as a learner that is never promoted automatically (a read-scaling non-voter).
    pub learner: bool,
    /// Restart a surviving member as a one-voter cluster that keeps every entry it has
    /// (recovery from a permanently lost quorum; the other members must be wiped and rejoin).
    pub force_new_cluster: bool,
}

/// The secrets a new cluster starts with: those given, plus random ones for the rest.
fn bootstrap_secrets(opts: &ClusterOptions) -> SharedSecrets {
    let mut secrets = opts.secrets.clone();
    for (name, len) in &opts.generated_secrets {
        secrets.entry(name.clone()).or_insert_with(|| {
            let mut v = vec![0u8; *len];
            rand::thread_rng().fill(v.as_mut_slice());
            v
        });
    }
    secrets
}

/// Refuses a node whose given secrets differ from the cluster's (compared by fingerprint, never
/// printed).
fn check_secrets(given: &SharedSecrets, cluster: &SharedSecrets) -> Result<(), ClusterError> {
    for (name, value) in given {
        match cluster.get(name) {
            Some(theirs) if theirs == value => {}
            Some(theirs) => {
                return Err(ClusterError::JoinRefused(format!(
                "the {name} given to this node (fingerprint {}) differs from the cluster's ({})",
                fingerprint(value),
                fingerprint(theirs)
            )))
            }
            None => {
                return Err(ClusterError::JoinRefused(format!(
                    "a {name} was given to this node but the cluster has none"
                )))
            }
        }
    }
    Ok(())
}

/// The join token of a new cluster: the one given (which must pin `ca`) or a fresh one.
fn bootstrap_token(given: Option<&str>, ca: &ClusterCa) -> Result<JoinToken, ClusterError> {
    let ca_der = ca.cert_der()?;
    let Some(text) = given else {
        return Ok(JoinToken::generate(&ca_der));
    };
    let token = JoinToken::parse(text).map_err(|e| ClusterError::Refused(e.to_string()))?;
    if token.ca_hash != ca_fingerprint(&ca_der) {
        return Err(ClusterError::Refused(
            "the join token given to bootstrap a cluster does not pin its CA: give the CA it \
             was made for (--ca-cert/--ca-key), or no token to have one generated"
                .into(),
        ));
    }
    Ok(token)
}

/// Refuses a node given a CA other than the cluster's (compared by certificate fingerprint).
fn check_ca(given: Option<&(String, String)>, cluster: &ClusterCa) -> Result<(), ClusterError> {
    let Some((cert, _)) = given else {
        return Ok(());
    };
    let given = rustls_pemfile::certs(&mut cert.as_bytes())
        .next()
        .and_then(Result::ok)
        .map(|der| ca_fingerprint(&der));
    if given != Some(ca_fingerprint(&cluster.cert_der()?)) {
        return Err(ClusterError::JoinRefused(
            "the CA given to this node (--ca-cert) is not the cluster's".into(),
        ));
    }
    Ok(())
}

fn fingerprint(secret: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(secret)[..8])
}

/// The raft timing and snapshot policy.
///
/// A follower of openraft 0.9 that has seen a leader campaigns only after the leader lease
/// (`election_timeout_max`) plus its own timeout (drawn once from `[min, max)`) pass without a
/// heartbeat, and refuses votes until the lease is over. So a failover takes 750–900 ms after
/// the last heartbeat here (1000/2000 took 3–4 s), and a stall of a healthy node must exceed
/// 750 ms before it disturbs the leader.
fn raft_config(snapshot_threshold: u64) -> Result<Arc<Config>, ClusterError> {
    let cfg = Config {
        cluster_name: "micro".into(),
        heartbeat_interval: 100,
        election_timeout_min: 300,
        election_timeout_max: 450,
        install_snapshot_timeout: 10_000,
        max_payload_entries: 256,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(snapshot_threshold),
        // Keep a window of the log behind each snapshot so slightly lagging followers catch up
        // from the log; anything further behind receives the snapshot.
        max_in_snapshot_log_to_keep: snapshot_threshold.min(1000),
        ..Default::default()
    };
    cfg.validate()
        .map(Arc::new)
        .map_err(|e| ClusterError::Storage(format!("raft config: {e}")))
}

impl Cluster {
    /// Starts this member. Peer serving runs on `tracker` until `stop` is cancelled.
    pub async fn start(
        opts: ClusterOptions,
        tracker: &TaskTracker,
        stop: CancellationToken,
    ) -> Result<(Arc<Cluster>, StartMode), ClusterError> {
        let dir = DataDir::new(&opts.data_dir)?;
        let (creds, mut mode) = if dir.has_credentials() {
            let creds = dir.load()?;
            check_secrets(&opts.secrets, &creds.secrets)?;
            check_ca(opts.ca.as_ref(), &creds.ca)?;
            (creds, StartMode::Restarted)
        } else if let Some((target, token_text)) = &opts.join {
            let token = JoinToken::parse(token_text)
                .map_err(|e| ClusterError::JoinRefused(e.to_string()))?;
            let id = rand::thread_rng().gen::<u64>().max(1);
            let admission = join::admit(target, &token, id).await?;
            // Refuse before becoming a member: a node with another key could not read secrets.
            check_secrets(&opts.secrets, &admission.secrets)?;
            check_ca(opts.ca.as_ref(), &admission.ca)?;
            let creds = Credentials {
                id,
                ca: admission.ca,
                identity: admission.identity,
                token,
                secrets: admission.secrets,
            };
            dir.set_joined_via(target)?;
            dir.save(&creds)?;
            (creds, StartMode::Joined)
        } else {
            let id = rand::thread_rng().gen::<u64>().max(1);
            let ca = match &opts.ca {
                Some((cert, key)) => ClusterCa::from_pem(cert, key)?,
                None => ClusterCa::generate()?,
            };
            let identity = ca.issue(id)?;
            let token = bootstrap_token(opts.bootstrap_token.as_deref(), &ca)?;
            let creds = Credentials {
                id,
                ca,
                identity,
                token,
                secrets: bootstrap_secrets(&opts),
            };
            dir.set_bootstrap_pending()?;
            dir.save(&creds)?;
            (creds, StartMode::Bootstrapped)
        };

        let db_err = |e: sled::Error| {
            ClusterError::Storage(format!("opening {}: {e}", dir.raft_db().display()))
        };
        let db = open_db(&dir.raft_db())?.map_err(db_err)?;
        let mark = dir.applied_mark();
        let log = LogStore::open(&db, tracker, Some(mark.clone())).map_err(db_err)?;
        let fresh = !log.has_state().map_err(db_err)?;
        let sm = StateMachineStore::open(&db).map_err(db_err)?;
        if !fresh {
            // A data dir without raft state at all is refused further down, more precisely.
            let state = crate::state_machine::state_tree(&db).map_err(db_err)?;
            let applied = crate::state_machine::applied_index(&state).map_err(db_err)?;
            mark.check(applied)
                .map_err(|reason| ClusterError::DataDir {
                    path: dir.raft_db(),
                    reason,
                })?;
            // Entries up to the purge point live only in the snapshot. sled can lose the
            // snapshot's blob (a disk that filled up, damage) and keep the purge record, a gap
            // openraft would panic on. The applied state still covers the gap when it reaches
            // the purge point: the snapshot is rebuilt from it. Otherwise entries are lost.
            let purged = log.purged_index().map_err(db_err)?;
            // Its bytes are read too: sled may have kept the meta and lost the blob.
            let snapshot = crate::state_machine::current_snapshot(&db)
                .map_err(db_err)?
                .and_then(|(meta, _)| meta.last_log_id)
                .map_or(0, |l| l.index);
            if purged > snapshot && applied < purged {
                return Err(ClusterError::DataDir {
                    path: dir.raft_db(),
                    reason: format!(
                        "the data dir lost data: its log is purged up to index {purged} but its \
                         snapshot covers only up to {snapshot} and its state up to {applied}; \
                         the files are damaged: remove the data dir and join the cluster again"
                    ),
                });
            }
            if purged > snapshot {
                let rebuilt = sm
                    .rebuild_snapshot()
                    .map_err(|e| ClusterError::Storage(format!("rebuilding the snapshot: {e}")))?;
                tracing::warn!(
                    purged,
                    lost = snapshot,
                    rebuilt,
                    "the stored snapshot was older than the log's purge point; rebuilt it from \
                     the applied state"
                );
            }
        }
        if opts.force_new_cluster {
            if mode != StartMode::Restarted || fresh {
                return Err(ClusterError::DataDir {
                    path: dir.raft_db(),
                    reason:
                        "--force-new-cluster needs the data dir of a member that has raft state"
                            .into(),
                });
            }
            let index = log
                .clone()
                .force_single_voter(creds.id, opts.this.clone())
                .await
                .map_err(|e| ClusterError::Storage(format!("forcing a new cluster: {e}")))?;
            tracing::warn!(
                index,
                "--force-new-cluster: this node is now the only voter; wipe the other members' \
                 data dirs and join them again"
            );
        }
        if mode == StartMode::Restarted && fresh && dir.joined_via().is_none() {
            if !dir.bootstrap_pending() {
                // Initializing again would found a second cluster with this cluster's CA.
                return Err(ClusterError::DataDir {
                    path: dir.raft_db(),
                    reason: "certificates are present but the raft state is missing; the data dir is damaged: \
                             remove it and join the cluster again"
                        .into(),
                });
            }
            // Credentials were saved but the bootstrap never initialized raft: finish it.
            mode = StartMode::Bootstrapped;
        }

        let io = |e: std::io::Error| ClusterError::Storage(format!("peer endpoint: {e}"));
        let endpoint = transport::make_endpoint(
            opts.peer_socket,
            tls::server_config(creds.ca.cert_pem(), &creds.identity)?,
        )
        .map_err(io)?;
        let peers = PeerClient::new(
            endpoint.clone(),
            tls::member_client_config(creds.ca.cert_pem(), &creds.identity)?,
        )
        .map_err(io)?;
        let contacts = crate::Contacts::default();
        let raft = Raft::new(
            creds.id,
            raft_config(opts.snapshot_threshold)?,
            NetworkFactory(peers.clone(), contacts.clone()),
            log,
            sm.clone(),
        )
        .await
        .map_err(|e| ClusterError::Storage(e.to_string()))?;
        let cluster = Arc::new(Cluster {
            id: creds.id,
            raft,
            reader: sm.reader(),
            peers,
            ca: creds.ca,
            token: creds.token,
            this: opts.this,
            db,
            secrets: creds.secrets,
            apps: Default::default(),
            contacts,
            handover: Default::default(),
            read_rounds: Default::default(),
            forwarded_reads: Default::default(),
            clock: sm.clock(),
        });
        tracker.spawn(cluster.clone().lift_expired_holds(stop.clone()));
        tracker.spawn(cluster.clone().track_leadership(stop.clone()));
        let handler: Arc<dyn PeerHandler> = cluster.clone();
        tracker.spawn(transport::serve(
            endpoint,
            handler,
            stop.clone(),
            tracker.clone(),
        ));

        match mode {
            StartMode::Bootstrapped => {
                let members = BTreeMap::from([(cluster.id, cluster.this.clone())]);
                if let Err(e) = cluster.raft.initialize(members).await {
                    tracing::debug!(error = %e, "raft already initialized");
                }
                // Serve only once this node leads its new cluster, so the first request after
                // start-up never sees an empty membership.
                cluster
                    .raft
                    .wait(Some(Duration::from_secs(30)))
                    .state(openraft::ServerState::Leader, "bootstrap")
                    .await
                    .map_err(|e| {
                        ClusterError::Storage(format!("the new cluster elected no leader: {e}"))
                    })?;
                dir.clear_bootstrap_pending();
            }
            StartMode::Joined => {
                let target = opts.join.as_ref().map(|j| j.0.clone()).unwrap_or_default();
                request_membership(&cluster, &target, !opts.learner).await?;
                dir.clear_joined_via();
            }
            StartMode::Restarted => {
                cluster.sync_clock().await;
                let c = cluster.clone();
                tracker.spawn(async move {
                    if let Err(e) = c.announce_new_address().await {
                        tracing::error!(error = %e, "updating this node's member record failed");
                    }
                });
                if let Some(target) = dir.joined_via() {
                    // A crash interrupted the join: finish it in the background.
                    let c = cluster.clone();
                    let voter = !opts.learner;
                    tracker.spawn(async move {
                        match request_membership(&c, &target, voter).await {
                            Ok(()) => dir.clear_joined_via(),
                            Err(e) => {
                                tracing::error!(error = %e, "finishing the interrupted join failed")
                            }
                        }
                    });
                }
            }
        }
        Ok((cluster, mode))
    }
}

/// Opens the sled database. sled's recovery panics on some damage (a flipped byte can make it
/// serialize a page it never read), which must end in the same clear refusal as other damage,
/// not a crash and a backtrace: a panic on this thread meanwhile is caught and not printed.
fn open_db(path: &std::path::Path) -> Result<Result<sled::Db, sled::Error>, ClusterError> {
    let previous: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> =
        Arc::from(std::panic::take_hook());
    let opener = std::thread::current().id();
    let others = previous.clone();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != opener {
            others(info);
        }
    }));
    let opened = std::panic::catch_unwind(|| sled::open(path));
    std::panic::set_hook(Box::new(move |info| previous(info)));
    opened.map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        ClusterError::DataDir {
            path: path.to_owned(),
            reason: format!(
                "the database is damaged (sled failed recovering it: {what}); remove the data \
                 dir and join the cluster again"
            ),
        }
    })
}

/// Asks `target` (any member) to add this node, as a voter or a learner; retries while the
/// cluster elects a leader.
async fn request_membership(
    cluster: &Cluster,
    target: &str,
    voter: bool,
) -> Result<(), ClusterError> {
    let req = PeerRequest::AddMember {
        id: cluster.id,
        node: cluster.this.clone(),
        voter,
        hops_left: MAX_HOPS,
    };
    let mut last = String::new();
    for _ in 0..60 {
        match cluster
            .peers
            .call(target, &req, Duration::from_secs(130))
            .await
        {
            Ok(PeerResponse::AddMember(Ok(()))) => return Ok(()),
            Ok(PeerResponse::AddMember(Err(e))) => last = e.to_string(),
            Ok(PeerResponse::Refused(m)) => return Err(ClusterError::JoinRefused(m)),
            Ok(other) => last = format!("unexpected reply {other:?}"),
            Err(e) => last = e.to_string(),
        }
        tracing::info!(error = %last, "membership not granted yet; retrying");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(ClusterError::JoinRefused(format!(
        "could not become a member via {target}: {last}"
    )))
}
