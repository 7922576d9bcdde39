//! Applying events commands. Deterministic: sequences come from the stored topic meta, append
//! times and deadlines from the [`ApplyContext`], ids from the command.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::log::{self, LogReader};
use super::model::{
    due_key, due_prefix, group_key, id_key, meta_key, pending_key, split_due_key, META_PREFIX,
};
use super::query::{load_meta, start_seq};
use super::{
    validate_event, validate_name, Appended, Claim, Delivery, EventsCommand, EventsError,
    EventsResponse, GroupState, NewEvent, Pending, Retention, TopicMeta, MAX_ANSWER_BYTES,
    MAX_CLAIM, MAX_GROUP_PENDING, MAX_TRIM_PER_ENTRY,
};
use crate::kv::{ApplyError, KvRead, Txn};
use crate::ApplyContext;

/// Most sequences one `Ack` may settle.
const MAX_ACK: usize = 10_000;

/// Applies one events command to `txn`.
pub fn apply(
    txn: &mut Txn<'_>,
    cmd: EventsCommand,
    ctx: &ApplyContext,
) -> Result<EventsResponse, ApplyError> {
    match cmd {
        EventsCommand::Publish { events } => publish(txn, events, ctx),
        EventsCommand::Claim(claim) => claim_events(txn, claim, ctx),
        EventsCommand::Ack {
            topic,
            group,
            seqs,
            success,
        } => ack(txn, &topic, &group, seqs, success, ctx),
        EventsCommand::Trim { limit } => {
            let mut count = 0u64;
            for (key, raw) in txn.scan_prefix(META_PREFIX)? {
                let remaining = u64::from(limit).saturating_sub(count);
                if remaining == 0 {
                    break;
                }
                let topic = String::from_utf8(key[META_PREFIX.len()..].to_vec())
                    .map_err(|_| ApplyError::Corrupt("events topic name".into()))?;
                let mut meta: TopicMeta = decode(&raw)?;
                let removed = trim(txn, &topic, &mut meta, ctx.time_ms, remaining)?;
                if removed > 0 {
                    txn.put(key, encode(&meta)?);
                    count += removed;
                }
            }
            Ok(EventsResponse::Trimmed { count })
        }
        EventsCommand::SetRetention { topic, retention } => {
            if let Err(e) = validate_name("topic", &topic) {
                return Ok(EventsResponse::Err(e));
            }
            let mut meta = load_meta(txn, &topic)?.unwrap_or_default();
            meta.retention = retention;
            let trimmed = trim(
                txn,
                &topic,
                &mut meta,
                ctx.time_ms,
                u64::from(MAX_TRIM_PER_ENTRY),
            )?;
            txn.put(meta_key(&topic), encode(&meta)?);
            Ok(EventsResponse::RetentionSet { trimmed })
        }
    }
}

fn publish(
    txn: &mut Txn<'_>,
    events: Vec<NewEvent>,
    ctx: &ApplyContext,
) -> Result<EventsResponse, ApplyError> {
    let mut metas: BTreeMap<String, TopicMeta> = BTreeMap::new();
    // The events appended to each topic (one chunk each) and the first one's sequence.
    let mut appended: BTreeMap<String, (u64, Vec<super::StoredEvent>)> = BTreeMap::new();
    let mut results = Vec::with_capacity(events.len());
    for e in events {
        if let Err(err) = validate_event(&e) {
            results.push(Err(err));
            continue;
        }
        let meta = match metas.entry(e.topic.clone()) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(load_meta(txn, &e.topic)?.unwrap_or_default()),
        };
        let index = id_key(&e.topic, &e.id);
        if e.dedupe {
            if let Some(raw) = txn.get(&index)? {
                results.push(Ok(Appended {
                    seq: decode_seq(&raw)?,
                    duplicate: true,
                }));
                continue;
            }
        }
        let seq = meta.next_seq;
        let stored = super::StoredEvent {
            id: e.id,
            payload: e.payload,
            metadata: e.metadata,
            timestamp: e
                .timestamp
                .unwrap_or_else(|| i64::try_from(ctx.time_ms / 1000).unwrap_or(i64::MAX)),
            appended_ms: ctx.time_ms,
            indexed: e.dedupe,
        };
        if meta.count() == 0 {
            meta.first_appended_ms = ctx.time_ms;
        }
        meta.bytes = meta.bytes.saturating_add(stored.size());
        meta.next_seq += 1;
        if e.dedupe {
            txn.put(index, seq.to_be_bytes().to_vec());
        }
        appended
            .entry(e.topic)
            .or_insert_with(|| (seq, Vec::new()))
            .1
            .push(stored);
        results.push(Ok(Appended {
            seq,
            duplicate: false,
        }));
    }
    for (topic, (first, events)) in appended {
        log::append(txn, &topic, first, events)?;
    }
    for (topic, mut meta) in metas {
        trim(
            txn,
            &topic,
            &mut meta,
            ctx.time_ms,
            u64::from(MAX_TRIM_PER_ENTRY),
        )?;
        txn.put(meta_key(&topic), encode(&meta)?);
    }
    Ok(EventsResponse::Published { results })
}

/// Removes the oldest events of `topic` that its retention no longer keeps at `now_ms`, at
/// most `limit` of them; returns how many went. The caller saves `meta`.
fn trim(
    txn: &mut Txn<'_>,
    topic: &str,
    meta: &mut TopicMeta,
    now_ms: u64,
    limit: u64,
) -> Result<u64, ApplyError> {
    let Retention {
        max_age_ms,
        max_bytes,
        max_events,
    } = meta.retention;
    let mut removed = 0;
    // The chunk holding the oldest retained event, once loaded.
    let mut chunk: Option<(u64, Vec<super::StoredEvent>)> = None;
    while removed < limit && meta.count() > 0 {
        let over_count = max_events > 0 && meta.count() > max_events;
        let over_bytes = max_bytes > 0 && meta.bytes > max_bytes;
        let too_old = max_age_ms > 0 && meta.first_appended_ms.saturating_add(max_age_ms) <= now_ms;
        if !over_count && !over_bytes && !too_old {
            break;
        }
        let seq = meta.first_seq;
        let (first, events) = match chunk.take() {
            Some(c) => c,
            None => log::load_chunk(txn, topic, seq)?,
        };
        let index = usize::try_from(seq - first).unwrap_or(usize::MAX);
        let event = events
            .get(index)
            .ok_or_else(|| ApplyError::Corrupt(format!("topic {topic:?} lost event {seq}")))?;
        if event.indexed {
            txn.delete(id_key(topic, &event.id));
        }
        meta.bytes = meta.bytes.saturating_sub(event.size());
        meta.first_seq += 1;
        removed += 1;
        let next = if index + 1 < events.len() {
            Some((first, events))
        } else {
            // Every event of the chunk is gone.
            log::remove_chunk(txn, topic, first);
            None
        };
        meta.first_appended_ms = if meta.count() == 0 {
            0
        } else {
            let (first, events) = match next {
                Some(c) => c,
                None => log::load_chunk(txn, topic, meta.first_seq)?,
            };
            let at = events
                .get(usize::try_from(meta.first_seq - first).unwrap_or(usize::MAX))
                .map_or(0, |e| e.appended_ms);
            chunk = Some((first, events));
            at
        };
    }
    Ok(removed)
}

fn claim_events(
    txn: &mut Txn<'_>,
    c: Claim,
    ctx: &ApplyContext,
) -> Result<EventsResponse, ApplyError> {
    let checked = validate_name("topic", &c.topic)
        .and_then(|_| validate_name("group", &c.group))
        .and_then(|_| {
            if c.max == 0 || c.max > MAX_CLAIM {
                Err(EventsError::InvalidArgument(format!(
                    "a claim takes 1 to {MAX_CLAIM} events"
                )))
            } else if c.ack_wait_ms == 0 {
                Err(EventsError::InvalidArgument(
                    "ack wait must be positive".into(),
                ))
            } else {
                Ok(())
            }
        });
    if let Err(e) = checked {
        return Ok(EventsResponse::Err(e));
    }
    let (topic, group) = (c.topic.as_str(), c.group.as_str());
    let meta = load_meta(txn, topic)?.unwrap_or_default();
    let gkey = group_key(topic, group);
    let mut state = match txn.get(&gkey)? {
        Some(raw) => decode::<GroupState>(&raw)?,
        None => match start_seq(txn, topic, &meta, c.start)? {
            Ok(cursor) => GroupState {
                cursor,
                pending: 0,
                dropped: 0,
            },
            Err(e) => return Ok(EventsResponse::Err(e)),
        },
    };
    let max = c.max as usize;
    let deadline = ctx.time_ms.saturating_add(c.ack_wait_ms);
    let mut out = Answer::default();

    // Deliveries due for redelivery first, oldest deadline first.
    let prefix = due_prefix(topic, group);
    let end = [
        prefix.as_slice(),
        &ctx.time_ms.saturating_add(1).to_be_bytes(),
    ]
    .concat();
    'due: while out.deliveries.len() < max {
        let page = txn.scan_range(&prefix, &end, max - out.deliveries.len())?;
        if page.is_empty() {
            break;
        }
        // Read the page first (its events share chunks), then write.
        let mut reader = LogReader::new(txn, topic, meta);
        let mut resolved = Vec::with_capacity(page.len());
        for (key, _) in page {
            let (_, seq) = split_due_key(&key)
                .ok_or_else(|| ApplyError::Corrupt("events due index key".into()))?;
            let pkey = pending_key(topic, group, seq);
            let pending: Pending = load(txn, &pkey)?
                .ok_or_else(|| ApplyError::Corrupt("events due index without pending".into()))?;
            let event = reader.get(seq)?.cloned();
            resolved.push((key, seq, pkey, pending, event));
        }
        for (key, seq, pkey, pending, event) in resolved {
            let exhausted = c.retry_limit.is_some_and(|l| pending.attempts > l);
            let Some(event) = event.filter(|_| !exhausted) else {
                txn.delete(key);
                txn.delete(pkey);
                state.pending = state.pending.saturating_sub(1);
                state.dropped += 1;
                out.dropped += 1;
                continue;
            };
            if !out.fits(event.size()) {
                break 'due;
            }
            txn.delete(key);
            let attempt = pending.attempts.saturating_add(1);
            out.push(txn, topic, group, seq, attempt, deadline, event)?;
        }
    }

    // Then events never handed to this group, in log order.
    state.cursor = state.cursor.max(meta.first_seq);
    let room = MAX_GROUP_PENDING.saturating_sub(state.pending);
    let want = (max - out.deliveries.len()).min(usize::try_from(room).unwrap_or(usize::MAX));
    if want > 0 && state.cursor < meta.next_seq {
        let fresh = LogReader::new(txn, topic, meta).range(state.cursor, want)?;
        for (seq, event) in fresh {
            if !out.fits(event.size()) {
                break;
            }
            out.push(txn, topic, group, seq, 1, deadline, event)?;
            state.pending += 1;
            state.cursor = seq + 1;
        }
    }
    txn.put(gkey, encode(&state)?);
    Ok(EventsResponse::Claimed {
        deliveries: out.deliveries,
        dropped: out.dropped,
    })
}

/// The deliveries a claim builds, within [`MAX_ANSWER_BYTES`].
#[derive(Default)]
struct Answer {
    deliveries: Vec<Delivery>,
    bytes: u64,
    dropped: u32,
}

impl Answer {
    /// Whether an event of `size` bytes still fits; the first one always does.
    fn fits(&self, size: u64) -> bool {
        self.deliveries.is_empty() || self.bytes + size <= MAX_ANSWER_BYTES as u64
    }

    /// Records the delivery as pending until `deadline_ms` and adds it to the answer.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        txn: &mut Txn<'_>,
        topic: &str,
        group: &str,
        seq: u64,
        attempt: u32,
        deadline_ms: u64,
        event: super::StoredEvent,
    ) -> Result<(), ApplyError> {
        let pending = Pending {
            deadline_ms,
            attempts: attempt,
        };
        txn.put(pending_key(topic, group, seq), encode(&pending)?);
        txn.put(due_key(topic, group, deadline_ms, seq), Vec::new());
        self.bytes += event.size();
        self.deliveries.push(Delivery {
            seq,
            attempt,
            event,
        });
        Ok(())
    }
}

fn ack(
    txn: &mut Txn<'_>,
    topic: &str,
    group: &str,
    seqs: Vec<u64>,
    success: bool,
    ctx: &ApplyContext,
) -> Result<EventsResponse, ApplyError> {
    let checked = validate_name("topic", topic).and_then(|_| validate_name("group", group));
    if let Err(e) = checked {
        return Ok(EventsResponse::Err(e));
    }
    if seqs.len() > MAX_ACK {
        return Ok(EventsResponse::Err(EventsError::InvalidArgument(format!(
            "one ack settles at most {MAX_ACK} events"
        ))));
    }
    let gkey = group_key(topic, group);
    let Some(raw) = txn.get(&gkey)? else {
        return Ok(EventsResponse::Err(EventsError::GroupNotFound {
            topic: topic.to_owned(),
            group: group.to_owned(),
        }));
    };
    let mut state: GroupState = decode(&raw)?;
    let mut settled = 0;
    for seq in seqs.into_iter().collect::<BTreeSet<_>>() {
        let pkey = pending_key(topic, group, seq);
        let Some(pending) = load::<Pending>(txn, &pkey)? else {
            continue;
        };
        txn.delete(due_key(topic, group, pending.deadline_ms, seq));
        if success {
            txn.delete(pkey);
            state.pending = state.pending.saturating_sub(1);
        } else {
            let due = Pending {
                deadline_ms: ctx.time_ms,
                ..pending
            };
            txn.put(pkey, encode(&due)?);
            txn.put(due_key(topic, group, ctx.time_ms, seq), Vec::new());
        }
        settled += 1;
    }
    if success && settled > 0 {
        txn.put(gkey, encode(&state)?);
    }
    Ok(EventsResponse::Acked { settled })
}

fn load<T: DeserializeOwned>(kv: &dyn KvRead, key: &[u8]) -> Result<Option<T>, ApplyError> {
    kv.get(key)?.map(|raw| decode(&raw)).transpose()
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, ApplyError> {
    bincode::serialize(v).map_err(|e| ApplyError::Corrupt(format!("encode events state: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApplyError> {
    bincode::deserialize(raw).map_err(|e| ApplyError::Corrupt(format!("decode events state: {e}")))
}

pub(crate) fn decode_seq(raw: &[u8]) -> Result<u64, ApplyError> {
    raw.try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| ApplyError::Corrupt("events id index".into()))
}

#[cfg(test)]
#[path = "apply_test.rs"]
mod tests;
