#![cfg(any(feature = "redis", feature = "kafka"))]
//! Bad backend settings fail with `Error::InvalidConfig` and change nothing; clients
//! that disagree on a topic's layout are refused instead of losing messages; an
//! unreachable broker fails a publish within the configured timeouts.

mod support;

use std::time::{Duration, Instant};

use mq::{Message, Publisher, Subscriber};

#[cfg(feature = "redis")]
mod redis_backend {
    use super::*;
    use mq::backend::redis::{RedisBroker, RedisConfig, TrimPolicy};

    #[tokio::test]
    async fn bad_settings_are_refused_at_connect() {
        let base = RedisConfig::new(support::redis_url());
        let cases: Vec<(&str, RedisConfig)> = vec![
            (
                "partitions",
                RedisConfig {
                    partitions: 0,
                    ..base.clone()
                },
            ),
            (
                "command_timeout",
                RedisConfig {
                    command_timeout: Duration::ZERO,
                    ..base.clone()
                },
            ),
            (
                "block",
                RedisConfig {
                    block: Duration::ZERO,
                    ..base.clone()
                },
            ),
            (
                "lease_ttl",
                RedisConfig {
                    lease_ttl: Duration::ZERO,
                    ..base.clone()
                },
            ),
            (
                "ack_flush_interval",
                RedisConfig {
                    ack_flush_interval: Duration::ZERO,
                    ..base.clone()
                },
            ),
            (
                "trim",
                RedisConfig {
                    trim: TrimPolicy::MaxLen { max_len: 0 },
                    ..base.clone()
                },
            ),
        ];
        for (what, cfg) in cases {
            let err = RedisBroker::connect(cfg).await.expect_err(what);
            match err {
                mq::Error::InvalidConfig { setting, .. } => {
                    assert!(setting.contains(what), "{what}: {setting}");
                }
                other => panic!("{what}: expected InvalidConfig, got {other}"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clients_with_another_partition_count_are_refused() -> anyhow::Result<()> {
        let topic = support::unique("layout");
        let mut four = RedisConfig::new(support::redis_url());
        four.partitions = 4;
        let mut eight = four.clone();
        eight.partitions = 8;
        let first = RedisBroker::connect(four.clone()).await?;
        let other = RedisBroker::connect(eight.clone()).await?;

        first
            .publish(&topic, vec![Message::new("a").with_key("k")])
            .await?;
        let err = other
            .publish(
                &topic,
                (0..50)
                    .map(|i| Message::new("b").with_key(format!("k{i}")))
                    .collect(),
            )
            .await
            .expect_err("8 partitions on a 4-partition topic");
        assert!(
            matches!(
                err,
                mq::Error::InvalidConfig {
                    setting: "RedisConfig::partitions",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("4 partitions"), "{err}");
        let err = other
            .subscribe(&topic, "g")
            .await
            .err()
            .expect("subscribe refused");
        assert!(matches!(err, mq::Error::InvalidConfig { .. }), "{err}");

        // The refused publish wrote nothing: lanes 4..8 do not exist, lanes 0..4 hold one entry.
        let client = redis::Client::open(support::redis_url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let mut total = 0u64;
        for lane in 0..8 {
            let len: u64 = redis::cmd("XLEN")
                .arg(format!("{}{topic}:{lane}", four.key_prefix))
                .query_async(&mut conn)
                .await?;
            total += len;
        }
        assert_eq!(total, 1);
        // A client with the recorded count still works.
        let again = RedisBroker::connect(four).await?;
        again.publish(&topic, vec![Message::new("c")]).await?;
        Ok(())
    }
}

#[cfg(feature = "kafka")]
mod kafka_backend {
    use super::*;
    use mq::backend::kafka::{KafkaBroker, KafkaConfig};

    #[test]
    fn bad_settings_are_refused_at_connect() {
        let base = KafkaConfig::new("127.0.0.1:9092");
        let cases: Vec<(&str, KafkaConfig)> = vec![
            (
                "brokers",
                KafkaConfig {
                    brokers: " ".into(),
                    ..base.clone()
                },
            ),
            (
                "create_topics",
                KafkaConfig {
                    create_topics: Some(0),
                    ..base.clone()
                },
            ),
            (
                "replication",
                KafkaConfig {
                    replication: 0,
                    ..base.clone()
                },
            ),
            (
                "operation_timeout",
                KafkaConfig {
                    operation_timeout: Duration::ZERO,
                    ..base.clone()
                },
            ),
            (
                "publish_timeout",
                KafkaConfig {
                    publish_timeout: Duration::MAX,
                    ..base.clone()
                },
            ),
            (
                "session_timeout",
                KafkaConfig {
                    session_timeout: Duration::ZERO,
                    ..base.clone()
                },
            ),
            (
                "max_message_bytes",
                KafkaConfig {
                    max_message_bytes: 0,
                    ..base.clone()
                },
            ),
            (
                "linger",
                KafkaConfig {
                    linger: Duration::from_secs(3600),
                    ..base.clone()
                },
            ),
            (
                "fetch_wait",
                KafkaConfig {
                    fetch_wait: Duration::ZERO,
                    ..base.clone()
                },
            ),
            (
                "fetch_wait",
                KafkaConfig {
                    fetch_wait: Duration::from_secs(3600),
                    ..base.clone()
                },
            ),
        ];
        for (what, cfg) in cases {
            let err = KafkaBroker::connect(cfg).expect_err(what);
            match err {
                mq::Error::InvalidConfig { setting, .. } => {
                    assert!(setting.contains(what), "{what}: {setting}");
                }
                other => panic!("{what}: expected InvalidConfig, got {other}"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_broker_fails_a_publish_within_the_timeouts() -> anyhow::Result<()> {
        let mut cfg = KafkaConfig::new(format!("127.0.0.1:{}", support::free_port()));
        cfg.operation_timeout = Duration::from_secs(2);
        cfg.publish_timeout = Duration::from_secs(2);
        let broker = KafkaBroker::connect(cfg)?;
        // An empty publish does nothing, not even create the topic.
        let began = Instant::now();
        broker.publish("nowhere", Vec::new()).await?;
        assert!(began.elapsed() < Duration::from_millis(500));

        let began = Instant::now();
        let err = broker
            .publish("nowhere", vec![Message::new("x")])
            .await
            .expect_err("no broker");
        let took = began.elapsed();
        assert!(
            took < Duration::from_secs(8),
            "failed only after {took:?}: {err}"
        );
        assert!(
            matches!(
                err,
                mq::Error::Backend {
                    backend: "kafka",
                    ..
                }
            ),
            "{err}"
        );

        let err = broker
            .create_topic("fine", 0)
            .await
            .expect_err("0 partitions");
        assert!(matches!(err, mq::Error::InvalidConfig { .. }), "{err}");
        Ok(())
    }
}
