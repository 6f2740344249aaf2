//! The Kafka backend, on rdkafka (librdkafka bundled and built from source, so no system
//! library is needed or used).
//!
//! # Producing
//! An idempotent producer with `acks=all`: `publish` returns once every record is
//! acknowledged by all in-sync replicas, and retries inside librdkafka never duplicate or
//! reorder. Records are partitioned by key with librdkafka's `murmur2_random`
//! partitioner, the Java client's default, so Rust and JVM producers place a key on the
//! same partition; records without a key go to a random partition. The message id and
//! metadata travel as headers (`mq-id` and one header per entry).
//!
//! # Consuming
//! A subscription is one consumer in the Kafka consumer group named like the mq group;
//! a new group starts at the earliest retained offset. Each assigned partition is a lane,
//! delivered in offset order; the router handles lanes in parallel, each in order.
//! - An offset is stored only when it and every earlier offset of its partition were
//!   acknowledged; stored offsets are committed every `commit_interval`, before a
//!   partition is revoked, and on `close`. A crash re-delivers at most what was handled
//!   since the last commit; nothing is skipped.
//! - A rejection pauses the partition, and after `redelivery_delay` seeks it back to its
//!   oldest unacknowledged offset: the message and everything after it come again, in
//!   order. Other partitions keep flowing.
//! - On a rebalance, deliveries of revoked partitions become stale (the router skips
//!   them); the new owner starts at the committed offset.
//! - Delivery attempts are counted per member; after a crash the count starts again at 1.
//!
//! # Topics
//! Missing topics are created on first use with [`KafkaConfig::create_topics`] partitions
//! (brokers such as tansu do not create topics by themselves).

mod config;
mod context;
mod convert;
mod lanes;
mod subscription;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

pub use config::KafkaConfig;
use context::GroupContext;
use lanes::Lanes;
use subscription::KafkaSubscription;

use crate::error::{validate_name, Error};
use crate::message::Message;
use crate::publisher::Publisher;
use crate::subscriber::{Subscriber, Subscription};

pub(crate) fn kafka_error(err: &dyn fmt::Display) -> Error {
    Error::Backend {
        backend: "kafka",
        message: err.to_string(),
    }
}

/// A Kafka [`Publisher`] and [`Subscriber`]. Clones share the producer.
///
/// ```no_run
/// use mq::backend::kafka::{KafkaBroker, KafkaConfig};
/// use mq::{Message, Publisher};
///
/// # async fn demo() -> Result<(), mq::Error> {
/// let broker = KafkaBroker::connect(KafkaConfig::new("127.0.0.1:9092"))?;
/// broker.publish("orders", vec![Message::new("one").with_key("order-1")]).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KafkaBroker {
    config: Arc<KafkaConfig>,
    producer: FutureProducer,
    admin: Arc<AdminClient<DefaultClientContext>>,
    known_topics: Arc<Mutex<HashSet<String>>>,
}

impl fmt::Debug for KafkaBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaBroker")
            .field("config", &self.config)
            .finish()
    }
}

impl KafkaBroker {
    /// Creates the producer and admin client for the cluster in `config` (connections are
    /// made lazily and kept up by librdkafka).
    pub fn connect(config: KafkaConfig) -> Result<Self, Error> {
        config.validate()?;
        let producer: FutureProducer = Self::client_config(
            &config,
            &[
                ("enable.idempotence", "true".into()),
                ("acks", "all".into()),
                ("partitioner", "murmur2_random".into()),
                ("linger.ms", config.linger.as_millis().to_string()),
                (
                    "message.timeout.ms",
                    config.publish_timeout.as_millis().to_string(),
                ),
                ("message.max.bytes", config.max_message_bytes.to_string()),
            ],
        )
        .create()
        .map_err(|e| kafka_error(&e))?;
        let admin: AdminClient<DefaultClientContext> = Self::client_config(&config, &[])
            .create()
            .map_err(|e| kafka_error(&e))?;
        Ok(Self {
            config: Arc::new(config),
            producer,
            admin: Arc::new(admin),
            known_topics: Arc::default(),
        })
    }

    fn client_config(config: &KafkaConfig, ours: &[(&str, String)]) -> ClientConfig {
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", &config.brokers);
        // librdkafka leaves Nagle's algorithm on: a small request written while an
        // earlier one is unacknowledged waits for the broker's delayed ACK.
        cc.set("socket.nagle.disable", "true");
        for (k, v) in ours {
            cc.set(*k, v);
        }
        for (k, v) in &config.extra {
            cc.set(k, v);
        }
        cc
    }

    /// The settings in use.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Creates `topic` with `partitions` partitions unless it exists.
    /// Fails with [`Error::InvalidConfig`] when `partitions` is below 1, and within
    /// [`KafkaConfig::operation_timeout`] when no broker answers.
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), Error> {
        validate_name(topic)?;
        if partitions < 1 {
            return Err(Error::invalid_config(
                "partitions",
                format!("a topic needs at least 1 partition, not {partitions}"),
            ));
        }
        let new = NewTopic::new(
            topic,
            partitions,
            TopicReplication::Fixed(self.config.replication),
        );
        let timeout = Timeout::After(self.config.operation_timeout);
        let opts = AdminOptions::new()
            .operation_timeout(Some(timeout))
            .request_timeout(Some(timeout));
        // The admin request's own timeouts do not bound the wait for a first broker
        // connection: bound the whole call too.
        let results = tokio::time::timeout(
            self.config.operation_timeout,
            self.admin.create_topics([&new], &opts),
        )
        .await
        .map_err(|_| {
            kafka_error(&format!(
                "creating topic {topic}: no broker answered within {:?}",
                self.config.operation_timeout
            ))
        })?
        .map_err(|e| kafka_error(&e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(kafka_error(&format!("creating topic {name}: {code}")))
                }
            }
        }
        if let Ok(mut known) = self.known_topics.lock() {
            known.insert(topic.to_owned());
        }
        Ok(())
    }

    async fn ensure_topic(&self, topic: &str) -> Result<(), Error> {
        validate_name(topic)?;
        let Some(partitions) = self.config.create_topics else {
            return Ok(());
        };
        let known = self
            .known_topics
            .lock()
            .map(|k| k.contains(topic))
            .unwrap_or(false);
        if known {
            return Ok(());
        }
        self.create_topic(topic, partitions).await
    }

    fn enqueue(&self, topic: &str, msg: &Message) -> Result<DeliveryFuture, KafkaError> {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic)
            .payload(msg.payload().as_ref())
            .headers(convert::headers(msg));
        if let Some(key) = msg.key() {
            record = record.key(key.as_bytes());
        }
        self.producer.send_result(record).map_err(|(e, _)| e)
    }
}

#[async_trait]
impl Publisher for KafkaBroker {
    async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), Error> {
        validate_name(topic)?;
        if messages.is_empty() {
            return Ok(());
        }
        self.ensure_topic(topic).await?;
        // Enqueue everything first, then wait: awaiting each record before the next would
        // make every one wait out `linger.ms`.
        let mut pending: std::collections::VecDeque<DeliveryFuture> =
            std::collections::VecDeque::with_capacity(messages.len());
        for msg in &messages {
            loop {
                match self.enqueue(topic, msg) {
                    Ok(f) => {
                        pending.push_back(f);
                        break;
                    }
                    Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                        // The local queue is full: wait for the oldest delivery first.
                        match pending.pop_front() {
                            Some(f) => check(f.await)?,
                            None => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                        }
                    }
                    Err(e) => return Err(kafka_error(&e)),
                }
            }
        }
        for f in pending {
            check(f.await)?;
        }
        Ok(())
    }

    async fn close(&self) -> Result<(), Error> {
        let producer = self.producer.clone();
        let timeout = self.config.operation_timeout;
        tokio::task::spawn_blocking(move || producer.flush(Timeout::After(timeout)))
            .await
            .map_err(|e| kafka_error(&e))?
            .map_err(|e| kafka_error(&e))
    }
}

fn check(
    delivery: Result<
        rdkafka::producer::future_producer::OwnedDeliveryResult,
        futures::channel::oneshot::Canceled,
    >,
) -> Result<(), Error> {
    match delivery {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(kafka_error(&e)),
        Err(_) => Err(kafka_error(&"the producer was dropped before delivery")),
    }
}

#[async_trait]
impl Subscriber for KafkaBroker {
    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, Error> {
        validate_name(group)?;
        self.ensure_topic(topic).await?;
        let lanes = Arc::new(Lanes::default());
        let consumer: StreamConsumer<GroupContext> = Self::client_config(
            &self.config,
            &[
                ("group.id", group.to_owned()),
                ("enable.auto.commit", "true".into()),
                (
                    "auto.commit.interval.ms",
                    self.config.commit_interval.as_millis().to_string(),
                ),
                ("enable.auto.offset.store", "false".into()),
                ("auto.offset.reset", "earliest".into()),
                ("enable.partition.eof", "false".into()),
                (
                    "fetch.wait.max.ms",
                    self.config.fetch_wait.as_millis().max(1).to_string(),
                ),
                (
                    "session.timeout.ms",
                    self.config.session_timeout.as_millis().to_string(),
                ),
                (
                    "fetch.max.bytes",
                    (self.config.max_message_bytes.max(1_048_576) * 2).to_string(),
                ),
            ],
        )
        .create_with_context(GroupContext {
            lanes: Arc::clone(&lanes),
        })
        .map_err(|e| kafka_error(&e))?;
        consumer.subscribe(&[topic]).map_err(|e| kafka_error(&e))?;
        Ok(Box::new(KafkaSubscription::new(
            topic,
            Arc::clone(&self.config),
            Arc::new(consumer),
            lanes,
        )))
    }
}
