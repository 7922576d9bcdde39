//! Login throttling: each account may fail to log in a few times a minute on a node; after
//! that its logins answer 429 until the budget refills, so a password cannot be brute-forced
//! through the edges. Only failures spend budget, so frequent good logins are never blocked.
//!
//! Per node, in memory: an attacker spreading guesses over N nodes gets N times the budget,
//! which is still a handful of guesses a minute against argon2 hashes.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Failed logins an account may have in a burst before it is throttled; the budget refills
/// at the same number per minute.
const FAILURES_PER_MINUTE: u32 = 5;
/// Above this many tracked accounts, idle entries are dropped.
const TRACKED_LIMIT: usize = 10_000;

/// Throttles failed logins per account.
pub struct LoginLimiter {
    failures: DefaultKeyedRateLimiter<String>,
    blocked: Mutex<HashMap<String, Instant>>,
    clock: DefaultClock,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        let per_minute = NonZeroU32::new(FAILURES_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        LoginLimiter {
            failures: RateLimiter::keyed(Quota::per_minute(per_minute)),
            blocked: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }
}

impl LoginLimiter {
    /// Refuses with 429 while `account` (namespace-qualified) is throttled.
    pub fn check(&self, account: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let Ok(mut blocked) = self.blocked.lock() else {
            return Ok(());
        };
        match blocked.get(account) {
            Some(until) if *until > now => {
                let wait = until.duration_since(now);
                Err(ApiError::TooManyRequests(format!(
                    "Too many failed login attempts for account {account}; try again in {} seconds",
                    wait.as_secs().max(1)
                )))
            }
            Some(_) => {
                blocked.remove(account);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records a failed login of `account`, throttling it once its budget is spent.
    pub fn failed(&self, account: &str) {
        let key = account.to_owned();
        if let Err(not_until) = self.failures.check_key(&key) {
            let wait: Duration = not_until.wait_time_from(self.clock.now());
            if let Ok(mut blocked) = self.blocked.lock() {
                blocked.insert(key, Instant::now() + wait);
            }
        }
        if self.failures.len() > TRACKED_LIMIT {
            self.failures.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_beyond_the_budget_block_only_that_account() {
        let limiter = LoginLimiter::default();
        for _ in 0..FAILURES_PER_MINUTE {
            assert!(limiter.check("micro/admin").is_ok());
            limiter.failed("micro/admin");
        }
        assert!(limiter.check("micro/admin").is_ok());
        limiter.failed("micro/admin");
        let err = limiter.check("micro/admin").unwrap_err();
        assert!(matches!(err, ApiError::TooManyRequests(_)), "{err:?}");
        assert!(err.to_string().contains("try again in"), "{err}");
        assert!(limiter.check("micro/jane").is_ok());
    }
}
