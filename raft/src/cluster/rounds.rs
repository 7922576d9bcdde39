//! [`Rounds`]: concurrent callers that each need a fresh quorum round share one. A read index
//! must come from a leadership confirmation that started after the read arrived, so a caller
//! arriving mid-round waits for the next, which serves everyone queued meanwhile.

use std::future::Future;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

/// One kind of round, run at most once at a time; `T` is what a round tells its callers.
pub(crate) struct Rounds<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    /// A caller is running a round.
    in_flight: bool,
    /// Callers waiting for the next round, in arrival order.
    queued: Vec<oneshot::Sender<Turn<T>>>,
}

/// What a waiting caller is told.
enum Turn<T> {
    /// The round it waited for ended with this.
    Done(T),
    /// It runs the next round, for itself and everybody queued when it starts.
    Drive,
}

impl<T> Default for Rounds<T> {
    fn default() -> Self {
        Rounds {
            state: Mutex::new(State {
                in_flight: false,
                queued: Vec::new(),
            }),
        }
    }
}

impl<T: Clone> Rounds<T> {
    /// The outcome of a round that started after this call: `round` itself when no round is
    /// in flight, else the next one, which a queued caller runs.
    pub(crate) async fn join<F, Fut>(&self, round: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let batch = loop {
            let waiting = {
                let mut s = self.lock();
                if !s.in_flight {
                    s.in_flight = true;
                    break Vec::new();
                }
                let (tx, rx) = oneshot::channel();
                s.queued.push(tx);
                Waiting {
                    rounds: self,
                    rx,
                    received: false,
                }
            };
            match waiting.turn().await {
                Ok(Turn::Done(v)) => return v,
                Ok(Turn::Drive) => break std::mem::take(&mut self.lock().queued),
                // Dropped unanswered only if the whole `Rounds` went away: queue again.
                Err(_) => continue,
            }
        };
        let mut driving = Driving {
            rounds: self,
            batch,
        };
        let v = round().await;
        for tx in driving.batch.drain(..) {
            let _ = tx.send(Turn::Done(v.clone()));
        }
        v
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A queued caller. Dropped (its caller gave up) after being told to drive, it passes the
/// turn on, or the queue would wait for a round nobody runs.
struct Waiting<'a, T: Clone> {
    rounds: &'a Rounds<T>,
    rx: oneshot::Receiver<Turn<T>>,
    received: bool,
}

impl<T: Clone> Waiting<'_, T> {
    async fn turn(mut self) -> Result<Turn<T>, oneshot::error::RecvError> {
        let turn = (&mut self.rx).await;
        self.received = true;
        turn
    }
}

impl<T: Clone> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        if !self.received && matches!(self.rx.try_recv(), Ok(Turn::Drive)) {
            drop(Driving {
                rounds: self.rounds,
                batch: Vec::new(),
            });
        }
    }
}

/// The running round's callers; when the round ends (or its driver is dropped mid-round), the
/// first live queued caller is told to run the next one.
struct Driving<'a, T: Clone> {
    rounds: &'a Rounds<T>,
    /// Callers this round serves and has not answered yet (all of them if it was cancelled).
    batch: Vec<oneshot::Sender<Turn<T>>>,
}

impl<T: Clone> Drop for Driving<'_, T> {
    fn drop(&mut self) {
        let mut s = self.rounds.lock();
        // A cancelled round answered nobody: its callers wait for the next, first in line.
        let unanswered = std::mem::take(&mut self.batch);
        s.queued.splice(0..0, unanswered);
        while !s.queued.is_empty() {
            let next = s.queued.remove(0);
            if next.send(Turn::Drive).is_ok() {
                return;
            }
        }
        s.in_flight = false;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// A round that takes a while and reports its own number.
    async fn numbered(rounds_run: &AtomicUsize) -> usize {
        let n = rounds_run.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        n
    }

    /// A caller joining `rounds` with a [`numbered`] round, in a task of its own.
    fn caller(
        rounds: &Arc<Rounds<usize>>,
        run: &Arc<AtomicUsize>,
    ) -> tokio::task::JoinHandle<usize> {
        let (rounds, run) = (rounds.clone(), run.clone());
        tokio::spawn(async move { rounds.join(|| numbered(&run)).await })
    }

    #[tokio::test]
    async fn callers_arriving_during_a_round_share_the_next_one() {
        let rounds = Arc::new(Rounds::<usize>::default());
        let run = Arc::new(AtomicUsize::new(0));
        let first = caller(&rounds, &run);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let later: Vec<_> = (0..10).map(|_| caller(&rounds, &run)).collect();
        assert_eq!(first.await.unwrap(), 1);
        for l in later {
            // None of them may use the round that was in flight when they arrived.
            assert_eq!(l.await.unwrap(), 2);
        }
        assert_eq!(run.load(Ordering::SeqCst), 2);
        // Idle again: the next caller runs its own round at once.
        assert_eq!(rounds.join(|| numbered(&run)).await, 3);
    }

    #[tokio::test]
    async fn a_cancelled_round_hands_its_callers_to_the_next() {
        let rounds = Arc::new(Rounds::<usize>::default());
        let run = Arc::new(AtomicUsize::new(0));
        let stuck = {
            let rounds = rounds.clone();
            tokio::spawn(async move { rounds.join(std::future::pending::<usize>).await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        let waiting: Vec<_> = (0..3).map(|_| caller(&rounds, &run)).collect();
        tokio::time::sleep(Duration::from_millis(5)).await;
        stuck.abort();
        for w in waiting {
            let got = tokio::time::timeout(Duration::from_secs(5), w).await;
            assert_eq!(
                got.unwrap().unwrap(),
                1,
                "served by the round after the cancelled one"
            );
        }
        assert_eq!(run.load(Ordering::SeqCst), 1);
    }
}
