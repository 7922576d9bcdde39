//! A consumer of a named group. It claims events through raft, so the group's cursor and its
//! unacknowledged deliveries are replicated: the group's consumers on every node share them,
//! and they survive restarts and the loss of nodes.
//!
//! Loop: settle the client's acknowledgements (one `Ack` write per batch, retried until it
//! applies, since settling twice is harmless); forget held deliveries the replicated state
//! shows settled or taken over (acknowledged through Stream.Ack, or redelivered elsewhere);
//! claim when the local replica shows work (new events past the group's cursor, or deliveries
//! due again) and the client has room; send what the claim handed out; then wait for an
//! applied change, a deadline or a message. A claim whose outcome is unknown is never
//! repeated: what it handed out comes due again after the ack wait, which keeps delivery
//! at-least-once. When the consumer ends, its acknowledgements are committed and what it still
//! holds goes back to the group, due at once, so the next consumer continues in log order.

use std::time::Duration;

use micro_state_machine::events::{
    self, Claim, Delivery, EventsCommand, EventsResponse, MAX_GROUP_PENDING,
};
use micro_state_machine::{Command, Response};
use tokio::time::Instant;

use super::consumer::{sleep_until, AckMsg, Acks, Consumer, Held, HeldSet, Inbound, BATCH};
use super::convert::{self, events_error};
use crate::error::ApiError;

/// First pause after a claim that found nothing or failed; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How soon failed acknowledgements are written again.
const ACK_RETRY: Duration = Duration::from_millis(200);
/// Added to a replicated deadline before claiming it, since the leader's clock decides.
const DEADLINE_SLACK: Duration = Duration::from_millis(20);
/// How long an ending consumer tries to commit its acknowledgements and hand back the rest.
const FINISH_TIMEOUT: Duration = Duration::from_secs(3);

/// What one group consumer tracks.
struct State {
    group: String,
    held: HeldSet,
    /// Settlements to write: (sequence, acknowledged?).
    settle: Vec<(u64, bool)>,
}

/// Runs the consumer of `group` until the client or the node goes away, the client closes,
/// or a claim is refused.
pub async fn run(c: Consumer, mut acks: Acks, group: String) {
    // Ending cancels the consumer's token, which ends the reader of the client's messages.
    let _ended = c.stop.clone().drop_guard();
    let mut state = State {
        group,
        held: HeldSet::default(),
        settle: Vec::new(),
    };
    serve(&c, &mut acks, &mut state).await;
    finish(&c, state).await;
}

async fn serve(c: &Consumer, acks: &mut Acks, st: &mut State) {
    let mut applied = c.cluster.applied();
    let mut created = false;
    let mut backoff = MIN_BACKOFF;
    let mut claim_after: Option<Instant> = None;
    let topic = c.spec.topic.clone();
    loop {
        if c.ended() {
            return;
        }
        for msg in acks.drain() {
            match msg {
                Inbound::Ack(ack) => take_ack(c, st, ack),
                Inbound::Close => return,
            }
        }
        if let Err(e) = flush_acks(c, st).await {
            if fatal(&e) {
                c.send(Err(e)).await;
                return;
            }
            tracing::debug!(error = %e, %topic, group = %st.group, "acknowledgements not written yet");
        }
        forget_settled(c, st);
        let now = Instant::now();
        if claim_after.is_some_and(|t| t <= now) {
            claim_after = None;
        }
        // Held past the ack wait: the group hands these out again, to whichever consumer.
        for seq in st.held.due(now) {
            st.held.remove(seq);
        }
        let room = if c.spec.auto_ack {
            c.spec.max_in_flight
        } else {
            c.spec.max_in_flight.saturating_sub(st.held.len())
        }
        .min(BATCH);
        let may_claim = room > 0 && claim_after.is_none() && (!created || has_work(c, &st.group));
        if may_claim {
            match claim(c, &st.group, room).await {
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
                        // Held before it is sent: if the client is gone, it goes back.
                        if c.spec.auto_ack {
                            st.settle.push((d.seq, true));
                        } else {
                            let held = Held {
                                deadline: Instant::now() + c.spec.ack_wait,
                                attempts: d.attempt,
                                id,
                            };
                            st.held.insert(d.seq, held);
                        }
                        if !c.send(Ok(event)).await {
                            if c.spec.auto_ack {
                                st.settle.retain(|(s, _)| *s != d.seq);
                                st.settle.push((d.seq, false));
                            }
                            return;
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
                    tracing::debug!(error = %e, %topic, group = %st.group, "claim failed; retrying");
                    claim_after = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let wake = [
            st.held.next_deadline(),
            claim_after,
            // Never earlier than a backoff already chosen, or a due delivery the leader's clock
            // does not see yet would spin this loop.
            (room > 0)
                .then(|| replicated_due(c, &st.group))
                .flatten()
                .map(|due| claim_after.map_or(due, |after| due.max(after))),
            (!st.settle.is_empty()).then(|| Instant::now() + ACK_RETRY),
        ]
        .into_iter()
        .flatten()
        .min();
        tokio::select! {
            _ = c.ending() => return,
            msg = acks.next() => match msg {
                Some(Inbound::Ack(ack)) => take_ack(c, st, ack),
                Some(Inbound::Close) => return,
                None => {}
            },
            next = applied.next() => if next.is_err() {
                return;
            },
            _ = sleep_until(wake) => {}
        }
    }
}

/// Commits the acknowledgements received so far and hands what the client still holds back
/// to the group (a nack makes it due at once), within [`FINISH_TIMEOUT`].
async fn finish(c: &Consumer, mut st: State) {
    for (seq, _) in st.held.entries() {
        st.settle.push((seq, false));
    }
    let deadline = Instant::now() + FINISH_TIMEOUT;
    while !st.settle.is_empty() && Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, flush_acks(c, &mut st)).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) if fatal(&e) && !matches!(e, ApiError::ShuttingDown) => return,
            Ok(Err(_)) => tokio::time::sleep(ACK_RETRY).await,
            Err(_) => break,
        }
    }
    if !st.settle.is_empty() {
        tracing::debug!(
            left = st.settle.len(),
            group = %st.group,
            "an ending consumer could not settle its deliveries; they come due after the ack wait"
        );
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
fn take_ack(c: &Consumer, st: &mut State, ack: AckMsg) {
    let seq = st.held.resolve(&ack).or_else(|| {
        if ack.sequence > 0 {
            return Some(ack.sequence);
        }
        events::pending_by_id(c.cluster.reader(), &c.spec.topic, &st.group, &ack.id)
            .ok()
            .flatten()
    });
    let Some(seq) = seq else {
        tracing::debug!(id = %ack.id, "acknowledgement of an unknown event ignored");
        return;
    };
    st.held.remove(seq);
    st.settle.push((seq, ack.success));
}

/// Forgets held deliveries that the local replica shows settled (acknowledged through
/// Stream.Ack, or dropped) or taken over by a redelivery. A delivery whose own claim the
/// replica has not applied yet is kept.
fn forget_settled(c: &Consumer, st: &mut State) {
    if st.held.len() == 0 {
        return;
    }
    let reader = c.cluster.reader();
    let topic = &c.spec.topic;
    let Ok(Some(g)) = events::group(reader, topic, &st.group) else {
        return;
    };
    for (seq, attempts) in st.held.entries() {
        let Ok(pending) = events::pending(reader, topic, &st.group, seq) else {
            return;
        };
        let gone = match pending {
            Some(p) => p.attempts > attempts,
            // Absent: settled, unless this is a first delivery whose claim is not applied here.
            None => attempts > 1 || g.cursor > seq,
        };
        if gone {
            st.held.remove(seq);
        }
    }
}

/// Writes queued settlements: one `Ack` for the acknowledged, one for the nacked. What fails
/// stays queued.
async fn flush_acks(c: &Consumer, st: &mut State) -> Result<(), ApiError> {
    for success in [true, false] {
        let seqs: Vec<u64> = st
            .settle
            .iter()
            .filter(|(_, s)| *s == success)
            .map(|(q, _)| *q)
            .collect();
        if seqs.is_empty() {
            continue;
        }
        let cmd = EventsCommand::Ack {
            topic: c.spec.topic.clone(),
            group: st.group.clone(),
            seqs,
            success,
        };
        match c.cluster.write(Command::Events(cmd)).await? {
            Response::Events(EventsResponse::Acked { .. }) => {
                st.settle.retain(|(_, s)| *s != success);
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
        .is_some_and(|d| d <= c.cluster.clock_ms());
    fresh || due
}

/// When the group's earliest pending delivery comes due, as a local instant.
fn replicated_due(c: &Consumer, group: &str) -> Option<Instant> {
    let due_ms = events::next_due(c.cluster.reader(), &c.spec.topic, group)
        .ok()
        .flatten()?;
    let wait = due_ms.saturating_sub(c.cluster.clock_ms());
    Some(Instant::now() + Duration::from_millis(wait) + DEADLINE_SLACK)
}
