#![cfg(feature = "redis")]
//! Quick checks of the Redis backend against a real server.

use std::time::Duration;

use mq::backend::redis::{RedisBroker, RedisConfig};
use mq::{Message, Publisher, Subscriber};

fn url() -> String {
    std::env::var("MQ_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn topic() -> String {
    format!("smoke-{}", uuid_like())
}

fn uuid_like() -> String {
    format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

#[tokio::test]
async fn publish_subscribe_nack_and_order() -> anyhow::Result<()> {
    let mut cfg = RedisConfig::new(url());
    cfg.redelivery_delay = Duration::from_millis(10);
    let broker = RedisBroker::connect(cfg).await?;
    let t = topic();
    let mut sub = broker.subscribe(&t, "g").await?;
    let msgs: Vec<Message> = (0..100).map(|i| Message::new(i.to_string()).with_key(format!("k{}", i % 3))).collect();
    broker.publish(&t, msgs).await?;
    let mut got = Vec::new();
    let mut nacked = false;
    while got.len() < 100 {
        let batch = tokio::time::timeout(Duration::from_secs(5), sub.next_batch(16)).await??.unwrap();
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
    for k in ["k0", "k1", "k2"] {
        let seq: Vec<u32> = got.iter().filter(|(kk, _)| kk == k).map(|(_, n)| *n).collect();
        let mut sorted = seq.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(seq, sorted, "order of {k}");
    }
    sub.close().await?;
    Ok(())
}
