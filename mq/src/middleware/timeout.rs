//! [`TimeoutLayer`]: fails a handler call that takes too long.

use std::time::Duration;

use async_trait::async_trait;
use tower::Layer;

use crate::handler::{Handler, HandlerContext, HandlerError};
use crate::message::Message;

/// The error [`Timeout`] returns when the inner handler did not finish in time. It is
/// transient: the retry middleware tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("handler timed out after {after:?}")]
pub struct HandlerTimedOut {
    /// The time limit that elapsed.
    pub after: Duration,
}

/// Limits how long one call of the inner handler may take. On expiry the call is
/// dropped (cancelled at its next `.await`) and a transient [`HandlerTimedOut`] error
/// is returned.
///
/// Inside a [`RetryLayer`](super::RetryLayer) it limits each attempt; outside, the
/// whole retry loop.
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer {
    after: Duration,
}

impl TimeoutLayer {
    /// A layer failing calls that take longer than `after`.
    pub fn new(after: Duration) -> Self {
        Self { after }
    }
}

impl<S: Handler> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Timeout {
            inner,
            after: self.after,
        }
    }
}

/// The handler made by [`TimeoutLayer`].
#[derive(Clone, Debug)]
pub struct Timeout<S> {
    inner: S,
    after: Duration,
}

#[async_trait]
impl<S: Handler> Handler for Timeout<S> {
    async fn handle(
        &self,
        msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        match tokio::time::timeout(self.after, self.inner.handle(msg, ctx)).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => Err(HandlerError::transient(HandlerTimedOut {
                after: self.after,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::handler_fn;

    #[tokio::test(start_paused = true)]
    async fn slow_calls_time_out() {
        let handler = TimeoutLayer::new(Duration::from_secs(2)).layer(handler_fn(
            |m: Message, _ctx: HandlerContext| async move {
                let secs = m.payload().len() as u64;
                tokio::time::sleep(Duration::from_secs(secs)).await;
                Ok(vec![m])
            },
        ));
        let ctx = HandlerContext::new("h", "t", "g");
        let fast = handler.handle(Message::new("1"), &ctx).await;
        assert!(matches!(fast, Ok(ref v) if v.len() == 1));

        let started = tokio::time::Instant::now();
        let err = handler.handle(Message::new("12345"), &ctx).await.err();
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let err = err.expect("times out");
        assert!(!err.is_permanent());
        assert_eq!(
            err.downcast_ref::<HandlerTimedOut>(),
            Some(&HandlerTimedOut {
                after: Duration::from_secs(2)
            })
        );
    }
}
