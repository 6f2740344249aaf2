//! [`PoisonedMessage`]: one message of the poison topic, with what is known about its
//! failure and the actions an operator can take on it.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use super::rfc3339;
use crate::delivery::Delivery;
use crate::error::Error;
use crate::message::{keys, Message};
use crate::publisher::Publisher;

/// The prefix of the metadata keys the poison layer adds.
const POISON_PREFIX: &str = "poison.";

/// A message read from the poison topic by [`super::PoisonQueue::fetch`].
///
/// Settle it with [`replay`](Self::replay), [`discard`](Self::discard) or
/// [`requeue`](Self::requeue). Dropping it leaves it in the poison queue: it is
/// delivered again by a later fetch (after the backend's redelivery delay) and, as the
/// poison topic is consumed in order like any topic, so is every message after it in
/// its lane.
pub struct PoisonedMessage {
    delivery: Delivery,
    publisher: Arc<dyn Publisher>,
    poison_topic: Arc<str>,
}

impl PoisonedMessage {
    pub(super) fn new(
        delivery: Delivery,
        publisher: Arc<dyn Publisher>,
        poison_topic: Arc<str>,
    ) -> Self {
        Self {
            delivery,
            publisher,
            poison_topic,
        }
    }

    /// The poisoned message as stored in the poison topic (`poison.*` metadata included).
    pub fn message(&self) -> &Message {
        self.delivery.message()
    }

    fn meta(&self, key: &str) -> Option<&str> {
        self.message().metadata().get(key)
    }

    /// Why the handler failed (the error's message).
    pub fn reason(&self) -> Option<&str> {
        self.meta(keys::POISON_REASON)
    }

    /// The topic the message was consumed from, where [`replay`](Self::replay) puts it.
    pub fn original_topic(&self) -> Option<&str> {
        self.meta(keys::POISON_TOPIC)
    }

    /// The handler that failed.
    pub fn handler(&self) -> Option<&str> {
        self.meta(keys::POISON_HANDLER)
    }

    /// The consumer group of that handler.
    pub fn group(&self) -> Option<&str> {
        self.meta(keys::POISON_GROUP)
    }

    /// How many attempts were made before the message was poisoned.
    pub fn attempts(&self) -> Option<u32> {
        self.meta(keys::POISON_ATTEMPTS)?.parse().ok()
    }

    /// When the message was poisoned.
    pub fn poisoned_at(&self) -> Option<SystemTime> {
        rfc3339::parse(self.meta(keys::POISON_AT)?)
    }

    /// How many times this poisoned message has been delivered to the inspecting group
    /// (more than 1 after it was left in the queue).
    pub fn delivery_attempt(&self) -> u32 {
        self.delivery.attempt()
    }

    /// The message as it was before it was poisoned: same id, key, payload and
    /// metadata, without the `poison.*` entries.
    pub fn original(&self) -> Message {
        let mut msg = self.message().clone();
        let poison_keys: Vec<String> = msg
            .metadata()
            .iter()
            .filter(|(k, _)| k.starts_with(POISON_PREFIX))
            .map(|(k, _)| k.to_owned())
            .collect();
        for key in poison_keys {
            msg.metadata_mut().remove(&key);
        }
        msg
    }

    /// Fails when the delivery can no longer be settled (see [`crate::Acknowledger::is_stale`]),
    /// so that acting on it would only duplicate it.
    fn check_fresh(&self) -> Result<(), Error> {
        if self.delivery.is_stale() {
            return Err(Error::Backend {
                backend: "poison-queue",
                message: "the poisoned message was handed back (an earlier message of its lane was left in the queue); fetch it again".into(),
            });
        }
        Ok(())
    }

    /// Publishes [the original message](Self::original) to
    /// [its topic](Self::original_topic), then removes it from the poison queue.
    ///
    /// If publishing fails it stays in the poison queue. The replayed message keeps its
    /// id, so a [`DedupLayer`](crate::middleware::DedupLayer) placed inside the poison
    /// layer (as recommended) does not skip it.
    pub async fn replay(self) -> Result<(), Error> {
        self.replay_to_topic(None).await
    }

    /// Like [`replay`](Self::replay), to `topic` instead of the original topic.
    pub async fn replay_to(self, topic: &str) -> Result<(), Error> {
        self.replay_to_topic(Some(topic)).await
    }

    async fn replay_to_topic(self, topic: Option<&str>) -> Result<(), Error> {
        self.check_fresh()?;
        let topic = match topic.or_else(|| self.original_topic()) {
            Some(t) => t.to_owned(),
            None => {
                return Err(Error::InvalidName {
                    name: String::new(),
                    reason: "the poisoned message has no poison.topic metadata to replay it to",
                })
            }
        };
        let original = self.original();
        self.publisher.publish(&topic, vec![original]).await?;
        tracing::info!(message_id = self.message().id(), topic = %topic, "poisoned message replayed");
        self.delivery.ack();
        Ok(())
    }

    /// Removes the message from the poison queue for good.
    pub fn discard(self) {
        tracing::info!(
            message_id = self.message().id(),
            "poisoned message discarded"
        );
        self.delivery.ack();
    }

    /// Moves the message to the back of the poison queue (publishes it again, unchanged,
    /// then removes this copy), so that the messages after it can be settled now.
    pub async fn requeue(self) -> Result<(), Error> {
        self.check_fresh()?;
        self.publisher
            .publish(&self.poison_topic, vec![self.message().clone()])
            .await?;
        self.delivery.ack();
        Ok(())
    }
}

impl fmt::Debug for PoisonedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoisonedMessage")
            .field("message", self.message())
            .field("delivery_attempt", &self.delivery.attempt())
            .finish_non_exhaustive()
    }
}
