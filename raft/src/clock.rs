//! The cluster clock: the time the leader stamps into entries and that leases, TTLs and
//! retention are judged by. It advances by each node's monotonic clock, never by wall-clock
//! jumps, so a node whose wall clock is stepped cannot expire live leases or keep dead ones.
//!
//! A follower's reading is the last applied entry's stamp plus the monotonic time since it
//! applied it. A new leader continues from its follower reading, which is never behind the
//! entries it holds. While leading, the clock drifts toward the leader's wall clock by at most
//! [`SLEW_PER_MILLE`] per mille of elapsed time, so it tracks real time over hours without a
//! lease ever seeing time run more than that much faster or slower than real time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How fast the leader's clock may converge on its wall clock, in thousandths of elapsed time.
pub const SLEW_PER_MILLE: i128 = 10;
/// A leader re-reads its wall clock at most this often, so the slew follows wall-clock steps.
const REANCHOR_EVERY: Duration = Duration::from_millis(100);

/// One node's view of the cluster clock. Cheap to read; shared by the state machine (which
/// reports applied stamps) and the cluster (which stamps entries and serves read points).
#[derive(Debug)]
pub struct ClusterClock(Mutex<Anchor>);

/// A reading taken at a monotonic instant; the clock's value later is derived from it.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    /// Cluster time at `at`, in microseconds since the Unix epoch.
    us: i128,
    at: Instant,
    /// The leader's wall clock minus `us` at `at` (0 on followers): the most the slew may add
    /// or remove before the next anchor.
    gap_us: i128,
    leading: bool,
}

impl Anchor {
    fn value_us(&self, now: Instant) -> i128 {
        let elapsed = i128::try_from(now.saturating_duration_since(self.at).as_micros())
            .unwrap_or(i128::MAX / 4);
        let slew = (elapsed * SLEW_PER_MILLE / 1000).min(self.gap_us.abs());
        self.us + elapsed + slew * self.gap_us.signum()
    }
}

impl ClusterClock {
    /// A clock reading `start_ms` now: the last applied stamp of a restarted node (the time it
    /// was down is unknown, so the clock resumes where the log left off), or the wall clock of
    /// a node without state.
    pub fn new(start_ms: u64) -> Self {
        ClusterClock(Mutex::new(Anchor {
            us: i128::from(start_ms) * 1000,
            at: Instant::now(),
            gap_us: 0,
            leading: false,
        }))
    }

    fn anchor(&self) -> std::sync::MutexGuard<'_, Anchor> {
        // A panic while holding this lock leaves a consistent anchor; keep using it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cluster time now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.now_at(Instant::now(), crate::now_ms())
    }

    fn now_at(&self, now: Instant, wall_ms: u64) -> u64 {
        let mut a = self.anchor();
        let us = a.value_us(now);
        if a.leading && now.saturating_duration_since(a.at) >= REANCHOR_EVERY {
            *a = Anchor {
                us,
                at: now,
                gap_us: i128::from(wall_ms) * 1000 - us,
                leading: true,
            };
        }
        to_ms(us)
    }

    /// Reports an applied entry's stamp. A follower takes it as the current time (the leader's
    /// clock is the one that counts); a leader only moves forward to it, as it stamped the
    /// entry itself or inherited it from an earlier term.
    pub fn observe(&self, time_ms: u64) {
        self.observe_at(time_ms, Instant::now());
    }

    fn observe_at(&self, time_ms: u64, now: Instant) {
        let mut a = self.anchor();
        let leading = a.leading;
        set(&mut a, time_ms, now, leading);
    }

    /// Moves the clock forward to `time_ms` if it reads less (never back).
    pub fn advance_to(&self, time_ms: u64) {
        set(&mut self.anchor(), time_ms, Instant::now(), true);
    }

    /// Switches between leading (slew toward the wall clock, ignore older stamps) and
    /// following (take the leader's stamps). The reading continues across the switch.
    pub fn set_leading(&self, leading: bool) {
        self.set_leading_at(leading, Instant::now());
    }

    fn set_leading_at(&self, leading: bool, now: Instant) {
        let mut a = self.anchor();
        if a.leading != leading {
            *a = Anchor {
                us: a.value_us(now),
                at: now,
                gap_us: 0,
                leading,
            };
        }
    }
}

/// Re-anchors at `time_ms`, unless `forward_only` and the clock already reads more.
fn set(a: &mut Anchor, time_ms: u64, now: Instant, forward_only: bool) {
    let us = i128::from(time_ms) * 1000;
    if !forward_only || us > a.value_us(now) {
        *a = Anchor {
            us,
            at: now,
            gap_us: 0,
            leading: a.leading,
        };
    }
}

fn to_ms(us: i128) -> u64 {
    u64::try_from(us.max(0) / 1000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: u64 = 1_700_000_000_000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_follower_advances_by_monotonic_time_from_the_last_stamp() {
        let c = ClusterClock::new(T0);
        let start = c.anchor().at;
        // Its wall clock is an hour ahead; that changes nothing.
        assert_eq!(c.now_at(start + ms(1500), T0 + 3_600_000), T0 + 1500);
        c.observe_at(T0 + 1000, start + ms(2000));
        assert_eq!(c.now_at(start + ms(2500), 0), T0 + 1500);
    }

    #[test]
    fn a_leader_converges_on_its_wall_clock_at_the_slew_rate_only() {
        let c = ClusterClock::new(T0);
        let start = c.anchor().at;
        c.set_leading_at(true, start);
        // The wall clock is 60 s ahead: reading every 100 ms, the clock gains 1 ms per 100 ms.
        let mut t = start;
        let mut last = T0;
        for _ in 0..100 {
            t += ms(100);
            let elapsed = t.duration_since(start).as_millis() as u64;
            let v = c.now_at(t, T0 + elapsed + 60_000);
            assert!(v >= last);
            last = v;
        }
        // The first reading has no gap yet; the 99 after it gain 1 ms each.
        assert_eq!(last, T0 + 10_000 + 99);
    }

    #[test]
    fn the_slew_stops_at_the_wall_clock() {
        let c = ClusterClock::new(T0);
        let start = c.anchor().at;
        c.set_leading_at(true, start);
        // 50 ms behind its wall clock, then nobody reads it for a minute.
        c.now_at(start + ms(100), T0 + 150);
        assert_eq!(c.now_at(start + ms(60_100), 0), T0 + 60_150);
    }

    #[test]
    fn a_leader_ignores_older_stamps_and_takes_newer_ones() {
        let c = ClusterClock::new(T0);
        let start = c.anchor().at;
        c.set_leading_at(true, start);
        c.observe_at(T0 - 5000, start + ms(10));
        assert_eq!(c.now_at(start + ms(20), T0 + 20), T0 + 20);
        c.observe_at(T0 + 900, start + ms(30));
        assert_eq!(c.now_at(start + ms(40), T0 + 40), T0 + 910);
    }

    #[test]
    fn leadership_changes_continue_the_reading() {
        let c = ClusterClock::new(T0);
        let start = c.anchor().at;
        c.set_leading_at(true, start + ms(500));
        assert_eq!(c.now_at(start + ms(600), T0 + 600), T0 + 600);
        c.set_leading_at(false, start + ms(700));
        assert_eq!(c.now_at(start + ms(900), T0 - 99_999), T0 + 900);
    }

    proptest! {
        /// Whatever the wall clock does, a leader's clock never runs backwards and never runs
        /// more than the slew faster or slower than monotonic time.
        #[test]
        fn a_leader_keeps_within_the_slew_of_real_time(
            steps in prop::collection::vec((1u64..5000, -120_000i64..120_000), 1..60)
        ) {
            let c = ClusterClock::new(T0);
            let start = c.anchor().at;
            c.set_leading_at(true, start);
            let mut t = start;
            let mut last = T0;
            for (dt, wall_offset) in steps {
                t += ms(dt);
                let real = t.duration_since(start).as_millis() as i64;
                let v = c.now_at(t, (T0 as i64 + real + wall_offset) as u64);
                let advanced = (v - T0) as i64;
                prop_assert!(v >= last);
                prop_assert!(advanced <= real + real / 100 + 1);
                prop_assert!(advanced >= real - real / 100 - 1);
                last = v;
            }
        }
    }
}
