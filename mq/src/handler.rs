//! [`Handler`]: the unit of work a [`crate::Router`] runs for each message.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::message::Message;

/// Handles one message and returns the messages to publish as a result (possibly none).
///
/// Middleware are [`tower::Layer`]s whose services are `Handler`s too, so wrapping is
/// visible at the call site:
///
/// ```
/// use std::time::Duration;
/// use mq::{handler_fn, Handler, HandlerContext, Message};
/// use mq::middleware::{RetryLayer, RetryPolicy, TimeoutLayer};
/// use tower::ServiceBuilder;
///
/// let handler = ServiceBuilder::new()
///     .layer(RetryLayer::new(RetryPolicy::default()))
///     .layer(TimeoutLayer::new(Duration::from_secs(5)))
///     .service(handler_fn(|msg: Message, _ctx: HandlerContext| async move {
///         Ok(vec![Message::new(msg.payload().clone())])
///     }));
/// # let _ = handler;
/// ```
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles `msg`. An error rejects the delivery (it is delivered again) unless a
    /// middleware such as the poison queue takes care of it.
    async fn handle(
        &self,
        msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError>;
}

/// A shared, type-erased handler.
pub type BoxHandler = Arc<dyn Handler>;

#[async_trait]
impl<H: Handler + ?Sized> Handler for Arc<H> {
    async fn handle(
        &self,
        msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        (**self).handle(msg, ctx).await
    }
}

/// What a handler knows about the delivery it is handling.
#[derive(Clone, Debug)]
pub struct HandlerContext {
    shared: Arc<ContextShared>,
    attempt: u32,
}

/// Signalled when the router running the handler is asked to shut down.
pub(crate) type ShutdownSignal = tokio_util::sync::CancellationToken;

#[derive(Debug)]
struct ContextShared {
    handler: String,
    topic: String,
    group: String,
    shutdown: ShutdownSignal,
}

impl HandlerContext {
    /// A context for `handler` consuming `topic` in consumer group `group`.
    pub fn new(
        handler: impl Into<String>,
        topic: impl Into<String>,
        group: impl Into<String>,
    ) -> Self {
        Self {
            shared: Arc::new(ContextShared {
                handler: handler.into(),
                topic: topic.into(),
                group: group.into(),
                shutdown: ShutdownSignal::new(),
            }),
            attempt: 1,
        }
    }

    /// The same context, tied to a router's shutdown signal.
    pub(crate) fn with_shutdown(self, shutdown: ShutdownSignal) -> Self {
        Self {
            shared: Arc::new(ContextShared {
                handler: self.shared.handler.clone(),
                topic: self.shared.topic.clone(),
                group: self.shared.group.clone(),
                shutdown,
            }),
            attempt: self.attempt,
        }
    }

    /// True once the router running this handler was asked to shut down. Long waits in
    /// handlers and middleware (retry backoff) should give up then: the message is
    /// delivered again after the restart.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutdown.is_cancelled()
    }

    /// Completes when the router running this handler is asked to shut down.
    pub async fn shutting_down(&self) {
        self.shared.shutdown.cancelled().await;
    }

    /// The same context for a delivery made `attempt` times.
    #[must_use]
    pub fn with_attempt(&self, attempt: u32) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            attempt,
        }
    }

    /// The handler's name.
    pub fn handler(&self) -> &str {
        &self.shared.handler
    }

    /// The topic the message came from.
    pub fn topic(&self) -> &str {
        &self.shared.topic
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.shared.group
    }

    /// How many times the backend has delivered this message to the group (1 on the first).
    pub fn delivery_attempt(&self) -> u32 {
        self.attempt
    }
}

/// Why a handler failed, and whether trying again can help.
///
/// Any `std::error::Error` converts into it with `?` (as transient).
pub struct HandlerError {
    permanent: bool,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl HandlerError {
    /// A failure that may go away on retry (a timeout, a lost connection).
    pub fn transient(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            permanent: false,
            source: err.into(),
        }
    }

    /// A failure that retrying cannot fix (a malformed payload). The retry middleware
    /// gives up on it at once.
    pub fn permanent(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            permanent: true,
            source: err.into(),
        }
    }

    /// True for [`HandlerError::permanent`] errors.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// The underlying error.
    pub fn source(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }

    /// Looks for an error of type `E` in the chain.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source.downcast_ref::<E>()
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(err: E) -> Self {
        Self::transient(err)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("permanent", &self.permanent)
            .field("source", &self.source)
            .finish()
    }
}

/// A [`Handler`] made from an async closure that returns the messages to publish.
pub fn handler_fn<F, Fut>(f: F) -> HandlerFn<F>
where
    F: Fn(Message, HandlerContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Message>, HandlerError>> + Send + 'static,
{
    HandlerFn(f)
}

/// See [`handler_fn`].
#[derive(Clone)]
pub struct HandlerFn<F>(F);

impl<F> fmt::Debug for HandlerFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandlerFn")
    }
}

#[async_trait]
impl<F, Fut> Handler for HandlerFn<F>
where
    F: Fn(Message, HandlerContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Message>, HandlerError>> + Send + 'static,
{
    async fn handle(
        &self,
        msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        (self.0)(msg, ctx.clone()).await
    }
}

/// A consume-only [`Handler`] made from an async closure that publishes nothing.
///
/// ```
/// let handler = mq::consumer_fn(|msg: mq::Message| async move {
///     println!("got {}", msg.id());
///     Ok(())
/// });
/// # let _ = handler;
/// ```
pub fn consumer_fn<F, Fut>(f: F) -> ConsumerFn<F>
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    ConsumerFn(f)
}

/// See [`consumer_fn`].
#[derive(Clone)]
pub struct ConsumerFn<F>(F);

impl<F> fmt::Debug for ConsumerFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsumerFn")
    }
}

#[async_trait]
impl<F, Fut> Handler for ConsumerFn<F>
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    async fn handle(
        &self,
        msg: Message,
        _ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        (self.0)(msg).await.map(|()| Vec::new())
    }
}

/// A consume-only handler for JSON events of type `T`: a payload that does not decode
/// is a permanent error (retrying cannot fix it; the poison queue takes it).
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Registered { user_id: String }
///
/// let handler = mq::json_consumer_fn(|event: Registered, _ctx| async move {
///     println!("welcome {}", event.user_id);
///     Ok(())
/// });
/// # let _ = handler;
/// ```
pub fn json_consumer_fn<T, F, Fut>(f: F) -> JsonConsumerFn<T, F>
where
    T: serde::de::DeserializeOwned + Send + 'static,
    F: Fn(T, HandlerContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    JsonConsumerFn {
        f,
        _t: std::marker::PhantomData,
    }
}

/// See [`json_consumer_fn`].
pub struct JsonConsumerFn<T, F> {
    f: F,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, F> fmt::Debug for JsonConsumerFn<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonConsumerFn<{}>", std::any::type_name::<T>())
    }
}

#[async_trait]
impl<T, F, Fut> Handler for JsonConsumerFn<T, F>
where
    T: serde::de::DeserializeOwned + Send + 'static,
    F: Fn(T, HandlerContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    async fn handle(
        &self,
        msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        let value: T = msg.decode_json().map_err(HandlerError::permanent)?;
        (self.f)(value, ctx.clone()).await.map(|()| Vec::new())
    }
}
