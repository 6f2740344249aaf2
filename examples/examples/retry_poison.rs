//! Retries, the poison queue and replay, on the in-memory broker.
//!
//! A router handles payments with two router-level middleware: a `PoisonQueueLayer`
//! (outermost) and a `RetryLayer` (3 attempts, short backoff). Four payments are
//! published; all of them for the same customer, so they share a key and a lane:
//!
//! - `order-1` succeeds at once;
//! - `order-2` fails twice with a transient error, then succeeds on its third attempt;
//! - `order-3` always fails while the payment gateway is "down": after 3 attempts it is
//!   published to the `poison` topic with metadata saying why, and acknowledged;
//! - `order-4` is then handled: a poison message never blocks its lane.
//!
//! The example then inspects the poison queue, "repairs" the gateway, replays the
//! poisoned message to its original topic, watches it succeed, and shuts down.
//!
//! Run with `cargo run -p examples --example retry_poison` (set `RUST_LOG=debug` for
//! more of the library's logs).

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};
use mq::backend::memory::MemoryBroker;
use mq::middleware::{PoisonQueueLayer, RetryLayer, RetryPolicy};
use mq::poison::PoisonQueue;
use mq::{
    handler_fn, keys, HandlerContext, HandlerError, Message, Publisher, Router, RouterConfig,
};
use tokio::sync::mpsc;

const PAYMENTS: &str = "payments";
const POISON: &str = "poison";
const WAIT: Duration = Duration::from_secs(10);

/// The state the handler shares with `main`.
#[derive(Default)]
struct Gateway {
    /// True once the operator has "repaired" the gateway.
    repaired: AtomicBool,
    /// Calls made per order id, across retries and redeliveries.
    calls: Mutex<HashMap<String, u32>>,
}

impl Gateway {
    fn call(&self, order: &str) -> u32 {
        let mut calls = self
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = calls.entry(order.to_owned()).or_insert(0);
        *n += 1;
        *n
    }

    /// Charges an order: `order-2` is flaky, `order-3` fails until repaired.
    fn charge(&self, order: &str) -> Result<(), HandlerError> {
        let call = self.call(order);
        let outcome = match order {
            "order-2" if call < 3 => Err(HandlerError::transient("gateway timeout")),
            "order-3" if !self.repaired.load(Ordering::SeqCst) => Err(HandlerError::transient(
                "card gateway unavailable (HTTP 503)",
            )),
            _ => Ok(()),
        };
        match &outcome {
            Ok(()) => println!("  handler: {order} call {call}: charged"),
            Err(err) => println!("  handler: {order} call {call}: failed: {err}"),
        }
        outcome
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_target(false)
        .without_time()
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    let broker = MemoryBroker::default();
    let gateway = Arc::new(Gateway::default());
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();

    let mut router = Router::new(RouterConfig::default());
    // First added is outermost: the poison layer sees what the retry layer gives up on.
    router
        .layer(PoisonQueueLayer::new(broker.clone(), POISON))
        .layer(RetryLayer::new(
            RetryPolicy::default()
                .max_attempts(3)
                .initial_interval(Duration::from_millis(20))
                .max_interval(Duration::from_millis(100)),
        ));
    let handler_gateway = Arc::clone(&gateway);
    router.consumer(
        "charge-payment",
        PAYMENTS,
        broker.clone(),
        handler_fn(move |msg: Message, ctx: HandlerContext| {
            let gateway = Arc::clone(&handler_gateway);
            let done = done_tx.clone();
            async move {
                let order = String::from_utf8_lossy(msg.payload()).into_owned();
                gateway.charge(&order)?;
                let leftover: Vec<&str> = msg
                    .metadata()
                    .iter()
                    .map(|(k, _)| k)
                    .filter(|k| k.starts_with("poison."))
                    .collect();
                if !leftover.is_empty() {
                    return Err(HandlerError::permanent(format!(
                        "unexpected metadata {leftover:?}"
                    )));
                }
                println!(
                    "  handler: {order} done (message {}, key {:?}, delivery attempt {})",
                    msg.id(),
                    msg.key().unwrap_or("-"),
                    ctx.delivery_attempt()
                );
                done.send(order).ok();
                Ok(Vec::new())
            }
        }),
    );
    let handle = router.handle();
    let running = tokio::spawn(router.run());
    handle.running().await;

    println!("== publishing order-1 .. order-4 to {PAYMENTS:?}, all with key customer-7");
    let orders: Vec<Message> = (1..=4)
        .map(|i| Message::new(format!("order-{i}")).with_key("customer-7"))
        .collect();
    let poisoned_id = orders[2].id().to_owned();
    broker.publish(PAYMENTS, orders).await?;

    let mut handled = Vec::new();
    while handled.len() < 3 {
        let order = tokio::time::timeout(WAIT, done_rx.recv())
            .await
            .context("waiting for the handler")?
            .context("handler gone")?;
        handled.push(order);
    }
    println!("== handled: {handled:?}; order-3 never blocked order-4");
    if handled != ["order-1", "order-2", "order-4"] {
        bail!("unexpected handling order {handled:?}");
    }

    println!("== inspecting the poison queue");
    let poison = PoisonQueue::new(broker.clone(), broker.clone(), POISON);
    let mut poisoned = poison.fetch(10, WAIT).await?;
    if poisoned.len() != 1 {
        bail!("expected one poisoned message, got {}", poisoned.len());
    }
    let Some(item) = poisoned.pop() else {
        bail!("no poisoned message");
    };
    println!("  id:             {}", item.message().id());
    println!(
        "  payload:        {}",
        String::from_utf8_lossy(item.message().payload())
    );
    println!("  reason:         {}", item.reason().unwrap_or("?"));
    println!("  original topic: {}", item.original_topic().unwrap_or("?"));
    println!("  handler:        {}", item.handler().unwrap_or("?"));
    println!("  group:          {}", item.group().unwrap_or("?"));
    println!(
        "  attempts:       {}",
        item.attempts()
            .map_or_else(|| "?".into(), |a| a.to_string())
    );
    println!(
        "  poisoned at:    {}",
        item.message()
            .metadata()
            .get(keys::POISON_AT)
            .unwrap_or("?")
    );
    println!("  metadata:       {:?}", item.message().metadata());
    if item.message().id() != poisoned_id
        || item.attempts() != Some(3)
        || item.poisoned_at().is_none()
    {
        bail!("the poisoned message is not order-3 after 3 attempts");
    }

    println!("== repairing the gateway and replaying the poisoned message");
    gateway.repaired.store(true, Ordering::SeqCst);
    item.replay().await?;
    let order = tokio::time::timeout(WAIT, done_rx.recv())
        .await
        .context("waiting for the replayed message")?
        .context("handler gone")?;
    println!("== replayed {order} handled");
    if order != "order-3" {
        bail!("expected order-3, got {order}");
    }

    let left = poison.fetch(10, Duration::from_millis(200)).await?;
    println!("== poison queue now holds {} message(s)", left.len());
    poison.close().await?;
    if !left.is_empty() {
        bail!("the poison queue should be empty");
    }

    handle.shutdown();
    running.await??;
    println!("== router stopped cleanly");
    Ok(())
}
