//! Poison-queue tooling: list the messages the
//! [`PoisonQueueLayer`](crate::middleware::PoisonQueueLayer) set aside, and replay or
//! discard them.
//!
//! [`PoisonQueue`] reads the poison topic in its own consumer group, so reading never
//! takes messages from anyone else, and a message leaves the poison queue only when it
//! is [replayed](PoisonedMessage::replay) or [discarded](PoisonedMessage::discard).

mod message;
pub(crate) mod rfc3339;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub use message::PoisonedMessage;

use crate::error::Error;
use crate::message::keys;
use crate::publisher::Publisher;
use crate::subscriber::{Subscriber, Subscription};

/// The consumer group [`PoisonQueue`] reads with unless told otherwise.
pub const DEFAULT_INSPECTOR_GROUP: &str = "mq-poison-inspector";

/// How many poisoned messages [`PoisonQueue::replay_all`] fetches at a time.
const REPLAY_BATCH: usize = 256;

/// Reads a poison topic to inspect, replay or discard what it holds.
///
/// The subscription is opened on the first [`fetch`](Self::fetch) and kept, so fetch can
/// be called again and again; [`close`](Self::close) gives it up.
///
/// ```
/// use std::time::Duration;
/// use mq::backend::memory::MemoryBroker;
/// use mq::middleware::PoisonQueueLayer;
/// use mq::poison::PoisonQueue;
/// use mq::{handler_fn, Handler, HandlerContext, HandlerError, Layer, Message};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mq::Error> {
/// let broker = MemoryBroker::default();
/// let poison = PoisonQueue::new(broker.clone(), broker.clone(), "poison");
///
/// // A handler that fails: its message goes to the poison topic.
/// let failing = PoisonQueueLayer::new(broker.clone(), "poison").layer(handler_fn(
///     |_msg: Message, _ctx: HandlerContext| async move {
///         Err(HandlerError::permanent("cannot parse"))
///     },
/// ));
/// let ctx = HandlerContext::new("parser", "orders", "parser");
/// assert!(failing.handle(Message::new("{oops"), &ctx).await.is_ok());
///
/// for poisoned in poison.fetch(10, Duration::from_secs(1)).await? {
///     assert_eq!(poisoned.reason(), Some("cannot parse"));
///     assert_eq!(poisoned.original_topic(), Some("orders"));
///     poisoned.replay().await?; // back on "orders", without the poison.* metadata
/// }
/// # Ok(()) }
/// ```
pub struct PoisonQueue {
    subscriber: Arc<dyn Subscriber>,
    publisher: Arc<dyn Publisher>,
    topic: Arc<str>,
    group: String,
    replay_wait: Duration,
    subscription: Mutex<Option<Box<dyn Subscription>>>,
}

impl PoisonQueue {
    /// Reads `poison_topic` through `subscriber` (in the group
    /// [`DEFAULT_INSPECTOR_GROUP`]) and replays through `publisher`.
    pub fn new(
        subscriber: impl Subscriber,
        publisher: impl Publisher,
        poison_topic: impl Into<String>,
    ) -> Self {
        Self {
            subscriber: Arc::new(subscriber),
            publisher: Arc::new(publisher),
            topic: poison_topic.into().into(),
            group: DEFAULT_INSPECTOR_GROUP.to_owned(),
            replay_wait: Duration::from_millis(250),
            subscription: Mutex::new(None),
        }
    }

    /// Reads in consumer group `group` instead of [`DEFAULT_INSPECTOR_GROUP`].
    #[must_use]
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// How long each fetch of [`replay_all`](Self::replay_all) waits for messages.
    /// Default 250 ms.
    #[must_use]
    pub fn with_replay_wait(mut self, wait: Duration) -> Self {
        self.replay_wait = wait;
        self
    }

    /// The poison topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The consumer group used to read it.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Returns up to `max` poisoned messages: waits up to `wait` for the first, then
    /// takes whatever else is ready at once. An empty list means none arrived in time.
    ///
    /// Nothing is removed from the poison queue until a message is replayed or
    /// discarded. While messages returned earlier are unsettled, the messages after them
    /// in their lane are not returned again.
    pub async fn fetch(&self, max: usize, wait: Duration) -> Result<Vec<PoisonedMessage>, Error> {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        let mut guard = self.subscription.lock().await;
        let subscription = match &mut *guard {
            Some(subscription) => subscription,
            empty => empty.insert(self.subscriber.subscribe(&self.topic, &self.group).await?),
        };
        let deadline = Instant::now().checked_add(wait);
        while out.len() < max {
            let until = if out.is_empty() {
                deadline
            } else {
                Some(Instant::now())
            };
            let next = subscription.next_batch(max - out.len());
            let fetched = match until {
                Some(until) => match tokio::time::timeout_at(until, next).await {
                    Ok(fetched) => fetched,
                    Err(_elapsed) => break,
                },
                None => next.await,
            };
            match fetched {
                Ok(Some(batch)) => out.extend(batch.deliveries.into_iter().map(|delivery| {
                    PoisonedMessage::new(
                        delivery,
                        Arc::clone(&self.publisher),
                        Arc::clone(&self.topic),
                    )
                })),
                Ok(None) => {
                    *guard = None;
                    if out.is_empty() {
                        return Err(Error::Closed);
                    }
                    break;
                }
                Err(err) if out.is_empty() => return Err(err),
                Err(err) => {
                    tracing::warn!(topic = %self.topic, error = %err, "fetching poisoned messages failed");
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Replays every poisoned message `filter` accepts to its original topic and moves
    /// the others to the back of the poison queue (see [`PoisonedMessage::requeue`]).
    /// Returns how many were replayed.
    ///
    /// It stops when a fetch finds nothing within the replay wait or when it meets a
    /// message it already moved back. Messages handed back less than the backend's
    /// redelivery delay ago are only seen by a later call. On an error, what was not
    /// yet settled stays in the poison queue.
    pub async fn replay_all<F>(&self, filter: F) -> Result<usize, Error>
    where
        F: Fn(&PoisonedMessage) -> bool,
    {
        let mut replayed = 0;
        let mut kept = HashSet::new();
        loop {
            let batch = self.fetch(REPLAY_BATCH, self.replay_wait).await?;
            if batch.is_empty() {
                return Ok(replayed);
            }
            for poisoned in batch {
                let identity = identity(&poisoned);
                if kept.contains(&identity) {
                    // Back to where we started: leave the rest for later.
                    return Ok(replayed);
                }
                if filter(&poisoned) {
                    poisoned.replay().await?;
                    replayed += 1;
                } else {
                    poisoned.requeue().await?;
                    kept.insert(identity);
                }
            }
        }
    }

    /// Closes the subscription (unsettled messages go back to the poison queue). A later
    /// fetch opens a new one.
    pub async fn close(&self) -> Result<(), Error> {
        let subscription = self.subscription.lock().await.take();
        match subscription {
            Some(mut subscription) => subscription.close().await,
            None => Ok(()),
        }
    }
}

/// What tells two poisonings apart: one message may be poisoned by several handlers.
fn identity(p: &PoisonedMessage) -> String {
    let md = p.message().metadata();
    [
        p.message().id(),
        md.get(keys::POISON_AT).unwrap_or(""),
        md.get(keys::POISON_GROUP).unwrap_or(""),
        md.get(keys::POISON_HANDLER).unwrap_or(""),
    ]
    .join("\u{1f}")
}

impl fmt::Debug for PoisonQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoisonQueue")
            .field("topic", &self.topic)
            .field("group", &self.group)
            .field("replay_wait", &self.replay_wait)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
