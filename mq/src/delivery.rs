//! [`Delivery`]: a message handed to a consumer, to be acknowledged or rejected once.

use std::fmt;
use std::sync::Arc;

use crate::message::Message;

/// Identifies one delivery to its backend: the lane it came from and backend-defined
/// position fields (an offset and an epoch for the in-memory backend, a stream entry id
/// for Redis, an offset for Kafka).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AckToken {
    /// The ordering lane (partition) the delivery came from.
    pub lane: u32,
    /// The delivery's position in its lane.
    pub position: u64,
    /// A backend-defined tag (epoch, second half of an id, ...).
    pub tag: u64,
}

/// Settles deliveries on behalf of a backend. Implemented by backends, not by users.
///
/// Both calls are non-blocking: a backend that must talk to a server queues the
/// acknowledgement and flushes it in the background (and on [`crate::Subscription::close`]).
pub trait Acknowledger: Send + Sync + 'static {
    /// The handler succeeded: the message must not be delivered to this group again.
    fn ack(&self, token: AckToken);
    /// The handler failed: deliver the message again later (after the backend's
    /// redelivery delay), and everything after it in its lane, in order.
    fn nack(&self, token: AckToken);
    /// True when the delivery can no longer be settled because an earlier delivery
    /// of its lane was rejected or the lane was handed to another consumer.
    /// A stale delivery must not be handled: it will be delivered again.
    fn is_stale(&self, token: AckToken) -> bool {
        let _ = token;
        false
    }
}

/// A message delivered to a consumer group, with the means to settle it.
///
/// Settle it exactly once: [`Delivery::ack`] and [`Delivery::nack`] take `self`, so a
/// second call does not compile. Dropping an unsettled delivery rejects it (it is
/// delivered again), so a crash or an early return never loses a message.
pub struct Delivery {
    message: Message,
    attempt: u32,
    settle: Option<(Arc<dyn Acknowledger>, AckToken)>,
}

impl Delivery {
    /// Wraps a message received by a backend. `attempt` counts deliveries of this
    /// message to this group, starting at 1.
    pub fn new(
        message: Message,
        attempt: u32,
        acker: Arc<dyn Acknowledger>,
        token: AckToken,
    ) -> Self {
        Self {
            message,
            attempt,
            settle: Some((acker, token)),
        }
    }

    /// The message.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// How many times this message has been delivered to this group (1 on the first).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The backend's token for this delivery.
    pub fn token(&self) -> Option<AckToken> {
        self.settle.as_ref().map(|(_, t)| *t)
    }

    /// True when the delivery must not be handled any more (see [`Acknowledger::is_stale`]).
    pub fn is_stale(&self) -> bool {
        self.settle
            .as_ref()
            .is_some_and(|(acker, token)| acker.is_stale(*token))
    }

    /// Acknowledges: the group is done with this message.
    pub fn ack(mut self) {
        if let Some((acker, token)) = self.settle.take() {
            acker.ack(token);
        }
    }

    /// Rejects: the message (and the rest of its lane) is delivered again later.
    pub fn nack(mut self) {
        if let Some((acker, token)) = self.settle.take() {
            acker.nack(token);
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some((acker, token)) = self.settle.take() {
            acker.nack(token);
        }
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("message", &self.message)
            .field("attempt", &self.attempt)
            .field("token", &self.token())
            .finish()
    }
}

/// Deliveries of one lane, in lane order.
#[derive(Debug)]
pub struct Batch {
    /// The lane (partition) every delivery in the batch came from.
    pub lane: u32,
    /// The deliveries, oldest first.
    pub deliveries: Vec<Delivery>,
}
