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
    /// Longest a fetch waits at the broker for new records (`fetch.wait.max.ms`).
    /// Kafka answers as soon as records arrive, so this only bounds idle polling; some
    /// Kafka-protocol brokers (tansu 0.6) hold every fetch this long, and then it is
    /// the latency of each hop. Default 100 ms (librdkafka's is 500 ms).
    pub fetch_wait: Duration,
    /// Consumer group session timeout: a crashed member's partitions move to a live one
    /// after at most this long. Default 10 s.
    pub session_timeout: Duration,
    /// How long a rejected message waits before it is delivered again. Default 100 ms.
    pub redelivery_delay: Duration,
    /// How often stored offsets are committed (`auto.commit.interval.ms`). Default 500 ms.
    pub commit_interval: Duration,
    /// Timeout of metadata, admin (topic creation) and seek calls. Default 10 s.
    pub operation_timeout: Duration,
    /// How long `publish` keeps trying to deliver a record (`message.timeout.ms`),
    /// retries included, before failing. Default 30 s.
    pub publish_timeout: Duration,
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
            fetch_wait: Duration::from_millis(100),
            session_timeout: Duration::from_secs(10),
            redelivery_delay: Duration::from_millis(100),
            commit_interval: Duration::from_millis(500),
            operation_timeout: Duration::from_secs(10),
            publish_timeout: Duration::from_secs(30),
            max_message_bytes: 8 * 1024 * 1024,
            extra: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// Checks the settings: `brokers` must name a server; partition counts, replication
    /// and timeouts must be greater than zero; `max_message_bytes` must lie within
    /// librdkafka's range (1,000 to 1,000,000,000).
    pub fn validate(&self) -> Result<(), crate::Error> {
        use crate::Error;
        let check = |setting: &'static str, ok: bool, reason: &str| {
            if ok {
                Ok(())
            } else {
                Err(Error::invalid_config(setting, reason))
            }
        };
        check(
            "KafkaConfig::brokers",
            !self.brokers.trim().is_empty(),
            "must name at least one broker (host:port)",
        )?;
        if let Some(partitions) = self.create_topics {
            check(
                "KafkaConfig::create_topics",
                partitions > 0,
                "must be at least 1 partition",
            )?;
        }
        check(
            "KafkaConfig::replication",
            self.replication > 0,
            "must be at least 1",
        )?;
        for (setting, d) in [
            ("KafkaConfig::session_timeout", self.session_timeout),
            ("KafkaConfig::commit_interval", self.commit_interval),
            ("KafkaConfig::operation_timeout", self.operation_timeout),
            ("KafkaConfig::publish_timeout", self.publish_timeout),
        ] {
            check(setting, !d.is_zero(), "must be greater than zero")?;
            check(
                setting,
                d <= Duration::from_secs(24 * 3600),
                "must be at most a day",
            )?;
        }
        check(
            "KafkaConfig::linger",
            self.linger <= Duration::from_secs(300),
            "must be at most 300 s (librdkafka's limit)",
        )?;
        check(
            "KafkaConfig::fetch_wait",
            !self.fetch_wait.is_zero() && self.fetch_wait <= Duration::from_secs(300),
            "must be between 1 ms and 300 s",
        )?;
        check(
            "KafkaConfig::max_message_bytes",
            (1_000..=1_000_000_000).contains(&self.max_message_bytes),
            "must be between 1,000 and 1,000,000,000",
        )?;
        Ok(())
    }
}
