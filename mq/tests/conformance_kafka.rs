#![cfg(feature = "kafka")]
//! The conformance suite on Kafka, against a real Kafka-protocol broker
//! (`MQ_TEST_KAFKA_BROKERS`, default `127.0.0.1:9092`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use mq::backend::kafka::{KafkaBroker, KafkaConfig};
use mq::conformance::{run_all, tests, Backend, Features};
use mq::{Error, Publisher, Subscriber};

const REDELIVERY_DELAY: Duration = Duration::from_millis(20);
const PARTITIONS: u32 = 4;

fn config() -> KafkaConfig {
    let mut cfg = KafkaConfig::new(support::kafka_brokers());
    cfg.redelivery_delay = REDELIVERY_DELAY;
    cfg.session_timeout = Duration::from_secs(6);
    cfg.create_topics = Some(PARTITIONS as i32);
    if let Ok(debug) = std::env::var("MQ_KAFKA_DEBUG") {
        cfg.extra.insert("debug".into(), debug);
    }
    cfg
}

struct Kafka;

#[async_trait::async_trait]
impl Backend for Kafka {
    async fn connect(&self) -> Result<(Arc<dyn Publisher>, Arc<dyn Subscriber>), Error> {
        let broker = KafkaBroker::connect(config())?;
        Ok((Arc::new(broker.clone()), Arc::new(broker)))
    }

    async fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), Error> {
        KafkaBroker::connect(config())?
            .create_topic(topic, i32::try_from(partitions).unwrap_or(1))
            .await
    }
}

fn features() -> Features {
    Features::default()
        .with_redelivery_delay(REDELIVERY_DELAY)
        .with_partitions(PARTITIONS)
        .with_receive_timeout(Duration::from_secs(30))
        .with_quiet_period(Duration::from_millis(500))
        .with_test_timeout(Duration::from_secs(120))
        // Kafka's eager rebalance drops the acknowledgements of revoked partitions.
        .with_rebalance_duplicates(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_against_a_real_broker() {
    // `RUST_LOG=mq=debug` shows what the backend does; `MQ_KAFKA_DEBUG=cgrp,fetch`
    // adds librdkafka's own debug log.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    if let Ok(only) = std::env::var("MQ_CONFORMANCE_ONLY") {
        for case in tests().iter().filter(|c| c.name() == only) {
            let outcome = case.run(&Kafka, &features()).await;
            assert!(outcome.is_ok(), "{}: {outcome:?}", case.name());
        }
        return;
    }
    let report = run_all(&Kafka, &features()).await;
    eprintln!("{report}");
    assert_eq!(report.results.len(), tests().len());
    assert!(report.passed(), "{report}");
}
