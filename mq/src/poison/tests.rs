use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tower::Layer;

use super::*;
use crate::backend::memory::{MemoryBroker, MemoryConfig};
use crate::handler::{handler_fn, Handler, HandlerContext, HandlerError};
use crate::message::Message;
use crate::middleware::{PoisonQueueLayer, RetryLayer, RetryPolicy};
use crate::router::{Router, RouterConfig};

const WAIT: Duration = Duration::from_secs(10);

fn broker() -> MemoryBroker {
    MemoryBroker::new(MemoryConfig {
        redelivery_delay: Duration::from_millis(5),
        ..MemoryConfig::default()
    })
}

/// Poisons `msgs` as if handler `handler` had failed on them while consuming `topic`.
async fn poison(broker: &MemoryBroker, topic: &str, handler: &str, msgs: Vec<Message>) {
    let failing = PoisonQueueLayer::new(broker.clone(), "poison").layer(handler_fn(
        |m: Message, _ctx: HandlerContext| async move {
            Err(HandlerError::permanent(format!(
                "bad {}",
                String::from_utf8_lossy(m.payload())
            )))
        },
    ));
    let ctx = HandlerContext::new(handler, topic, format!("{handler}-group"));
    for m in msgs {
        assert!(matches!(failing.handle(m, &ctx).await, Ok(ref v) if v.is_empty()));
    }
}

#[tokio::test]
async fn fetch_parses_and_dropping_keeps_the_message() -> anyhow::Result<()> {
    let broker = broker();
    let queue = PoisonQueue::new(broker.clone(), broker.clone(), "poison");
    assert!(queue.fetch(0, WAIT).await?.is_empty());
    assert!(queue.fetch(5, Duration::from_millis(1)).await?.is_empty());

    let msg = Message::new("one").with_key("k").with_metadata("app", "x");
    poison(&broker, "orders", "billing", vec![msg.clone()]).await;

    let fetched = queue.fetch(5, WAIT).await?;
    assert_eq!(fetched.len(), 1);
    let p = &fetched[0];
    assert_eq!(p.message().id(), msg.id());
    assert_eq!(p.reason(), Some("bad one"));
    assert_eq!(p.original_topic(), Some("orders"));
    assert_eq!(p.handler(), Some("billing"));
    assert_eq!(p.group(), Some("billing-group"));
    assert_eq!(p.attempts(), Some(1));
    let at = p
        .poisoned_at()
        .ok_or_else(|| anyhow::anyhow!("no poisoned_at"))?;
    assert!(SystemTime::now().duration_since(at)? < Duration::from_secs(60));
    assert_eq!(p.delivery_attempt(), 1);
    assert_eq!(p.original(), msg, "the original has no poison.* metadata");
    drop(fetched);

    // Still there, delivered again.
    let again = queue.fetch(5, WAIT).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message().id(), msg.id());
    assert_eq!(again[0].delivery_attempt(), 2);
    assert_eq!(broker.lag("poison", DEFAULT_INSPECTOR_GROUP)?, 1);
    for p in again {
        p.discard();
    }
    assert_eq!(broker.lag("poison", DEFAULT_INSPECTOR_GROUP)?, 0);
    assert!(queue.fetch(5, Duration::from_millis(20)).await?.is_empty());
    queue.close().await?;
    Ok(())
}

#[tokio::test]
async fn fetch_takes_several_lanes_up_to_max() -> anyhow::Result<()> {
    let broker = broker();
    let queue = PoisonQueue::new(broker.clone(), broker.clone(), "poison").with_group("ops");
    let msgs: Vec<Message> = (0..6)
        .map(|i| Message::new(format!("m{i}")).with_key(format!("key-{i}")))
        .collect();
    poison(&broker, "orders", "billing", msgs).await;
    let first = queue.fetch(4, WAIT).await?;
    assert_eq!(first.len(), 4);
    let rest = queue.fetch(10, WAIT).await?;
    assert_eq!(rest.len(), 2);
    for p in first.into_iter().chain(rest) {
        p.discard();
    }
    assert_eq!(broker.lag("poison", "ops")?, 0);
    Ok(())
}

#[tokio::test]
async fn replay_puts_the_message_back_on_its_topic() -> anyhow::Result<()> {
    let broker = broker();
    broker.create_group("orders", "reader")?;
    let queue = PoisonQueue::new(broker.clone(), broker.clone(), "poison");
    let msg = Message::new("one").with_key("k").with_metadata("app", "x");
    poison(&broker, "orders", "billing", vec![msg.clone()]).await;

    for p in queue.fetch(1, WAIT).await? {
        p.replay().await?;
    }
    assert_eq!(broker.lag("poison", DEFAULT_INSPECTOR_GROUP)?, 0);
    assert_eq!(broker.lag("orders", "reader")?, 1);
    let mut sub = broker.subscribe("orders", "reader").await?;
    let batch = tokio::time::timeout(WAIT, sub.next_batch(10))
        .await??
        .ok_or_else(|| anyhow::anyhow!("closed"))?;
    assert_eq!(batch.deliveries.len(), 1);
    assert_eq!(batch.deliveries[0].message(), &msg);
    Ok(())
}

#[tokio::test]
async fn replay_after_an_earlier_message_was_left_is_refused() -> anyhow::Result<()> {
    let broker = broker();
    broker.create_group("orders", "reader")?;
    let queue = PoisonQueue::new(broker.clone(), broker.clone(), "poison");
    let a = Message::new("a").with_key("same");
    let b = Message::new("b").with_key("same");
    poison(&broker, "orders", "billing", vec![a, b.clone()]).await;

    let mut fetched = queue.fetch(2, WAIT).await?.into_iter();
    let (first, second) = (fetched.next(), fetched.next());
    drop(first); // left in the queue: its lane is rewound
    let second = second.ok_or_else(|| anyhow::anyhow!("two fetched"))?;
    assert_eq!(second.message().id(), b.id());
    assert!(second.replay().await.is_err());
    assert_eq!(broker.lag("orders", "reader")?, 0, "nothing replayed");
    assert_eq!(
        broker.lag("poison", DEFAULT_INSPECTOR_GROUP)?,
        2,
        "nothing lost"
    );
    Ok(())
}

#[tokio::test]
async fn replay_all_replays_what_the_filter_accepts() -> anyhow::Result<()> {
    let broker = broker();
    broker.create_group("orders", "reader")?;
    broker.create_group("payments", "reader")?;
    let queue = PoisonQueue::new(broker.clone(), broker.clone(), "poison")
        .with_replay_wait(Duration::from_millis(20));
    poison(
        &broker,
        "orders",
        "billing",
        vec![
            Message::new("o1").with_key("same"),
            Message::new("o2").with_key("same"),
            Message::new("o3").with_key("other"),
        ],
    )
    .await;
    poison(
        &broker,
        "payments",
        "ledger",
        vec![Message::new("p1").with_key("same")],
    )
    .await;

    let replayed = queue
        .replay_all(|p| p.original_topic() == Some("orders") && p.reason() != Some("bad o2"))
        .await?;
    assert_eq!(replayed, 2);
    assert_eq!(broker.lag("orders", "reader")?, 2);
    assert_eq!(broker.lag("payments", "reader")?, 0);

    // What was left is still in the poison queue, and nothing else.
    let mut left: Vec<String> = Vec::new();
    for p in queue.fetch(10, WAIT).await? {
        left.push(p.reason().unwrap_or_default().to_owned());
        p.discard();
    }
    left.sort();
    assert_eq!(left, ["bad o2", "bad p1"]);
    assert!(queue.fetch(10, Duration::from_millis(20)).await?.is_empty());
    Ok(())
}

/// The operator's story: a handler fails on a message (a bug), the message is
/// poisoned after its retries and the stream goes on; the bug is fixed, the message is
/// replayed and handled.
#[tokio::test]
async fn replayed_message_is_handled_after_the_fix() -> anyhow::Result<()> {
    let broker = broker();
    let fixed = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, bool)>();
    let is_fixed = Arc::clone(&fixed);
    let handler = handler_fn(move |m: Message, _ctx: HandlerContext| {
        let tx = tx.clone();
        let fixed = is_fixed.load(Ordering::SeqCst);
        async move {
            let poisoned = m.metadata().iter().any(|(k, _)| k.starts_with("poison."));
            if m.payload().as_ref() == b"tricky" && !fixed {
                return Err(HandlerError::transient("bug"));
            }
            tx.send((String::from_utf8_lossy(m.payload()).into_owned(), poisoned))
                .ok();
            Ok(Vec::new())
        }
    });
    let mut router = Router::new(RouterConfig::default());
    router
        .layer(PoisonQueueLayer::new(broker.clone(), "poison"))
        .layer(RetryLayer::new(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_interval(Duration::from_millis(1)),
        ));
    router.consumer("worker", "jobs", broker.clone(), handler);
    let handle = router.handle();
    let running = tokio::spawn(router.run());
    handle.running().await;

    let queue = PoisonQueue::new(broker.clone(), broker.clone(), "poison");
    broker
        .publish(
            "jobs",
            vec![
                Message::new("tricky").with_key("k"),
                Message::new("plain").with_key("k"),
            ],
        )
        .await?;
    let got = tokio::time::timeout(WAIT, rx.recv()).await?;
    assert_eq!(got, Some(("plain".to_owned(), false)));

    let poisoned = queue.fetch(10, WAIT).await?;
    assert_eq!(poisoned.len(), 1);
    assert_eq!(poisoned[0].attempts(), Some(2));
    assert_eq!(poisoned[0].handler(), Some("worker"));
    fixed.store(true, Ordering::SeqCst);
    for p in poisoned {
        p.replay().await?;
    }
    let got = tokio::time::timeout(WAIT, rx.recv()).await?;
    assert_eq!(got, Some(("tricky".to_owned(), false)));

    handle.shutdown();
    running.await??;
    assert_eq!(broker.lag("jobs", "worker")?, 0);
    assert_eq!(broker.lag("poison", DEFAULT_INSPECTOR_GROUP)?, 0);
    Ok(())
}

#[test]
fn poison_queue_futures_are_send() {
    fn send<T: Send>(t: T) -> T {
        t
    }
    let broker = broker();
    let queue = send(PoisonQueue::new(broker.clone(), broker, "poison"));
    drop(send(queue.fetch(1, Duration::ZERO)));
    drop(send(queue.replay_all(|_| true)));
    assert_eq!(queue.group(), DEFAULT_INSPECTOR_GROUP);
    assert_eq!(queue.topic(), "poison");
}
