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
