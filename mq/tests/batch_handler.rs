//! Batch handlers over the in-memory backend: batches of several messages, output in
//! order and once per message, and a failing message handled on its own through the
//! middleware (retry, poison queue) without blocking or reordering the lane.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use mq::backend::memory::{MemoryBroker, MemoryConfig};
use mq::middleware::{PoisonQueueLayer, RetryLayer, RetryPolicy};
use mq::{
    consumer_fn, BatchFailure, BatchHandler, HandlerContext, HandlerError, Message, Publisher,
    Router, RouterConfig,
};

const KEYS: u32 = 8;

/// How the test handler misbehaves.
#[derive(Clone, Copy, Default)]
struct Faults {
    /// Numbers that always fail permanently.
    poison_every: Option<u32>,
    /// Numbers that fail transiently the first two times they are seen (once in a
    /// batch, once alone).
    flaky_every: Option<u32>,
    /// Panic on a batch of several that holds a number divisible by this.
    panic_every: Option<u32>,
}

/// Maps "n" to "out-n" with the same key, recording the batch sizes it was given.
struct Numbers {
    faults: Faults,
    sizes: Arc<Mutex<Vec<usize>>>,
    flaked: Mutex<HashMap<u32, u32>>,
}

fn number(msg: &Message) -> Result<u32, HandlerError> {
    let text = std::str::from_utf8(msg.payload()).map_err(HandlerError::permanent)?;
    text.parse().map_err(HandlerError::permanent)
}

#[async_trait]
impl BatchHandler for Numbers {
    async fn handle_batch(
        &self,
        msgs: Vec<Message>,
        _ctx: &HandlerContext,
    ) -> Result<Vec<Message>, BatchFailure> {
        self.sizes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(msgs.len());
        if let Some(every) = self.faults.panic_every {
            let boom = msgs
                .iter()
                .any(|m| number(m).is_ok_and(|n| n % every == every - 1));
            assert!(!(boom && msgs.len() > 1), "batch handler panics");
        }
        let mut out = Vec::with_capacity(msgs.len());
        for (i, msg) in msgs.iter().enumerate() {
            let n = number(msg).map_err(|e| BatchFailure::at(i, out.clone(), e))?;
            if self.faults.poison_every.is_some_and(|e| n % e == e - 1) {
                return Err(BatchFailure::at(i, out, HandlerError::permanent("poison")));
            }
            if self.faults.flaky_every.is_some_and(|e| n % e == e - 1) && {
                let mut flaked = self.flaked.lock().unwrap_or_else(PoisonError::into_inner);
                let seen = flaked.entry(n).or_default();
                *seen += 1;
                *seen <= 2
            } {
                return Err(BatchFailure::at(i, out, HandlerError::transient("flaky")));
            }
            let mut reply = Message::new(format!("out-{n}"));
            if let Some(key) = msg.key() {
                reply = reply.with_key(key);
            }
            out.push(reply);
        }
        Ok(out)
    }
}

struct Run {
    /// Per key, the numbers that came out, in arrival order.
    outputs: HashMap<String, Vec<u32>>,
    /// The payloads that went to the poison topic.
    poisoned: Vec<u32>,
    sizes: Vec<usize>,
}

/// Publishes `total` numbers on `KEYS` keys before the router starts (so the lanes
/// have backlogs to batch), runs the batch handler with `faults` and `middleware`, and
/// collects the output until `expected_out` messages came out.
async fn run(
    total: u32,
    faults: Faults,
    middleware: bool,
    expected_out: usize,
) -> anyhow::Result<Run> {
    let broker = MemoryBroker::new(MemoryConfig {
        partitions: 4,
        redelivery_delay: Duration::from_millis(5),
        ..MemoryConfig::default()
    });
    let msgs: Vec<Message> = (0..total)
        .map(|n| Message::new(n.to_string()).with_key(format!("k{}", n % KEYS)))
        .collect();
    broker.publish("numbers", msgs).await?;

    let sizes = Arc::new(Mutex::new(Vec::new()));
    let outputs: Arc<Mutex<HashMap<String, Vec<u32>>>> = Arc::default();
    let poisoned: Arc<Mutex<Vec<u32>>> = Arc::default();
    let seen = Arc::new(AtomicUsize::new(0));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();

    let mut router = Router::new(RouterConfig {
        batch_size: 64,
        ..RouterConfig::default()
    });
    if middleware {
        router
            .layer(PoisonQueueLayer::new(broker.clone(), "numbers.poison"))
            .layer(RetryLayer::new(
                RetryPolicy::default()
                    .max_attempts(3)
                    .initial_interval(Duration::from_millis(1))
                    .jitter(false),
            ));
    }
    router
        .batch_handler(
            "numbers",
            "numbers",
            broker.clone(),
            "outputs",
            broker.clone(),
            Numbers {
                faults,
                sizes: Arc::clone(&sizes),
                flaked: Mutex::default(),
            },
        )
        .concurrency(4);
    {
        let outputs = Arc::clone(&outputs);
        let seen = Arc::clone(&seen);
        router.consumer(
            "collect",
            "outputs",
            broker.clone(),
            consumer_fn(move |msg: Message| {
                let outputs = Arc::clone(&outputs);
                let seen = Arc::clone(&seen);
                let done_tx = done_tx.clone();
                async move {
                    let text = std::str::from_utf8(msg.payload())?;
                    let n: u32 = text.trim_start_matches("out-").parse()?;
                    let key = msg.key().unwrap_or_default().to_owned();
                    outputs
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(key)
                        .or_default()
                        .push(n);
                    if seen.fetch_add(1, Ordering::SeqCst) + 1 == expected_out {
                        done_tx.send(()).ok();
                    }
                    Ok(())
                }
            }),
        );
    }
    {
        let poisoned = Arc::clone(&poisoned);
        router.consumer(
            "poison-reader",
            "numbers.poison",
            broker.clone(),
            consumer_fn(move |msg: Message| {
                let poisoned = Arc::clone(&poisoned);
                async move {
                    poisoned
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(number(&msg)?);
                    Ok(())
                }
            }),
        );
    }
    let handle = router.handle();
    let task = tokio::spawn(router.run());
    handle.running().await;
    let finished = tokio::time::timeout(Duration::from_secs(20), done_rx.recv()).await;
    // Whatever is still in flight must not add more output: wait for the input lag to
    // reach zero, then stop.
    for _ in 0..200 {
        if broker.lag("numbers", "numbers")? == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.shutdown();
    task.await??;
    anyhow::ensure!(
        finished.is_ok(),
        "only {} of {expected_out} outputs arrived",
        seen.load(Ordering::SeqCst)
    );
    assert_eq!(broker.lag("numbers", "numbers")?, 0, "input left unhandled");
    let outputs = outputs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let poisoned = poisoned
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let sizes = sizes.lock().unwrap_or_else(PoisonError::into_inner).clone();
    Ok(Run {
        outputs,
        poisoned,
        sizes,
    })
}

/// Every key's output is exactly `expected(key)`, in order and once each.
fn assert_outputs(run: &Run, total: u32, skip: impl Fn(u32) -> bool) {
    for k in 0..KEYS {
        let expected: Vec<u32> = (0..total).filter(|n| n % KEYS == k && !skip(*n)).collect();
        let got = run
            .outputs
            .get(&format!("k{k}"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(got, expected, "output of key k{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_handled_in_batches_with_output_in_order() -> anyhow::Result<()> {
    let total = 2_000;
    let run = run(total, Faults::default(), false, total as usize).await?;
    assert_outputs(&run, total, |_| false);
    let largest = run.sizes.iter().copied().max().unwrap_or(0);
    assert!(
        largest > 1,
        "the handler never got more than one message at once"
    );
    assert!(
        largest <= 64,
        "a batch exceeded the router's batch size: {largest}"
    );
    assert_eq!(
        run.sizes.iter().sum::<usize>(),
        total as usize,
        "each message once"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_message_is_retried_or_poisoned_alone_and_the_lane_goes_on() -> anyhow::Result<()>
{
    let total = 2_000;
    let faults = Faults {
        poison_every: Some(97),
        flaky_every: Some(53),
        panic_every: None,
    };
    let poison = |n: u32| n % 97 == 96;
    let expected = (0..total).filter(|n| !poison(*n)).count();
    let run = run(total, faults, true, expected).await?;
    assert_outputs(&run, total, poison);
    let mut poisoned = run.poisoned.clone();
    poisoned.sort_unstable();
    assert_eq!(
        poisoned,
        (0..total).filter(|n| poison(*n)).collect::<Vec<_>>(),
        "exactly the poison messages went to the poison topic"
    );
    assert!(run.sizes.iter().any(|s| *s > 1), "no batch of several");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_middleware_a_failure_rewinds_the_lane_and_nothing_repeats() -> anyhow::Result<()> {
    let total = 1_000;
    let faults = Faults {
        flaky_every: Some(41),
        ..Faults::default()
    };
    let run = run(total, faults, false, total as usize).await?;
    assert_outputs(&run, total, |_| false);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_batch_falls_back_to_one_message_at_a_time() -> anyhow::Result<()> {
    let total = 1_000;
    let faults = Faults {
        panic_every: Some(101),
        ..Faults::default()
    };
    let run = run(total, faults, false, total as usize).await?;
    assert_outputs(&run, total, |_| false);
    assert!(
        run.sizes.contains(&1),
        "the panicking message was never handled alone"
    );
    Ok(())
}
