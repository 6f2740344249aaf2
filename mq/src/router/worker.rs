//! The loop that feeds one handler: fetch batches, handle each delivery in lane order,
//! publish the output, then settle.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::config::RouterConfig;
use super::health::Health;
use crate::batch::BatchHandler;
use crate::delivery::{Batch, Delivery};
use crate::handler::{BoxHandler, HandlerContext};
use crate::publisher::Publisher;
use crate::subscriber::Subscription;

/// Everything a lane needs to handle deliveries.
pub(super) struct Worker {
    pub(super) ctx: HandlerContext,
    /// The handler wrapped in its middleware (for a batch handler: batches of one).
    pub(super) handler: BoxHandler,
    /// The batch handler, when registered with `Router::batch_handler`.
    pub(super) batch: Option<Arc<dyn BatchHandler>>,
    pub(super) output: Option<(String, Arc<dyn Publisher>)>,
    pub(super) shutdown: CancellationToken,
}

impl Worker {
    /// Handles a batch in order. After a rejection the rest of the batch is stale (the
    /// lane was rewound) and is dropped unhandled; it will be delivered again.
    async fn process(&self, batch: Batch) {
        if let Some(handler) = &self.batch {
            return self.process_batched(handler, batch.deliveries).await;
        }
        for delivery in batch.deliveries {
            if !self.process_one(delivery).await {
                return;
            }
        }
    }

    /// Handles one delivery through the middleware; false when the rest of its batch
    /// must not be handled (it was rejected, or the router is shutting down).
    async fn process_one(&self, delivery: Delivery) -> bool {
        if self.shutdown.is_cancelled() || delivery.is_stale() {
            return false;
        }
        let ctx = self.ctx.with_attempt(delivery.attempt());
        let msg = delivery.message().clone();
        let outcome = AssertUnwindSafe(self.handler.handle(msg, &ctx))
            .catch_unwind()
            .await;
        match outcome {
            Ok(Ok(produced)) => {
                if !produced.is_empty() {
                    if let Err(err) = self.publish(produced).await {
                        tracing::warn!(handler = ctx.handler(), error = %err, "publishing handler output failed; the message will be delivered again");
                        delivery.nack();
                        return false;
                    }
                }
                delivery.ack();
                true
            }
            Ok(Err(err)) => {
                tracing::warn!(handler = ctx.handler(), message_id = delivery.message().id(), error = %err, "handler failed; the message will be delivered again");
                delivery.nack();
                false
            }
            Err(_) => {
                tracing::error!(
                    handler = ctx.handler(),
                    message_id = delivery.message().id(),
                    "handler panicked; the message will be delivered again"
                );
                delivery.nack();
                false
            }
        }
    }

    /// Handles a batch with a [`BatchHandler`]: the handled prefix is published in one
    /// call and acknowledged; a failing message goes through the middleware on its
    /// own ([`Worker::process_one`]); the rest follows as a new batch.
    async fn process_batched(&self, handler: &Arc<dyn BatchHandler>, deliveries: Vec<Delivery>) {
        let mut pending: VecDeque<Delivery> = deliveries.into();
        while !pending.is_empty() {
            if self.shutdown.is_cancelled() || pending.front().is_some_and(Delivery::is_stale) {
                return;
            }
            if pending.len() == 1 {
                if let Some(delivery) = pending.pop_front() {
                    self.process_one(delivery).await;
                }
                return;
            }
            let attempt = pending.iter().map(Delivery::attempt).max().unwrap_or(1);
            let ctx = self.ctx.with_attempt(attempt);
            let msgs = pending.iter().map(|d| d.message().clone()).collect();
            let outcome = AssertUnwindSafe(handler.handle_batch(msgs, &ctx))
                .catch_unwind()
                .await;
            let (handled, output, failed) = match outcome {
                Ok(Ok(output)) => (pending.len(), output, false),
                Ok(Err(failure)) => {
                    tracing::debug!(handler = ctx.handler(), handled = failure.handled, error = %failure.error, "batch failed part way; handling the failing message on its own");
                    (failure.handled.min(pending.len()), failure.output, true)
                }
                Err(_) => {
                    tracing::warn!(
                        handler = ctx.handler(),
                        "batch handler panicked; handling the first message on its own"
                    );
                    (0, Vec::new(), true)
                }
            };
            if !output.is_empty() {
                if let Err(err) = self.publish(output).await {
                    tracing::warn!(handler = ctx.handler(), error = %err, "publishing batch output failed; the batch will be delivered again");
                    if let Some(first) = pending.pop_front() {
                        first.nack();
                    }
                    return;
                }
            }
            for delivery in pending.drain(..handled) {
                delivery.ack();
            }
            metrics::histogram!("mq_handler_batch_size", "handler" => self.ctx.handler().to_owned())
                .record(handled as f64);
            if failed {
                let Some(delivery) = pending.pop_front() else {
                    return;
                };
                if !self.process_one(delivery).await {
                    return;
                }
            }
        }
    }

    async fn publish(&self, produced: Vec<crate::Message>) -> Result<(), crate::Error> {
        match &self.output {
            Some((topic, publisher)) => publisher.publish(topic, produced).await,
            None => {
                tracing::warn!(
                    handler = self.ctx.handler(),
                    count = produced.len(),
                    "a consume-only handler returned messages; they were dropped"
                );
                Ok(())
            }
        }
    }
}

/// Why a handler's loop ended.
#[derive(Debug)]
pub(super) enum HandlerExit {
    /// The router is shutting down.
    Shutdown,
    /// The subscription ended by itself: the router must stop and say why.
    Ended {
        /// The handler's name.
        handler: String,
        /// Why the subscription ended.
        reason: String,
    },
}

/// Runs one handler until shutdown or until its subscription ends, then closes the
/// subscription (flushing acknowledgements, giving back what was not handled).
pub(super) async fn run_handler(
    worker: Worker,
    mut subscription: Box<dyn Subscription>,
    config: RouterConfig,
    concurrency: usize,
    health: Health,
) -> HandlerExit {
    let worker = Arc::new(worker);
    let shutdown = worker.shutdown.clone();
    let mut lanes = Vec::new();
    let mut joins = Vec::new();
    if concurrency > 1 {
        for _ in 0..concurrency {
            let (tx, mut rx) = mpsc::channel::<Batch>(2);
            let w = Arc::clone(&worker);
            joins.push(tokio::spawn(async move {
                while let Some(batch) = rx.recv().await {
                    w.process(batch).await;
                }
            }));
            lanes.push(tx);
        }
    }
    let name = worker.ctx.handler().to_owned();
    let mut ended = None;
    let mut failing = false;
    loop {
        let fetched = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            fetched = subscription.next_batch(config.batch_size) => fetched,
        };
        match fetched {
            Ok(Some(batch)) => {
                if std::mem::take(&mut failing) {
                    health.recovered(&name);
                }
                if lanes.is_empty() {
                    worker.process(batch).await;
                } else {
                    let lane = &lanes[batch.lane as usize % lanes.len()];
                    let sent = tokio::select! {
                        biased;
                        () = shutdown.cancelled() => break,
                        sent = lane.send(batch) => sent,
                    };
                    if sent.is_err() {
                        ended = Some("a lane task stopped".to_owned());
                        break;
                    }
                }
            }
            Ok(None) => {
                ended = Some("its subscription ended (the subscriber was closed)".to_owned());
                break;
            }
            Err(crate::Error::Closed) => {
                ended = Some("its subscriber was closed".to_owned());
                break;
            }
            Err(err) => {
                failing = true;
                let failures = health.failed(&name, &err);
                metrics::counter!("mq_router_fetch_errors_total", "handler" => name.clone())
                    .increment(1);
                tracing::warn!(handler = %name, error = %err, failures, "fetching failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(config.fetch_error_backoff) => {}
                }
            }
        }
    }
    drop(lanes);
    for join in joins {
        if join.await.is_err() {
            tracing::error!(handler = worker.ctx.handler(), "a lane task failed");
        }
    }
    if let Err(err) = subscription.close().await {
        tracing::warn!(handler = %name, error = %err, "closing the subscription failed");
    }
    match ended {
        Some(reason) if !shutdown.is_cancelled() => {
            tracing::error!(handler = %name, %reason, "handler stopped; stopping the router");
            HandlerExit::Ended {
                handler: name,
                reason,
            }
        }
        _ => HandlerExit::Shutdown,
    }
}
