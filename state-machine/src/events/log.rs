//! How a topic's log is laid out: in chunks, one per topic per `Publish` entry.
//!
//! `e/<topic>\0<first seq BE>` holds the events one entry appended to the topic, in order,
//! with consecutive sequences from `first seq`. An entry of a hundred events is thus one
//! storage write instead of a hundred: the storage engine copies a node on every insert, so
//! per-event keys made appends cost a node copy each. Chunks cover the log without gaps or
//! overlaps; retention removes events logically (the topic's `first_seq` moves) and deletes a
//! chunk once all of its events are gone, so the first chunk may still hold removed events,
//! which readers never return.

use serde::{Deserialize, Serialize};

use super::apply::{decode, encode};
use super::model::{event_key, log_prefix, seq_of_key};
use super::{StoredEvent, TopicMeta, MAX_ANSWER_BYTES};
use crate::kv::{ApplyError, KvRead, Txn};

/// Events appended by one entry, with consecutive sequences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Chunk {
    pub(crate) events: Vec<StoredEvent>,
}

/// Stores the events one entry appends to `topic`, the first with sequence `first`.
pub(crate) fn append(
    txn: &mut Txn<'_>,
    topic: &str,
    first: u64,
    events: Vec<StoredEvent>,
) -> Result<(), ApplyError> {
    txn.put(event_key(topic, first), encode(&Chunk { events })?);
    Ok(())
}

/// Deletes the chunk that starts at `first`.
pub(crate) fn remove_chunk(txn: &mut Txn<'_>, topic: &str, first: u64) {
    txn.delete(event_key(topic, first));
}

/// The chunk holding sequence `seq` of `topic`: its first sequence and its events.
pub(crate) fn load_chunk(
    kv: &dyn KvRead,
    topic: &str,
    seq: u64,
) -> Result<(u64, Vec<StoredEvent>), ApplyError> {
    let lost = || ApplyError::Corrupt(format!("topic {topic:?} lost event {seq}"));
    let end = event_key(topic, seq.saturating_add(1));
    let (key, raw) = kv.last_before(&log_prefix(topic), &end)?.ok_or_else(lost)?;
    let first = seq_of_key(&key).ok_or_else(lost)?;
    let chunk: Chunk = decode(&raw)?;
    if seq - first >= chunk.events.len() as u64 {
        return Err(lost());
    }
    Ok((first, chunk.events))
}

/// Reads events of one topic, keeping the last chunk it decoded.
pub(crate) struct LogReader<'a> {
    kv: &'a dyn KvRead,
    topic: &'a str,
    /// The retained range, `first_seq..next_seq`.
    meta: TopicMeta,
    /// The chunk read last: its first sequence and its events.
    cached: Option<(u64, Vec<StoredEvent>)>,
}

impl<'a> LogReader<'a> {
    /// A reader of `topic`'s retained events as `meta` describes them.
    pub(crate) fn new(kv: &'a dyn KvRead, topic: &'a str, meta: TopicMeta) -> Self {
        LogReader {
            kv,
            topic,
            meta,
            cached: None,
        }
    }

    /// The retained event with sequence `seq`.
    pub(crate) fn get(&mut self, seq: u64) -> Result<Option<&StoredEvent>, ApplyError> {
        if seq < self.meta.first_seq || seq >= self.meta.next_seq {
            return Ok(None);
        }
        let (first, events) = self.chunk_of(seq)?;
        Ok(events.get(usize::try_from(seq - first).unwrap_or(usize::MAX)))
    }

    /// The chunk holding `seq`, which must be retained.
    pub(crate) fn chunk_of(&mut self, seq: u64) -> Result<(u64, &Vec<StoredEvent>), ApplyError> {
        let hit = self
            .cached
            .as_ref()
            .is_some_and(|(first, events)| seq >= *first && seq - first < events.len() as u64);
        if !hit {
            self.cached = Some(load_chunk(self.kv, self.topic, seq)?);
        }
        match self.cached.as_ref() {
            Some((first, events)) => Ok((*first, events)),
            None => Err(ApplyError::Corrupt("events log cache".into())),
        }
    }

    /// Up to `limit` retained events from sequence `from` on, in order, within
    /// [`MAX_ANSWER_BYTES`] (at least one).
    pub(crate) fn range(
        &mut self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, StoredEvent)>, ApplyError> {
        let mut seq = from.max(self.meta.first_seq);
        let mut out: Vec<(u64, StoredEvent)> = Vec::new();
        let mut bytes = 0u64;
        while out.len() < limit && seq < self.meta.next_seq {
            let (first, events) = self.chunk_of(seq)?;
            let skip = usize::try_from(seq - first).unwrap_or(usize::MAX);
            for event in events.iter().skip(skip) {
                if out.len() >= limit
                    || (!out.is_empty() && bytes + event.size() > MAX_ANSWER_BYTES as u64)
                {
                    return Ok(out);
                }
                bytes += event.size();
                out.push((seq, event.clone()));
                seq += 1;
            }
        }
        Ok(out)
    }
}
