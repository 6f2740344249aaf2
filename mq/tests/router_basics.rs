//! Router over the in-memory backend: order per key, redelivery after failure, shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mq::backend::memory::{MemoryBroker, MemoryConfig};
use mq::{consumer_fn, HandlerError, Message, Publisher, Router, RouterConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_per_key_order_with_concurrency_and_failures() -> anyhow::Result<()> {
    let broker = MemoryBroker::new(MemoryConfig {
        redelivery_delay: Duration::from_millis(1),
        ..MemoryConfig::default()
    });
    let seen: Arc<Mutex<HashMap<String, Vec<u32>>>> = Arc::default();
    let failures = Arc::new(AtomicU32::new(0));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let total = 5_000u32;
    let mut router = Router::new(RouterConfig::default());
    {
        let seen = Arc::clone(&seen);
        let failures = Arc::clone(&failures);
        router
            .consumer(
                "orderly",
                "numbers",
                broker.clone(),
                consumer_fn(move |msg: Message| {
                    let seen = Arc::clone(&seen);
                    let failures = Arc::clone(&failures);
                    let done_tx = done_tx.clone();
                    async move {
                        let n: u32 = std::str::from_utf8(msg.payload())?.parse()?;
                        // Fail every 97th message once.
                        if n.is_multiple_of(97)
                            && failures.fetch_add(1, Ordering::SeqCst).is_multiple_of(2)
                        {
                            return Err(HandlerError::transient(std::io::Error::other("flaky")));
                        }
                        let key = msg.key().unwrap_or_default().to_owned();
                        let mut seen = seen
                            .lock()
                            .map_err(|_| HandlerError::permanent("poisoned"))?;
                        let list = seen.entry(key).or_default();
                        if list.last().is_none_or(|&last| last < n) {
                            list.push(n);
                            if list.len() as u32 == total / 10 {
                                done_tx.send(()).ok();
                            }
                        }
                        Ok(())
                    }
                }),
            )
            .concurrency(4);
    }
    let handle = router.handle();
    let task = tokio::spawn(router.run());
    handle.running().await;
    for chunk in (0..total).collect::<Vec<_>>().chunks(100) {
        let msgs = chunk
            .iter()
            .map(|n| Message::new(n.to_string()).with_key(format!("k{}", n % 10)))
            .collect();
        broker.publish("numbers", msgs).await?;
    }
    for _ in 0..10 {
        if tokio::time::timeout(Duration::from_secs(5), done_rx.recv())
            .await
            .is_err()
        {
            let s = seen.lock().unwrap();
            for (k, l) in s.iter() {
                eprintln!("{k}: {} last {:?}", l.len(), l.last());
            }
            eprintln!("lag {}", broker.lag("numbers", "orderly")?);
            anyhow::bail!("timeout");
        }
    }
    handle.shutdown();
    task.await??;
    let seen = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    for (key, list) in seen.iter() {
        let k: u32 = key[1..].parse()?;
        let expected: Vec<u32> = (0..total).filter(|n| n % 10 == k).collect();
        assert_eq!(list, &expected, "order for {key}");
    }
    assert!(failures.load(Ordering::SeqCst) > 0);
    assert_eq!(broker.lag("numbers", "orderly")?, 0);
    Ok(())
}

/// A router whose backend is closed under it stops and says which handler stopped,
/// instead of running on while consuming nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_backend_stops_the_router_with_an_error() -> anyhow::Result<()> {
    let broker = MemoryBroker::default();
    let mut router = Router::new(RouterConfig::default());
    router.consumer(
        "listener",
        "events",
        broker.clone(),
        consumer_fn(|_msg: Message| async { Ok(()) }),
    );
    let handle = router.handle();
    let task = tokio::spawn(router.run());
    handle.running().await;
    assert!(handle.is_running());
    broker.close();
    let result = tokio::time::timeout(Duration::from_secs(10), task).await??;
    match result {
        Err(mq::Error::HandlerStopped { handler, reason }) => {
            assert_eq!(handler, "listener");
            assert!(reason.contains("closed"), "{reason}");
        }
        other => anyhow::bail!("expected HandlerStopped, got {other:?}"),
    }
    assert!(!handle.is_running());
    Ok(())
}

/// Bad router settings and names are refused before anything is subscribed.
#[tokio::test]
async fn bad_settings_and_names_are_refused() -> anyhow::Result<()> {
    let broker = MemoryBroker::default();
    let handler = || consumer_fn(|_msg: Message| async { Ok(()) });

    let mut zero_batch = Router::new(RouterConfig {
        batch_size: 0,
        ..RouterConfig::default()
    });
    zero_batch.consumer("ok", "events", broker.clone(), handler());
    let err = zero_batch.run().await.expect_err("batch size 0");
    assert!(
        matches!(
            err,
            mq::Error::InvalidConfig {
                setting: "RouterConfig::batch_size",
                ..
            }
        ),
        "{err}"
    );

    for bad_name in ["", "has space", "..", "ü"] {
        let mut router = Router::new(RouterConfig::default());
        router.consumer(bad_name, "events", broker.clone(), handler());
        let err = router.run().await.expect_err("bad handler name");
        assert!(
            matches!(err, mq::Error::InvalidName { .. }),
            "{bad_name:?}: {err}"
        );
    }
    for bad_topic in [".", "a/b", ""] {
        let mut router = Router::new(RouterConfig::default());
        router.consumer("fine", bad_topic, broker.clone(), handler());
        let err = router.run().await.expect_err("bad topic");
        assert!(
            matches!(err, mq::Error::InvalidName { .. }),
            "{bad_topic:?}: {err}"
        );
    }
    // Nothing was subscribed: a publish to the good topic has no group to wait for.
    assert!(broker.lag("events", "ok").is_err() || broker.lag("events", "ok")? == 0);
    Ok(())
}

#[test]
fn memory_config_zeros_are_errors_for_try_new_and_raised_by_new() {
    for config in [
        MemoryConfig {
            partitions: 0,
            ..MemoryConfig::default()
        },
        MemoryConfig {
            partition_capacity: 0,
            ..MemoryConfig::default()
        },
        MemoryConfig {
            partition_capacity_bytes: 0,
            ..MemoryConfig::default()
        },
        MemoryConfig {
            publish_timeout: Duration::ZERO,
            ..MemoryConfig::default()
        },
    ] {
        let err = MemoryBroker::try_new(config.clone()).expect_err("zero setting");
        assert!(matches!(err, mq::Error::InvalidConfig { .. }), "{err}");
        // `new` raises the zero to the smallest working value: the broker works.
        let broker = MemoryBroker::new(config);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(broker.publish("t", vec![Message::new("x")]))
            .expect("publish on a clamped broker");
    }
}

#[test]
fn throttle_and_retry_edge_values() {
    use mq::middleware::{RetryPolicy, ThrottleLayer};
    assert!(ThrottleLayer::per_second(0).is_err());
    assert!(ThrottleLayer::new(0, Duration::from_secs(1)).is_err());
    assert!(ThrottleLayer::new(10, Duration::ZERO).is_err());
    assert!(ThrottleLayer::per_second(1).is_ok());
    assert_eq!(RetryPolicy::default().max_attempts(0).delays().count(), 0);
}
