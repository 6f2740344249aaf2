//! [`LoginLimit`]: login attempts per account are limited (a token bucket per
//! username: a burst, then a steady rate), so a password cannot be guessed at the
//! speed of the server; beyond it the answer is 429 `too_many_attempts`, whatever the
//! password, until the bucket refills. Counted per process: behind a gateway with
//! several user servers, each allows its own share.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::http::ApiError;

/// Attempts one account may make at once.
const BURST: u32 = 10;
/// Attempts one account may make per minute after the burst.
const PER_MINUTE: u32 = 10;
/// Past this many accounts tracked, those with full buckets are forgotten.
const TRACKED: usize = 10_000;

/// The per-account login attempt limit (see the module docs).
#[derive(Debug)]
pub struct LoginLimit {
    buckets: DefaultKeyedRateLimiter<String>,
    checks: AtomicU64,
}

impl Default for LoginLimit {
    fn default() -> Self {
        let per_minute = NonZeroU32::new(PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN);
        Self {
            buckets: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            checks: AtomicU64::new(0),
        }
    }
}

impl LoginLimit {
    /// Takes one attempt for `username` (compared case-insensitively, as accounts
    /// are); 429 `too_many_attempts` when none is left.
    pub fn attempt(&self, username: &str) -> Result<(), ApiError> {
        let key: String = username.trim().to_lowercase().chars().take(64).collect();
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(1024)
            && self.buckets.len() > TRACKED
        {
            self.buckets.retain_recent();
        }
        self.buckets.check_key(&key).map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!(
                    "too many login attempts for this account: at most {BURST} at once and \
                     {PER_MINUTE} a minute; retry later"
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refused_per_account() {
        let limit = LoginLimit::default();
        for _ in 0..BURST {
            assert!(limit.attempt("Ada").is_ok());
        }
        let refused = limit.attempt("ada").err().map(|e| e.code);
        assert_eq!(refused, Some("too_many_attempts"), "case-insensitive");
        assert!(
            limit.attempt("bob").is_ok(),
            "other accounts are not affected"
        );
    }
}
