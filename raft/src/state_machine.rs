//! The openraft state machine adapter: applies entries to sled and manages snapshots.
//!
//! Each `apply` call folds all its entries into one [`Txn`] and commits the changes together
//! with the last-applied log id and membership at once: readers never see part of them, and a
//! crash leaves the state at an entry boundary (see [`REDO_KEY`]), from which openraft
//! re-applies the rest of the log.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, RaftSnapshotBuilder, StorageIOError};

use micro_state_machine::context::applied_time_ms;
use micro_state_machine::kv::{ApplyError, KvRead, Pair};
use micro_state_machine::{snapshot, Response, Txn};

use crate::clock::ClusterClock;
use crate::typ::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// Keys under this prefix are the adapter's own; the state machine never uses it.
const META_PREFIX: &[u8] = micro_state_machine::kv::RESERVED_PREFIX;
const APPLIED_KEY: &[u8] = b"m/applied";
const MEMBERSHIP_KEY: &[u8] = b"m/membership";
/// The changes of the last apply, inserted just before them. An apply's writes go to sled as
/// one batch that readers see whole but that a crash may tear (sled's recovery-atomic batch
/// writes two log buffers to disk per call, the largest cost of a raft round after the fsync),
/// and sled recovers a prefix of its writes, in order: so at open this record is applied again
/// (absolute values, so repeating it is harmless) and the state ends where that apply ended.
const REDO_KEY: &[u8] = b"m/redo";
/// Applies whose changes exceed this many bytes use sled's recovery-atomic batch instead (and
/// drop the redo record): a large apply is not written twice, and the record stays far below
/// sled's blob threshold (a quarter of a 512 KiB segment), past which a node holding it would
/// be written to a file of its own and synced.
const REDO_MAX_BYTES: usize = 32 * 1024;
const SNAPSHOT_META_KEY: &[u8] = b"meta";
const SNAPSHOT_DATA_KEY: &[u8] = b"data";

/// Read access to the applied state, for queries outside apply.
#[derive(Clone)]
pub struct StateReader(sled::Tree);

impl StateReader {
    /// Whether the state can still be read; sled answers every call with its first IO error
    /// once it had one.
    pub fn probe(&self) -> Result<(), String> {
        self.0.get(APPLIED_KEY).map(drop).map_err(|e| e.to_string())
    }

    /// The smallest key starting with `prefix`, if any (cheap: no scan).
    pub fn first_with_prefix(&self, prefix: &[u8]) -> Option<Vec<u8>> {
        self.0
            .scan_prefix(prefix)
            .keys()
            .next()
            .and_then(Result::ok)
            .map(|k| k.to_vec())
    }
}

impl KvRead for StateReader {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ApplyError> {
        self.0
            .get(key)
            .map(|o| o.map(|v| v.to_vec()))
            .map_err(|e| ApplyError::Storage(e.to_string()))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, ApplyError> {
        self.0
            .scan_prefix(prefix)
            .map(|r| {
                r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| ApplyError::Storage(e.to_string()))
            })
            .collect()
    }

    fn scan_range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, ApplyError> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.0
            .range(start..end)
            .take(limit)
            .map(|r| {
                r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| ApplyError::Storage(e.to_string()))
            })
            .collect()
    }

    fn last_before(&self, start: &[u8], end: &[u8]) -> Result<Option<Pair>, ApplyError> {
        if start >= end {
            return Ok(None);
        }
        self.0
            .range(start..end)
            .next_back()
            .transpose()
            .map(|o| o.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .map_err(|e| ApplyError::Storage(e.to_string()))
    }
}

/// The index of the last entry applied to the state tree of `db` (0: none).
pub fn applied_index(state: &sled::Tree) -> Result<u64, sled::Error> {
    let raw = state.get(APPLIED_KEY)?;
    Ok(raw
        .and_then(|b| bincode::deserialize::<Option<LogId>>(&b).ok())
        .flatten()
        .map_or(0, |l| l.index))
}

/// The state tree of `db`.
pub fn state_tree(db: &sled::Db) -> Result<sled::Tree, sled::Error> {
    db.open_tree("state")
}

/// The snapshot last built or installed in `db`: its metadata and bytes.
pub fn current_snapshot(db: &sled::Db) -> Result<Option<(SnapshotMeta, Vec<u8>)>, sled::Error> {
    let tree = db.open_tree("snapshot")?;
    let meta = tree
        .get(SNAPSHOT_META_KEY)?
        .and_then(|b| bincode::deserialize::<SnapshotMeta>(&b).ok());
    let data = tree.get(SNAPSHOT_DATA_KEY)?;
    Ok(meta.zip(data.map(|d| d.to_vec())))
}

/// The sled-backed state machine.
#[derive(Clone)]
pub struct StateMachineStore {
    db: sled::Db,
    /// Application state plus the adapter's `m/` keys.
    state: sled::Tree,
    /// The current snapshot (metadata and bytes), kept for followers that fall behind.
    snapshots: sled::Tree,
    /// Distinguishes snapshots built at the same log id.
    snapshot_seq: Arc<AtomicU64>,
    /// Told every applied stamp, so a follower's clock follows the leader's.
    clock: Arc<ClusterClock>,
}

impl StateMachineStore {
    /// Opens the state machine trees in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        let state = state_tree(db)?;
        redo(&state)?;
        // A restarted node resumes the clock at its last applied stamp; a new one at its wall
        // clock (a joining node's first applied entry or snapshot corrects it).
        let applied = applied_time_ms(&StateReader(state.clone())).unwrap_or(0);
        let start = if applied == 0 {
            crate::now_ms()
        } else {
            applied
        };
        Ok(StateMachineStore {
            db: db.clone(),
            state,
            snapshots: db.open_tree("snapshot")?,
            snapshot_seq: Arc::new(AtomicU64::new(0)),
            clock: Arc::new(ClusterClock::new(start)),
        })
    }

    /// The cluster clock this state machine reports applied stamps to.
    pub fn clock(&self) -> Arc<ClusterClock> {
        self.clock.clone()
    }

    /// A reader for queries.
    pub fn reader(&self) -> StateReader {
        StateReader(self.state.clone())
    }

    fn read<T: serde::de::DeserializeOwned>(
        tree: &sled::Tree,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        let raw = tree
            .get(key)
            .map_err(|e| StorageIOError::read_state_machine(&e))?;
        raw.map(|b| {
            bincode::deserialize(&b).map_err(|e| StorageIOError::read_state_machine(&e).into())
        })
        .transpose()
    }

    fn applied(&self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = Self::read::<Option<LogId>>(&self.state, APPLIED_KEY)?.flatten();
        let membership = Self::read(&self.state, MEMBERSHIP_KEY)?.unwrap_or_default();
        Ok((applied, membership))
    }

    /// Every application pair, in key order, without the adapter's metadata.
    fn pairs(&self) -> Result<Vec<Pair>, StorageError> {
        let mut out = Vec::new();
        for item in self.state.iter() {
            let (k, v) = item.map_err(|e| StorageIOError::read_state_machine(&e))?;
            if !k.starts_with(META_PREFIX) {
                out.push((k.to_vec(), v.to_vec()));
            }
        }
        Ok(out)
    }

    /// Builds a snapshot of the applied state and stores it durably, for a data dir whose
    /// stored snapshot is older than its log's purge point (sled lost the newer one's blob
    /// when the disk filled up). Returns the index the new snapshot covers.
    pub fn rebuild_snapshot(&self) -> Result<u64, StorageError> {
        let (applied, membership) = self.applied()?;
        let data = snapshot::encode(&self.pairs()?)
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let index = applied.map_or(0, |l| l.index);
        let meta = SnapshotMeta {
            last_log_id: applied,
            last_membership: membership,
            snapshot_id: format!(
                "{}-{index}-rebuilt",
                applied.map_or(0, |l| l.leader_id.term)
            ),
        };
        self.save_snapshot(&meta, &data)?;
        self.db
            .flush()
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        Ok(index)
    }

    fn save_snapshot(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StorageError> {
        let m = bincode::serialize(meta)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        let mut batch = sled::Batch::default();
        batch.insert(SNAPSHOT_META_KEY, m);
        batch.insert(SNAPSHOT_DATA_KEY, data);
        self.snapshots
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        Ok(())
    }
}

/// What one apply changes: every key it sets (`Some`) or removes (`None`).
type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Writes `changes` to `state` so that no reader sees part of them and a crash leaves all or,
/// once [`redo`] has run, none of them; see [`REDO_KEY`].
fn commit(state: &sled::Tree, changes: Changes) -> Result<(), sled::Error> {
    let size: usize = changes
        .iter()
        .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
        .sum();
    let logged = size <= REDO_MAX_BYTES;
    if logged {
        let record = bincode::serialize(&changes).map_err(|e| io_error(&e))?;
        state.insert(REDO_KEY, record)?;
    }
    let mut batch = batch_of(changes);
    if logged {
        state.apply_batch_isolated(batch)
    } else {
        // The record left from an earlier apply must not be repeated over this one.
        batch.remove(REDO_KEY);
        state.apply_batch(batch)
    }
}

/// Applies the last apply's redo record again, completing that apply if a crash tore it.
fn redo(state: &sled::Tree) -> Result<(), sled::Error> {
    let Some(record) = state.get(REDO_KEY)? else {
        return Ok(());
    };
    let changes: Changes = bincode::deserialize(&record).map_err(|e| {
        io_error(&format!(
            "the state machine's redo record does not decode ({e}); the data dir is damaged"
        ))
    })?;
    state.apply_batch(batch_of(changes))
}

fn batch_of(changes: Changes) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (k, v) in changes {
        match v {
            Some(v) => batch.insert(k, v),
            None => batch.remove(k),
        }
    }
    batch
}

fn io_error(e: &dyn std::fmt::Display) -> sled::Error {
    sled::Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        e.to_string(),
    ))
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    bincode::serialize(v).map_err(|e| StorageIOError::write_state_machine(&e).into())
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        self.applied()
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let started = std::time::Instant::now();
        let reader = self.reader();
        let mut txn = Txn::new(&reader);
        let mut responses = Vec::new();
        let mut last_applied = None;
        let mut membership = None;
        let mut stamped = None;
        for entry in entries {
            last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => responses.push(Response::None),
                EntryPayload::Normal(le) => {
                    stamped = stamped.max(Some(le.time_ms));
                    let r = micro_state_machine::apply(&mut txn, entry.log_id.index, le)
                        .map_err(|e| StorageIOError::write_state_machine(&e))?;
                    responses.push(r);
                }
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembership::new(Some(entry.log_id), m));
                    responses.push(Response::None);
                }
            }
        }
        let mut changes = txn.into_changes();
        if let Some(applied) = last_applied {
            changes.insert(APPLIED_KEY.to_vec(), Some(encode(&Some(applied))?));
        }
        if let Some(m) = membership {
            changes.insert(MEMBERSHIP_KEY.to_vec(), Some(encode(&m)?));
        }
        commit(&self.state, changes).map_err(|e| StorageIOError::write_state_machine(&e))?;
        if let Some(t) = stamped {
            self.clock.observe(t);
        }
        metrics::histogram!("micro_raft_apply_seconds").record(started.elapsed().as_secs_f64());
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Capture the state here, on the state machine task, so no apply interleaves with it.
        let captured = self
            .applied()
            .and_then(|(applied, membership)| Ok((applied, membership, self.pairs()?)));
        SnapshotBuilder {
            store: self.clone(),
            captured: Some(captured),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let pairs = snapshot::decode(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let mut batch = sled::Batch::default();
        for item in self.state.iter().keys() {
            batch.remove(item.map_err(|e| StorageIOError::read_state_machine(&e))?);
        }
        for (k, v) in pairs {
            batch.insert(k, v);
        }
        batch.insert(APPLIED_KEY, encode(&meta.last_log_id)?);
        batch.insert(MEMBERSHIP_KEY, encode(&meta.last_membership)?);
        self.state
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_state_machine(&e))?;
        self.save_snapshot(meta, &data)?;
        if let Ok(t) = applied_time_ms(&self.reader()) {
            self.clock.observe(t);
        }
        self.db
            .flush_async()
            .await
            .map_err(|e| StorageIOError::write_state_machine(&e))?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let meta: Option<SnapshotMeta> = Self::read(&self.snapshots, SNAPSHOT_META_KEY)?;
        let data = self
            .snapshots
            .get(SNAPSHOT_DATA_KEY)
            .map_err(|e| StorageIOError::read_state_machine(&e))?;
        Ok(match (meta, data) {
            (Some(meta), Some(data)) => Some(Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(data.to_vec())),
            }),
            _ => None,
        })
    }
}

/// What a snapshot is built from: applied log id, membership and every state pair.
type Captured = (Option<LogId>, StoredMembership, Vec<Pair>);

/// Builds a snapshot from state captured on the state machine task.
pub struct SnapshotBuilder {
    store: StateMachineStore,
    captured: Option<Result<Captured, StorageError>>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let captured = self.captured.take().unwrap_or_else(|| {
            Err(StorageIOError::read_state_machine(&std::io::Error::other(
                "snapshot builder reused",
            ))
            .into())
        });
        let (applied, membership, pairs) = captured?;
        let started = std::time::Instant::now();
        // The log is purged behind this snapshot, so what it covers must be durable first.
        self.store
            .db
            .flush_async()
            .await
            .map_err(|e| StorageIOError::write_state_machine(&e))?;
        let data =
            snapshot::encode(&pairs).map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let seq = self.store.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, seq),
            None => format!("0-0-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: applied,
            last_membership: membership,
            snapshot_id,
        };
        self.store.save_snapshot(&meta, &data)?;
        // openraft purges the log up to this snapshot once it is returned: the snapshot must be
        // on disk first. A full disk once failed sled's write of the snapshot's blob while the
        // purge record that followed it was written.
        self.store
            .db
            .flush_async()
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        metrics::counter!("micro_raft_snapshots_total").increment(1);
        metrics::histogram!("micro_raft_snapshot_seconds").record(started.elapsed().as_secs_f64());
        metrics::gauge!("micro_raft_snapshot_bytes").set(data.len() as f64);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

#[cfg(test)]
#[path = "state_machine_test.rs"]
mod tests;
