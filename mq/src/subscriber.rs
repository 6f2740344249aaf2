//! The [`Subscriber`] and [`Subscription`] traits.

use std::sync::Arc;

use async_trait::async_trait;

use crate::delivery::Batch;
use crate::error::Error;

/// Subscribes consumer groups to topics.
///
/// Every group gets every message of the topic; inside a group, each message goes to
/// one subscription at a time. A group that subscribes for the first time starts at the
/// oldest message the backend still holds for the topic (backends document how much that is).
#[async_trait]
pub trait Subscriber: Send + Sync + 'static {
    /// Joins `group` on `topic`.
    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, Error>;
}

#[async_trait]
impl<S: Subscriber + ?Sized> Subscriber for Arc<S> {
    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, Error> {
        (**self).subscribe(topic, group).await
    }
}

/// One member of a consumer group, receiving batches of deliveries.
///
/// The contract every backend keeps (and the conformance suite checks):
/// - a batch holds deliveries of one lane, in lane order; messages with the same key are
///   always in the same lane;
/// - while a subscription holds unsettled deliveries of a lane, no other subscription of
///   the group receives messages of that lane;
/// - rejecting a delivery rewinds its lane to the oldest unacknowledged message: it and
///   everything after it are delivered again, in order, after the backend's delay;
/// - `next_batch` is cancel safe: dropping its future loses nothing.
#[async_trait]
pub trait Subscription: Send + 'static {
    /// Waits for the next batch of at most `max` deliveries. `Ok(None)` means the
    /// subscription (or its backend) was closed.
    async fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, Error>;

    /// Leaves the group: flushes pending acknowledgements and hands unsettled messages
    /// back so that another member receives them.
    async fn close(&mut self) -> Result<(), Error>;
}
