//! Read-only events queries, shared by apply (start positions) and the node (reads, ephemeral
//! consumers, the trim worker).

use super::apply::{decode, decode_seq};
use super::log::LogReader;
use super::model::{
    due_prefix, group_key, group_prefix, id_key, meta_key, pending_key, pending_prefix, seq_of_key,
    META_PREFIX,
};
use super::{EventsError, GroupState, Pending, StartPosition, StoredEvent, TopicMeta};
use crate::kv::{ApplyError, KvRead};

/// An event as returned to readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventView {
    /// Its sequence in the topic.
    pub seq: u64,
    /// The event.
    pub event: StoredEvent,
}

pub(crate) fn load_meta(kv: &dyn KvRead, topic: &str) -> Result<Option<TopicMeta>, ApplyError> {
    kv.get(&meta_key(topic))?
        .map(|raw| decode(&raw))
        .transpose()
}

/// The sequence a new group starting at `start` reads first.
pub(crate) fn start_seq(
    kv: &dyn KvRead,
    topic: &str,
    meta: &TopicMeta,
    start: StartPosition,
) -> Result<Result<u64, EventsError>, ApplyError> {
    Ok(Ok(match start {
        StartPosition::Earliest => meta.first_seq,
        StartPosition::Latest => meta.next_seq,
        StartPosition::Sequence(s) if s > meta.next_seq => {
            return Ok(Err(EventsError::PastEnd {
                topic: topic.to_owned(),
                sequence: s,
                next: meta.next_seq,
            }))
        }
        StartPosition::Sequence(s) => s.max(meta.first_seq),
        StartPosition::Time(t) => {
            // Append times never decrease along the log: binary search for the first event
            // appended at or after `t`.
            let mut log = LogReader::new(kv, topic, *meta);
            let (mut lo, mut hi) = (meta.first_seq, meta.next_seq);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                let appended = log.get(mid)?.map(|e| e.appended_ms).ok_or_else(|| {
                    ApplyError::Corrupt(format!("topic {topic:?} lost event {mid}"))
                })?;
                if appended < t {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        }
    }))
}

fn storage(e: ApplyError) -> EventsError {
    EventsError::Storage(e.to_string())
}

/// A topic's bookkeeping, `None` if nothing was ever published to it or configured for it.
pub fn topic(kv: &dyn KvRead, topic: &str) -> Result<Option<TopicMeta>, EventsError> {
    load_meta(kv, topic).map_err(storage)
}

/// Every known topic with its bookkeeping, by name.
pub fn topics(kv: &dyn KvRead) -> Result<Vec<(String, TopicMeta)>, EventsError> {
    kv.scan_prefix(META_PREFIX)
        .map_err(storage)?
        .into_iter()
        .map(|(k, v)| {
            let name = String::from_utf8(k[META_PREFIX.len()..].to_vec())
                .map_err(|_| storage(ApplyError::Corrupt("events topic name".into())))?;
            Ok((name, decode(&v).map_err(storage)?))
        })
        .collect()
}

/// Micro's Store.Read: up to `limit` retained events of `topic` in log order, skipping the
/// `offset` oldest, within [`MAX_ANSWER_BYTES`] (at least one event). An unknown topic, or an
/// offset past the end, reads nothing.
pub fn read(
    kv: &dyn KvRead,
    topic: &str,
    offset: u64,
    limit: usize,
) -> Result<Vec<EventView>, EventsError> {
    let Some(meta) = load_meta(kv, topic).map_err(storage)? else {
        return Ok(Vec::new());
    };
    events_from(kv, topic, meta.first_seq.saturating_add(offset), limit)
}

/// Up to `limit` events of `topic` from sequence `from` on, in log order, within
/// [`MAX_ANSWER_BYTES`] (at least one event).
pub fn events_from(
    kv: &dyn KvRead,
    topic: &str,
    from: u64,
    limit: usize,
) -> Result<Vec<EventView>, EventsError> {
    let Some(meta) = load_meta(kv, topic).map_err(storage)? else {
        return Ok(Vec::new());
    };
    Ok(LogReader::new(kv, topic, meta)
        .range(from, limit)
        .map_err(storage)?
        .into_iter()
        .map(|(seq, event)| EventView { seq, event })
        .collect())
}

/// The sequence a consumer starting at `start` reads first (for ephemeral consumers; groups
/// resolve it when their first claim applies).
pub fn resolve_start(
    kv: &dyn KvRead,
    topic: &str,
    start: StartPosition,
) -> Result<u64, EventsError> {
    let meta = load_meta(kv, topic).map_err(storage)?.unwrap_or_default();
    start_seq(kv, topic, &meta, start).map_err(storage)?
}

/// A group's position in a topic, `None` if it never claimed from it.
pub fn group(kv: &dyn KvRead, topic: &str, group: &str) -> Result<Option<GroupState>, EventsError> {
    kv.get(&group_key(topic, group))
        .map_err(storage)?
        .map(|raw| decode(&raw).map_err(storage))
        .transpose()
}

/// Every group that consumed `topic`, by name.
pub fn groups(kv: &dyn KvRead, topic: &str) -> Result<Vec<(String, GroupState)>, EventsError> {
    let prefix = group_prefix(topic);
    kv.scan_prefix(&prefix)
        .map_err(storage)?
        .into_iter()
        .map(|(k, v)| {
            let name = String::from_utf8(k[prefix.len()..].to_vec())
                .map_err(|_| storage(ApplyError::Corrupt("events group name".into())))?;
            Ok((name, decode(&v).map_err(storage)?))
        })
        .collect()
}

/// A group's pending delivery of `seq`, if it awaits acknowledgement.
pub fn pending(
    kv: &dyn KvRead,
    topic: &str,
    group: &str,
    seq: u64,
) -> Result<Option<Pending>, EventsError> {
    kv.get(&pending_key(topic, group, seq))
        .map_err(storage)?
        .map(|raw| decode(&raw).map_err(storage))
        .transpose()
}

/// The earliest deadline among a group's pending deliveries.
pub fn next_due(kv: &dyn KvRead, topic: &str, group: &str) -> Result<Option<u64>, EventsError> {
    let prefix = due_prefix(topic, group);
    let mut end = prefix.clone();
    end.extend_from_slice(&[0xff; 17]);
    let first = kv.scan_range(&prefix, &end, 1).map_err(storage)?;
    Ok(first
        .first()
        .and_then(|(k, _)| super::model::split_due_key(k))
        .map(|(deadline, _)| deadline))
}

/// The sequence of the group's pending delivery of the event with this id: from the id index
/// when the publisher chose the id, else by reading the group's pending deliveries (at most
/// [`MAX_GROUP_PENDING`](super::MAX_GROUP_PENDING)).
pub fn pending_by_id(
    kv: &dyn KvRead,
    topic: &str,
    group: &str,
    id: &str,
) -> Result<Option<u64>, EventsError> {
    if let Some(seq) = seq_of_id(kv, topic, id)? {
        return Ok(Some(seq));
    }
    let meta = load_meta(kv, topic).map_err(storage)?.unwrap_or_default();
    let mut log = LogReader::new(kv, topic, meta);
    for (k, _) in kv
        .scan_prefix(&pending_prefix(topic, group))
        .map_err(storage)?
    {
        let seq =
            seq_of_key(&k).ok_or_else(|| storage(ApplyError::Corrupt("pending key".into())))?;
        if log.get(seq).map_err(storage)?.is_some_and(|e| e.id == id) {
            return Ok(Some(seq));
        }
    }
    Ok(None)
}

/// The sequence of the retained event of `topic` whose publisher chose this id.
pub fn seq_of_id(kv: &dyn KvRead, topic: &str, id: &str) -> Result<Option<u64>, EventsError> {
    kv.get(&id_key(topic, id))
        .map_err(storage)?
        .map(|raw| decode_seq(&raw).map_err(storage))
        .transpose()
}

/// Whether any topic holds events its retention no longer keeps at `now_ms` (the leader's
/// trim worker proposes a `Trim` only then).
pub fn trim_due(kv: &dyn KvRead, now_ms: u64) -> Result<bool, EventsError> {
    Ok(topics(kv)?.iter().any(|(_, meta)| {
        let r = meta.retention;
        meta.count() > 0
            && ((r.max_events > 0 && meta.count() > r.max_events)
                || (r.max_bytes > 0 && meta.bytes > r.max_bytes)
                || (r.max_age_ms > 0
                    && meta.first_appended_ms.saturating_add(r.max_age_ms) <= now_ms))
    }))
}
