//! [`BatchHandler`]: handles a lane's pending messages several at a time (one database
//! transaction, one publish call for all of them), falling back to one at a time, through
//! the middleware, for a message that fails.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::handler::{Handler, HandlerContext, HandlerError};
use crate::message::Message;

/// Handles the messages of one lane several at a time, in lane order.
///
/// Register it with [`Router::batch_handler`](crate::Router::batch_handler). The router
/// hands it each fetched batch of a lane (up to
/// [`RouterConfig::batch_size`](crate::RouterConfig::batch_size) messages), publishes
/// the whole output in one call and then acknowledges the batch. When the handler
/// reports a failure at some message ([`BatchFailure`]), the messages before it are
/// published and acknowledged, the failing one is handled again on its own, through the
/// router's and the handler's middleware (retry, poison queue, timeout, ...), as a batch
/// of one, and the rest follow as a new batch. So per-key order and at-least-once hold
/// exactly as for a [`Handler`], and a poison message still never blocks the lane.
///
/// ```
/// use async_trait::async_trait;
/// use mq::{BatchFailure, BatchHandler, HandlerContext, HandlerError, Message};
///
/// /// Upper-cases text; a payload that is not UTF-8 fails (and is retried or poisoned
/// /// on its own by the middleware).
/// struct Shout;
///
/// #[async_trait]
/// impl BatchHandler for Shout {
///     async fn handle_batch(
///         &self,
///         msgs: Vec<Message>,
///         _ctx: &HandlerContext,
///     ) -> Result<Vec<Message>, BatchFailure> {
///         let mut out = Vec::with_capacity(msgs.len());
///         for (i, msg) in msgs.iter().enumerate() {
///             match std::str::from_utf8(msg.payload()) {
///                 Ok(text) => out.push(Message::new(text.to_uppercase())),
///                 Err(e) => return Err(BatchFailure::at(i, out, HandlerError::permanent(e))),
///             }
///         }
///         Ok(out)
///     }
/// }
/// ```
#[async_trait]
pub trait BatchHandler: Send + Sync + 'static {
    /// Handles `msgs` (oldest first, all of one lane) and returns what they produce, in
    /// order. On a failure, return [`BatchFailure`] saying how many messages at the start
    /// were handled and what they produced.
    async fn handle_batch(
        &self,
        msgs: Vec<Message>,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, BatchFailure>;
}

#[async_trait]
impl<H: BatchHandler + ?Sized> BatchHandler for Arc<H> {
    async fn handle_batch(
        &self,
        msgs: Vec<Message>,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, BatchFailure> {
        (**self).handle_batch(msgs, ctx).await
    }
}

/// A batch that failed part way: the first `handled` messages succeeded and produced
/// `output`; the next one failed with `error`; the rest were not handled.
pub struct BatchFailure {
    /// How many messages at the start of the batch were handled.
    pub handled: usize,
    /// What those messages produced, in order.
    pub output: Vec<Message>,
    /// Why the message after them failed.
    pub error: HandlerError,
}

impl BatchFailure {
    /// The first `handled` messages succeeded with `output`; the next failed with `error`.
    pub fn at(handled: usize, output: Vec<Message>, error: HandlerError) -> Self {
        Self {
            handled,
            output,
            error,
        }
    }

    /// Nothing was handled: the first message failed with `error`.
    pub fn first(error: HandlerError) -> Self {
        Self::at(0, Vec::new(), error)
    }
}

impl fmt::Debug for BatchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchFailure")
            .field("handled", &self.handled)
            .field("output", &self.output.len())
            .field("error", &self.error)
            .finish()
    }
}

/// A [`BatchHandler`] seen as a [`Handler`]: each message is a batch of one. The router
/// wraps this in the middleware for the one-at-a-time path.
pub(crate) struct OneAtATime(pub(crate) Arc<dyn BatchHandler>);

#[async_trait]
impl Handler for OneAtATime {
    async fn handle(
        &self,
        msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        match self.0.handle_batch(vec![msg], ctx).await {
            Ok(output) => Ok(output),
            // A handler that reports its only message handled and still fails has
            // nothing left to fail; take its output.
            Err(failure) if failure.handled >= 1 => Ok(failure.output),
            Err(failure) => Err(failure.error),
        }
    }
}
