//! The loop that feeds one handler: fetch batches, handle each delivery in lane order,
//! publish the output, then settle.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::config::RouterConfig;
use crate::delivery::Batch;
use crate::handler::{BoxHandler, HandlerContext};
use crate::publisher::Publisher;
use crate::subscriber::Subscription;

/// Everything a lane needs to handle deliveries.
pub(super) struct Worker {
    pub(super) ctx: HandlerContext,
    pub(super) handler: BoxHandler,
    pub(super) output: Option<(String, Arc<dyn Publisher>)>,
    pub(super) shutdown: CancellationToken,
}

impl Worker {
    /// Handles a batch in order. After a rejection the rest of the batch is stale (the
    /// lane was rewound) and is dropped unhandled; it will be delivered again.
    async fn process(&self, batch: Batch) {
        for delivery in batch.deliveries {
            if self.shutdown.is_cancelled() || delivery.is_stale() {
                return;
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
                            return;
                        }
                    }
                    delivery.ack();
                }
                Ok(Err(err)) => {
                    tracing::warn!(handler = ctx.handler(), message_id = delivery.message().id(), error = %err, "handler failed; the message will be delivered again");
                    delivery.nack();
                    return;
                }
                Err(_) => {
                    tracing::error!(
                        handler = ctx.handler(),
                        message_id = delivery.message().id(),
                        "handler panicked; the message will be delivered again"
                    );
                    delivery.nack();
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

/// Runs one handler until shutdown or until its subscription ends, then closes the
/// subscription (flushing acknowledgements, giving back what was not handled).
pub(super) async fn run_handler(
    worker: Worker,
    mut subscription: Box<dyn Subscription>,
    config: RouterConfig,
    concurrency: usize,
) {
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
    loop {
        let fetched = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            fetched = subscription.next_batch(config.batch_size) => fetched,
        };
        match fetched {
            Ok(Some(batch)) => {
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
                        break;
                    }
                }
            }
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(handler = worker.ctx.handler(), error = %err, "fetching failed; retrying");
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
        tracing::warn!(handler = worker.ctx.handler(), error = %err, "closing the subscription failed");
    }
}
