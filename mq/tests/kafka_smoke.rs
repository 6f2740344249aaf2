#![cfg(feature = "kafka")]
//! Quick checks of the Kafka backend against a real broker.

use std::time::Duration;

use mq::backend::kafka::{KafkaBroker, KafkaConfig};
use mq::{Message, Publisher, Subscriber};

fn brokers() -> String {
    std::env::var("MQ_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_subscribe_nack_and_order() -> anyhow::Result<()> {
    let mut cfg = KafkaConfig::new(brokers());
    cfg.redelivery_delay = Duration::from_millis(10);
    cfg.session_timeout = Duration::from_secs(6);
    let broker = KafkaBroker::connect(cfg)?;
    let t = format!("smoke-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos());
    let started = std::time::Instant::now();
    broker.create_topic(&t, 3).await?;
    eprintln!("created in {:?}", started.elapsed());
    let mut sub = broker.subscribe(&t, "g").await?;
    let msgs: Vec<Message> = (0..100).map(|i| Message::new(i.to_string()).with_key(format!("k{}", i % 3))).collect();
    broker.publish(&t, msgs).await?;
    eprintln!("published in {:?}", started.elapsed());
    let mut got = Vec::new();
    let mut nacked = false;
    while got.len() < 100 {
        let batch = tokio::time::timeout(Duration::from_secs(30), sub.next_batch(16)).await??.unwrap();
        for d in batch.deliveries {
            if d.is_stale() {
                continue;
            }
            let n: u32 = std::str::from_utf8(d.message().payload())?.parse()?;
            if n == 50 && !nacked {
                nacked = true;
                d.nack();
                break;
            }
            if n == 50 {
                assert!(d.attempt() >= 2, "attempt {}", d.attempt());
            }
            got.push((d.message().key().unwrap().to_owned(), n));
            d.ack();
        }
    }
    eprintln!("consumed in {:?}", started.elapsed());
    for k in ["k0", "k1", "k2"] {
        let seq: Vec<u32> = got.iter().filter(|(kk, _)| kk == k).map(|(_, n)| *n).collect();
        let mut sorted = seq.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(seq, sorted, "order of {k}");
    }
    assert_eq!(got.len(), 100);
    sub.close().await?;
    Ok(())
}
