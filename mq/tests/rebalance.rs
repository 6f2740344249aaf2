//! A second member joins a consumer group mid-stream (a rebalance), then the first one
//! leaves: every message is handled at least once and each key's first handlings stay in
//! publish order. Run against a real Kafka-protocol broker and a real Redis.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mq::{consumer_fn, Message, Publisher, Router, RouterConfig, RouterHandle, Subscriber};
use tokio::sync::Notify;

const MESSAGES: u32 = 1_200;
const KEYS: u32 = 12;

/// (global handling order, member, message number) for every handling.
#[derive(Default)]
struct Log {
    entries: Mutex<Vec<(u64, &'static str, u32)>>,
    clock: AtomicU64,
    progress: Notify,
}

impl Log {
    fn record(&self, member: &'static str, n: u32) {
        let at = self.clock.fetch_add(1, Ordering::SeqCst);
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((at, member, n));
        self.progress.notify_waiters();
    }

    fn distinct(&self) -> usize {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut seen: Vec<u32> = entries.iter().map(|e| e.2).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    async fn wait_for(&self, distinct: usize, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = self.distinct();
            if now >= distinct {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                anyhow::bail!("{now} of {distinct} distinct messages handled in {within:?}");
            }
        }
    }
}

fn start_member(
    name: &'static str,
    topic: &str,
    group: &str,
    subscriber: Arc<dyn Subscriber>,
    log: Arc<Log>,
) -> (RouterHandle, tokio::task::JoinHandle<Result<(), mq::Error>>) {
    let mut router = Router::new(RouterConfig::default());
    router
        .consumer(
            name,
            topic,
            subscriber,
            consumer_fn(move |msg: Message| {
                let log = Arc::clone(&log);
                async move {
                    tokio::time::sleep(Duration::from_micros(500)).await;
                    let n: u32 = std::str::from_utf8(msg.payload())?.parse()?;
                    log.record(name, n);
                    Ok(())
                }
            }),
        )
        .group(group)
        .concurrency(4);
    let handle = router.handle();
    (handle, tokio::spawn(router.run()))
}

async fn member_joins_and_leaves_mid_stream(
    publisher: Arc<dyn Publisher>,
    first: Arc<dyn Subscriber>,
    second: Arc<dyn Subscriber>,
) -> anyhow::Result<()> {
    let topic = support::unique("rebalance");
    let group = support::unique("rebalance-group");
    let messages = (0..MESSAGES)
        .map(|i| Message::new(i.to_string()).with_key(format!("key-{}", i % KEYS)))
        .collect();
    publisher.publish(&topic, messages).await?;

    let log = Arc::new(Log::default());
    let (a, a_task) = start_member("a", &topic, &group, first, Arc::clone(&log));
    log.wait_for(MESSAGES as usize / 4, Duration::from_secs(60))
        .await?;
    let (b, b_task) = start_member("b", &topic, &group, second, Arc::clone(&log));
    log.wait_for(MESSAGES as usize / 2, Duration::from_secs(60))
        .await?;
    a.shutdown(); // leaves the group: its lanes move to b
    a_task.await??;
    log.wait_for(MESSAGES as usize, Duration::from_secs(120))
        .await?;
    b.shutdown();
    b_task.await??;

    let entries = log
        .entries
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut first_handling: HashMap<u32, (u64, &str)> = HashMap::new();
    for &(at, member, n) in &entries {
        first_handling.entry(n).or_insert((at, member));
    }
    assert_eq!(
        first_handling.len(),
        MESSAGES as usize,
        "every message handled"
    );
    let by_b = first_handling.values().filter(|(_, m)| *m == "b").count();
    assert!(by_b > 0, "the second member took part");
    for key in 0..KEYS {
        let mut order: Vec<(u64, u32)> = first_handling
            .iter()
            .filter(|(n, _)| *n % KEYS == key)
            .map(|(n, (at, _))| (*at, *n))
            .collect();
        order.sort_unstable();
        let numbers: Vec<u32> = order.iter().map(|(_, n)| *n).collect();
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        assert_eq!(numbers, sorted, "key-{key} first handled out of order");
    }
    eprintln!(
        "{} handlings of {MESSAGES} messages ({} again after a lane moved), {by_b} first handled by the member that joined",
        entries.len(),
        entries.len() - MESSAGES as usize
    );
    Ok(())
}

#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_member_joins_and_leaves_mid_stream() -> anyhow::Result<()> {
    use mq::backend::kafka::{KafkaBroker, KafkaConfig};
    let connect = || {
        let mut cfg = KafkaConfig::new(support::kafka_brokers());
        cfg.session_timeout = Duration::from_secs(6);
        cfg.commit_interval = Duration::from_millis(200);
        KafkaBroker::connect(cfg)
    };
    let (a, b) = (connect()?, connect()?);
    member_joins_and_leaves_mid_stream(Arc::new(a.clone()), Arc::new(a), Arc::new(b)).await
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_member_joins_and_leaves_mid_stream() -> anyhow::Result<()> {
    use mq::backend::redis::{RedisBroker, RedisConfig};
    let connect = || async {
        let mut cfg = RedisConfig::new(support::redis_url());
        cfg.lease_ttl = Duration::from_secs(1);
        cfg.partitions = 8;
        RedisBroker::connect(cfg).await
    };
    let (a, b) = (connect().await?, connect().await?);
    member_joins_and_leaves_mid_stream(Arc::new(a.clone()), Arc::new(a), Arc::new(b)).await
}
