//! Settings of the Kafka backend.

use std::collections::BTreeMap;
use std::time::Duration;

/// How the Kafka backend produces, consumes and creates topics.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// Bootstrap servers, e.g. `127.0.0.1:9092`.
    pub brokers: String,
    /// Create missing topics on first use, with this many partitions (`None`: never
    /// create; the topic must exist). Default `Some(4)`.
    pub create_topics: Option<i32>,
    /// Replication factor of created topics. Default 1.
    pub replication: i32,
    /// How long the producer waits to fill a batch (`linger.ms`). Default 5 ms.
    pub linger: Duration,
    /// Consumer group session timeout: a crashed member's partitions move to a live one
    /// after at most this long. Default 10 s.
    pub session_timeout: Duration,
    /// How long a rejected message waits before it is delivered again. Default 100 ms.
    pub redelivery_delay: Duration,
    /// How often stored offsets are committed (`auto.commit.interval.ms`). Default 500 ms.
    pub commit_interval: Duration,
    /// Timeout of metadata, admin and seek calls. Default 10 s.
    pub operation_timeout: Duration,
    /// Largest record the producer sends (`message.max.bytes`). The broker and topic
    /// limits must allow it too. Default 8 MiB.
    pub max_message_bytes: usize,
    /// Extra librdkafka properties for both producer and consumer (they win over ours).
    pub extra: BTreeMap<String, String>,
}

impl KafkaConfig {
    /// Defaults for the cluster at `brokers`.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            create_topics: Some(4),
            replication: 1,
            linger: Duration::from_millis(5),
            session_timeout: Duration::from_secs(10),
            redelivery_delay: Duration::from_millis(100),
            commit_interval: Duration::from_millis(500),
            operation_timeout: Duration::from_secs(10),
            max_message_bytes: 8 * 1024 * 1024,
            extra: BTreeMap::new(),
        }
    }
}
