//! The run's shared monotonic clock, in nanoseconds since the run started.

use std::time::Instant;

/// A monotonic clock shared by every client and the nemesis.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    /// Starts the clock now.
    pub fn start() -> Self {
        Clock(Instant::now())
    }

    /// Nanoseconds since the start.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant the clock started.
    pub fn started(&self) -> Instant {
        self.0
    }
}
