//! [`PoisonQueueLayer`]: moves messages whose handling failed to a poison topic, so
//! that they never block a stream.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use tower::Layer;

use super::retry::{RetriesExhausted, RetryInterrupted};
use crate::handler::{Handler, HandlerContext, HandlerError};
use crate::message::{keys, Message};
use crate::poison::rfc3339;
use crate::publisher::Publisher;

type ErrorFilter = Arc<dyn Fn(&HandlerError) -> bool + Send + Sync>;

/// Publishes a message whose handling failed to a poison topic, then reports success so
/// that the message is acknowledged and its lane moves on.
///
/// The poisoned copy keeps the message's id, key, payload and metadata, and gets:
///
/// | key | value |
/// |---|---|
/// | [`keys::POISON_REASON`] | the error's message (the last attempt's, behind a [`RetryLayer`](super::RetryLayer)) |
/// | [`keys::POISON_TOPIC`] | the topic the message was consumed from |
/// | [`keys::POISON_HANDLER`] | the handler's name |
/// | [`keys::POISON_GROUP`] | the consumer group |
/// | [`keys::POISON_ATTEMPTS`] | the attempts made: from a [`RetriesExhausted`] error, else the delivery attempt |
/// | [`keys::POISON_AT`] | when, RFC 3339 in UTC |
///
/// If publishing to the poison topic fails, the handler's error is returned: the message
/// is rejected and delivered again, never lost. Put the poison layer *outside* the
/// [`RetryLayer`](super::RetryLayer) (add it first) so that it sees the final outcome,
/// and outside a [`DedupLayer`](super::DedupLayer), so that a replayed message is not
/// skipped as already processed. [`crate::poison::PoisonQueue`] inspects and replays
/// poisoned messages.
///
/// ```
/// use mq::backend::memory::MemoryBroker;
/// use mq::middleware::PoisonQueueLayer;
///
/// let broker = MemoryBroker::default();
/// // Only permanent errors are poisoned; transient ones are redelivered.
/// let layer = PoisonQueueLayer::new(broker.clone(), "poison").filter(|err| err.is_permanent());
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct PoisonQueueLayer {
    publisher: Arc<dyn Publisher>,
    topic: Arc<str>,
    filter: Option<ErrorFilter>,
    max_deliveries: Option<u32>,
}

/// Why a message was poisoned without running its handler: the backend delivered it
/// more often than [`PoisonQueueLayer::max_deliveries`] allows, which happens when
/// consumers keep crashing (or timing out) on it before they can settle it.
#[derive(Debug, thiserror::Error)]
#[error("delivered {deliveries} times (limit {limit}) without being settled; its consumers may be crashing on it")]
pub struct TooManyDeliveries {
    /// How many times the backend delivered the message.
    pub deliveries: u32,
    /// The configured limit.
    pub limit: u32,
}

impl PoisonQueueLayer {
    /// Poisons failed messages to `poison_topic` through `publisher`.
    pub fn new(publisher: impl Publisher, poison_topic: impl Into<String>) -> Self {
        Self {
            publisher: Arc::new(publisher),
            topic: poison_topic.into().into(),
            filter: None,
            max_deliveries: None,
        }
    }

    /// Poisons, without running the handler, a message the backend has delivered more
    /// than `limit` times (its [`HandlerContext::delivery_attempt`]). This stops a message
    /// that crashes every consumer that takes it (a panic that aborts, an OOM kill) from
    /// looping forever: the crash never returns an error, but the backend's delivery count
    /// (Redis keeps it across consumers) keeps growing.
    ///
    /// A message counts as delivered when a consumer took it, handled or not: when a
    /// process dies with several lanes in flight (router concurrency above 1), every
    /// message in flight shares the blame. Leave room for that in `limit`.
    #[must_use]
    pub fn max_deliveries(mut self, limit: u32) -> Self {
        self.max_deliveries = Some(limit.max(1));
        self
    }

    /// Poisons only the errors `predicate` accepts; any other error is returned, so the
    /// message is rejected and delivered again. Behind a [`RetryLayer`](super::RetryLayer)
    /// the predicate sees the last attempt's error, not the [`RetriesExhausted`] wrapper.
    #[must_use]
    pub fn filter(
        mut self,
        predicate: impl Fn(&HandlerError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Arc::new(predicate));
        self
    }

    /// The poison topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl fmt::Debug for PoisonQueueLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoisonQueueLayer")
            .field("topic", &self.topic)
            .field("filter", &self.filter.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: Handler> Layer<S> for PoisonQueueLayer {
    type Service = Poison<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Poison {
            inner,
            layer: self.clone(),
        }
    }
}

/// The handler made by [`PoisonQueueLayer`].
#[derive(Clone)]
pub struct Poison<S> {
    inner: S,
    layer: PoisonQueueLayer,
}

impl<S> fmt::Debug for Poison<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poison")
            .field("topic", &self.layer.topic)
            .finish_non_exhaustive()
    }
}

/// The poisoned copy of `msg`.
fn poisoned(msg: Message, reason: &HandlerError, attempts: u32, ctx: &HandlerContext) -> Message {
    msg.with_metadata(keys::POISON_REASON, reason.to_string())
        .with_metadata(keys::POISON_TOPIC, ctx.topic())
        .with_metadata(keys::POISON_HANDLER, ctx.handler())
        .with_metadata(keys::POISON_GROUP, ctx.group())
        .with_metadata(keys::POISON_ATTEMPTS, attempts.to_string())
        .with_metadata(keys::POISON_AT, rfc3339::format(SystemTime::now()))
}

#[async_trait]
impl<S: Handler> Handler for Poison<S> {
    async fn handle(
        &self,
        msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        if let Some(limit) = self.layer.max_deliveries {
            let deliveries = ctx.delivery_attempt();
            if deliveries > limit {
                let cause = HandlerError::permanent(TooManyDeliveries { deliveries, limit });
                return match self.poison(msg, &cause, deliveries, ctx).await {
                    Ok(()) => Ok(Vec::new()),
                    Err(()) => Err(cause),
                };
            }
        }
        let err = match self.inner.handle(msg.clone(), ctx).await {
            Ok(produced) => return Ok(produced),
            Err(err) => err,
        };
        if err.downcast_ref::<RetryInterrupted>().is_some() {
            // A shutdown, not a verdict on the message: deliver it again later.
            return Err(err);
        }
        let (attempts, cause) = match err.downcast_ref::<RetriesExhausted>() {
            Some(exhausted) => (exhausted.attempts(), exhausted.last()),
            None => (ctx.delivery_attempt(), &err),
        };
        if let Some(filter) = &self.layer.filter {
            if !filter(cause) {
                return Err(err);
            }
        }
        match self.poison(msg, cause, attempts, ctx).await {
            Ok(()) => Ok(Vec::new()),
            Err(()) => Err(err),
        }
    }
}

impl<S> Poison<S> {
    /// Publishes the poisoned copy; `Err` means it could not (the message must then be
    /// rejected so that it is delivered again, never lost).
    async fn poison(
        &self,
        msg: Message,
        cause: &HandlerError,
        attempts: u32,
        ctx: &HandlerContext,
    ) -> Result<(), ()> {
        let id = msg.id().to_owned();
        let copy = poisoned(msg, cause, attempts, ctx);
        match self
            .layer
            .publisher
            .publish(&self.layer.topic, vec![copy])
            .await
        {
            Ok(()) => {
                tracing::warn!(
                    handler = ctx.handler(),
                    message_id = %id,
                    attempts,
                    poison_topic = %self.layer.topic,
                    error = %cause,
                    "message moved to the poison topic"
                );
                Ok(())
            }
            Err(publish_err) => {
                tracing::error!(
                    handler = ctx.handler(),
                    message_id = %id,
                    poison_topic = %self.layer.topic,
                    error = %publish_err,
                    "publishing to the poison topic failed; the message will be delivered again"
                );
                Err(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;
    use crate::backend::memory::{MemoryBroker, MemoryConfig};
    use crate::handler::handler_fn;
    use crate::middleware::{RetryLayer, RetryPolicy};
    use crate::router::{Router, RouterConfig};
    use crate::subscriber::Subscriber;
    use crate::Error;

    const WAIT: Duration = Duration::from_secs(10);

    fn ctx() -> HandlerContext {
        HandlerContext::new("billing", "orders", "billing-group").with_attempt(2)
    }

    fn failing() -> impl Handler {
        handler_fn(|_m: Message, _ctx: HandlerContext| async move {
            Err(HandlerError::permanent("cannot parse"))
        })
    }

    /// A publisher that always fails.
    #[derive(Debug)]
    struct Broken;

    #[async_trait]
    impl Publisher for Broken {
        async fn publish(&self, _topic: &str, _messages: Vec<Message>) -> Result<(), Error> {
            Err(Error::Closed)
        }
    }

    async fn next_message(broker: &MemoryBroker, topic: &str) -> anyhow::Result<Message> {
        let mut sub = broker.subscribe(topic, "test-reader").await?;
        let batch = tokio::time::timeout(WAIT, sub.next_batch(1))
            .await??
            .ok_or_else(|| anyhow::anyhow!("closed"))?;
        let delivery = batch
            .deliveries
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("empty batch"))?;
        let msg = delivery.message().clone();
        delivery.ack();
        Ok(msg)
    }

    #[tokio::test]
    async fn poisons_with_metadata_and_acks() -> anyhow::Result<()> {
        let broker = MemoryBroker::default();
        broker.create_group("poison", "test-reader")?;
        let handler = PoisonQueueLayer::new(broker.clone(), "poison").layer(failing());
        let msg = Message::new("payload")
            .with_key("k1")
            .with_metadata("trace", "abc");
        let out = handler.handle(msg.clone(), &ctx()).await;
        assert!(matches!(out, Ok(ref v) if v.is_empty()), "{out:?}");

        let p = next_message(&broker, "poison").await?;
        assert_eq!(p.id(), msg.id());
        assert_eq!(p.key(), Some("k1"));
        assert_eq!(p.payload(), msg.payload());
        let md = p.metadata();
        assert_eq!(md.get("trace"), Some("abc"));
        assert_eq!(md.get(keys::POISON_REASON), Some("cannot parse"));
        assert_eq!(md.get(keys::POISON_TOPIC), Some("orders"));
        assert_eq!(md.get(keys::POISON_HANDLER), Some("billing"));
        assert_eq!(md.get(keys::POISON_GROUP), Some("billing-group"));
        assert_eq!(md.get(keys::POISON_ATTEMPTS), Some("2"));
        let at = md.get(keys::POISON_AT).and_then(rfc3339::parse);
        let at = at.ok_or_else(|| anyhow::anyhow!("poison.at missing or invalid"))?;
        let age = SystemTime::now().duration_since(at)?;
        assert!(age < Duration::from_secs(60), "{age:?}");
        Ok(())
    }

    #[tokio::test]
    async fn filter_and_publish_failure_return_the_error() -> anyhow::Result<()> {
        let broker = MemoryBroker::default();
        broker.create_group("poison", "test-reader")?;
        let handler = PoisonQueueLayer::new(broker.clone(), "poison")
            .filter(|e| !e.is_permanent())
            .layer(failing());
        let err = handler.handle(Message::new("x"), &ctx()).await.err();
        assert_eq!(err.map(|e| e.to_string()).as_deref(), Some("cannot parse"));
        assert_eq!(broker.lag("poison", "test-reader")?, 0);

        let handler = PoisonQueueLayer::new(Broken, "poison").layer(failing());
        let err = handler.handle(Message::new("x"), &ctx()).await.err();
        assert!(err.is_some_and(|e| e.is_permanent()));
        Ok(())
    }

    #[tokio::test]
    async fn success_passes_through() -> anyhow::Result<()> {
        let broker = MemoryBroker::default();
        broker.create_group("poison", "test-reader")?;
        let ok = handler_fn(|m: Message, _ctx: HandlerContext| async move { Ok(vec![m]) });
        let handler = PoisonQueueLayer::new(broker.clone(), "poison").layer(ok);
        let out = handler
            .handle(Message::new("x"), &ctx())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(out.len(), 1);
        assert_eq!(broker.lag("poison", "test-reader")?, 0);
        Ok(())
    }

    /// The whole story on a router: a message that always fails is retried, poisoned,
    /// acknowledged, and the next message of the same key is still handled.
    #[tokio::test]
    async fn poison_message_never_blocks_its_lane() -> anyhow::Result<()> {
        let broker = MemoryBroker::new(MemoryConfig {
            redelivery_delay: Duration::from_millis(5),
            ..MemoryConfig::default()
        });
        broker.create_group("poison", "test-reader")?;
        let (handled_tx, mut handled_rx) = mpsc::unbounded_channel::<String>();
        let attempts = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let seen = Arc::clone(&attempts);
        let handler = handler_fn(move |m: Message, _ctx: HandlerContext| {
            let tx = handled_tx.clone();
            let seen = Arc::clone(&seen);
            async move {
                if m.payload().as_ref() == b"bad" {
                    seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    return Err(HandlerError::transient("always fails"));
                }
                tx.send(String::from_utf8_lossy(m.payload()).into_owned())
                    .ok();
                Ok(Vec::new())
            }
        });
        let mut router = Router::new(RouterConfig::default());
        router
            .layer(PoisonQueueLayer::new(broker.clone(), "poison"))
            .layer(RetryLayer::new(
                RetryPolicy::default()
                    .max_attempts(3)
                    .initial_interval(Duration::from_millis(1))
                    .max_interval(Duration::from_millis(2)),
            ));
        router.consumer("worker", "jobs", broker.clone(), handler);
        let handle = router.handle();
        let running = tokio::spawn(router.run());
        handle.running().await;

        let bad = Message::new("bad").with_key("same-key");
        broker
            .publish(
                "jobs",
                vec![bad.clone(), Message::new("good").with_key("same-key")],
            )
            .await?;
        let good = tokio::time::timeout(WAIT, handled_rx.recv()).await?;
        assert_eq!(good.as_deref(), Some("good"));

        let p = next_message(&broker, "poison").await?;
        assert_eq!(p.id(), bad.id());
        assert_eq!(p.metadata().get(keys::POISON_ATTEMPTS), Some("3"));
        assert_eq!(p.metadata().get(keys::POISON_REASON), Some("always fails"));
        assert_eq!(p.metadata().get(keys::POISON_TOPIC), Some("jobs"));
        assert_eq!(p.metadata().get(keys::POISON_HANDLER), Some("worker"));
        assert_eq!(p.metadata().get(keys::POISON_GROUP), Some("worker"));
        assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 3);

        // Another message on the same key later is handled too.
        broker
            .publish("jobs", vec![Message::new("later").with_key("same-key")])
            .await?;
        let later = tokio::time::timeout(WAIT, handled_rx.recv()).await?;
        assert_eq!(later.as_deref(), Some("later"));

        handle.shutdown();
        running.await??;
        assert_eq!(broker.lag("jobs", "worker")?, 0);
        Ok(())
    }

    #[tokio::test]
    async fn poisons_a_message_delivered_too_often_without_running_the_handler(
    ) -> anyhow::Result<()> {
        let broker = MemoryBroker::default();
        let mut poison = broker.subscribe("poison", "inspect").await?;
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = Arc::clone(&ran);
        let handler = PoisonQueueLayer::new(broker.clone(), "poison")
            .max_deliveries(3)
            .layer(handler_fn(move |_msg: Message, _ctx: HandlerContext| {
                seen.store(true, std::sync::atomic::Ordering::SeqCst);
                async move { Ok(Vec::new()) }
            }));
        let msg = Message::new("crashes everyone");
        // Three deliveries are allowed; the fourth is poisoned unhandled.
        handler
            .handle(msg.clone(), &ctx().with_attempt(3))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert!(ran.swap(false, std::sync::atomic::Ordering::SeqCst));
        let out = handler
            .handle(msg.clone(), &ctx().with_attempt(4))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert!(out.is_empty());
        assert!(
            !ran.load(std::sync::atomic::Ordering::SeqCst),
            "the handler must not run"
        );
        let batch = tokio::time::timeout(WAIT, poison.next_batch(10))
            .await??
            .expect("open");
        let poisoned = batch.deliveries[0].message();
        assert_eq!(poisoned.id(), msg.id());
        assert_eq!(poisoned.metadata().get(keys::POISON_ATTEMPTS), Some("4"));
        assert!(poisoned
            .metadata()
            .get(keys::POISON_REASON)
            .is_some_and(|r| r.contains("delivered 4 times")));
        Ok(())
    }
}
