//! The raft log, vote and committed index in sled, with group commit.
//!
//! `append` writes entries into the sled tree without syncing and queues openraft's callback;
//! a dedicated thread drains every queued callback, runs one `flush` (fsync) for all of them
//! and only then reports them durable. One fsync therefore serves every append that arrived
//! while the previous one ran. Votes are flushed before `save_vote` returns.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{RaftLogReader, StorageIOError, Vote};
use tokio_util::task::TaskTracker;

use crate::applied_mark::{AppliedMark, MarkWriter};
use crate::typ::{Entry, LogId, NodeId, StorageError, TypeConfig};

const VOTE_KEY: &[u8] = b"vote";
const COMMITTED_KEY: &[u8] = b"committed";
const PURGED_KEY: &[u8] = b"last_purged";

/// The sled-backed raft log. Cheap to clone: clones share the trees and the flusher.
#[derive(Clone)]
pub struct LogStore {
    db: sled::Db,
    /// Entries keyed by big-endian index, so sled's order is log order.
    log: sled::Tree,
    /// Vote, committed log id and last purged log id.
    meta: sled::Tree,
    flusher: mpsc::Sender<LogFlushed<TypeConfig>>,
}

impl LogStore {
    /// Opens the log in `db` and starts the group-commit flusher thread, which `tracker`
    /// waits for; after each flush, the flusher records the applied index it made durable
    /// in `mark`.
    ///
    /// A thread rather than a task on tokio's blocking pool: each flush then costs one thread
    /// wake-up (the append's send) instead of three (the task, the pool thread, the task
    /// again), and a flush is what every raft round waits for on every node.
    pub fn open(
        db: &sled::Db,
        tracker: &TaskTracker,
        mark: Option<AppliedMark>,
    ) -> Result<Self, sled::Error> {
        let (tx, rx) = mpsc::channel();
        let mark = match mark {
            Some(m) => Some((crate::state_machine::state_tree(db)?, m.writer())),
            None => None,
        };
        let (stopped, on_stop) = tokio::sync::oneshot::channel::<()>();
        let flushed_db = db.clone();
        std::thread::Builder::new()
            .name("raft-log-sync".into())
            .spawn(move || {
                flush_loop(&flushed_db, &rx, mark);
                let _ = stopped.send(());
            })
            .map_err(sled::Error::Io)?;
        tracker.spawn(async move {
            let _ = on_stop.await;
        });
        Ok(LogStore {
            db: db.clone(),
            log: db.open_tree("log")?,
            meta: db.open_tree("raft_meta")?,
            flusher: tx,
        })
    }

    /// The index the log is purged up to (0: nothing purged).
    pub fn purged_index(&self) -> Result<u64, sled::Error> {
        Ok(self
            .meta
            .get(PURGED_KEY)?
            .and_then(|b| bincode::deserialize::<LogId>(&b).ok())
            .map_or(0, |l| l.index))
    }

    /// Whether this data dir has ever voted or logged: a restart, not a fresh node.
    pub fn has_state(&self) -> Result<bool, sled::Error> {
        Ok(self.meta.contains_key(VOTE_KEY)? || !self.log.is_empty())
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        let raw = self.meta.get(key).map_err(|e| StorageIOError::read(&e))?;
        raw.map(|b| bincode::deserialize(&b).map_err(|e| StorageIOError::read(&e).into()))
            .transpose()
    }

    fn write_meta<T: serde::Serialize>(&self, key: &[u8], v: &T) -> Result<(), StorageError> {
        let b = bincode::serialize(v).map_err(|e| StorageIOError::write(&e))?;
        self.meta
            .insert(key, b)
            .map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }
}

impl LogStore {
    /// Makes this log found a one-voter cluster of `id` (at `node`), keeping every entry it
    /// holds: appends a membership entry naming only `id`, in a term above any this log or
    /// vote has seen, and records a vote for `id` in that term, both durably. Raft then elects
    /// `id` alone, which commits everything the log held. Returns the new entry's index.
    /// Only for an operator recovering from a permanently lost quorum (`--force-new-cluster`).
    pub async fn force_single_voter(
        &mut self,
        id: NodeId,
        node: crate::MemberNode,
    ) -> Result<u64, StorageError> {
        let state = self.get_log_state().await?;
        let vote = self.read_vote().await?;
        let last_term = state.last_log_id.map_or(0, |l| l.leader_id.term);
        let term = last_term.max(vote.map_or(0, |v| v.leader_id().term)) + 1;
        let index = state.last_log_id.map_or(0, |l| l.index) + 1;
        let membership = openraft::Membership::new(
            vec![std::collections::BTreeSet::from([id])],
            std::collections::BTreeMap::from([(id, node)]),
        );
        let entry = Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(term, id), index),
            payload: openraft::EntryPayload::Membership(membership),
        };
        let b = bincode::serialize(&entry).map_err(|e| StorageIOError::write_logs(&e))?;
        self.log
            .insert(index_key(index), b)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        self.save_vote(&Vote::new(term, id)).await?;
        Ok(index)
    }

    /// Removes the entries whose keys fall in `range`, in one atomic batch.
    fn remove_entries<R: RangeBounds<[u8; 8]>>(&self, range: R) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for item in self.log.range(range) {
            let (k, _) = item.map_err(|e| StorageIOError::write_logs(&e))?;
            batch.remove(k);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}

/// Drains queued append callbacks and acknowledges each batch after one fsync; then records
/// in `mark` the applied index that fsync made durable (read before it). Returns when every
/// sender is gone.
fn flush_loop(
    db: &sled::Db,
    rx: &mpsc::Receiver<LogFlushed<TypeConfig>>,
    mut mark: Option<(sled::Tree, MarkWriter)>,
) {
    let mut marked = 0;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let started = std::time::Instant::now();
        // sled panics on some states it cannot handle; the batch then fails like an IO error
        // instead of dropping its callbacks with the thread.
        let flushed =
            std::panic::catch_unwind(AssertUnwindSafe(|| flush_once(db, mark.as_mut(), marked)));
        let outcome = match flushed {
            Ok(Ok(m)) => {
                marked = m;
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the storage engine panicked while flushing".to_owned()),
        };
        metrics::histogram!("micro_raft_fsync_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("micro_raft_fsync_batch_entries").record(batch.len() as f64);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "raft log fsync failed");
        }
        for cb in batch {
            cb.log_io_completed(outcome.clone().map_err(io::Error::other));
        }
    }
}

/// One fsync of `db`; returns the applied index now recorded in `mark` (`marked` if unchanged).
fn flush_once(
    db: &sled::Db,
    mark: Option<&mut (sled::Tree, MarkWriter)>,
    marked: u64,
) -> Result<u64, sled::Error> {
    let applied = match &mark {
        Some((state, _)) => crate::state_machine::applied_index(state)?,
        None => 0,
    };
    db.flush()?;
    if let Some((_, file)) = mark.filter(|_| applied > marked) {
        match file.write(applied) {
            Ok(()) => return Ok(applied),
            Err(e) => tracing::warn!(error = %e, "writing the applied mark"),
        }
    }
    Ok(marked)
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn decode_entry(b: &[u8]) -> Result<Entry, StorageError> {
    bincode::deserialize(b).map_err(|e| StorageIOError::read_logs(&e).into())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let mut out = Vec::new();
        for item in self.log.range(index_key(start)..) {
            let (k, v) = item.map_err(|e| StorageIOError::read_logs(&e))?;
            let index = u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|e| StorageIOError::read_logs(&e))?,
            );
            if !range.contains(&index) {
                break;
            }
            out.push(decode_entry(&v)?);
        }
        Ok(out)
    }
}

impl LogStore {
    /// Writes `entries` without syncing them.
    fn insert_entries(&self, entries: impl IntoIterator<Item = Entry>) -> Result<(), StorageError> {
        // Plain inserts, not one sled batch: sled recovers a prefix of its log, so a crash
        // leaves a prefix of these entries (never reported durable), which raft allows. A
        // batch would pin sled's log, which seals and writes its current buffer: one more
        // disk write per raft round on every node.
        for entry in entries {
            let b = bincode::serialize(&entry).map_err(|e| StorageIOError::write_logs(&e))?;
            self.log
                .insert(index_key(entry.log_id.index), b)
                .map_err(|e| StorageIOError::write_logs(&e))?;
        }
        Ok(())
    }

    /// Hands `callback` to the flusher thread, which calls it after the next fsync.
    fn queue_flush(&self, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError> {
        self.flusher.send(callback).map_err(|_| {
            StorageIOError::write_logs(&io::Error::other("log flusher stopped")).into()
        })
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.read_meta(PURGED_KEY)?;
        let last = match self.log.last().map_err(|e| StorageIOError::read_logs(&e))? {
            Some((_, v)) => Some(decode_entry(&v)?.log_id),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.write_meta(VOTE_KEY, vote)?;
        self.db
            .flush_async()
            .await
            .map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.read_meta(VOTE_KEY)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.write_meta(COMMITTED_KEY, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED_KEY)?.flatten())
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
        self.insert_entries(entries)?;
        self.queue_flush(callback)
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.remove_entries(index_key(log_id.index)..)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: a crash between the two steps leaves extra entries,
        // never a hole below the recorded point.
        self.write_meta(PURGED_KEY, &log_id)?;
        self.remove_entries(..=index_key(log_id.index))
    }
}

#[cfg(test)]
#[path = "log_store_test.rs"]
mod tests;
