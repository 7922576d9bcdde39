//! A consumer without a group: it follows the topic in this node's applied log from a start
//! position resolved behind a read barrier, and keeps its unacknowledged deliveries in memory
//! (bounded by `max_in_flight`), redelivering them after the ack wait up to the retry limit.
//! Nothing of it is replicated: it ends with its stream.

use micro_state_machine::events;
use tokio::time::Instant;

use super::consumer::{sleep_until, AckMsg, Acks, Consumer, Held, HeldSet, Inbound, BATCH};
use super::convert::{self, events_error};

/// Runs the consumer from sequence `cursor` until the client or the node goes away.
pub async fn run(c: Consumer, mut acks: Acks, mut cursor: u64) {
    // Ending cancels the consumer's token, which ends the reader of the client's messages.
    let _ended = c.stop.clone().drop_guard();
    let mut applied = c.cluster.applied();
    let mut held = HeldSet::default();
    let topic = c.spec.topic.clone();
    loop {
        if c.ended() {
            return;
        }
        for msg in acks.drain() {
            match msg {
                Inbound::Ack(ack) => settle(&mut held, &ack),
                Inbound::Close => return,
            }
        }
        for seq in held.due(Instant::now()) {
            let Some(h) = held.get_mut(seq) else {
                continue;
            };
            let exhausted = c.spec.retry_limit.is_some_and(|l| h.attempts > l);
            let event = events::events_from(c.cluster.reader(), &topic, seq, 1)
                .ok()
                .and_then(|mut v| v.pop())
                .filter(|v| v.seq == seq && !exhausted);
            let Some(view) = event else {
                // Out of retries, or removed by retention.
                held.remove(seq);
                metrics::counter!("micro_events_dropped_total").increment(1);
                continue;
            };
            h.attempts += 1;
            h.deadline = Instant::now() + c.spec.ack_wait;
            let attempt = h.attempts;
            if !c
                .send(Ok(convert::event(&topic, seq, attempt, view.event)))
                .await
            {
                return;
            }
        }
        let room = if c.spec.auto_ack {
            c.spec.max_in_flight
        } else {
            c.spec.max_in_flight.saturating_sub(held.len())
        }
        .min(BATCH);
        if room > 0 {
            let batch = match events::events_from(c.cluster.reader(), &topic, cursor, room) {
                Ok(batch) => batch,
                Err(e) => {
                    c.send(Err(events_error(e))).await;
                    return;
                }
            };
            let full = batch.len() == room;
            for view in batch {
                cursor = view.seq + 1;
                let id = view.event.id.clone();
                if !c
                    .send(Ok(convert::event(&topic, view.seq, 1, view.event)))
                    .await
                {
                    return;
                }
                metrics::counter!("micro_events_delivered_total").increment(1);
                if !c.spec.auto_ack {
                    let h = Held {
                        deadline: Instant::now() + c.spec.ack_wait,
                        attempts: 1,
                        id,
                    };
                    held.insert(view.seq, h);
                }
            }
            if full {
                continue;
            }
        }
        tokio::select! {
            _ = c.ending() => return,
            msg = acks.next() => match msg {
                Some(Inbound::Ack(ack)) => settle(&mut held, &ack),
                Some(Inbound::Close) => return,
                None => {}
            },
            next = applied.next() => if next.is_err() {
                return;
            },
            _ = sleep_until(held.next_deadline()) => {}
        }
    }
}

/// Acknowledged deliveries are done; nacked ones are due now.
fn settle(held: &mut HeldSet, ack: &AckMsg) {
    let Some(seq) = held.resolve(ack) else {
        return;
    };
    if ack.success {
        held.remove(seq);
    } else if let Some(h) = held.get_mut(seq) {
        h.deadline = Instant::now();
    }
}
