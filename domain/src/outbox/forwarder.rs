//! [`OutboxForwarder`]: publishes outbox rows in order and marks them published.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::OutboxRecord;
use crate::error::DomainError;
use crate::repository::OutboxRepository;
use crate::types::Timestamp;

/// How the forwarder reads and retries.
#[derive(Clone, Debug)]
pub struct ForwarderConfig {
    /// Most rows read and published per round (default 100).
    pub batch_size: u32,
    /// How often to look for rows written by other processes (default 250 ms); rows
    /// written through this process's [`crate::Store`] wake the forwarder at once.
    pub poll_interval: Duration,
    /// How long to wait after a failed round (default 1 s).
    pub retry_delay: Duration,
    /// How long the forwarding lease lasts without renewal (default 10 s): when the
    /// forwarder holding it dies, another takes over after at most this long.
    pub lease_ttl: Duration,
}

impl Default for ForwarderConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            poll_interval: Duration::from_millis(250),
            retry_delay: Duration::from_secs(1),
            lease_ttl: Duration::from_secs(10),
        }
    }
}

/// Moves events from the outbox table to the message bus.
///
/// Each round reads unpublished rows in id order, publishes them (consecutive rows of
/// one topic in one `publish` call; the message id is the row's stored id, the key its
/// event key), then marks them published. A crash between publishing and marking
/// publishes the same messages again, with the same ids: at least once, never lost.
/// Several forwarders may share a database (every server runs one): only the holder of
/// the database's forwarding lease forwards ([`OutboxRepository::acquire_lease`],
/// renewed every round, [`ForwarderConfig::lease_ttl`]), so rows are published once and
/// in order; the others take over when it stops (it releases the lease) or dies (the
/// lease expires). A holder that stalls longer than the TTL may overlap with its
/// successor for a round: duplicates, never a loss.
///
/// ```
/// use std::sync::Arc;
/// use domain::{OutboxForwarder, Store};
/// use mq::backend::memory::MemoryBroker;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), domain::DomainError> {
/// let store = Store::connect("sqlite::memory:").await?;
/// let broker = MemoryBroker::default();
/// let forwarder = OutboxForwarder::new(store.clone(), Arc::new(broker.clone())).spawn();
/// // ... services write events through `store` ...
/// forwarder.stop().await;
/// # Ok(()) }
/// ```
pub struct OutboxForwarder {
    holder: String,
    repo: Arc<dyn OutboxRepository>,
    publisher: Arc<dyn mq::Publisher>,
    config: ForwarderConfig,
}

impl fmt::Debug for OutboxForwarder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxForwarder")
            .field("repo", &self.repo)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OutboxForwarder {
    /// A forwarder from `repo` to `publisher` with the default settings.
    pub fn new(repo: impl OutboxRepository, publisher: Arc<dyn mq::Publisher>) -> Self {
        Self {
            holder: format!("forwarder-{}", uuid::Uuid::now_v7()),
            repo: Arc::new(repo),
            publisher,
            config: ForwarderConfig::default(),
        }
    }

    /// Replaces the settings.
    #[must_use]
    pub fn with_config(mut self, config: ForwarderConfig) -> Self {
        self.config = config;
        self
    }

    /// One round: publishes up to `batch_size` rows; returns how many were published.
    pub async fn forward_batch(&self) -> Result<usize, DomainError> {
        let rows = self.repo.unpublished(self.config.batch_size).await?;
        let mut published: Vec<i64> = Vec::with_capacity(rows.len());
        let mut result = Ok(());
        for run in rows.chunk_by(|a, b| a.topic == b.topic) {
            let messages = run.iter().map(OutboxRecord::to_message).collect();
            if let Err(e) = self.publisher.publish(&run[0].topic, messages).await {
                result = Err(DomainError::Publish(e));
                break;
            }
            published.extend(run.iter().map(|r| r.id));
        }
        if !published.is_empty() {
            self.repo
                .mark_published(&published, Timestamp::now())
                .await?;
        }
        result.map(|()| published.len())
    }

    /// Forwards until `shutdown` completes, then returns after the round in flight.
    pub async fn run_until<F: Future<Output = ()>>(self, shutdown: F) {
        let token = CancellationToken::new();
        let run = self.run(token.clone());
        tokio::pin!(run);
        tokio::select! {
            () = &mut run => return,
            () = shutdown => token.cancel(),
        }
        run.await;
    }

    /// Runs on a task; stop it with [`ForwarderHandle::stop`].
    pub fn spawn(self) -> ForwarderHandle {
        let token = CancellationToken::new();
        let task = tokio::spawn(self.run(token.clone()));
        ForwarderHandle { token, task }
    }

    async fn run(self, token: CancellationToken) {
        let new_rows = self.repo.new_rows();
        let full = usize::try_from(self.config.batch_size).unwrap_or(usize::MAX);
        while !token.is_cancelled() {
            let now = Timestamp::now();
            let lease = self
                .repo
                .acquire_lease(&self.holder, now, now.plus(self.config.lease_ttl))
                .await;
            let wait = match lease {
                Ok(false) => {
                    // Another forwarder holds the lease: wait, then try again.
                    tokio::select! {
                        () = token.cancelled() => break,
                        () = tokio::time::sleep(self.config.poll_interval) => {}
                    }
                    continue;
                }
                Err(e) => Err(e),
                Ok(true) => self.forward_batch().await,
            };
            let wait = match wait {
                Ok(n) if n >= full => continue,
                Ok(_) => self.config.poll_interval,
                Err(e) => {
                    tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "outbox forwarding failed; retrying");
                    self.config.retry_delay
                }
            };
            tokio::select! {
                () = token.cancelled() => break,
                () = new_rows.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        if let Err(e) = self.repo.release_lease(&self.holder).await {
            tracing::debug!(error = %e, "outbox lease not released; it expires");
        }
        tracing::debug!("outbox forwarder stopped");
    }
}

/// A running forwarder.
#[derive(Debug)]
pub struct ForwarderHandle {
    token: CancellationToken,
    task: JoinHandle<()>,
}

impl ForwarderHandle {
    /// Asks the forwarder to stop after the round in flight.
    pub fn shutdown(&self) {
        self.token.cancel();
    }

    /// Stops the forwarder and waits until it has.
    pub async fn stop(self) {
        self.token.cancel();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "outbox forwarder task failed");
        }
    }
}
