//! # mq: a Watermill-style messaging SDK
//!
//! Messages ([`Message`]: id, key, metadata, payload), [`Publisher`]s and
//! [`Subscriber`]s over pluggable backends, and a [`Router`] that runs [`Handler`]s
//! wrapped in middleware (retry with backoff, poison queue, panic recovery, timeout,
//! correlation id, throttle, dedup, metrics and tracing), with bounded per-lane
//! concurrency and graceful shutdown.
//!
//! ## Delivery semantics
//!
//! - **At least once.** A message whose `publish` returned `Ok` is delivered to every
//!   consumer group of its topic until a member acknowledges it. The router acknowledges
//!   only after the handler succeeded *and* its output was published; a failure, a
//!   panic, a timeout, a crash or a shutdown mid-way means the message is delivered
//!   again. Handlers must therefore be idempotent (the [`middleware::DedupLayer`] helps).
//! - **Per-key order.** Messages with the same [`Message::key`] go to the same lane
//!   (partition) and are handled one after another, in publish order, also across
//!   redeliveries: a rejected message rewinds its lane, so nothing after it is handled
//!   before it.
//! - **Consumer groups.** Every group gets every message; inside a group each message
//!   goes to one member at a time.
//! - **Poison messages never block a lane** when the [`middleware::PoisonQueueLayer`] is
//!   installed: after its retries a failing message is published to the poison topic
//!   with metadata saying why, from where, by which handler and after how many attempts,
//!   and acknowledged. [`poison::PoisonQueue`] lists and replays them.
//!
//! ## Backends
//!
//! | feature | backend | durability | lanes (per-key order) |
//! |---|---|---|---|
//! | `memory` (default) | `backend::memory::MemoryBroker` | the process's lifetime | partitions of a topic, FNV-1a of the key |
//! | `redis` | `backend::redis::RedisBroker` | the Redis server's persistence | one stream per partition, leased to one member of a group at a time |
//! | `kafka` | `backend::kafka::KafkaBroker` | the Kafka cluster (idempotent producer, `acks=all`) | Kafka partitions, murmur2 of the key (the Java client's partitioner) |
//!
//! Every backend passes the same conformance suite (`mq::conformance`, feature
//! `conformance`), run in this repository against a real Redis and a real
//! Kafka-protocol broker.
//!
//! ## Example
//!
//! ```
//! use mq::backend::memory::MemoryBroker;
//! use mq::{consumer_fn, Message, Publisher, Router, RouterConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mq::Error> {
//! let broker = MemoryBroker::default();
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! let mut router = Router::new(RouterConfig::default());
//! router.consumer("printer", "greetings", broker.clone(), consumer_fn(move |msg: Message| {
//!     let tx = tx.clone();
//!     async move {
//!         tx.send(String::from_utf8_lossy(msg.payload()).into_owned()).ok();
//!         Ok(())
//!     }
//! }));
//! let handle = router.handle();
//! let task = tokio::spawn(router.run());
//! broker.publish("greetings", vec![Message::new("hello")]).await?;
//! assert_eq!(rx.recv().await.as_deref(), Some("hello"));
//! handle.shutdown();
//! task.await.expect("router task")?;
//! # Ok(()) }
//! ```

pub mod backend;
mod batch;
mod codec;
mod delivery;
mod error;
mod handler;
mod message;
pub mod middleware;
pub mod poison;
mod publisher;
mod router;
mod subscriber;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use batch::{BatchFailure, BatchHandler};
pub use codec::{CONTENT_TYPE, JSON};
pub use delivery::{AckToken, Acknowledger, Batch, Delivery};
pub use error::{validate_name, CodecError, Error};
pub use handler::{
    consumer_fn, handler_fn, json_consumer_fn, BoxHandler, ConsumerFn, Handler, HandlerContext,
    HandlerError, HandlerFn, JsonConsumerFn,
};
pub use message::{keys, Message, Metadata};
pub use publisher::Publisher;
pub use router::{FetchFailure, HandlerSpec, Router, RouterConfig, RouterHandle};
pub use subscriber::{Subscriber, Subscription};

pub use tower::Layer;
