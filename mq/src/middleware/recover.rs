//! [`RecoverLayer`]: turns a panicking handler into a failing one.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use async_trait::async_trait;
use futures::FutureExt;
use tower::Layer;

use crate::handler::{Handler, HandlerContext, HandlerError};
use crate::message::Message;

/// The error [`Recover`] returns when the inner handler panicked. It is transient: the
/// retry middleware tries again, and without one the message is delivered again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("handler panicked: {message}")]
pub struct HandlerPanicked {
    message: String,
}

impl HandlerPanicked {
    /// The panic's message (`<non-string panic payload>` when it was not a string).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Catches a panic in the inner handler and returns it as a transient
/// [`HandlerError`] carrying a [`HandlerPanicked`], so that other middleware (retry,
/// poison queue) deal with it like with any failure.
///
/// The router catches panics too (and rejects the message); this layer is what lets a
/// panic be retried and poisoned rather than redelivered forever.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecoverLayer {
    _priv: (),
}

impl RecoverLayer {
    /// A layer catching panics.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S: Handler> Layer<S> for RecoverLayer {
    type Service = Recover<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Recover { inner }
    }
}

/// The handler made by [`RecoverLayer`].
#[derive(Clone, Debug)]
pub struct Recover<S> {
    inner: S,
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

#[async_trait]
impl<S: Handler> Handler for Recover<S> {
    async fn handle(
        &self,
        msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        let id = msg.id().to_owned();
        match AssertUnwindSafe(self.inner.handle(msg, ctx))
            .catch_unwind()
            .await
        {
            Ok(outcome) => outcome,
            Err(payload) => {
                let message = panic_message(&*payload);
                tracing::error!(
                    handler = ctx.handler(),
                    message_id = %id,
                    panic = %message,
                    "handler panicked"
                );
                Err(HandlerError::transient(HandlerPanicked { message }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::handler_fn;

    fn ctx() -> HandlerContext {
        HandlerContext::new("h", "t", "g")
    }

    #[tokio::test]
    async fn panics_become_transient_errors() {
        let handler =
            RecoverLayer::new().layer(handler_fn(|m: Message, _ctx: HandlerContext| async move {
                if m.payload().as_ref() == b"str" {
                    panic!("static message");
                }
                let n = m.payload().len();
                panic!("formatted {n}");
            }));
        let err = handler.handle(Message::new("str"), &ctx()).await.err();
        let err = err.expect("a panic is an error");
        assert!(!err.is_permanent());
        assert_eq!(err.to_string(), "handler panicked: static message");
        let panicked = err.downcast_ref::<HandlerPanicked>().expect("typed");
        assert_eq!(panicked.message(), "static message");

        let err = handler.handle(Message::new("four"), &ctx()).await.err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("handler panicked: formatted 4")
        );
    }

    #[tokio::test]
    async fn non_string_payloads_and_success() {
        let handler =
            RecoverLayer::new().layer(handler_fn(|m: Message, _ctx: HandlerContext| async move {
                if m.payload().is_empty() {
                    std::panic::panic_any(42_u32);
                }
                Ok(vec![m])
            }));
        let err = handler.handle(Message::new(""), &ctx()).await.err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("handler panicked: <non-string panic payload>")
        );
        let out = handler.handle(Message::new("ok"), &ctx()).await;
        assert!(matches!(out, Ok(ref v) if v.len() == 1));
    }
}
