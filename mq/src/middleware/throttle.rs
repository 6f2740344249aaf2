//! [`ThrottleLayer`]: limits how many messages per period a handler processes.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tower::Layer;

use crate::handler::{Handler, HandlerContext, HandlerError};
use crate::message::Message;

/// [`ThrottleLayer::new`] was given a rate it cannot enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid throttle: {count} messages per {per:?} (need at least one message per period of at least one nanosecond per message)")]
pub struct InvalidThrottle {
    /// The number of messages asked for.
    pub count: u32,
    /// The period asked for.
    pub per: Duration,
}

/// Limits how many messages per period the wrapped handler processes.
///
/// Each handler the layer wraps gets its own budget, shared by all of that handler's
/// lanes; used as a router layer, every handler is limited separately. Up to `count`
/// messages may be handled at once after a quiet period (the burst), then one every
/// `per / count`. A message over the budget waits (its lane does not fetch meanwhile,
/// so backpressure reaches the backend); it is never rejected.
///
/// ```
/// use std::time::Duration;
/// use mq::middleware::ThrottleLayer;
///
/// let hundred_per_second = ThrottleLayer::per_second(100)?;
/// let ten_per_minute = ThrottleLayer::new(10, Duration::from_secs(60))?;
/// # let _ = (hundred_per_second, ten_per_minute);
/// # Ok::<(), mq::middleware::InvalidThrottle>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ThrottleLayer {
    quota: Quota,
}

impl ThrottleLayer {
    /// At most `n` messages per second. Fails when `n` is 0.
    pub fn per_second(n: u32) -> Result<Self, InvalidThrottle> {
        Self::new(n, Duration::from_secs(1))
    }

    /// At most `count` messages per `per`. Fails when `count` is 0 or `per` is shorter
    /// than `count` nanoseconds.
    pub fn new(count: u32, per: Duration) -> Result<Self, InvalidThrottle> {
        let invalid = InvalidThrottle { count, per };
        let burst = NonZeroU32::new(count).ok_or(invalid)?;
        let quota = Quota::with_period(per / count).ok_or(invalid)?;
        Ok(Self {
            quota: quota.allow_burst(burst),
        })
    }
}

impl<S: Handler> Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Throttle {
            inner,
            limiter: Arc::new(RateLimiter::direct(self.quota)),
        }
    }
}

/// The handler made by [`ThrottleLayer`]. Clones share the budget.
#[derive(Clone)]
pub struct Throttle<S> {
    inner: S,
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl<S> fmt::Debug for Throttle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle").finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: Handler> Handler for Throttle<S> {
    async fn handle(
        &self,
        msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        self.limiter.until_ready().await;
        self.inner.handle(msg, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::handler::handler_fn;

    fn ok() -> impl Handler + Clone {
        handler_fn(|_m: Message, _ctx: HandlerContext| async move { Ok(Vec::new()) })
    }

    #[test]
    fn constructors() {
        assert!(ThrottleLayer::per_second(0).is_err());
        let fifty = ThrottleLayer::per_second(50).expect("valid");
        assert_eq!(fifty.quota.burst_size().get(), 50);
        assert!(ThrottleLayer::new(0, Duration::from_secs(1)).is_err());
        assert!(ThrottleLayer::new(10, Duration::from_nanos(5)).is_err());
        let layer = ThrottleLayer::new(4, Duration::from_secs(2)).expect("valid");
        assert_eq!(layer.quota.replenish_interval(), Duration::from_millis(500));
        assert_eq!(layer.quota.burst_size().get(), 4);
    }

    #[tokio::test]
    async fn lanes_share_one_budget() -> anyhow::Result<()> {
        // Burst of 2, then one message every 100 ms.
        let layer = ThrottleLayer::new(2, Duration::from_millis(200))?;
        let handler = Arc::new(layer.layer(ok()));
        let ctx = HandlerContext::new("h", "t", "g");
        let started = Instant::now();
        let lanes: Vec<_> = (0..2)
            .map(|_| {
                let handler = Arc::clone(&handler);
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    for _ in 0..2 {
                        handler.handle(Message::new("x"), &ctx).await.ok();
                    }
                })
            })
            .collect();
        for lane in lanes {
            lane.await?;
        }
        // 4 messages: 2 at once, then 2 more at 100 ms intervals.
        assert!(
            started.elapsed() >= Duration::from_millis(190),
            "{:?}",
            started.elapsed()
        );

        Ok(())
    }

    #[tokio::test]
    async fn each_wrapped_handler_has_its_own_budget() -> anyhow::Result<()> {
        let layer = ThrottleLayer::new(1, Duration::from_secs(3600))?;
        let first = layer.layer(ok());
        let second = layer.layer(ok());
        let ctx = HandlerContext::new("h", "t", "g");
        first.handle(Message::new("x"), &ctx).await.ok();
        assert!(first.limiter.check().is_err(), "the first budget is spent");
        assert!(first.clone().limiter.check().is_err(), "clones share it");
        assert!(second.limiter.check().is_ok(), "the second is untouched");
        Ok(())
    }
}
