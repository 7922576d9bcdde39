//! The log's flush must reach the disk itself, not only its volatile write cache.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::flush_once;

/// The sysfs directory of the whole block device holding `path`, if that device has a
/// volatile ("write back") cache; only then does a durable sync show as a device flush.
fn cached_disk_of(path: &Path) -> Option<PathBuf> {
    let dev = std::fs::metadata(path).ok()?.dev();
    let (major, minor) = (major(dev), minor(dev));
    let mut sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    if sys.join("partition").exists() {
        sys = sys.parent()?.to_path_buf();
    }
    let cache = std::fs::read_to_string(sys.join("queue/write_cache")).ok()?;
    (cache.trim() == "write back").then_some(sys)
}

// glibc's encoding of a dev_t (sys/sysmacros.h).
fn major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

/// Flush requests the device has completed (the 16th field of its `stat`, Linux ≥ 5.5).
fn device_flushes(disk: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(disk.join("stat")).ok()?;
    stat.split_whitespace().nth(15)?.parse().ok()
}

#[test]
fn every_log_flush_flushes_the_device_cache() -> Result<(), Box<dyn std::error::Error>> {
    // /var/tmp as well, for machines whose /tmp is a tmpfs: the point is a real disk.
    let candidates = [std::env::temp_dir(), PathBuf::from("/var/tmp")];
    let Some((dir, disk)) = candidates.iter().find_map(|c| {
        let disk = cached_disk_of(c)?;
        Some((tempfile::tempdir_in(c).ok()?, disk))
    }) else {
        eprintln!("skipped: no temp dir is on a disk with a write-back cache");
        return Ok(());
    };
    let Some(before) = device_flushes(&disk) else {
        eprintln!("skipped: {} has no flush counter", disk.display());
        return Ok(());
    };
    let db = sled::open(dir.path().join("db"))?;
    let log = db.open_tree("log")?;
    const FLUSHES: u64 = 40;
    for i in 0..FLUSHES {
        log.insert(i.to_be_bytes(), vec![7u8; 300])?;
        flush_once(&db, None, 0)?;
    }
    let after = device_flushes(&disk).ok_or("the flush counter went away")?;
    // Other processes can only add flushes; sled's old `sync_file_range` added none.
    assert!(
        after - before >= FLUSHES,
        "{FLUSHES} log flushes made the device flush its cache {} times",
        after - before
    );
    Ok(())
}

mod leader_flush {
    //! A leader's own fsync must not hold back replication: with the leader's log flushes held
    //! back, a write still commits on the followers' acknowledgements (openraft 0.9 as
    //! released awaited the leader's flush in its core; `third_party/openraft` patches that).

    use std::collections::BTreeMap;
    use std::fmt::Debug;
    use std::ops::RangeBounds;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use micro_state_machine::store::StoreCommand;
    use micro_state_machine::{Command, LogEntry};
    use openraft::error::{InstallSnapshotError, RPCError, RemoteError};
    use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
    use openraft::raft::{
        AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest,
        InstallSnapshotResponse, VoteRequest, VoteResponse,
    };
    use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
    use openraft::{Config, RaftLogReader, Vote};
    use tokio_util::task::TaskTracker;

    use crate::log_store::LogStore;
    use crate::state_machine::StateMachineStore;
    use crate::typ::{Entry, LogId, NodeId, Raft, RpcError, StorageError, TypeConfig};
    use crate::MemberNode;

    type Rafts = Arc<Mutex<BTreeMap<NodeId, Raft>>>;

    /// Calls the target's raft directly.
    struct Net(Rafts, NodeId);

    impl Net {
        fn target<E: std::error::Error>(&self) -> Result<Raft, RPCError<NodeId, MemberNode, E>> {
            let rafts = self.0.lock().map_err(|_| unreachable_node(self.1))?;
            rafts
                .get(&self.1)
                .cloned()
                .ok_or_else(|| unreachable_node(self.1))
        }
    }

    fn unreachable_node<E: std::error::Error>(id: NodeId) -> RPCError<NodeId, MemberNode, E> {
        RPCError::Unreachable(openraft::error::Unreachable::new(&std::io::Error::other(
            format!("node {id} is not up"),
        )))
    }

    impl RaftNetwork<TypeConfig> for Net {
        async fn append_entries(
            &mut self,
            rpc: AppendEntriesRequest<TypeConfig>,
            _: RPCOption,
        ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
            let raft = self.target()?;
            raft.append_entries(rpc)
                .await
                .map_err(|e| RPCError::RemoteError(RemoteError::new(self.1, e)))
        }

        async fn install_snapshot(
            &mut self,
            rpc: InstallSnapshotRequest<TypeConfig>,
            _: RPCOption,
        ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
            let raft = self.target()?;
            raft.install_snapshot(rpc)
                .await
                .map_err(|e| RPCError::RemoteError(RemoteError::new(self.1, e)))
        }

        async fn vote(
            &mut self,
            rpc: VoteRequest<NodeId>,
            _: RPCOption,
        ) -> Result<VoteResponse<NodeId>, RpcError> {
            let raft = self.target()?;
            raft.vote(rpc)
                .await
                .map_err(|e| RPCError::RemoteError(RemoteError::new(self.1, e)))
        }
    }

    struct Nets(Rafts);

    impl RaftNetworkFactory<TypeConfig> for Nets {
        type Network = Net;

        async fn new_client(&mut self, target: NodeId, _: &MemberNode) -> Net {
            Net(self.0.clone(), target)
        }
    }

    /// Flush callbacks held back while `held` is set, handed to the flusher on release.
    #[derive(Clone, Default)]
    struct Gate {
        held: Arc<Mutex<Option<Vec<LogFlushed<TypeConfig>>>>>,
    }

    /// The real log store, whose flushes a [`Gate`] can hold back.
    #[derive(Clone)]
    struct GatedLog {
        inner: LogStore,
        gate: Gate,
    }

    impl GatedLog {
        fn release(&self) {
            let held = self.gate.held.lock().ok().and_then(|mut h| h.take());
            for cb in held.into_iter().flatten() {
                let _ = self.inner.queue_flush(cb);
            }
        }
    }

    impl RaftLogReader<TypeConfig> for GatedLog {
        async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
            &mut self,
            range: RB,
        ) -> Result<Vec<Entry>, StorageError> {
            self.inner.try_get_log_entries(range).await
        }
    }

    impl RaftLogStorage<TypeConfig> for GatedLog {
        type LogReader = LogStore;

        async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
            self.inner.get_log_state().await
        }
        async fn get_log_reader(&mut self) -> LogStore {
            self.inner.clone()
        }
        async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
            self.inner.save_vote(vote).await
        }
        async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
            self.inner.read_vote().await
        }
        async fn save_committed(&mut self, c: Option<LogId>) -> Result<(), StorageError> {
            self.inner.save_committed(c).await
        }
        async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
            self.inner.read_committed().await
        }
        async fn append<I>(
            &mut self,
            entries: I,
            callback: LogFlushed<TypeConfig>,
        ) -> Result<(), StorageError>
        where
            I: IntoIterator<Item = Entry> + Send,
            I::IntoIter: Send,
        {
            self.inner.insert_entries(entries)?;
            let mut held = self.gate.held.lock().map_err(|_| {
                openraft::StorageIOError::write_logs(&std::io::Error::other("gate poisoned"))
            })?;
            match held.as_mut() {
                Some(h) => {
                    h.push(callback);
                    Ok(())
                }
                None => self.inner.queue_flush(callback),
            }
        }
        async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
            self.inner.truncate(log_id).await
        }
        async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
            self.inner.purge(log_id).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_leader_commits_while_its_own_flush_is_held_back(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let rafts: Rafts = Arc::default();
        let tracker = TaskTracker::new();
        let config = Arc::new(
            Config {
                heartbeat_interval: 100,
                election_timeout_min: 300,
                election_timeout_max: 450,
                ..Default::default()
            }
            .validate()?,
        );
        let mut logs = BTreeMap::new();
        for id in 1..=3u64 {
            let db = sled::open(dir.path().join(format!("n{id}")))?;
            let log = GatedLog {
                inner: LogStore::open(&db, &tracker, None)?,
                gate: Gate::default(),
            };
            let sm = StateMachineStore::open(&db)?;
            let raft = Raft::new(id, config.clone(), Nets(rafts.clone()), log.clone(), sm).await?;
            rafts.lock().map_err(|_| "poisoned")?.insert(id, raft);
            logs.insert(id, log);
        }
        let first = rafts.lock().map_err(|_| "poisoned")?[&1].clone();
        let members: BTreeMap<NodeId, MemberNode> =
            (1..=3).map(|id| (id, MemberNode::default())).collect();
        first.initialize(members).await?;
        let leader = first
            .wait(Some(Duration::from_secs(10)))
            .metrics(|m| m.current_leader.is_some(), "a leader")
            .await?
            .current_leader
            .ok_or("no leader")?;
        let raft = rafts.lock().map_err(|_| "poisoned")?[&leader].clone();
        let log = &logs[&leader];
        *log.gate.held.lock().map_err(|_| "poisoned")? = Some(Vec::new());

        let entry = LogEntry {
            time_ms: 1,
            command: Command::Store(StoreCommand::PurgeExpired { limit: 1 }),
        };
        let written = tokio::time::timeout(Duration::from_secs(10), raft.client_write(entry)).await;
        let held = log
            .gate
            .held
            .lock()
            .map_err(|_| "poisoned")?
            .as_ref()
            .map_or(0, Vec::len);
        log.release();
        let all: Vec<Raft> = rafts
            .lock()
            .map_err(|_| "poisoned")?
            .values()
            .cloned()
            .collect();
        for r in all {
            let _ = r.shutdown().await;
        }
        assert!(held > 0, "the leader's flush was never held back");
        written
            .map_err(|_| "the write did not commit while the leader's own flush was held back")??;
        Ok(())
    }
}
