//! The in-memory backend: a product feature for single-process deployments and tests.
//!
//! # Semantics
//! - Each topic is `partitions` append-only logs. A keyed message goes to the partition
//!   chosen by [`crate::backend::partition_for_key`]; messages without a key are spread
//!   round robin. Order is kept per partition, so per key.
//! - Every consumer group has its own cursor per partition. Inside a group, a partition
//!   is held by one subscription while it has unsettled deliveries, so two members never
//!   handle messages of the same key at the same time.
//! - A message stays in memory until every group has acknowledged it: nothing is
//!   dropped while a group exists. A new group starts at the oldest message still held.
//!   Before the first group subscribes, a topic keeps the newest
//!   [`MemoryConfig::partition_capacity`] messages per partition.
//! - When a partition holds `partition_capacity` messages (or bytes) that some group has
//!   not acknowledged, `publish` waits for room, up to `publish_timeout`, then fails with
//!   [`crate::Error::Backpressure`]. Memory is bounded.
//! - A rejected delivery rewinds its lane to the oldest unacknowledged message and pauses
//!   the lane for `redelivery_delay` (never a hot loop); everything after it is delivered
//!   again in order. A dropped or closed subscription gives its lanes back the same way.
//! - Nothing survives the process: use Redis Streams or Kafka for durability.
//!
//! ```
//! use mq::backend::memory::MemoryBroker;
//! use mq::{Message, Publisher, Subscriber};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mq::Error> {
//! let broker = MemoryBroker::default();
//! let mut sub = broker.subscribe("orders", "billing").await?;
//! broker.publish("orders", vec![Message::new("one").with_key("order-1")]).await?;
//! let batch = sub.next_batch(10).await?.expect("open");
//! for delivery in batch.deliveries {
//!     assert_eq!(delivery.message().payload().as_ref(), b"one");
//!     delivery.ack();
//! }
//! # Ok(()) }
//! ```

mod config;
mod subscription;
mod topic;

use std::collections::HashMap;
use std::fmt;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use tokio::time::Instant;

pub use config::MemoryConfig;
use subscription::MemorySubscription;
use topic::Topic;

use crate::error::{validate_name, Error};
use crate::message::Message;
use crate::publisher::Publisher;
use crate::subscriber::{Subscriber, Subscription};

/// An in-process broker: both a [`Publisher`] and a [`Subscriber`]. Clones share state.
#[derive(Clone, Default)]
pub struct MemoryBroker {
    inner: Arc<BrokerInner>,
}

#[derive(Default)]
struct BrokerInner {
    config: MemoryConfig,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    closed: AtomicBool,
    next_consumer: AtomicU64,
}

impl fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBroker")
            .field("config", &self.inner.config)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl MemoryBroker {
    /// A broker with the given settings. A zero that [`MemoryConfig::validate`] rejects
    /// is raised to the smallest working value; use [`MemoryBroker::try_new`] to get an
    /// error instead.
    pub fn new(config: MemoryConfig) -> Self {
        Self {
            inner: Arc::new(BrokerInner {
                config: config.clamped(),
                ..BrokerInner::default()
            }),
        }
    }

    /// A broker with the given settings, or [`Error::InvalidConfig`] when
    /// [`MemoryConfig::validate`] rejects them.
    pub fn try_new(config: MemoryConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self::new(config))
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>, Error> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        {
            let topics = self
                .inner
                .topics
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(t) = topics.get(name) {
                return Ok(Arc::clone(t));
            }
        }
        validate_name(name)?;
        let mut topics = self
            .inner
            .topics
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let topic = topics
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Topic::new(self.inner.config.clone())));
        Ok(Arc::clone(topic))
    }

    /// Creates consumer group `group` on `topic` now, so that it keeps every message
    /// published from here on even before anyone subscribes.
    pub fn create_group(&self, topic: &str, group: &str) -> Result<(), Error> {
        validate_name(group)?;
        self.topic(topic)?.group(group);
        Ok(())
    }

    /// Messages of `topic` that `group` has not acknowledged yet (0 for a group that
    /// does not exist: asking never creates one).
    pub fn lag(&self, topic: &str, group: &str) -> Result<u64, Error> {
        validate_name(group)?;
        let t = self.topic(topic)?;
        Ok(t.existing_group(group).map_or(0, |g| t.lag(&g)))
    }

    /// Closes the broker: publishing fails with [`Error::Closed`] and every
    /// subscription's `next_batch` returns `None`.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let topics = self
            .inner
            .topics
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for t in topics.values() {
            t.data_ready.notify_waiters();
            t.space_ready.notify_waiters();
        }
    }

    fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    async fn append(
        &self,
        topic: &Topic,
        p: u32,
        mut msg: Message,
        deadline: Instant,
    ) -> Result<(), Error> {
        loop {
            let _waiting = WaitingGuard::enter(&topic.publishers_waiting);
            let mut room = pin!(topic.space_ready.notified());
            room.as_mut().enable();
            // Checked after registering for wake-ups, so that a close is never missed.
            if self.is_closed() {
                return Err(Error::Closed);
            }
            let result = topic.try_append(p, msg);
            let back = match result {
                Ok(()) => return Ok(()),
                Err(back) => back,
            };
            msg = back;
            // Consumers may be asleep while the log is full of messages they have not seen.
            topic.data_ready.notify_waiters();
            let timed_out = tokio::select! {
                () = room => false,
                () = tokio::time::sleep_until(deadline) => true,
            };
            if self.is_closed() {
                return Err(Error::Closed);
            }
            if timed_out {
                return Err(Error::Backpressure {
                    waited: self.inner.config.publish_timeout,
                });
            }
        }
    }
}

#[async_trait]
impl Publisher for MemoryBroker {
    async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), Error> {
        let t = self.topic(topic)?;
        let mut deadline = None;
        for msg in messages {
            let p = t.partition_of(&msg);
            if let Err(back) = t.try_append(p, msg) {
                let deadline = *deadline
                    .get_or_insert_with(|| Instant::now() + self.inner.config.publish_timeout);
                self.append(&t, p, back, deadline).await?;
            }
        }
        if t.consumers_waiting.load(Ordering::SeqCst) > 0 {
            t.data_ready.notify_waiters();
        }
        Ok(())
    }

    async fn close(&self) -> Result<(), Error> {
        Ok(())
    }
}

#[async_trait]
impl Subscriber for MemoryBroker {
    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, Error> {
        validate_name(group)?;
        let t = self.topic(topic)?;
        let g = t.group(group);
        let id = self.inner.next_consumer.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(MemorySubscription::new(self.clone(), t, g, id)))
    }
}

/// Counts a waiter for as long as it lives, so wakers only notify when someone waits.
struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
