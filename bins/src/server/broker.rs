//! The message broker a server publishes and consumes through, from its settings.

use std::sync::Arc;

use mq::backend::kafka::{KafkaBroker, KafkaConfig};
use mq::backend::memory::MemoryBroker;
use mq::backend::redis::{RedisBroker, RedisConfig};
use mq::{Publisher, Subscriber};

use super::namespace::Namespaced;
use crate::config::BrokerSettings;

/// A connected broker, as publisher and subscriber.
#[derive(Clone)]
pub struct Broker {
    /// Publishes events.
    pub publisher: Arc<dyn Publisher>,
    /// Subscribes to events.
    pub subscriber: Arc<dyn Subscriber>,
    /// Which kind, for logs.
    pub kind: &'static str,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("kind", &self.kind).finish()
    }
}

impl Broker {
    /// Connects to the broker `settings` name.
    pub async fn connect(settings: &BrokerSettings) -> Result<Self, mq::Error> {
        Ok(match settings {
            BrokerSettings::Memory => {
                let broker = MemoryBroker::default();
                Self {
                    publisher: Arc::new(broker.clone()),
                    subscriber: Arc::new(broker),
                    kind: "memory",
                }
            }
            BrokerSettings::Redis {
                url,
                key_prefix,
                lease_ttl_ms,
                partitions,
            } => {
                let mut config = RedisConfig::new(url.clone());
                if let Some(p) = partitions {
                    config.partitions = *p;
                }
                if let Some(prefix) = key_prefix {
                    config.key_prefix = prefix.clone();
                }
                if let Some(ms) = lease_ttl_ms {
                    config.lease_ttl = std::time::Duration::from_millis(*ms);
                }
                let broker = RedisBroker::connect(config).await?;
                Self {
                    publisher: Arc::new(broker.clone()),
                    subscriber: Arc::new(broker),
                    kind: "redis",
                }
            }
            BrokerSettings::Kafka {
                brokers,
                topic_prefix,
                partitions,
                linger_ms,
                fetch_wait_ms,
            } => {
                let mut config = KafkaConfig::new(brokers.clone());
                if let Some(p) = partitions {
                    config.create_topics = Some(*p);
                }
                if let Some(ms) = linger_ms {
                    config.linger = std::time::Duration::from_millis(*ms);
                }
                if let Some(ms) = fetch_wait_ms {
                    config.fetch_wait = std::time::Duration::from_millis(*ms);
                }
                let broker = KafkaBroker::connect(config)?;
                let (publisher, subscriber): (Arc<dyn Publisher>, Arc<dyn Subscriber>) =
                    (Arc::new(broker.clone()), Arc::new(broker));
                match topic_prefix.as_deref().filter(|p| !p.is_empty()) {
                    Some(prefix) => {
                        let spaced = Namespaced::new(prefix, publisher, subscriber);
                        Self {
                            publisher: Arc::new(spaced.clone()),
                            subscriber: Arc::new(spaced),
                            kind: "kafka",
                        }
                    }
                    None => Self {
                        publisher,
                        subscriber,
                        kind: "kafka",
                    },
                }
            }
        })
    }
}
