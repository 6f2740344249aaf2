#![cfg(feature = "redis")]
//! Stream trimming on a real Redis: the default policy removes only what every group
//! acknowledged; `MaxLen` bounds the stream.

mod support;

use std::time::Duration;

use mq::backend::redis::{RedisBroker, RedisConfig, TrimPolicy};
use mq::{Delivery, Message, Publisher, Subscriber, Subscription};

async fn xlen(stream: &str) -> anyhow::Result<u64> {
    let client = redis::Client::open(support::redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    Ok(redis::cmd("XLEN")
        .arg(stream)
        .query_async(&mut conn)
        .await?)
}

/// Waits (bounded) until the stream's length satisfies `ok`; trimming runs in the
/// members' periodic maintenance.
async fn wait_len(stream: &str, ok: impl Fn(u64) -> bool) -> anyhow::Result<u64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let len = xlen(stream).await?;
        if ok(len) {
            return Ok(len);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "stream length stuck at {len}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn take(sub: &mut Box<dyn Subscription>, n: usize) -> anyhow::Result<Vec<Delivery>> {
    let mut out = Vec::new();
    while out.len() < n {
        let batch = tokio::time::timeout(Duration::from_secs(10), sub.next_batch(n - out.len()))
            .await??
            .ok_or_else(|| anyhow::anyhow!("closed"))?;
        out.extend(batch.deliveries);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_policy_keeps_everything_a_group_still_needs() -> anyhow::Result<()> {
    let mut cfg = RedisConfig::new(support::redis_url());
    cfg.partitions = 1;
    cfg.lease_ttl = Duration::from_millis(300);
    cfg.trim = TrimPolicy::Acknowledged {
        every: Duration::ZERO,
    };
    let broker = RedisBroker::connect(cfg.clone()).await?;
    let topic = support::unique("trim");
    let stream = format!("{}{topic}:0", cfg.key_prefix);
    let mut fast = broker.subscribe(&topic, "fast").await?;
    let mut slow = broker.subscribe(&topic, "slow").await?;
    broker
        .publish(
            &topic,
            (0..50).map(|i| Message::new(i.to_string())).collect(),
        )
        .await?;

    // `fast` acknowledges everything; `slow` acknowledges 20 and holds 5.
    for d in take(&mut fast, 50).await? {
        d.ack();
    }
    let mut slow_taken = take(&mut slow, 25).await?;
    let held = slow_taken.split_off(20);
    for d in slow_taken {
        d.ack();
    }
    // Keep both members running so that their maintenance trims.
    let keep_fast = tokio::spawn(async move {
        while let Ok(Some(batch)) = fast.next_batch(10).await {
            batch.deliveries.into_iter().for_each(Delivery::ack);
        }
    });
    let first = wait_len(&stream, |len| len <= 30).await?;
    assert_eq!(
        first, 30,
        "only the 20 entries both groups acknowledged may go"
    );

    // The held ones are acknowledged: they may go too, the 25 unread ones may not.
    held.into_iter().for_each(Delivery::ack);
    let second = wait_len(&stream, |len| len <= 25).await?;
    assert_eq!(second, 25, "entries no group has read yet are kept");
    keep_fast.abort();
    slow.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_len_policy_bounds_the_stream() -> anyhow::Result<()> {
    let mut cfg = RedisConfig::new(support::redis_url());
    cfg.partitions = 1;
    cfg.trim = TrimPolicy::MaxLen { max_len: 100 };
    let broker = RedisBroker::connect(cfg.clone()).await?;
    let topic = support::unique("maxlen");
    for chunk in 0..20 {
        broker
            .publish(
                &topic,
                (0..100)
                    .map(|i| Message::new(format!("{chunk}-{i}")))
                    .collect(),
            )
            .await?;
    }
    let len = xlen(&format!("{}{topic}:0", cfg.key_prefix)).await?;
    // `MAXLEN ~` trims whole nodes of up to 100 entries, so the bound is approximate.
    assert!((100..=300).contains(&len), "2000 published, {len} kept");
    Ok(())
}
