//! [`RetryLayer`]: calls a failing handler again, with exponential backoff.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;
use tower::Layer;

use crate::handler::{Handler, HandlerContext, HandlerError};
use crate::message::Message;

type RetryPredicate = Arc<dyn Fn(&HandlerError) -> bool + Send + Sync>;

/// When and how often [`RetryLayer`] calls a failing handler again.
///
/// The delays grow exponentially from [`initial_interval`](Self::initial_interval) by
/// [`multiplier`](Self::multiplier), with optional random jitter, and each one is capped
/// at [`max_interval`](Self::max_interval). Retrying stops after
/// [`max_attempts`](Self::max_attempts) attempts, or when the next delay would take the
/// time spent (handling and sleeping) beyond [`max_elapsed`](Self::max_elapsed), or at
/// once for an error that [`retry_if`](Self::retry_if) rejects (by default a
/// [permanent](HandlerError::permanent) one).
///
/// ```
/// use std::time::Duration;
/// use mq::middleware::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(4)
///     .initial_interval(Duration::from_millis(10))
///     .jitter(false);
/// let delays: Vec<_> = policy.delays().collect();
/// assert_eq!(
///     delays,
///     [Duration::from_millis(10), Duration::from_millis(20), Duration::from_millis(40)]
/// );
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_interval: Duration,
    max_interval: Duration,
    multiplier: f32,
    max_elapsed: Duration,
    jitter: bool,
    retry_if: RetryPredicate,
}

impl Default for RetryPolicy {
    /// 3 attempts, 100 ms then doubling up to 10 s, with jitter, for at most 60 s,
    /// retrying every error that is not permanent.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(10),
            multiplier: 2.0,
            max_elapsed: Duration::from_secs(60),
            jitter: true,
            retry_if: Arc::new(|err: &HandlerError| !err.is_permanent()),
        }
    }
}

impl RetryPolicy {
    /// Attempts in all, the first one included (so `1` never retries; `0` is taken as
    /// `1`: the first attempt always runs). Default 3.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The delay before the first retry. Default 100 ms.
    #[must_use]
    pub fn initial_interval(mut self, interval: Duration) -> Self {
        self.initial_interval = interval;
        self
    }

    /// The longest delay between two attempts, jitter included. Default 10 s.
    #[must_use]
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// How much each delay grows over the previous one. Default 2.0. Values below 1
    /// (and NaN) are taken as 1: constant delays.
    #[must_use]
    pub fn multiplier(mut self, multiplier: f32) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// The most time one delivery may spend in the retry loop, handling and sleeping.
    /// A retry is not started when its delay would end beyond it; an attempt already
    /// running is not interrupted (use a [`TimeoutLayer`](super::TimeoutLayer) inside
    /// the retry layer for that). Default 60 s.
    #[must_use]
    pub fn max_elapsed(mut self, elapsed: Duration) -> Self {
        self.max_elapsed = elapsed;
        self
    }

    /// Adds a random part to each delay (up to the delay itself, within
    /// [`max_interval`](Self::max_interval)), so that consumers failing together do
    /// not retry together. Default true.
    #[must_use]
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Which errors are worth retrying. Default: those that are not
    /// [permanent](HandlerError::is_permanent).
    #[must_use]
    pub fn retry_if(
        mut self,
        predicate: impl Fn(&HandlerError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.retry_if = Arc::new(predicate);
        self
    }

    /// The delays before each retry, in order: at most `max_attempts - 1` of them, each
    /// at most `max_interval`, adding up to at most `max_elapsed`. With jitter, every
    /// call draws new random delays.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send + 'static {
        let max_interval = self.max_interval;
        let max_elapsed = self.max_elapsed;
        let factor = if self.multiplier >= 1.0 {
            self.multiplier
        } else {
            1.0
        };
        let retries = usize::try_from(self.max_attempts.saturating_sub(1)).unwrap_or(usize::MAX);
        let mut builder = ExponentialBuilder::new()
            .with_min_delay(self.initial_interval.min(max_interval))
            .with_max_delay(max_interval)
            .with_factor(factor)
            .with_max_times(retries);
        if self.jitter {
            builder = builder.with_jitter();
        }
        let mut total = Duration::ZERO;
        builder
            .build()
            .map(move |delay| round_to_micros(delay).min(max_interval))
            .take_while(move |delay| match total.checked_add(*delay) {
                Some(sum) if sum <= max_elapsed => {
                    total = sum;
                    true
                }
                _ => false,
            })
    }

    fn should_retry(&self, err: &HandlerError) -> bool {
        (self.retry_if)(err)
    }
}

/// `backon` computes in `f32`, so 100 ms doubled is 200.000003 ms: round that away.
fn round_to_micros(d: Duration) -> Duration {
    let micros = d.as_nanos().saturating_add(500) / 1000;
    u64::try_from(micros).map_or(Duration::MAX, Duration::from_micros)
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("initial_interval", &self.initial_interval)
            .field("max_interval", &self.max_interval)
            .field("multiplier", &self.multiplier)
            .field("max_elapsed", &self.max_elapsed)
            .field("jitter", &self.jitter)
            .finish_non_exhaustive()
    }
}

/// The error [`Retry`] returns when it gives up: how many attempts were made and the
/// last error. It is as [permanent](HandlerError::is_permanent) as the last error.
///
/// Outer middleware find it with `err.downcast_ref::<RetriesExhausted>()`; the
/// [`PoisonQueueLayer`](super::PoisonQueueLayer) does, to record the attempts and the
/// last error's message in the poisoned message's metadata.
#[derive(Debug)]
pub struct RetriesExhausted {
    attempts: u32,
    last: HandlerError,
}

impl RetriesExhausted {
    /// How many times the handler was called for this delivery.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The error of the last attempt.
    pub fn last(&self) -> &HandlerError {
        &self.last
    }

    fn into_handler_error(self) -> HandlerError {
        if self.last.is_permanent() {
            HandlerError::permanent(self)
        } else {
            HandlerError::transient(self)
        }
    }
}

impl fmt::Display for RetriesExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.attempts == 1 { "" } else { "s" };
        write!(
            f,
            "gave up after {} attempt{plural}: {}",
            self.attempts, self.last
        )
    }
}

impl std::error::Error for RetriesExhausted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.last.source())
    }
}

/// Retries the inner handler according to a [`RetryPolicy`].
///
/// Each retry calls the inner handler again with a (cheap) clone of the message and
/// logs a warning; when the policy gives up, the error is a [`RetriesExhausted`].
/// Retrying happens within one delivery: the message is not acknowledged or rejected
/// in between, so per-key order holds.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use mq::middleware::{RetryLayer, RetryPolicy};
/// use mq::{handler_fn, Handler, HandlerContext, HandlerError, Layer, Message};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let calls = Arc::new(AtomicU32::new(0));
/// let counter = Arc::clone(&calls);
/// let flaky = handler_fn(move |_msg: Message, _ctx: HandlerContext| {
///     let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
///     async move {
///         if n < 3 {
///             Err(HandlerError::transient("not yet"))
///         } else {
///             Ok(Vec::new())
///         }
///     }
/// });
/// let policy = RetryPolicy::default()
///     .max_attempts(5)
///     .initial_interval(Duration::from_millis(1));
/// let handler = RetryLayer::new(policy).layer(flaky);
/// let ctx = HandlerContext::new("doc", "topic", "group");
/// assert!(handler.handle(Message::new("x"), &ctx).await.is_ok());
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct RetryLayer {
    policy: Arc<RetryPolicy>,
}

impl RetryLayer {
    /// A layer retrying according to `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }
}

impl<S: Handler> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry {
            inner,
            policy: Arc::clone(&self.policy),
        }
    }
}

/// The handler made by [`RetryLayer`].
#[derive(Clone, Debug)]
pub struct Retry<S> {
    inner: S,
    policy: Arc<RetryPolicy>,
}

#[async_trait]
impl<S: Handler> Handler for Retry<S> {
    async fn handle(
        &self,
        msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        let started = Instant::now();
        let mut delays = self.policy.delays();
        let mut attempts: u32 = 0;
        loop {
            attempts = attempts.saturating_add(1);
            let err = match self.inner.handle(msg.clone(), ctx).await {
                Ok(produced) => return Ok(produced),
                Err(err) => err,
            };
            let give_up = |last| Err(RetriesExhausted { attempts, last }.into_handler_error());
            if !self.policy.should_retry(&err) {
                return give_up(err);
            }
            let Some(delay) = delays.next() else {
                return give_up(err);
            };
            if started.elapsed().saturating_add(delay) > self.policy.max_elapsed {
                return give_up(err);
            }
            tracing::warn!(
                handler = ctx.handler(),
                message_id = msg.id(),
                attempt = attempts,
                retry_in = ?delay,
                error = %err,
                "handler failed; retrying"
            );
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = ctx.shutting_down() => {
                    return Err(HandlerError::transient(RetryInterrupted { attempts, last: err.to_string() }));
                }
            }
        }
    }
}

/// The router shut down while a retry was waiting: the message is rejected (and
/// delivered again after the restart), never poisoned for it.
#[derive(Debug, thiserror::Error)]
#[error(
    "retrying stopped after {attempts} attempts: the router is shutting down (last error: {last})"
)]
pub struct RetryInterrupted {
    /// Attempts made before the shutdown.
    pub attempts: u32,
    /// The last attempt's error.
    pub last: String,
}

#[cfg(test)]
mod shutdown_tests {
    use std::time::Duration;

    use super::*;
    use crate::handler::{handler_fn, ShutdownSignal};

    #[tokio::test]
    async fn a_shutdown_cuts_the_backoff_short_and_is_not_exhaustion() {
        let signal = ShutdownSignal::new();
        let ctx = HandlerContext::new("h", "t", "g").with_shutdown(signal.clone());
        let retry = RetryLayer::new(
            RetryPolicy::default()
                .max_attempts(10)
                .initial_interval(Duration::from_secs(3600))
                .max_interval(Duration::from_secs(3600))
                .max_elapsed(Duration::from_secs(36_000)),
        )
        .layer(handler_fn(|_m: Message, _c: HandlerContext| async move {
            Err::<Vec<Message>, _>(HandlerError::transient("down"))
        }));
        let handling = tokio::spawn(async move { retry.handle(Message::new("x"), &ctx).await });
        signal.cancel();
        let err = tokio::time::timeout(Duration::from_secs(5), handling)
            .await
            .expect("the hour-long backoff was cut short")
            .expect("task")
            .expect_err("interrupted");
        let interrupted = err.downcast_ref::<RetryInterrupted>().expect("typed");
        assert_eq!(interrupted.attempts, 1);
        assert!(err.downcast_ref::<RetriesExhausted>().is_none());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use proptest::prelude::*;

    use super::*;
    use crate::handler::handler_fn;

    fn ctx() -> HandlerContext {
        HandlerContext::new("h", "t", "g")
    }

    /// A handler that fails (with `make_err`) until it has been called `ok_from` times.
    fn counting(
        ok_from: u32,
        took: Duration,
        make_err: fn() -> HandlerError,
    ) -> (impl Handler, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let c = Arc::clone(&calls);
        let h = handler_fn(move |_m: Message, _ctx: HandlerContext| {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                tokio::time::sleep(took).await;
                if n >= ok_from {
                    Ok(vec![Message::new("out")])
                } else {
                    Err(make_err())
                }
            }
        });
        (h, calls)
    }

    fn transient() -> HandlerError {
        HandlerError::transient("boom")
    }

    fn permanent() -> HandlerError {
        HandlerError::permanent("bad input")
    }

    fn quick(attempts: u32) -> RetryPolicy {
        RetryPolicy::default()
            .max_attempts(attempts)
            .initial_interval(Duration::from_millis(10))
    }

    #[test]
    fn default_schedule_without_jitter() {
        let delays: Vec<_> = RetryPolicy::default().jitter(false).delays().collect();
        assert_eq!(
            delays,
            [Duration::from_millis(100), Duration::from_millis(200)]
        );
        let capped: Vec<_> = RetryPolicy::default()
            .jitter(false)
            .max_attempts(6)
            .initial_interval(Duration::from_secs(1))
            .max_interval(Duration::from_secs(3))
            .delays()
            .collect();
        let secs: Vec<u64> = capped.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 3, 3, 3]);
        assert_eq!(RetryPolicy::default().max_attempts(1).delays().count(), 0);
        assert_eq!(RetryPolicy::default().max_attempts(0).delays().count(), 0);
    }

    #[test]
    fn huge_durations_do_not_overflow() {
        for jitter in [false, true] {
            let delays: Vec<_> = RetryPolicy::default()
                .jitter(jitter)
                .max_attempts(u32::MAX)
                .multiplier(f32::MAX)
                .initial_interval(Duration::MAX)
                .max_interval(Duration::MAX)
                .max_elapsed(Duration::MAX)
                .delays()
                .take(5)
                .collect();
            assert!(!delays.is_empty());
            assert!(delays.iter().all(|d| *d > Duration::ZERO));
        }
    }

    #[test]
    fn max_elapsed_cuts_the_schedule() {
        let delays: Vec<_> = RetryPolicy::default()
            .jitter(false)
            .max_attempts(100)
            .multiplier(1.0)
            .initial_interval(Duration::from_secs(1))
            .max_elapsed(Duration::from_millis(3500))
            .delays()
            .collect();
        assert_eq!(delays.len(), 3);
    }

    proptest! {
        #[test]
        fn schedule_respects_every_bound(
            max_attempts in 0u32..40,
            initial_ms in 0u64..5_000,
            max_interval_ms in 0u64..20_000,
            multiplier in prop_oneof![0.0f32..10.0, Just(f32::NAN), Just(f32::INFINITY), Just(-1.0f32)],
            max_elapsed_ms in 0u64..120_000,
            jitter in any::<bool>(),
        ) {
            let policy = RetryPolicy::default()
                .max_attempts(max_attempts)
                .initial_interval(Duration::from_millis(initial_ms))
                .max_interval(Duration::from_millis(max_interval_ms))
                .multiplier(multiplier)
                .max_elapsed(Duration::from_millis(max_elapsed_ms))
                .jitter(jitter);
            let delays: Vec<Duration> = policy.delays().collect();
            prop_assert!(delays.len() <= max_attempts.saturating_sub(1) as usize);
            for d in &delays {
                prop_assert!(*d <= Duration::from_millis(max_interval_ms), "{d:?}");
            }
            prop_assert!(delays.iter().sum::<Duration>() <= Duration::from_millis(max_elapsed_ms));
            if !jitter {
                // Without jitter the delays never shrink (give or take backon's f32 rounding).
                let slack = Duration::from_micros(1);
                prop_assert!(delays.windows(2).all(|w| w[0] <= w[1] + slack), "{delays:?}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success() -> anyhow::Result<()> {
        let (inner, calls) = counting(3, Duration::ZERO, transient);
        let handler = RetryLayer::new(quick(5)).layer(inner);
        let out = handler
            .handle(Message::new("x"), &ctx())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(out.len(), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts() {
        let (inner, calls) = counting(u32::MAX, Duration::ZERO, transient);
        let handler = RetryLayer::new(quick(3)).layer(inner);
        let err = handler.handle(Message::new("x"), &ctx()).await.err();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let err = err.expect("fails");
        let info = err.downcast_ref::<RetriesExhausted>().expect("retry info");
        assert_eq!(info.attempts(), 3);
        assert_eq!(info.last().to_string(), "boom");
        assert!(!err.is_permanent());
        assert_eq!(err.to_string(), "gave up after 3 attempts: boom");
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let (inner, calls) = counting(u32::MAX, Duration::ZERO, permanent);
        let handler = RetryLayer::new(quick(5)).layer(inner);
        let err = handler
            .handle(Message::new("x"), &ctx())
            .await
            .expect_err("fails");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(err.is_permanent());
        let info = err.downcast_ref::<RetriesExhausted>().expect("retry info");
        assert_eq!(info.attempts(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_if_decides() {
        let (inner, calls) = counting(u32::MAX, Duration::ZERO, permanent);
        let policy = quick(4).retry_if(|_| true);
        let handler = RetryLayer::new(policy).layer(inner);
        assert!(handler.handle(Message::new("x"), &ctx()).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        let (inner, calls) = counting(u32::MAX, Duration::ZERO, transient);
        let handler = RetryLayer::new(quick(4).retry_if(|_| false)).layer(inner);
        assert!(handler.handle(Message::new("x"), &ctx()).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn handling_time_counts_towards_max_elapsed() {
        // Each attempt takes 1 s and each delay is 1 s: attempt 1 ends at 1 s, the retry
        // starts at 2 s and ends at 3 s; another retry would start at 4 s > 3.5 s.
        let (inner, calls) = counting(u32::MAX, Duration::from_secs(1), transient);
        let policy = RetryPolicy::default()
            .max_attempts(10)
            .jitter(false)
            .multiplier(1.0)
            .initial_interval(Duration::from_secs(1))
            .max_elapsed(Duration::from_millis(3500));
        let handler = RetryLayer::new(policy).layer(inner);
        let started = Instant::now();
        let err = handler
            .handle(Message::new("x"), &ctx())
            .await
            .expect_err("fails");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        let info = err.downcast_ref::<RetriesExhausted>().expect("retry info");
        assert_eq!(info.attempts(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn sleeps_the_scheduled_delays() {
        let (inner, _calls) = counting(3, Duration::ZERO, transient);
        let policy = quick(3).jitter(false);
        let handler = RetryLayer::new(policy).layer(inner);
        let started = Instant::now();
        assert!(handler.handle(Message::new("x"), &ctx()).await.is_ok());
        assert_eq!(started.elapsed(), Duration::from_millis(30));
    }
}
