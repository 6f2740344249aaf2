//! [`Namespaced`]: a broker whose topics and consumer groups all carry a prefix, so that
//! several deployments (or test runs) can share one Kafka cluster without seeing each
//! other's messages.

use std::sync::Arc;

use async_trait::async_trait;
use mq::{Message, Publisher, Subscriber, Subscription};

/// Prefixes every topic and consumer group of the wrapped broker with `prefix`.
#[derive(Clone)]
pub struct Namespaced {
    prefix: Arc<str>,
    publisher: Arc<dyn Publisher>,
    subscriber: Arc<dyn Subscriber>,
}

impl std::fmt::Debug for Namespaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaced")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Namespaced {
    /// Wraps a broker's two halves.
    pub fn new(
        prefix: impl Into<Arc<str>>,
        publisher: Arc<dyn Publisher>,
        subscriber: Arc<dyn Subscriber>,
    ) -> Self {
        Self {
            prefix: prefix.into(),
            publisher,
            subscriber,
        }
    }

    fn name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

#[async_trait]
impl Publisher for Namespaced {
    async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), mq::Error> {
        self.publisher.publish(&self.name(topic), messages).await
    }

    async fn close(&self) -> Result<(), mq::Error> {
        self.publisher.close().await
    }
}

#[async_trait]
impl Subscriber for Namespaced {
    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
    ) -> Result<Box<dyn Subscription>, mq::Error> {
        self.subscriber
            .subscribe(&self.name(topic), &self.name(group))
            .await
    }
}
