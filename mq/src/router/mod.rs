//! [`Router`]: runs handlers over subscriptions, with middleware, bounded concurrency
//! and graceful shutdown.

mod config;
mod health;
mod shutdown;
mod spec;
mod worker;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::Layer;

pub use config::RouterConfig;
pub use health::FetchFailure;
use health::Health;
pub use shutdown::RouterHandle;
pub use spec::HandlerSpec;
use spec::{box_layer, BoxLayer};
use worker::{run_handler, HandlerExit, Worker};

use crate::batch::{BatchHandler, OneAtATime};
use crate::error::{validate_name, Error};
use crate::handler::{BoxHandler, Handler, HandlerContext};
use crate::publisher::Publisher;
use crate::subscriber::Subscriber;

/// Runs handlers: each consumes a topic in a consumer group and may publish to another.
///
/// A delivery is acknowledged only after its handler succeeded and its output was
/// published; a failure (or panic) rejects it, so it is delivered again. Within a lane
/// (partition) deliveries are handled strictly one after another, so per-key order holds
/// end to end; with [`HandlerSpec::concurrency`] several lanes run at once.
///
/// ```
/// use std::time::Duration;
/// use mq::backend::memory::MemoryBroker;
/// use mq::middleware::{PoisonQueueLayer, RetryLayer, RetryPolicy};
/// use mq::{handler_fn, HandlerContext, Message, Publisher, Router, RouterConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mq::Error> {
/// let broker = MemoryBroker::default();
/// let mut router = Router::new(RouterConfig::default());
/// router
///     .layer(PoisonQueueLayer::new(broker.clone(), "poison"))
///     .layer(RetryLayer::new(RetryPolicy::default().max_attempts(3)));
/// router.handler(
///     "shout",
///     "words",
///     broker.clone(),
///     "shouts",
///     broker.clone(),
///     handler_fn(|msg: Message, _ctx: HandlerContext| async move {
///         let upper = String::from_utf8_lossy(msg.payload()).to_uppercase();
///         Ok(vec![Message::new(upper)])
///     }),
/// );
/// let handle = router.handle();
/// let running = tokio::spawn(router.run());
/// handle.running().await;
/// broker.publish("words", vec![Message::new("hi")]).await?;
/// handle.shutdown();
/// running.await.expect("router task")?;
/// # Ok(()) }
/// ```
pub struct Router {
    config: RouterConfig,
    layers: Vec<BoxLayer>,
    handlers: Vec<HandlerSpec>,
    shutdown: CancellationToken,
    running: watch::Sender<bool>,
    health: Health,
    signals: bool,
}

impl Router {
    /// An empty router.
    pub fn new(config: RouterConfig) -> Self {
        Self {
            config,
            layers: Vec::new(),
            handlers: Vec::new(),
            shutdown: CancellationToken::new(),
            running: watch::channel(false).0,
            health: Health::default(),
            signals: false,
        }
    }

    /// Adds a middleware for every handler. Router middleware wrap the handlers' own;
    /// the first added is the outermost.
    pub fn layer<L>(&mut self, layer: L) -> &mut Self
    where
        L: Layer<BoxHandler> + Send + Sync + 'static,
        L::Service: Handler,
    {
        self.layers.push(box_layer(layer));
        self
    }

    /// Adds a handler that consumes `topic` and publishes what it returns to `output_topic`.
    /// Its consumer group is its name unless set with [`HandlerSpec::group`].
    pub fn handler(
        &mut self,
        name: impl Into<String>,
        topic: impl Into<String>,
        subscriber: impl Subscriber,
        output_topic: impl Into<String>,
        publisher: impl Publisher,
        handler: impl Handler,
    ) -> &mut HandlerSpec {
        let publisher: Arc<dyn Publisher> = Arc::new(publisher);
        self.push(
            name.into(),
            topic.into(),
            Arc::new(subscriber),
            Some((output_topic.into(), publisher)),
            Arc::new(handler),
        )
    }

    /// Adds a [`BatchHandler`] that consumes `topic` several messages at a time and
    /// publishes what it returns to `output_topic` (one publish call per batch). The
    /// middleware apply to what is handled one at a time: a batch of one, and a
    /// message that failed in a batch (so retries and the poison queue work as for a
    /// [`Handler`]).
    pub fn batch_handler(
        &mut self,
        name: impl Into<String>,
        topic: impl Into<String>,
        subscriber: impl Subscriber,
        output_topic: impl Into<String>,
        publisher: impl Publisher,
        handler: impl BatchHandler,
    ) -> &mut HandlerSpec {
        let publisher: Arc<dyn Publisher> = Arc::new(publisher);
        let batch: Arc<dyn BatchHandler> = Arc::new(handler);
        let spec = self.push(
            name.into(),
            topic.into(),
            Arc::new(subscriber),
            Some((output_topic.into(), publisher)),
            Arc::new(OneAtATime(Arc::clone(&batch))),
        );
        spec.batch = Some(batch);
        spec
    }

    /// Adds a consume-only [`BatchHandler`] (see [`Router::batch_handler`]).
    pub fn batch_consumer(
        &mut self,
        name: impl Into<String>,
        topic: impl Into<String>,
        subscriber: impl Subscriber,
        handler: impl BatchHandler,
    ) -> &mut HandlerSpec {
        let batch: Arc<dyn BatchHandler> = Arc::new(handler);
        let spec = self.push(
            name.into(),
            topic.into(),
            Arc::new(subscriber),
            None,
            Arc::new(OneAtATime(Arc::clone(&batch))),
        );
        spec.batch = Some(batch);
        spec
    }

    /// Adds a consume-only handler.
    pub fn consumer(
        &mut self,
        name: impl Into<String>,
        topic: impl Into<String>,
        subscriber: impl Subscriber,
        handler: impl Handler,
    ) -> &mut HandlerSpec {
        self.push(
            name.into(),
            topic.into(),
            Arc::new(subscriber),
            None,
            Arc::new(handler),
        )
    }

    fn push(
        &mut self,
        name: String,
        topic: String,
        subscriber: Arc<dyn Subscriber>,
        output: Option<(String, Arc<dyn Publisher>)>,
        handler: BoxHandler,
    ) -> &mut HandlerSpec {
        let spec = HandlerSpec {
            group: name.clone(),
            name,
            topic,
            subscriber,
            output,
            handler,
            batch: None,
            layers: Vec::new(),
            concurrency: 1,
        };
        self.handlers.push(spec);
        let last = self.handlers.len() - 1;
        &mut self.handlers[last]
    }

    /// Stops the router on SIGINT or SIGTERM (Ctrl-C on every platform).
    pub fn with_signal_handling(&mut self) -> &mut Self {
        self.signals = true;
        self
    }

    /// A handle to wait until the router runs and to shut it down.
    pub fn handle(&self) -> RouterHandle {
        RouterHandle::new(
            self.shutdown.clone(),
            self.running.subscribe(),
            self.health.clone(),
        )
    }

    fn validate(&self) -> Result<(), Error> {
        self.config.validate()?;
        if self.handlers.is_empty() {
            return Err(Error::Router("no handlers registered".into()));
        }
        let mut names = HashSet::new();
        for h in &self.handlers {
            if !names.insert(h.name.as_str()) {
                return Err(Error::Router(format!(
                    "duplicate handler name {:?}",
                    h.name
                )));
            }
            validate_name(&h.name)?;
            validate_name(&h.topic)?;
            validate_name(&h.group)?;
            if let Some((out, _)) = &h.output {
                validate_name(out)?;
            }
        }
        Ok(())
    }

    /// Subscribes every handler, then runs until shutdown is asked for (by a
    /// [`RouterHandle`] or a signal) or every subscription has ended. On shutdown it stops
    /// fetching, lets in-flight handlers finish and settle, closes the subscriptions, and
    /// gives up after [`RouterConfig::close_timeout`].
    pub async fn run(self) -> Result<(), Error> {
        self.validate()?;
        let mut subscriptions = Vec::with_capacity(self.handlers.len());
        for h in &self.handlers {
            subscriptions.push(h.subscriber.subscribe(&h.topic, &h.group).await?);
        }
        if self.signals {
            shutdown::cancel_on_signal(self.shutdown.clone());
        }
        let mut tasks = JoinSet::new();
        for (spec, subscription) in self.handlers.iter().zip(subscriptions) {
            let worker = Worker {
                ctx: HandlerContext::new(&spec.name, &spec.topic, &spec.group)
                    .with_shutdown(self.shutdown.clone()),
                handler: spec.build(&self.layers),
                batch: spec.batch.clone(),
                output: spec.output.clone(),
                shutdown: self.shutdown.clone(),
            };
            tasks.spawn(run_handler(
                worker,
                subscription,
                self.config.clone(),
                spec.concurrency,
                self.health.clone(),
            ));
        }
        self.running.send_replace(true);
        tracing::info!(handlers = self.handlers.len(), "router running");

        // The first handler whose subscription ended by itself stops the router: a
        // router that silently consumes nothing is worse than one that stops and says so.
        let mut stopped: Option<Error> = None;
        tokio::select! {
            () = self.shutdown.cancelled() => {}
            () = async {
                while let Some(exit) = tasks.join_next().await {
                    if let Some(err) = handler_stopped(exit) {
                        stopped = Some(err);
                        return;
                    }
                }
            } => {}
        }
        self.shutdown.cancel();
        let drained = tokio::time::timeout(self.config.close_timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        self.running.send_replace(false);
        match drained {
            Ok(()) => match stopped {
                Some(err) => Err(err),
                None => {
                    tracing::info!("router stopped");
                    Ok(())
                }
            },
            Err(_) => {
                tasks.abort_all();
                Err(Error::Router(format!(
                    "handlers still running after the close timeout of {:?}; their messages will be delivered again",
                    self.config.close_timeout
                )))
            }
        }
    }
}

/// The error a handler task's exit stands for, if it stopped by itself.
fn handler_stopped(exit: Result<HandlerExit, tokio::task::JoinError>) -> Option<Error> {
    match exit {
        Ok(HandlerExit::Shutdown) => None,
        Ok(HandlerExit::Ended { handler, reason }) => {
            Some(Error::HandlerStopped { handler, reason })
        }
        Err(err) => Some(Error::Router(format!("a handler task failed: {err}"))),
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("config", &self.config)
            .field("handlers", &self.handlers)
            .field("layers", &self.layers.len())
            .finish()
    }
}
