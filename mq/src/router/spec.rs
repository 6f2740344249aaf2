//! [`HandlerSpec`]: one handler registered on a router, and how it is built.

use std::fmt;
use std::sync::Arc;

use tower::Layer;

use crate::batch::BatchHandler;
use crate::handler::{BoxHandler, Handler};
use crate::publisher::Publisher;
use crate::subscriber::Subscriber;

/// A type-erased middleware: wraps a handler in another.
pub(crate) type BoxLayer = Arc<dyn Fn(BoxHandler) -> BoxHandler + Send + Sync>;

pub(crate) fn box_layer<L>(layer: L) -> BoxLayer
where
    L: Layer<BoxHandler> + Send + Sync + 'static,
    L::Service: Handler,
{
    Arc::new(move |inner| Arc::new(layer.layer(inner)) as BoxHandler)
}

/// A handler registered on a [`crate::Router`]: what it consumes, where its output goes,
/// its consumer group, its concurrency and its own middleware.
pub struct HandlerSpec {
    pub(crate) name: String,
    pub(crate) topic: String,
    pub(crate) group: String,
    pub(crate) subscriber: Arc<dyn Subscriber>,
    pub(crate) output: Option<(String, Arc<dyn Publisher>)>,
    pub(crate) handler: BoxHandler,
    pub(crate) batch: Option<Arc<dyn BatchHandler>>,
    pub(crate) layers: Vec<BoxLayer>,
    pub(crate) concurrency: usize,
}

impl HandlerSpec {
    /// Sets the consumer group (default: the handler's name).
    pub fn group(&mut self, group: impl Into<String>) -> &mut Self {
        self.group = group.into();
        self
    }

    /// Handles up to `n` lanes (partitions) at once; each lane stays strictly in order.
    /// Default 1.
    pub fn concurrency(&mut self, n: usize) -> &mut Self {
        self.concurrency = n.max(1);
        self
    }

    /// Adds a middleware for this handler only. Handler middleware run inside the
    /// router's; the first added is the outermost.
    pub fn layer<L>(&mut self, layer: L) -> &mut Self
    where
        L: Layer<BoxHandler> + Send + Sync + 'static,
        L::Service: Handler,
    {
        self.layers.push(box_layer(layer));
        self
    }

    /// The handler wrapped in its own layers, then the router's (first added outermost).
    pub(crate) fn build(&self, router_layers: &[BoxLayer]) -> BoxHandler {
        let mut handler = Arc::clone(&self.handler);
        for layer in self.layers.iter().rev().chain(router_layers.iter().rev()) {
            handler = layer(handler);
        }
        handler
    }
}

impl fmt::Debug for HandlerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerSpec")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("group", &self.group)
            .field("output", &self.output.as_ref().map(|(t, _)| t))
            .field("concurrency", &self.concurrency)
            .field("batched", &self.batch.is_some())
            .field("layers", &self.layers.len())
            .finish()
    }
}
