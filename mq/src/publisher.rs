//! The [`Publisher`] trait.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Error;
use crate::message::Message;

/// Publishes messages to a topic.
///
/// When `publish` returns `Ok`, every message is stored by the backend and will be
/// delivered to every consumer group of the topic at least once. Messages of one call
/// that share a key are stored in the order given.
#[async_trait]
pub trait Publisher: Send + Sync + 'static {
    /// Publishes `messages` to `topic`.
    async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), Error>;

    /// Flushes anything buffered and releases the publisher's resources.
    async fn close(&self) -> Result<(), Error> {
        Ok(())
    }
}

#[async_trait]
impl<P: Publisher + ?Sized> Publisher for Arc<P> {
    async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), Error> {
        (**self).publish(topic, messages).await
    }

    async fn close(&self) -> Result<(), Error> {
        (**self).close().await
    }
}
