//! A consumer of a named group. It claims events through raft, so the group's cursor and its
//! unacknowledged deliveries are replicated: the group's consumers on every node share them,
//! and they survive restarts and the loss of nodes.
//!
//! Loop: settle the client's acknowledgements (one `Ack` write per batch, retried until it
//! applies, since settling twice is harmless); claim when the local replica shows work (new
//! events past the group's cursor, or deliveries due again) and the client has room; send
//! what the claim handed out; then wait for an applied change, a deadline or an ack. A claim
//! whose outcome is unknown is never repeated: what it handed out comes due again after the
//! ack wait, which keeps delivery at-least-once.

use std::time::Duration;

use micro_state_machine::events::{
    self, Claim, Delivery, EventsCommand, EventsResponse, MAX_GROUP_PENDING,
};
use micro_state_machine::{Command, Response};
use tokio::time::Instant;

use super::consumer::{sleep_until, AckMsg, Acks, Consumer, Held, HeldSet, BATCH};
use super::convert::{self, events_error};
use crate::error::ApiError;

/// First pause after a claim that found nothing or failed; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How soon failed acknowledgements are written again.
const ACK_RETRY: Duration = Duration::from_millis(200);
/// Added to a replicated deadline before claiming it, since the leader's clock decides.
const DEADLINE_SLACK: Duration = Duration::from_millis(20);

/// Runs the consumer of `group` until the client or the node goes away, or a claim is refused.
pub async fn run(c: Consumer, mut acks: Acks, group: String) {
    // Ending cancels the consumer's token, which ends the reader of the client's messages.
    let _ended = c.stop.clone().drop_guard();
    let mut applied = c.cluster.applied();
    let mut held = HeldSet::default();
    let mut settle: Vec<(u64, bool)> = Vec::new();
    let mut created = false;
    let mut backoff = MIN_BACKOFF;
    let mut claim_after: Option<Instant> = None;
    let topic = c.spec.topic.clone();
    loop {
        if c.ended() {
            return;
        }
        for ack in acks.drain() {
            take_ack(&c, &mut held, &mut settle, ack);
        }
        if let Err(e) = flush_acks(&c, &group, &mut settle).await {
            if fatal(&e) {
                c.send(Err(e)).await;
                return;
            }
            tracing::debug!(error = %e, %topic, %group, "acknowledgements not written yet");
        }
        let now = Instant::now();
        // Held past the ack wait: the group hands these out again, to whichever consumer.
        for seq in held.due(now) {
            held.remove(seq);
        }
        let room = if c.spec.auto_ack {
            BATCH
        } else {
            c.spec.max_in_flight.saturating_sub(held.len()).min(BATCH)
        };
        let may_claim =
            room > 0 && claim_after.is_none_or(|t| t <= now) && (!created || has_work(&c, &group));
        if may_claim {
            match claim(&c, &group, room).await {
                Ok(deliveries) => {
                    created = true;
                    let full = deliveries.len() == room;
                    if deliveries.is_empty() {
                        claim_after = Some(Instant::now() + backoff);
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    } else {
                        claim_after = None;
                        backoff = MIN_BACKOFF;
                    }
                    for d in deliveries {
                        let event = convert::event(&topic, d.seq, d.attempt, d.event);
                        let id = event.id.clone();
                        if !c.send(Ok(event)).await {
                            return;
                        }
                        if c.spec.auto_ack {
                            settle.push((d.seq, true));
                        } else {
                            let held_item = Held {
                                deadline: Instant::now() + c.spec.ack_wait,
                                attempts: d.attempt,
                                id,
                            };
                            held.insert(d.seq, held_item);
                        }
                    }
                    if full {
                        continue;
                    }
                }
                Err(e) if fatal(&e) => {
                    c.send(Err(e)).await;
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, %topic, %group, "claim failed; retrying");
                    claim_after = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let wake = [
            held.next_deadline(),
            claim_after,
            // Never earlier than a backoff already chosen, or a due delivery the leader's clock
            // does not see yet would spin this loop.
            (room > 0)
                .then(|| replicated_due(&c, &group))
                .flatten()
                .map(|due| claim_after.map_or(due, |after| due.max(after))),
            (!settle.is_empty()).then(|| Instant::now() + ACK_RETRY),
        ]
        .into_iter()
        .flatten()
        .min();
        tokio::select! {
            _ = c.ending() => return,
            ack = acks.next() => if let Some(ack) = ack {
                take_ack(&c, &mut held, &mut settle, ack);
            },
            next = applied.next() => if next.is_err() {
                return;
            },
            _ = sleep_until(wake) => {}
        }
    }
}

/// Errors that end the stream: the request itself is wrong, or the node is stopping.
fn fatal(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::BadRequest(_)
            | ApiError::NotFound(_)
            | ApiError::Forbidden(_)
            | ApiError::Unauthorized(_)
            | ApiError::Internal(_)
            | ApiError::ShuttingDown
    )
}

/// Queues the settlement of the delivery an acknowledgement names. A sequence this consumer
/// does not hold is settled anyway (the group may have handed it to us before a reconnect);
/// an unknown id is looked up in the local replica, and ignored if the topic has no such
/// event any more.
fn take_ack(c: &Consumer, held: &mut HeldSet, settle: &mut Vec<(u64, bool)>, ack: AckMsg) {
    let seq = held.resolve(&ack).or_else(|| {
        if ack.sequence > 0 {
            return Some(ack.sequence);
        }
        events::seq_of_id(c.cluster.reader(), &c.spec.topic, &ack.id)
            .ok()
            .flatten()
    });
    let Some(seq) = seq else {
        tracing::debug!(id = %ack.id, "acknowledgement of an unknown event ignored");
        return;
    };
    held.remove(seq);
    settle.push((seq, ack.success));
}

/// Writes queued settlements: one `Ack` for the acknowledged, one for the nacked. What fails
/// stays queued.
async fn flush_acks(
    c: &Consumer,
    group: &str,
    settle: &mut Vec<(u64, bool)>,
) -> Result<(), ApiError> {
    for success in [true, false] {
        let seqs: Vec<u64> = settle
            .iter()
            .filter(|(_, s)| *s == success)
            .map(|(q, _)| *q)
            .collect();
        if seqs.is_empty() {
            continue;
        }
        let cmd = EventsCommand::Ack {
            topic: c.spec.topic.clone(),
            group: group.to_owned(),
            seqs,
            success,
        };
        match c.cluster.write(Command::Events(cmd)).await? {
            Response::Events(EventsResponse::Acked { .. }) => {
                settle.retain(|(_, s)| *s != success);
            }
            Response::Events(EventsResponse::Err(e)) => return Err(events_error(e)),
            other => return Err(ApiError::Internal(format!("an ack produced {other:?}"))),
        }
    }
    Ok(())
}

/// Asks the group for up to `max` deliveries.
async fn claim(c: &Consumer, group: &str, max: usize) -> Result<Vec<Delivery>, ApiError> {
    let cmd = EventsCommand::Claim(Claim {
        topic: c.spec.topic.clone(),
        group: group.to_owned(),
        max: u32::try_from(max).unwrap_or(u32::MAX),
        ack_wait_ms: c.spec.ack_wait_ms(),
        retry_limit: c.spec.retry_limit,
        start: c.spec.start,
    });
    match c.cluster.write(Command::Events(cmd)).await? {
        Response::Events(EventsResponse::Claimed {
            deliveries,
            dropped,
        }) => {
            if dropped > 0 {
                metrics::counter!("micro_events_dropped_total").increment(u64::from(dropped));
            }
            metrics::counter!("micro_events_delivered_total").increment(deliveries.len() as u64);
            Ok(deliveries)
        }
        Response::Events(EventsResponse::Err(e)) => Err(events_error(e)),
        other => Err(ApiError::Internal(format!("a claim produced {other:?}"))),
    }
}

/// Whether the local replica shows something for the group to claim: events past its cursor
/// (while it has room for pending deliveries), or deliveries due again. A group the replica
/// does not know yet always has work (the claim creates it).
fn has_work(c: &Consumer, group: &str) -> bool {
    let reader = c.cluster.reader();
    let topic = &c.spec.topic;
    let Ok(Some(g)) = events::group(reader, topic, group) else {
        return true;
    };
    let meta = events::topic(reader, topic)
        .ok()
        .flatten()
        .unwrap_or_default();
    let fresh = g.cursor.max(meta.first_seq) < meta.next_seq && g.pending < MAX_GROUP_PENDING;
    let due = events::next_due(reader, topic, group)
        .ok()
        .flatten()
        .is_some_and(|d| d <= micro_raft::now_ms());
    fresh || due
}

/// When the group's earliest pending delivery comes due, as a local instant.
fn replicated_due(c: &Consumer, group: &str) -> Option<Instant> {
    let due_ms = events::next_due(c.cluster.reader(), &c.spec.topic, group)
        .ok()
        .flatten()?;
    let wait = due_ms.saturating_sub(micro_raft::now_ms());
    Some(Instant::now() + Duration::from_millis(wait) + DEADLINE_SLACK)
}
