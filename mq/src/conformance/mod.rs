//! The conformance suite every backend runs (feature `conformance`).
//!
//! Like Watermill's pub/sub test suite: one set of behavioural tests that any
//! [`Publisher`]/[`Subscriber`] pair must pass before it is called a backend of this
//! crate. The suite checks the contract written on [`Publisher`], [`Subscriber`],
//! [`Subscription`](crate::Subscription) and [`Delivery`](crate::Delivery):
//!
//! | test | what it checks |
//! |---|---|
//! | [`publish_subscribe`] | many messages all arrive once, with id, key, metadata and payload intact |
//! | [`per_key_order`] | interleaved keys handled concurrently across lanes: every key in publish order |
//! | [`consumer_groups_each_get_all`] | two groups of one topic each get every message |
//! | [`consumer_group_members_split`] | two members of one group share the messages: each handled by exactly one member, per-key order kept |
//! | [`nack_redelivery`] | a rejected message comes back with the same id and a higher attempt, before anything behind it in its lane, after a delay (no hot loop) |
//! | [`rejection_rewinds_lane`] | deliveries of a lane handed out after a rejected one become stale; settling them changes nothing; the lane comes back from the rejected message, in order |
//! | [`drop_is_nack`] | dropping an unsettled delivery rejects it: it is delivered again |
//! | [`ack_is_final`] | an acknowledged message is never delivered to the group again, not even to a new member |
//! | [`close_and_resume`] | after a member closes, a new member of the group gets exactly what was not acknowledged |
//! | [`concurrent_publishers`] | publishers racing each other lose nothing and keep each one's key order |
//! | [`empty_and_large_payloads`] | an empty and a 1 MiB payload round-trip |
//! | [`many_topics`] | fifty topics at once, each subscriber gets only its own topic's messages |
//! | [`invalid_names`] | bad topic and group names fail with [`Error::InvalidName`] and change nothing |
//!
//! Every test creates its own topics and groups with a unique (UUID) suffix, so the
//! tests can run at the same time against one shared broker (a developer's Redis or
//! Kafka) without seeing each other's messages. Timeouts in the suite are upper bounds,
//! never synchronisation: a passing test never waits for one, except where it must
//! show that something does *not* happen (a redelivery of an acknowledged message),
//! which it watches for a [`Features::quiet_period`], or where a backend may or may
//! not do something (hand out a second batch of a lane before the first is settled).
//!
//! # Running the suite for a backend
//!
//! Implement [`Backend`]: [`Backend::connect`] returns a publisher and a subscriber
//! connected to the backend under test. Tests call it once, or twice when they need a
//! second client (a new group member after a close); every call must reach the same
//! broker. Describe the backend's timing with [`Features`], then either run every test
//! from one `#[tokio::test]` with [`run_all`], or generate one test function per
//! conformance test with [`conformance_tests!`](crate::conformance_tests) (they then
//! run in parallel and fail separately).
//!
//! ```no_run
//! # #[cfg(feature = "memory")]
//! # mod example {
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use mq::backend::memory::{MemoryBroker, MemoryConfig};
//! use mq::conformance::{run_all, Backend, Features};
//! use mq::{Error, Publisher, Subscriber};
//!
//! /// The backend under test: every `connect` reaches the same broker.
//! struct Memory(MemoryBroker);
//!
//! #[async_trait::async_trait]
//! impl Backend for Memory {
//!     async fn connect(&self) -> Result<(Arc<dyn Publisher>, Arc<dyn Subscriber>), Error> {
//!         Ok((Arc::new(self.0.clone()), Arc::new(self.0.clone())))
//!     }
//!     // A backend whose topics must exist first (Kafka) also implements `create_topic`.
//! }
//!
//! fn backend() -> Memory {
//!     Memory(MemoryBroker::new(MemoryConfig {
//!         redelivery_delay: Duration::from_millis(10),
//!         ..MemoryConfig::default()
//!     }))
//! }
//!
//! fn features() -> Features {
//!     Features::default()
//!         .with_redelivery_delay(Duration::from_millis(10))
//!         .with_quiet_period(Duration::from_millis(100))
//! }
//!
//! // One test running the whole suite, reporting every failure at once:
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn conformance() {
//!     let report = run_all(&backend(), &features()).await;
//!     assert!(report.passed(), "{report}");
//! }
//!
//! // Or one `#[tokio::test]` per conformance test (the expressions are evaluated in each):
//! mod each {
//!     mq::conformance_tests!(super::backend(), super::features());
//! }
//! # }
//! # fn main() {}
//! ```

mod error;
mod groups;
mod names;
mod ordering;
mod pubsub;
mod redelivery;
mod support;

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;

pub use error::ConformanceError;
pub use groups::{consumer_group_members_split, consumer_groups_each_get_all};
pub use names::invalid_names;
pub use ordering::per_key_order;
pub use pubsub::{concurrent_publishers, empty_and_large_payloads, many_topics, publish_subscribe};
pub use redelivery::{
    ack_is_final, close_and_resume, drop_is_nack, nack_redelivery, rejection_rewinds_lane,
};

use crate::error::Error;
use crate::publisher::Publisher;
use crate::subscriber::Subscriber;

/// A backend under test: hands out clients connected to one broker.
#[async_trait]
pub trait Backend: Send + Sync {
    /// A publisher and a subscriber connected to the broker under test.
    ///
    /// Called at least once per test, and again when a test needs a second client
    /// (for example a new member of a group after the first one closed). Every call
    /// must reach the same broker; returning the same shared client each time is fine.
    async fn connect(&self) -> Result<(Arc<dyn Publisher>, Arc<dyn Subscriber>), Error>;

    /// Creates `topic` with `partitions` partitions before a test uses it. Backends
    /// that create topics on first use (in-memory, Redis) keep this no-op default;
    /// Kafka without auto-creation implements it.
    async fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), Error> {
        let _ = (topic, partitions);
        Ok(())
    }
}

#[async_trait]
impl<B: Backend + ?Sized> Backend for Arc<B> {
    async fn connect(&self) -> Result<(Arc<dyn Publisher>, Arc<dyn Subscriber>), Error> {
        (**self).connect().await
    }

    async fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), Error> {
        (**self).create_topic(topic, partitions).await
    }
}

/// What a backend declares about itself, so the suite knows how long to wait.
///
/// Build it from [`Features::default`] with the `with_*` methods:
///
/// ```
/// use std::time::Duration;
/// use mq::conformance::Features;
///
/// let features = Features::default()
///     .with_redelivery_delay(Duration::from_secs(1))
///     .with_receive_timeout(Duration::from_secs(30))
///     .with_partitions(8);
/// assert_eq!(features.partitions, 8);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Features {
    /// How long the backend waits after a rejection before delivering the message
    /// again (the in-memory backend's `redelivery_delay`, Redis' claim idle time).
    /// The suite expects a redelivery no sooner than half of it, and counts
    /// redeliveries against it to detect a hot loop. Default 100 ms.
    pub redelivery_delay: Duration,
    /// The longest the suite waits for an expected delivery (without progress) before
    /// failing. An upper bound only: healthy backends never reach it. Default 10 s.
    pub receive_timeout: Duration,
    /// How long the suite watches for a delivery that must not happen (a duplicate, a
    /// redelivery of an acknowledged message). At least three redelivery delays are
    /// used whatever this says. Default 500 ms.
    pub quiet_period: Duration,
    /// The partition count passed to [`Backend::create_topic`]. Default 16.
    pub partitions: u32,
    /// How many messages the throughput-style tests publish. Default 1000.
    pub messages: usize,
    /// The size of the large payload in [`empty_and_large_payloads`]. Default 1 MiB.
    pub large_payload: usize,
    /// Upper bound for one whole test in [`run_all`] and [`conformance_tests!`](crate::conformance_tests).
    /// Default 120 s.
    pub test_timeout: Duration,
    /// Whether a member joining a group mid-stream may make messages the old owner of a
    /// moved lane had in flight be handled again by the new owner (Kafka's eager
    /// rebalance: acknowledgements of a revoked partition are dropped). At-least-once
    /// allows it; when true, [`consumer_group_members_split`] accepts such duplicates
    /// (still requiring every message, and per-key order of first handlings) and only
    /// reports their number. Default false: each message handled by exactly one member.
    pub rebalance_duplicates: bool,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            redelivery_delay: Duration::from_millis(100),
            receive_timeout: Duration::from_secs(10),
            quiet_period: Duration::from_millis(500),
            partitions: 16,
            messages: 1000,
            large_payload: 1024 * 1024,
            test_timeout: Duration::from_secs(120),
            rebalance_duplicates: false,
        }
    }
}

impl Features {
    /// Sets [`Features::redelivery_delay`].
    #[must_use]
    pub fn with_redelivery_delay(mut self, delay: Duration) -> Self {
        self.redelivery_delay = delay;
        self
    }

    /// Sets [`Features::receive_timeout`].
    #[must_use]
    pub fn with_receive_timeout(mut self, timeout: Duration) -> Self {
        self.receive_timeout = timeout;
        self
    }

    /// Sets [`Features::quiet_period`].
    #[must_use]
    pub fn with_quiet_period(mut self, period: Duration) -> Self {
        self.quiet_period = period;
        self
    }

    /// Sets [`Features::partitions`].
    #[must_use]
    pub fn with_partitions(mut self, partitions: u32) -> Self {
        self.partitions = partitions;
        self
    }

    /// Sets [`Features::messages`].
    #[must_use]
    pub fn with_messages(mut self, messages: usize) -> Self {
        self.messages = messages;
        self
    }

    /// Sets [`Features::large_payload`].
    #[must_use]
    pub fn with_large_payload(mut self, bytes: usize) -> Self {
        self.large_payload = bytes;
        self
    }

    /// Sets [`Features::test_timeout`].
    #[must_use]
    pub fn with_test_timeout(mut self, timeout: Duration) -> Self {
        self.test_timeout = timeout;
        self
    }

    /// Sets [`Features::rebalance_duplicates`].
    #[must_use]
    pub fn with_rebalance_duplicates(mut self, allowed: bool) -> Self {
        self.rebalance_duplicates = allowed;
        self
    }

    /// How long to watch for something that must not happen.
    pub(crate) fn quiet(&self) -> Duration {
        self.quiet_period
            .max(self.redelivery_delay.saturating_mul(3))
    }

    /// The longest a rejected message may take to come back.
    pub(crate) fn redelivery_bound(&self) -> Duration {
        self.receive_timeout
            .saturating_add(self.redelivery_delay.saturating_mul(5))
    }
}

/// The future of one conformance test.
pub type TestFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ConformanceError>> + Send + 'a>>;

type TestFn = for<'a> fn(&'a dyn Backend, &'a Features) -> TestFuture<'a>;

/// One test of the suite, by name; see [`tests`].
#[derive(Clone, Copy)]
pub struct TestCase {
    name: &'static str,
    run: TestFn,
}

impl TestCase {
    /// The test's name (the name of its function in this module).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the test against `backend`, bounded by [`Features::test_timeout`]; a panic
    /// inside the test or the backend is reported as [`ConformanceError::Panicked`].
    pub async fn run(
        &self,
        backend: &dyn Backend,
        features: &Features,
    ) -> Result<(), ConformanceError> {
        let test = AssertUnwindSafe((self.run)(backend, features)).catch_unwind();
        match tokio::time::timeout(features.test_timeout, test).await {
            Err(_) => Err(ConformanceError::Timeout {
                waiting_for: format!("the whole test {} to finish", self.name),
                after: features.test_timeout,
            }),
            Ok(Err(panic)) => Err(ConformanceError::Panicked(panic_message(panic.as_ref()))),
            Ok(Ok(outcome)) => outcome,
        }
    }
}

impl fmt::Debug for TestCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCase")
            .field("name", &self.name)
            .finish()
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        &[$(TestCase { name: stringify!($name), run: |b, f| Box::pin($name(b, f)) }),*]
    };
}

static TESTS: &[TestCase] = cases![
    publish_subscribe,
    per_key_order,
    consumer_groups_each_get_all,
    consumer_group_members_split,
    nack_redelivery,
    rejection_rewinds_lane,
    drop_is_nack,
    ack_is_final,
    close_and_resume,
    concurrent_publishers,
    empty_and_large_payloads,
    many_topics,
    invalid_names,
];

/// Every test of the suite, in the order [`run_all`] runs them.
pub fn tests() -> &'static [TestCase] {
    TESTS
}

/// Runs every test of the suite against `backend`, one after another, and reports
/// which passed and which failed (with why). A failing test does not stop the others.
pub async fn run_all(backend: &dyn Backend, features: &Features) -> Report {
    let mut results = Vec::with_capacity(TESTS.len());
    for case in TESTS {
        let started = std::time::Instant::now();
        let outcome = case.run(backend, features).await;
        let elapsed = started.elapsed();
        match &outcome {
            Ok(()) => tracing::info!(test = case.name, ?elapsed, "conformance test passed"),
            Err(err) => {
                tracing::warn!(test = case.name, ?elapsed, error = %err, "conformance test failed");
            }
        }
        results.push(TestResult {
            name: case.name,
            outcome,
            elapsed,
        });
    }
    Report { results }
}

/// The outcome of one test in a [`Report`].
#[derive(Debug)]
pub struct TestResult {
    /// The test's name.
    pub name: &'static str,
    /// `Ok` if it passed, or what went wrong.
    pub outcome: Result<(), ConformanceError>,
    /// How long it ran.
    pub elapsed: Duration,
}

/// What [`run_all`] found. Its `Display` lists every test with its outcome.
#[derive(Debug)]
pub struct Report {
    /// One entry per test, in the order run.
    pub results: Vec<TestResult>,
}

impl Report {
    /// True when every test passed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.outcome.is_ok())
    }

    /// The tests that failed.
    pub fn failures(&self) -> impl Iterator<Item = &TestResult> {
        self.results.iter().filter(|r| r.outcome.is_err())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.failures().count();
        writeln!(
            f,
            "conformance: {} passed, {failed} failed",
            self.results.len() - failed
        )?;
        for r in &self.results {
            match &r.outcome {
                Ok(()) => writeln!(f, "  ok     {} ({:?})", r.name, r.elapsed)?,
                Err(err) => writeln!(f, "  FAILED {} ({:?}): {err}", r.name, r.elapsed)?,
            }
        }
        Ok(())
    }
}

/// Generates one `#[tokio::test]` per conformance test, each running against a backend
/// built by `$backend` with the [`Features`] built by `$features` (both expressions
/// are evaluated inside every test). The calling crate needs `tokio` (with the `macros`
/// and `rt-multi-thread` features) among its (dev-)dependencies.
///
/// ```no_run
/// # #[cfg(feature = "memory")]
/// # mod example {
/// # use std::sync::Arc;
/// # use mq::{Error, Publisher, Subscriber};
/// # struct MyBackend(mq::backend::memory::MemoryBroker);
/// # #[async_trait::async_trait]
/// # impl mq::conformance::Backend for MyBackend {
/// #     async fn connect(&self) -> Result<(Arc<dyn Publisher>, Arc<dyn Subscriber>), Error> {
/// #         Ok((Arc::new(self.0.clone()), Arc::new(self.0.clone())))
/// #     }
/// # }
/// # fn my_backend() -> MyBackend { MyBackend(Default::default()) }
/// mod conformance {
///     mq::conformance_tests!(super::my_backend(), mq::conformance::Features::default());
/// }
/// # }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr, $features:expr $(,)?) => {
        $crate::__conformance_tests!(
            $backend,
            $features;
            publish_subscribe,
            per_key_order,
            consumer_groups_each_get_all,
            consumer_group_members_split,
            nack_redelivery,
            rejection_rewinds_lane,
            drop_is_nack,
            ack_is_final,
            close_and_resume,
            concurrent_publishers,
            empty_and_large_payloads,
            many_topics,
            invalid_names,
        );
    };
}

/// Implementation detail of [`conformance_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($backend:expr, $features:expr; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let backend = $backend;
                let features = $features;
                let case = $crate::conformance::tests()
                    .iter()
                    .find(|case| case.name() == ::std::stringify!($name));
                let ::std::option::Option::Some(case) = case else {
                    ::std::panic!("no conformance test named {}", ::std::stringify!($name));
                };
                if let ::std::result::Result::Err(err) = case.run(&backend, &features).await {
                    ::std::panic!("conformance test {} failed: {}", ::std::stringify!($name), err);
                }
            }
        )*
    };
}
