//! In-memory backend specifics: bounded buffers and backpressure, retention for
//! groups created later, and closing the broker.

use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use futures::poll;
use mq::backend::memory::{MemoryBroker, MemoryConfig};
use mq::{Batch, Error, Message, Publisher, Subscriber, Subscription};

/// An upper bound for things that should happen at once; never reached when they do.
const BOUND: Duration = Duration::from_secs(10);

fn broker(partitions: u32, capacity: usize, publish_timeout: Duration) -> MemoryBroker {
    MemoryBroker::new(MemoryConfig {
        partitions,
        partition_capacity: capacity,
        publish_timeout,
        redelivery_delay: Duration::from_millis(5),
        ..MemoryConfig::default()
    })
}

fn numbered(range: std::ops::Range<usize>) -> Vec<Message> {
    range.map(|i| Message::new(i.to_string())).collect()
}

fn payloads(batch: &Batch) -> Vec<String> {
    batch
        .deliveries
        .iter()
        .map(|d| String::from_utf8_lossy(d.message().payload()).into_owned())
        .collect()
}

async fn next(sub: &mut Box<dyn Subscription>, max: usize) -> anyhow::Result<Batch> {
    match tokio::time::timeout(BOUND, sub.next_batch(max)).await {
        Ok(Ok(Some(batch))) => Ok(batch),
        Ok(Ok(None)) => anyhow::bail!("subscription closed"),
        Ok(Err(err)) => Err(err.into()),
        Err(_) => anyhow::bail!("no batch within {BOUND:?}"),
    }
}

/// Receives and acknowledges `n` messages, returning their payloads in order.
async fn drain(sub: &mut Box<dyn Subscription>, n: usize) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let batch = next(sub, n - out.len()).await?;
        out.extend(payloads(&batch));
        batch.deliveries.into_iter().for_each(mq::Delivery::ack);
    }
    Ok(out)
}

fn strings(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

#[tokio::test]
async fn publish_waits_while_any_group_lags_then_succeeds() -> anyhow::Result<()> {
    let broker = broker(1, 4, Duration::from_secs(60));
    let mut fast = broker.subscribe("orders", "fast").await?;
    let mut slow = broker.subscribe("orders", "slow").await?;
    broker.publish("orders", numbered(0..4)).await?;

    // The fast group acknowledges everything; the slow one has not started.
    assert_eq!(drain(&mut fast, 4).await?, strings(0..4));
    let mut publishing = pin!(broker.publish("orders", numbered(4..5)));
    assert!(
        poll!(publishing.as_mut()).is_pending(),
        "a full partition must make publish wait"
    );
    assert_eq!(broker.lag("orders", "slow")?, 4);

    // Receiving is not enough: the slow group must acknowledge.
    let batch = next(&mut slow, 2).await?;
    assert_eq!(payloads(&batch), strings(0..2));
    assert!(poll!(publishing.as_mut()).is_pending());
    batch.deliveries.into_iter().for_each(mq::Delivery::ack);
    tokio::time::timeout(BOUND, publishing).await??;

    assert_eq!(drain(&mut slow, 3).await?, strings(2..5));
    assert_eq!(drain(&mut fast, 1).await?, strings(4..5));
    assert_eq!(broker.lag("orders", "slow")?, 0);
    assert_eq!(broker.lag("orders", "fast")?, 0);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn publish_fails_with_backpressure_after_the_timeout_and_stores_nothing() -> anyhow::Result<()>
{
    let timeout = Duration::from_millis(200);
    let broker = broker(1, 4, timeout);
    broker.create_group("orders", "billing")?;
    broker.publish("orders", numbered(0..4)).await?;

    let started = tokio::time::Instant::now();
    match broker
        .publish("orders", vec![Message::new("rejected")])
        .await
    {
        Err(Error::Backpressure { waited }) => assert_eq!(waited, timeout),
        other => panic!("expected Backpressure, got {other:?}"),
    }
    assert!(
        started.elapsed() >= timeout,
        "gave up after {:?}",
        started.elapsed()
    );
    assert_eq!(
        broker.lag("orders", "billing")?,
        4,
        "the rejected message was stored"
    );

    let mut sub = broker.subscribe("orders", "billing").await?;
    assert_eq!(drain(&mut sub, 4).await?, strings(0..4));
    broker
        .publish("orders", vec![Message::new("accepted")])
        .await?;
    let batch = next(&mut sub, 10).await?;
    assert_eq!(payloads(&batch), ["accepted"]);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn byte_capacity_bounds_a_partition_but_admits_one_large_message() -> anyhow::Result<()> {
    let broker = MemoryBroker::new(MemoryConfig {
        partitions: 1,
        partition_capacity_bytes: 10,
        publish_timeout: Duration::from_millis(100),
        ..MemoryConfig::default()
    });
    broker.create_group("blobs", "g")?;
    // Larger than the whole capacity, into an empty partition: accepted, or it could
    // never be published.
    broker
        .publish("blobs", vec![Message::new(vec![0u8; 100])])
        .await?;
    assert!(matches!(
        broker
            .publish("blobs", vec![Message::new(vec![1u8; 8])])
            .await,
        Err(Error::Backpressure { .. })
    ));
    let mut sub = broker.subscribe("blobs", "g").await?;
    let batch = next(&mut sub, 10).await?;
    assert_eq!(batch.deliveries.len(), 1);
    batch.deliveries.into_iter().for_each(mq::Delivery::ack);
    broker
        .publish("blobs", vec![Message::new(vec![1u8; 8])])
        .await?;
    assert!(matches!(
        broker
            .publish("blobs", vec![Message::new(vec![2u8; 8])])
            .await,
        Err(Error::Backpressure { .. })
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_is_dropped_past_capacity_while_a_group_exists() -> anyhow::Result<()> {
    let partitions = 2;
    let capacity = 4;
    let broker = broker(partitions, capacity, Duration::from_secs(60));
    let mut sub = broker.subscribe("events", "audit").await?;
    let total = 300;
    let msgs: Vec<Message> = (0..total)
        .map(|i| Message::new(i.to_string()).with_key(format!("k{}", i % 4)))
        .collect();
    let publisher = broker.clone();
    let publishing = tokio::spawn(async move { publisher.publish("events", msgs).await });

    let mut seen: Vec<usize> = Vec::with_capacity(total);
    while seen.len() < total {
        let batch = next(&mut sub, 3).await?;
        let lag = broker.lag("events", "audit")?;
        assert!(
            lag <= u64::from(partitions) * capacity as u64,
            "{lag} messages held, more than the capacity"
        );
        for d in batch.deliveries {
            seen.push(std::str::from_utf8(d.message().payload())?.parse()?);
            d.ack();
        }
    }
    tokio::time::timeout(BOUND, publishing).await???;
    for k in 0..4 {
        let per_key: Vec<usize> = seen.iter().copied().filter(|n| n % 4 == k).collect();
        let expected: Vec<usize> = (0..total).filter(|n| n % 4 == k).collect();
        assert_eq!(per_key, expected, "key k{k}");
    }
    assert_eq!(broker.lag("events", "audit")?, 0);
    Ok(())
}

#[tokio::test]
async fn before_any_group_a_topic_keeps_the_newest_messages() -> anyhow::Result<()> {
    let broker = broker(1, 4, Duration::from_secs(60));
    // Nobody subscribed: publishing never waits, the oldest messages make room.
    tokio::time::timeout(BOUND, broker.publish("news", numbered(0..10))).await??;
    let mut sub = broker.subscribe("news", "reader").await?;
    assert_eq!(drain(&mut sub, 4).await?, strings(6..10));
    Ok(())
}

#[tokio::test]
async fn a_group_created_later_starts_at_the_oldest_retained_message() -> anyhow::Result<()> {
    let broker = broker(1, 100, Duration::from_secs(60));
    let mut first = broker.subscribe("log", "first").await?;
    broker.publish("log", numbered(0..10)).await?;

    // Nothing acknowledged yet: a new group gets everything.
    let mut second = broker.subscribe("log", "second").await?;
    assert_eq!(drain(&mut second, 10).await?, strings(0..10));

    // Both groups acknowledged 0..5, so those are gone; a third group starts at 5.
    assert_eq!(drain(&mut first, 5).await?, strings(0..5));
    let mut third = broker.subscribe("log", "third").await?;
    assert_eq!(drain(&mut third, 5).await?, strings(5..10));
    assert_eq!(drain(&mut first, 5).await?, strings(5..10));
    Ok(())
}

#[tokio::test]
async fn a_dropped_subscription_gives_its_messages_back() -> anyhow::Result<()> {
    let broker = broker(2, 100, Duration::from_secs(60));
    let mut first = broker.subscribe("jobs", "workers").await?;
    let mut second = broker.subscribe("jobs", "workers").await?;
    broker
        .publish("jobs", vec![Message::new("only").with_key("k")])
        .await?;
    let batch = next(&mut first, 10).await?;
    assert_eq!(payloads(&batch), ["only"]);
    // The lane is held by `first`, so `second` gets nothing while it is.
    let mut waiting = pin!(second.next_batch(10));
    assert!(poll!(waiting.as_mut()).is_pending());
    // Leave without settling: the held delivery goes back to the group.
    drop(first);
    drop(batch);
    let batch = match tokio::time::timeout(BOUND, waiting).await? {
        Ok(Some(batch)) => batch,
        other => anyhow::bail!("expected a batch, got {other:?}"),
    };
    assert_eq!(payloads(&batch), ["only"]);
    Ok(())
}

#[tokio::test]
async fn closing_the_broker_ends_subscriptions_and_fails_publishers() -> anyhow::Result<()> {
    let broker = broker(1, 2, Duration::from_secs(600));
    let mut idle = broker.subscribe("idle", "g").await?;
    let mut busy = broker.subscribe("full", "g").await?;
    broker.publish("full", numbered(0..2)).await?;
    let held = next(&mut busy, 1).await?;

    // A consumer asleep in next_batch, and a publisher waiting for room.
    let mut consumer = pin!(idle.next_batch(10));
    assert!(poll!(consumer.as_mut()).is_pending());
    let mut blocked = pin!(broker.publish("full", numbered(2..3)));
    assert!(poll!(blocked.as_mut()).is_pending());
    broker.close();

    match tokio::time::timeout(BOUND, consumer).await? {
        Ok(None) => {}
        other => panic!("next_batch must return None after close, got {other:?}"),
    }
    match tokio::time::timeout(BOUND, blocked).await? {
        Err(Error::Closed) => {}
        other => panic!("a publisher waiting for room must fail with Closed, got {other:?}"),
    }
    assert!(busy.next_batch(10).await?.is_none());
    assert!(matches!(
        broker.publish("full", numbered(3..4)).await,
        Err(Error::Closed)
    ));
    assert!(matches!(
        broker.publish("new-topic", numbered(0..1)).await,
        Err(Error::Closed)
    ));
    assert!(matches!(
        broker.subscribe("idle", "other").await,
        Err(Error::Closed)
    ));
    // Settling after close is harmless.
    held.deliveries.into_iter().for_each(mq::Delivery::ack);
    Ok(())
}

#[tokio::test]
async fn invalid_names_create_nothing() -> anyhow::Result<()> {
    let broker = broker(1, 2, Duration::from_millis(50));
    assert!(matches!(
        broker.subscribe("orders", "bad group").await,
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        broker.create_group("orders", "bad/group"),
        Err(Error::InvalidName { .. })
    ));
    // Had a group been created, these would wait for it and fail with Backpressure.
    tokio::time::timeout(BOUND, broker.publish("orders", numbered(0..10))).await??;
    assert!(matches!(
        broker.publish("bad topic", numbered(0..1)).await,
        Err(Error::InvalidName { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn a_poll_of_a_waiting_next_batch_is_cancel_safe() -> anyhow::Result<()> {
    let broker = broker(1, 100, Duration::from_secs(60));
    let mut sub = broker.subscribe("t", "g").await?;
    {
        let mut waiting = pin!(sub.next_batch(10));
        assert!(matches!(poll!(waiting.as_mut()), Poll::Pending));
        // Dropped here, before anything arrived.
    }
    broker.publish("t", numbered(0..3)).await?;
    {
        // Dropped after messages arrived but before being polled again: nothing lost.
        let mut waiting = pin!(sub.next_batch(10));
        if let Poll::Ready(batch) = poll!(waiting.as_mut()) {
            drop(batch?);
        }
    }
    assert_eq!(drain(&mut sub, 3).await?, strings(0..3));
    Ok(())
}

/// `lag` is a read-only question: asking about a group that does not exist must not
/// create it (a phantom group would keep every message and, once the partition is
/// full, block every publisher).
#[tokio::test(start_paused = true)]
async fn asking_for_the_lag_of_an_unknown_group_creates_no_group() -> anyhow::Result<()> {
    let broker = broker(1, 4, Duration::from_millis(100));
    assert_eq!(broker.lag("metrics", "nobody")?, 0);
    // No group exists, so the topic keeps the newest messages and never blocks.
    broker.publish("metrics", numbered(0..10)).await?;
    assert_eq!(broker.lag("metrics", "nobody")?, 0);
    assert!(matches!(
        broker.lag("metrics", "bad group"),
        Err(Error::InvalidName { .. })
    ));
    Ok(())
}
