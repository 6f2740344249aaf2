#![cfg(feature = "redis")]
//! An entry written to a stream by someone else, in a shape this backend does not
//! write, is delivered (marked malformed) and does not stop the stream.

mod support;

use std::time::Duration;

use mq::backend::redis::{RedisBroker, RedisConfig};
use mq::{Message, Publisher, Subscriber};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_entry_is_delivered_marked_and_does_not_block_the_stream() -> anyhow::Result<()> {
    let mut cfg = RedisConfig::new(support::redis_url());
    cfg.partitions = 1;
    let broker = RedisBroker::connect(cfg.clone()).await?;
    let topic = support::unique("foreign");
    let mut sub = broker.subscribe(&topic, "readers").await?;

    let client = redis::Client::open(support::redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let _: String = redis::cmd("XADD")
        .arg(format!("{}{topic}:0", cfg.key_prefix))
        .arg("*")
        .arg("md")
        .arg("not json")
        .arg("payload")
        .arg("from elsewhere")
        .query_async(&mut conn)
        .await?;
    broker.publish(&topic, vec![Message::new("ours")]).await?;

    let mut got = Vec::new();
    while got.len() < 2 {
        let batch = tokio::time::timeout(Duration::from_secs(10), sub.next_batch(10))
            .await??
            .ok_or_else(|| anyhow::anyhow!("closed"))?;
        for d in batch.deliveries {
            got.push(d.message().clone());
            d.ack();
        }
    }
    assert_eq!(got[0].payload().as_ref(), b"from elsewhere");
    let why = got[0].metadata().get("mq.malformed").unwrap_or_default();
    assert!(why.contains("no message id"), "{why}");
    assert_eq!(got[1].payload().as_ref(), b"ours");
    assert!(got[1].metadata().get("mq.malformed").is_none());
    sub.close().await?;
    Ok(())
}

/// The server loses the stream and its group (a restart without persistence, a
/// deleted key): the subscription creates the group again and goes on reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_group_is_created_again() -> anyhow::Result<()> {
    let mut cfg = RedisConfig::new(support::redis_url());
    cfg.partitions = 1;
    cfg.block = Duration::from_millis(100);
    let broker = RedisBroker::connect(cfg.clone()).await?;
    let topic = support::unique("lost-group");
    let mut sub = broker.subscribe(&topic, "readers").await?;
    broker.publish(&topic, vec![Message::new("before")]).await?;
    let first = tokio::time::timeout(Duration::from_secs(10), sub.next_batch(10))
        .await??
        .ok_or_else(|| anyhow::anyhow!("closed"))?;
    first.deliveries.into_iter().for_each(mq::Delivery::ack);

    let client = redis::Client::open(support::redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let _: i64 = redis::cmd("DEL")
        .arg(format!("{}{topic}:0", cfg.key_prefix))
        .query_async(&mut conn)
        .await?;
    broker.publish(&topic, vec![Message::new("after")]).await?;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "never read again after the group was lost"
        );
        match tokio::time::timeout(Duration::from_secs(5), sub.next_batch(10)).await? {
            Ok(Some(batch)) if !batch.deliveries.is_empty() => {
                assert_eq!(batch.deliveries[0].message().payload().as_ref(), b"after");
                break;
            }
            Ok(_) => {}
            Err(_) => {} // the NOGROUP error that triggers the re-creation
        }
    }
    sub.close().await?;
    Ok(())
}
