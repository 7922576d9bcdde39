//! How operations are issued and timed: closed-loop clients (each sends its next operation
//! when the previous one answered) or renewals at a fixed rate with a bound on those in
//! flight. Latencies go into one HDR histogram per task, merged at the end.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Highest latency recorded, in microseconds (a minute).
const MAX_LATENCY_US: u64 = 60_000_000;

/// When a closed-loop run stops, and with how many clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Concurrent clients.
    pub clients: usize,
    /// How long to run.
    pub duration: Duration,
    /// Stop after this many operations instead (whichever comes first).
    pub ops: Option<u64>,
}

/// What a run measured: latencies of successful operations, their count, and the errors.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Latencies in microseconds.
    pub latency_us: Histogram<u64>,
    /// Operations that succeeded.
    pub done: u64,
    /// Operations that failed.
    pub errors: u64,
    /// The first error seen, for the report's reader.
    pub first_error: Option<String>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            latency_us: histogram(),
            done: 0,
            errors: 0,
            first_error: None,
        }
    }

    /// Records one operation's outcome, begun at `since`.
    pub fn record(&mut self, since: Instant, outcome: anyhow::Result<()>) {
        match outcome {
            Ok(()) => {
                self.done += 1;
                let us = (since.elapsed().as_micros() as u64).min(MAX_LATENCY_US);
                let _ = self.latency_us.record(us);
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        let _ = self.latency_us.add(&other.latency_us);
        self.done += other.done;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Latency at quantile `q` (0..=1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }
}

fn histogram() -> Histogram<u64> {
    // Three significant digits up to a minute: a few hundred KiB, fixed.
    Histogram::new_with_max(MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

/// Runs `limits.clients` tasks; client `c` calls `op(c)` again and again until the time or
/// the operation budget runs out. Returns the merged tally and the wall time.
pub async fn closed_loop<F, Fut>(limits: Limits, op: F) -> (Tally, Duration)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let deadline = started + limits.duration;
    let budget = Arc::new(AtomicU64::new(limits.ops.unwrap_or(u64::MAX)));
    let tasks = (0..limits.clients).map(|c| {
        let (op, budget) = (op.clone(), budget.clone());
        tokio::spawn(async move {
            let mut tally = Tally::new();
            while Instant::now() < deadline
                && budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                    .is_ok()
            {
                let t = Instant::now();
                let outcome = op(c).await;
                tally.record(t, outcome);
            }
            tally
        })
    });
    let tally = merge(futures::future::join_all(tasks).await);
    (tally, started.elapsed())
}

/// Starts `op(n)` for n in `0..total`, one every `every`, with at most `in_flight` running;
/// latency is measured from each operation's due time, so a backlog shows. Returns the
/// merged tally and the wall time.
pub async fn fixed_rate<F, Fut>(
    total: u64,
    every: Duration,
    in_flight: usize,
    op: F,
) -> (Tally, Duration)
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..total {
        let due = started + every.mul_f64(n as f64);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let fut = op(n);
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let mut tally = Tally::new();
            let outcome = fut.await;
            tally.record(due, outcome);
            tally
        }));
    }
    let tally = merge(futures::future::join_all(tasks).await);
    (tally, started.elapsed())
}

fn merge(results: Vec<Result<Tally, tokio::task::JoinError>>) -> Tally {
    let mut all = Tally::new();
    for t in results.into_iter().flatten() {
        all.merge(t);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_loop_stops_at_the_operation_budget_and_counts_errors() {
        let limits = Limits {
            clients: 4,
            duration: Duration::from_secs(60),
            ops: Some(100),
        };
        let calls = Arc::new(AtomicU64::new(0));
        let (tally, _) = closed_loop(limits, move |_| {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            async move {
                if n % 4 == 3 {
                    anyhow::bail!("every fourth operation fails")
                }
                Ok(())
            }
        })
        .await;
        assert_eq!((tally.done, tally.errors), (75, 25));
        assert_eq!(tally.latency_us.len(), 75);
        assert_eq!(
            tally.first_error.as_deref(),
            Some("every fourth operation fails")
        );
    }

    #[tokio::test]
    async fn fixed_rate_runs_every_operation_once() {
        let (tally, _) = fixed_rate(20, Duration::from_millis(1), 3, |_| async { Ok(()) }).await;
        assert_eq!((tally.done, tally.errors), (20, 0));
        assert_eq!(tally.latency_us.len(), 20);
    }
}
