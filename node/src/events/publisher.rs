//! [`Publisher`]: the publish batcher. Concurrent publishes on one node are coalesced into one
//! `Publish` command, so many events share one raft entry, one quorum round trip and one fsync;
//! each caller is answered with its own outcome (its sequence, or why its event was refused).
//!
//! A few batches may be in flight at once: while they commit, new publishes queue up and form
//! the next batch, so batches grow with the load instead of waiting for a timer.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use micro_raft::Cluster;
use micro_state_machine::events::{Appended, EventsCommand, EventsResponse, NewEvent};
use micro_state_machine::{Command, Response};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::convert::events_error;
use crate::error::ApiError;

/// Publishes waiting for a batch; a full queue makes publishers wait (backpressure).
const QUEUE: usize = 8192;
/// Most events in one batch.
const MAX_BATCH_EVENTS: usize = 1000;
/// A batch takes no more events once it holds this many bytes (an event may exceed it alone).
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Batches committing at the same time. Two overlap one batch's commit with the next one's
/// forming; more would only make batches smaller and entries more numerous.
const BATCHES_IN_FLIGHT: usize = 2;

/// One publish waiting for its batch.
struct Job {
    event: NewEvent,
    size: usize,
    reply: oneshot::Sender<Result<Appended, ApiError>>,
}

/// The handle publishers use; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    jobs: mpsc::Sender<Job>,
}

impl Publisher {
    /// Starts the batcher on `tracker`; it stops taking publishes when `stop` is cancelled.
    pub fn start(cluster: Arc<Cluster>, tracker: &TaskTracker, stop: CancellationToken) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tracker.spawn(run(cluster, rx, tracker.clone(), stop));
        Publisher { jobs: tx }
    }

    /// Appends `event` (validated by the caller) and answers once it is committed on a quorum.
    pub async fn publish(&self, event: NewEvent) -> Result<Appended, ApiError> {
        let (reply, answer) = oneshot::channel();
        let size = micro_state_machine::events::event_size(&event.payload, &event.metadata);
        self.jobs
            .send(Job { event, size, reply })
            .await
            .map_err(|_| ApiError::ShuttingDown)?;
        answer.await.map_err(|_| {
            // Only a batch that failed without answering (a bug) drops its callers.
            ApiError::Internal("the publish batch ended without an answer".into())
        })?
    }
}

async fn run(
    cluster: Arc<Cluster>,
    mut jobs: mpsc::Receiver<Job>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    loop {
        // Take a slot before the first job: while every slot is busy, publishes pile up in
        // the queue and leave together.
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let first = tokio::select! {
            _ = stop.cancelled() => return,
            j = jobs.recv() => match j {
                Some(j) => j,
                None => {
                    tracing::warn!("the publish queue closed; the batcher stops");
                    return;
                }
            },
        };
        let mut bytes = first.size;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_EVENTS && bytes < MAX_BATCH_BYTES {
            match jobs.try_recv() {
                Ok(j) => {
                    bytes += j.size;
                    batch.push(j);
                }
                Err(_) => break,
            }
        }
        metrics::histogram!("micro_events_publish_batch_events").record(batch.len() as f64);
        let cluster = cluster.clone();
        tracker.spawn(async move {
            let committed = AssertUnwindSafe(commit(&cluster, batch)).catch_unwind();
            if let Err(panic) = committed.await {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(panic = %what, "a publish batch panicked");
            }
            drop(permit);
        });
    }
}

/// Proposes one batch and answers each of its publishers.
async fn commit(cluster: &Cluster, batch: Vec<Job>) {
    let n = batch.len();
    let (events, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|j| (j.event, j.reply)).unzip();
    let outcome = cluster
        .write(Command::Events(EventsCommand::Publish { events }))
        .await;
    let results: Vec<Result<Appended, ApiError>> = match outcome {
        Ok(Response::Events(EventsResponse::Published { results })) if results.len() == n => {
            results
                .into_iter()
                .map(|r| r.map_err(events_error))
                .collect()
        }
        Ok(other) => {
            let e = ApiError::Internal(format!("a publish batch produced {other:?}"));
            vec![Err(e); n]
        }
        Err(e) => vec![Err(ApiError::from(e)); n],
    };
    for (reply, result) in replies.into_iter().zip(results) {
        // The publisher may have gone away; its event's fate does not depend on it.
        let _ = reply.send(result);
    }
}
