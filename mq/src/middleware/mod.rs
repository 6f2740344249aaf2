//! Middleware: [`tower::Layer`]s whose services are [`Handler`](crate::Handler)s.
//!
//! Each layer wraps any handler (`S: Handler`, including a [`crate::BoxHandler`]), so
//! the order of wrapping is visible where a handler is built: with
//! [`Router::layer`](crate::Router::layer) and
//! [`HandlerSpec::layer`](crate::HandlerSpec::layer) the first layer added is the
//! outermost, as with [`tower::ServiceBuilder`].
//!
//! | layer | what it does |
//! |---|---|
//! | [`PoisonQueueLayer`] | publishes a message whose handling failed to a poison topic and acknowledges it, so the stream moves on |
//! | [`RetryLayer`] | tries again with exponential backoff and jitter ([`RetryPolicy`]) |
//! | [`RecoverLayer`] | turns a panic into a [`HandlerError`](crate::HandlerError) |
//! | [`TimeoutLayer`] | fails an attempt that takes too long |
//! | [`CorrelationIdLayer`] | carries a correlation id from a message to what its handler produces |
//! | [`ThrottleLayer`] | limits how many messages per period a handler processes |
//! | [`DedupLayer`] | skips messages the handler already processed (best effort) |
//! | [`InstrumentLayer`] | a `tracing` span and `metrics` per message |
//!
//! A typical stack, outermost first:
//!
//! ```
//! use std::time::Duration;
//! use mq::backend::memory::MemoryBroker;
//! use mq::middleware::{
//!     CorrelationIdLayer, InstrumentLayer, PoisonQueueLayer, RecoverLayer, RetryLayer,
//!     RetryPolicy, TimeoutLayer,
//! };
//! use mq::{Router, RouterConfig};
//!
//! let broker = MemoryBroker::default();
//! let mut router = Router::new(RouterConfig::default());
//! router
//!     .layer(InstrumentLayer::new())
//!     .layer(CorrelationIdLayer::new())
//!     // after the retries, a failing message goes to "poison" and is acknowledged
//!     .layer(PoisonQueueLayer::new(broker.clone(), "poison"))
//!     .layer(RetryLayer::new(RetryPolicy::default().max_attempts(5)))
//!     // each attempt: a panic or a timeout is an ordinary (transient) error
//!     .layer(RecoverLayer::new())
//!     .layer(TimeoutLayer::new(Duration::from_secs(10)));
//! ```

mod correlation;
mod dedup;
mod instrument;
mod poison;
mod recover;
mod retry;
mod throttle;
mod timeout;

pub use correlation::{CorrelationId, CorrelationIdLayer};
pub use dedup::{Dedup, DedupError, DedupLayer, DedupStore, MemoryDedupStore};
pub use instrument::{InstrumentLayer, Instrumented};
pub use poison::{Poison, PoisonQueueLayer, TooManyDeliveries};
pub use recover::{HandlerPanicked, Recover, RecoverLayer};
pub use retry::{RetriesExhausted, Retry, RetryInterrupted, RetryLayer, RetryPolicy};
pub use throttle::{InvalidThrottle, Throttle, ThrottleLayer};
pub use timeout::{HandlerTimedOut, Timeout, TimeoutLayer};

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::backend::memory::MemoryBroker;
    use crate::handler::{BoxHandler, Handler};
    use crate::Layer;

    /// What `Router::layer` and `HandlerSpec::layer` ask of a layer.
    fn router_layer<L>(layer: L) -> L
    where
        L: Layer<BoxHandler> + Send + Sync + 'static,
        L::Service: Handler,
    {
        layer
    }

    #[test]
    fn every_layer_fits_a_router() {
        let broker = MemoryBroker::default();
        let layers = (
            router_layer(PoisonQueueLayer::new(broker, "poison")),
            router_layer(RetryLayer::new(RetryPolicy::default())),
            router_layer(RecoverLayer::new()),
            router_layer(TimeoutLayer::new(Duration::from_secs(1))),
            router_layer(CorrelationIdLayer::new()),
            router_layer(ThrottleLayer::per_second(10).expect("10 per second")),
            router_layer(DedupLayer::new(
                MemoryDedupStore::default(),
                Duration::from_secs(1),
            )),
            router_layer(InstrumentLayer::new()),
        );
        // Every layer prints something useful.
        assert!(format!("{layers:?}").contains("poison"));
    }
}
