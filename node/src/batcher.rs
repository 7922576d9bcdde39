//! [`Batcher`]: coalesces concurrent writes of one kind on this node into one raft command, so
//! they share one entry, one quorum round trip and one fsync; each caller is answered with its
//! own outcome. Event publishes, registry registrations (heartbeats) and store writes go
//! through one.
//!
//! A few batches may be in flight at once: while they commit, new items queue up and form the
//! next batch, so batches grow with the load instead of waiting for a timer.

use std::collections::HashSet;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use micro_raft::Cluster;
use micro_state_machine::{Command, Response};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::ApiError;

/// Items waiting for a batch; a full queue makes callers wait (backpressure).
const QUEUE: usize = 8192;
/// Most items in one batch.
const MAX_BATCH_ITEMS: usize = 1000;
/// A batch takes no more items once it holds this many bytes (an item may exceed it alone).
const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// A kind of write that batches: how big an item is, the one command a batch becomes, and
/// how that command's response splits into one outcome per item.
pub trait Batch: Send + Sync + 'static {
    /// What one caller submits.
    type Item: Send + 'static;
    /// What one caller is answered.
    type Outcome: Send + 'static;
    /// The name of the batch-size histogram.
    const SIZE_METRIC: &'static str;
    /// Batches committing at the same time. Two overlap one batch's commit with the next
    /// one's forming; more would only make batches smaller and entries more numerous.
    const IN_FLIGHT: usize = 2;
    /// About how many bytes `item` adds to the command.
    fn size(item: &Self::Item) -> usize;
    /// Items with the same key never share a batch: the second waits for the next one
    /// (store writes of one key would share a revision). `None`: any item may join.
    fn key(_item: &Self::Item) -> Option<Vec<u8>> {
        None
    }
    /// The command carrying `items`.
    fn command(items: Vec<Self::Item>) -> Command;
    /// One outcome per item, in order, or why the response does not have that shape.
    fn outcomes(response: Response) -> Result<Vec<Result<Self::Outcome, ApiError>>, ApiError>;
}

/// One submission waiting for its batch.
struct Job<B: Batch> {
    item: B::Item,
    size: usize,
    reply: oneshot::Sender<Result<B::Outcome, ApiError>>,
}

/// The handle callers submit through; cheap to clone.
pub struct Batcher<B: Batch> {
    jobs: mpsc::Sender<Job<B>>,
    kind: PhantomData<B>,
}

impl<B: Batch> Clone for Batcher<B> {
    fn clone(&self) -> Self {
        Batcher {
            jobs: self.jobs.clone(),
            kind: PhantomData,
        }
    }
}

impl<B: Batch> Batcher<B> {
    /// Starts the batcher on `tracker`; it stops taking items when `stop` is cancelled.
    pub fn start(cluster: Arc<Cluster>, tracker: &TaskTracker, stop: CancellationToken) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tracker.spawn(run::<B>(cluster, rx, tracker.clone(), stop));
        Batcher {
            jobs: tx,
            kind: PhantomData,
        }
    }

    /// Submits `item` (validated by the caller) and answers once its batch is committed on a
    /// quorum and applied.
    pub async fn submit(&self, item: B::Item) -> Result<B::Outcome, ApiError> {
        let (reply, answer) = oneshot::channel();
        let size = B::size(&item);
        self.jobs
            .send(Job { item, size, reply })
            .await
            .map_err(|_| ApiError::ShuttingDown)?;
        answer.await.map_err(|_| {
            // Only a batch that failed without answering (a bug) drops its callers.
            ApiError::Internal("the batch ended without an answer".into())
        })?
    }
}

async fn run<B: Batch>(
    cluster: Arc<Cluster>,
    mut jobs: mpsc::Receiver<Job<B>>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(B::IN_FLIGHT));
    // An item whose key the batch being formed already held: it starts the next batch.
    let mut deferred: Option<Job<B>> = None;
    loop {
        // Take a slot before the first job: while every slot is busy, items pile up in the
        // queue and leave together.
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let first = match deferred.take() {
            Some(j) => j,
            None => tokio::select! {
                _ = stop.cancelled() => return,
                j = jobs.recv() => match j {
                    Some(j) => j,
                    None => {
                        tracing::warn!(batch = B::SIZE_METRIC, "the batch queue closed; the batcher stops");
                        return;
                    }
                },
            },
        };
        let mut keys = HashSet::new();
        keys.extend(B::key(&first.item));
        let mut bytes = first.size;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_ITEMS && bytes < MAX_BATCH_BYTES {
            let Ok(j) = jobs.try_recv() else { break };
            if B::key(&j.item).is_some_and(|k| !keys.insert(k)) {
                deferred = Some(j);
                break;
            }
            bytes += j.size;
            batch.push(j);
        }
        metrics::histogram!(B::SIZE_METRIC).record(batch.len() as f64);
        let cluster = cluster.clone();
        tracker.spawn(async move {
            let committed = AssertUnwindSafe(commit::<B>(&cluster, batch)).catch_unwind();
            if let Err(panic) = committed.await {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(batch = B::SIZE_METRIC, panic = %what, "a batch panicked");
            }
            drop(permit);
        });
    }
}

/// Proposes one batch and answers each of its callers.
async fn commit<B: Batch>(cluster: &Cluster, batch: Vec<Job<B>>) {
    let n = batch.len();
    let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|j| (j.item, j.reply)).unzip();
    let outcomes = match cluster.write(B::command(items)).await {
        Ok(response) => B::outcomes(response),
        Err(e) => Err(ApiError::from(e)),
    };
    let results = match outcomes {
        Ok(results) if results.len() == n => results,
        Ok(results) => {
            let e = ApiError::Internal(format!(
                "a batch of {n} was answered with {} outcomes",
                results.len()
            ));
            (0..n).map(|_| Err(e.clone())).collect()
        }
        Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
    };
    for (reply, result) in replies.into_iter().zip(results) {
        // The caller may have gone away; its item's fate does not depend on it.
        let _ = reply.send(result);
    }
}
