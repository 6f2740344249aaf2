//! The conformance suite on the in-memory backend: once as one test through
//! `run_all` (one report for every test) and once as one `#[tokio::test]` per
//! conformance test, all sharing nothing but the process.

use std::sync::Arc;
use std::time::Duration;

use mq::backend::memory::{MemoryBroker, MemoryConfig};
use mq::conformance::{run_all, tests, Backend, Features};
use mq::{Error, Publisher, Subscriber};

/// The backend under test: every `connect` reaches the same broker.
struct Memory(MemoryBroker);

#[async_trait::async_trait]
impl Backend for Memory {
    async fn connect(&self) -> Result<(Arc<dyn Publisher>, Arc<dyn Subscriber>), Error> {
        Ok((Arc::new(self.0.clone()), Arc::new(self.0.clone())))
    }
}

const REDELIVERY_DELAY: Duration = Duration::from_millis(10);

fn backend() -> Memory {
    Memory(MemoryBroker::new(MemoryConfig {
        redelivery_delay: REDELIVERY_DELAY,
        ..MemoryConfig::default()
    }))
}

fn features() -> Features {
    Features::default()
        .with_redelivery_delay(REDELIVERY_DELAY)
        .with_quiet_period(Duration::from_millis(100))
        .with_test_timeout(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_on_one_shared_broker() {
    let report = run_all(&backend(), &features()).await;
    eprintln!("{report}");
    assert_eq!(report.results.len(), tests().len());
    assert!(report.passed(), "{report}");
}

/// Small partition counts make lanes shared by many keys, and one partition makes
/// everything one lane.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_with_few_partitions() {
    for partitions in [1, 3] {
        let backend = Memory(MemoryBroker::new(MemoryConfig {
            partitions,
            redelivery_delay: REDELIVERY_DELAY,
            ..MemoryConfig::default()
        }));
        let report = run_all(&backend, &features().with_messages(300)).await;
        assert!(report.passed(), "{partitions} partitions: {report}");
    }
}

mod each {
    mq::conformance_tests!(super::backend(), super::features());
}

/// The suite must be able to fail: backends with one deliberate defect each, wrapped
/// around the in-memory broker, fail the tests that check the broken promise.
mod mutants {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use async_trait::async_trait;
    use mq::backend::memory::{MemoryBroker, MemoryConfig};
    use mq::backend::partition_for_key;
    use mq::conformance::{tests, Backend, ConformanceError, Features};
    use mq::{
        AckToken, Acknowledger, Batch, Delivery, Error, Message, Publisher, Subscriber,
        Subscription,
    };

    /// One defect per field; the default is a faithful wrapper.
    #[derive(Clone, Default)]
    struct Defects {
        /// Silently lose every n-th published message.
        drop_every: Option<usize>,
        /// Deliver messages without their metadata.
        strip_metadata: bool,
        /// Store each publish call's messages in reverse order.
        reverse_calls: bool,
        /// Cut payloads to this many bytes.
        truncate_payloads: Option<usize>,
        /// Map every topic to one of this many underlying topics.
        topic_buckets: Option<u32>,
        /// Put every subscriber in one group, whatever it asked for.
        one_group: bool,
        /// Put every subscription in a group of its own.
        private_groups: bool,
        /// Trim spaces and drop '/', '*' and ':' from names instead of rejecting them.
        sanitize_names: bool,
        /// Turn rejections into acknowledgements.
        nack_is_ack: bool,
        /// Turn acknowledgements into rejections.
        ack_is_nack: bool,
        /// Report every delivery as the first attempt.
        attempt_always_one: bool,
        /// Acknowledge everything still held when a subscription closes.
        close_acks_held: bool,
        /// Never report a delivery as stale.
        never_stale: bool,
        /// Acknowledge a rejected message and publish it again at the end of its topic.
        nack_requeues: bool,
    }

    struct Mutant {
        broker: MemoryBroker,
        defects: Defects,
        published: Arc<AtomicUsize>,
        subscriptions: Arc<AtomicUsize>,
    }

    impl Mutant {
        fn new(defects: Defects) -> Self {
            Self::with_config(defects, Duration::from_millis(10))
        }

        fn with_config(defects: Defects, redelivery_delay: Duration) -> Self {
            Self {
                broker: MemoryBroker::new(MemoryConfig {
                    redelivery_delay,
                    ..MemoryConfig::default()
                }),
                defects,
                published: Arc::default(),
                subscriptions: Arc::default(),
            }
        }
    }

    fn rename(defects: &Defects, name: &str) -> String {
        let mut name = name.to_owned();
        if defects.sanitize_names {
            name = name
                .trim()
                .chars()
                .filter(|c| !matches!(c, '/' | '*' | ':'))
                .collect();
        }
        if let Some(buckets) = defects.topic_buckets {
            name = format!("bucket-{}", partition_for_key(&name, buckets));
        }
        name
    }

    #[async_trait]
    impl Backend for Mutant {
        async fn connect(&self) -> Result<(Arc<dyn Publisher>, Arc<dyn Subscriber>), Error> {
            let publisher = MutantPublisher {
                broker: self.broker.clone(),
                defects: self.defects.clone(),
                published: Arc::clone(&self.published),
            };
            let subscriber = MutantSubscriber {
                broker: self.broker.clone(),
                defects: self.defects.clone(),
                subscriptions: Arc::clone(&self.subscriptions),
            };
            Ok((Arc::new(publisher), Arc::new(subscriber)))
        }
    }

    struct MutantPublisher {
        broker: MemoryBroker,
        defects: Defects,
        published: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl Publisher for MutantPublisher {
        async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), Error> {
            let d = &self.defects;
            let mut out = Vec::with_capacity(messages.len());
            for mut msg in messages {
                let n = self.published.fetch_add(1, Ordering::Relaxed) + 1;
                if d.drop_every.is_some_and(|every| n.is_multiple_of(every)) {
                    continue;
                }
                if d.strip_metadata {
                    let keys: Vec<String> =
                        msg.metadata().iter().map(|(k, _)| k.to_owned()).collect();
                    for k in keys {
                        msg.metadata_mut().remove(&k);
                    }
                }
                if let Some(max) = d.truncate_payloads {
                    let cut = msg.payload().slice(..msg.payload().len().min(max));
                    msg.set_payload(cut);
                }
                out.push(msg);
            }
            if d.reverse_calls {
                out.reverse();
            }
            self.broker.publish(&rename(d, topic), out).await
        }
    }

    struct MutantSubscriber {
        broker: MemoryBroker,
        defects: Defects,
        subscriptions: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl Subscriber for MutantSubscriber {
        async fn subscribe(
            &self,
            topic: &str,
            group: &str,
        ) -> Result<Box<dyn Subscription>, Error> {
            let d = &self.defects;
            let n = self.subscriptions.fetch_add(1, Ordering::Relaxed);
            let group = if d.one_group {
                "everyone".to_owned()
            } else if d.private_groups {
                format!("{}-{n}", rename(d, group))
            } else {
                rename(d, group)
            };
            let inner = self.broker.subscribe(&rename(d, topic), &group).await?;
            Ok(Box::new(MutantSubscription {
                inner,
                relay: Arc::new(Relay {
                    held: Mutex::default(),
                    defects: d.clone(),
                    requeue: (self.broker.clone(), rename(d, topic)),
                }),
            }))
        }
    }

    struct MutantSubscription {
        inner: Box<dyn Subscription>,
        relay: Arc<Relay>,
    }

    /// Settles the wrapped deliveries, wrongly if asked to.
    struct Relay {
        held: Mutex<HashMap<AckToken, Delivery>>,
        defects: Defects,
        requeue: (MemoryBroker, String),
    }

    impl Relay {
        fn take(&self, token: AckToken) -> Option<Delivery> {
            self.held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&token)
        }
    }

    impl Acknowledger for Relay {
        fn ack(&self, token: AckToken) {
            if let Some(d) = self.take(token) {
                if self.defects.ack_is_nack {
                    d.nack();
                } else {
                    d.ack();
                }
            }
        }

        fn nack(&self, token: AckToken) {
            if let Some(d) = self.take(token) {
                if self.defects.nack_requeues {
                    let (broker, topic) = self.requeue.clone();
                    let msg = d.message().clone();
                    d.ack();
                    tokio::spawn(async move { broker.publish(&topic, vec![msg]).await });
                } else if self.defects.nack_is_ack {
                    d.ack();
                } else {
                    d.nack();
                }
            }
        }

        fn is_stale(&self, token: AckToken) -> bool {
            if self.defects.never_stale {
                return false;
            }
            self.held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&token)
                .is_some_and(Delivery::is_stale)
        }
    }

    #[async_trait]
    impl Subscription for MutantSubscription {
        async fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, Error> {
            let Some(batch) = self.inner.next_batch(max).await? else {
                return Ok(None);
            };
            let mut deliveries = Vec::with_capacity(batch.deliveries.len());
            for inner in batch.deliveries {
                let Some(token) = inner.token() else { continue };
                let attempt = if self.relay.defects.attempt_always_one {
                    1
                } else {
                    inner.attempt()
                };
                let msg = inner.message().clone();
                self.relay
                    .held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(token, inner);
                let relay: Arc<dyn Acknowledger> = Arc::clone(&self.relay) as _;
                deliveries.push(Delivery::new(msg, attempt, relay, token));
            }
            Ok(Some(Batch {
                lane: batch.lane,
                deliveries,
            }))
        }

        async fn close(&mut self) -> Result<(), Error> {
            if self.relay.defects.close_acks_held {
                let held: Vec<Delivery> = self
                    .relay
                    .held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .drain()
                    .map(|(_, d)| d)
                    .collect();
                held.into_iter().for_each(Delivery::ack);
            }
            self.inner.close().await
        }
    }

    fn features() -> Features {
        Features::default()
            .with_redelivery_delay(Duration::from_millis(10))
            .with_quiet_period(Duration::from_millis(100))
            .with_receive_timeout(Duration::from_secs(1))
            .with_messages(200)
            .with_test_timeout(Duration::from_secs(30))
    }

    /// Runs the named tests against `backend`: each must fail.
    async fn must_fail(backend: &Mutant, features: &Features, names: &[&str]) {
        for name in names {
            let case = tests().iter().find(|c| c.name() == *name);
            let Some(case) = case else {
                panic!("no conformance test named {name}");
            };
            let outcome: Result<(), ConformanceError> = case.run(backend, features).await;
            match outcome {
                Ok(()) => panic!("{name} passed against a broken backend"),
                Err(err) => eprintln!("{name} failed as it should: {err}"),
            }
        }
    }

    /// The wrapper without defects passes everything (so the failures below come from
    /// the defects, not the wrapper).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn faithful_wrapper_passes() {
        let report = mq::conformance::run_all(&Mutant::new(Defects::default()), &features()).await;
        assert!(report.passed(), "{report}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn losing_messages_fails() {
        let backend = Mutant::new(Defects {
            drop_every: Some(97),
            ..Defects::default()
        });
        must_fail(
            &backend,
            &features(),
            &[
                "publish_subscribe",
                "per_key_order",
                "consumer_groups_each_get_all",
                "concurrent_publishers",
            ],
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn changing_messages_fails() {
        let stripped = Mutant::new(Defects {
            strip_metadata: true,
            ..Defects::default()
        });
        must_fail(&stripped, &features(), &["publish_subscribe"]).await;
        let truncated = Mutant::new(Defects {
            truncate_payloads: Some(64 * 1024),
            ..Defects::default()
        });
        must_fail(&truncated, &features(), &["empty_and_large_payloads"]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reordering_fails() {
        let backend = Mutant::new(Defects {
            reverse_calls: true,
            ..Defects::default()
        });
        must_fail(
            &backend,
            &features(),
            &[
                "publish_subscribe",
                "per_key_order",
                "consumer_group_members_split",
                "concurrent_publishers",
            ],
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn mixing_topics_fails() {
        let backend = Mutant::new(Defects {
            topic_buckets: Some(4),
            ..Defects::default()
        });
        must_fail(&backend, &features(), &["many_topics"]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn ignoring_groups_fails() {
        let shared = Mutant::new(Defects {
            one_group: true,
            ..Defects::default()
        });
        must_fail(&shared, &features(), &["consumer_groups_each_get_all"]).await;
        let private = Mutant::new(Defects {
            private_groups: true,
            ..Defects::default()
        });
        // (The in-memory broker trims what every group acknowledged, so a private group
        // joining later cannot see acknowledged messages: only the split shows it.)
        must_fail(&private, &features(), &["consumer_group_members_split"]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn wrong_settling_fails() {
        let nack_is_ack = Mutant::new(Defects {
            nack_is_ack: true,
            ..Defects::default()
        });
        must_fail(
            &nack_is_ack,
            &features(),
            &["nack_redelivery", "drop_is_nack"],
        )
        .await;
        let ack_is_nack = Mutant::new(Defects {
            ack_is_nack: true,
            ..Defects::default()
        });
        must_fail(
            &ack_is_nack,
            &features(),
            &["ack_is_final", "publish_subscribe", "close_and_resume"],
        )
        .await;
        let first_attempt = Mutant::new(Defects {
            attempt_always_one: true,
            ..Defects::default()
        });
        must_fail(
            &first_attempt,
            &features(),
            &["nack_redelivery", "drop_is_nack"],
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn losing_held_messages_on_close_fails() {
        let backend = Mutant::new(Defects {
            close_acks_held: true,
            ..Defects::default()
        });
        must_fail(&backend, &features(), &["close_and_resume"]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn not_rewinding_fails() {
        let never_stale = Mutant::new(Defects {
            never_stale: true,
            ..Defects::default()
        });
        must_fail(&never_stale, &features(), &["rejection_rewinds_lane"]).await;
        let requeue = Mutant::new(Defects {
            nack_requeues: true,
            ..Defects::default()
        });
        must_fail(
            &requeue,
            &features(),
            &["nack_redelivery", "rejection_rewinds_lane", "drop_is_nack"],
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redelivering_at_once_fails() {
        // Declares 10 ms but redelivers immediately: a hot loop.
        let backend = Mutant::with_config(Defects::default(), Duration::ZERO);
        must_fail(&backend, &features(), &["nack_redelivery"]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn accepting_bad_names_fails() {
        let backend = Mutant::new(Defects {
            sanitize_names: true,
            ..Defects::default()
        });
        must_fail(&backend, &features(), &["invalid_names"]).await;
    }
}
