//! [`DedupLayer`]: skips messages a handler has already processed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tower::Layer;

use crate::handler::{Handler, HandlerContext, HandlerError};
use crate::message::Message;

/// A [`DedupStore`] failed.
#[derive(Debug, thiserror::Error)]
#[error("dedup store: {source}")]
pub struct DedupError {
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl DedupError {
    /// Wraps what the store reported.
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { source: err.into() }
    }
}

/// Remembers which keys were processed, for a while.
///
/// [`MemoryDedupStore`] keeps them in the process; a store shared by several processes
/// (Redis, SQL) makes the dedup work across the members of a consumer group.
#[async_trait]
pub trait DedupStore: Send + Sync + 'static {
    /// True when `key` was recorded and has not expired.
    async fn seen(&self, key: &str) -> Result<bool, DedupError>;

    /// Records `key` as processed for `ttl`.
    async fn record(&self, key: &str, ttl: Duration) -> Result<(), DedupError>;
}

#[async_trait]
impl<T: DedupStore + ?Sized> DedupStore for Arc<T> {
    async fn seen(&self, key: &str) -> Result<bool, DedupError> {
        (**self).seen(key).await
    }

    async fn record(&self, key: &str, ttl: Duration) -> Result<(), DedupError> {
        (**self).record(key, ttl).await
    }
}

/// An in-process [`DedupStore`] holding at most `capacity` keys: when full, recording
/// a key evicts the oldest one; expired keys are dropped as new ones are recorded.
#[derive(Debug)]
pub struct MemoryDedupStore {
    capacity: usize,
    state: Mutex<DedupState>,
}

#[derive(Debug, Default)]
struct DedupState {
    /// key -> (expiry, insertion sequence number).
    entries: HashMap<String, (Instant, u64)>,
    /// insertion sequence number -> key, oldest first.
    order: BTreeMap<u64, String>,
    next_seq: u64,
}

impl Default for MemoryDedupStore {
    /// A store of up to 65,536 keys.
    fn default() -> Self {
        Self::new(65_536)
    }
}

impl MemoryDedupStore {
    /// A store of up to `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::new(DedupState::default()),
        }
    }

    /// The number of keys held (expired ones included until they are dropped).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, DedupState> {
        // The state stays consistent across a panic: every change is a few map operations.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl DedupStore for MemoryDedupStore {
    async fn seen(&self, key: &str) -> Result<bool, DedupError> {
        let state = self.lock();
        Ok(state
            .entries
            .get(key)
            .is_some_and(|(expires, _)| *expires > Instant::now()))
    }

    async fn record(&self, key: &str, ttl: Duration) -> Result<(), DedupError> {
        let now = Instant::now();
        let expires = now
            .checked_add(ttl)
            .or_else(|| now.checked_add(Duration::from_secs(86_400 * 365)))
            .unwrap_or(now);
        let mut guard = self.lock();
        let state = &mut *guard;
        let seq = state.next_seq;
        state.next_seq += 1;
        if let Some((_, old_seq)) = state.entries.insert(key.to_owned(), (expires, seq)) {
            state.order.remove(&old_seq);
        }
        state.order.insert(seq, key.to_owned());
        // Drop the oldest keys while they are expired or the store is over capacity.
        while let Some(entry) = state.order.first_entry() {
            let oldest = entry.get();
            let expired = state
                .entries
                .get(oldest)
                .is_none_or(|(expires, _)| *expires <= now);
            if !expired && state.entries.len() <= self.capacity {
                break;
            }
            let oldest = entry.remove();
            state.entries.remove(&oldest);
        }
        Ok(())
    }
}

type KeyFn = Arc<dyn Fn(&Message) -> Option<String> + Send + Sync>;

/// Skips messages the handler already processed successfully, as remembered by a
/// [`DedupStore`] for `ttl`.
///
/// - The key is the message id by default ([`key_fn`](Self::key_fn) changes it; `None`
///   means "do not deduplicate this message"). It is stored as
///   `"<topic>/<group>/<key>"`, so handlers sharing a store do not skip each other's
///   messages.
/// - A key already seen: the handler is not called and the message is acknowledged.
/// - Otherwise the handler runs, and the key is recorded only after it succeeded, so a
///   failed message is delivered again and handled, not skipped.
/// - A store error never loses a message: if the store cannot tell, the handler runs;
///   if recording fails, the success stands (a later duplicate may run again).
///
/// Dedup is best effort: two copies of a message handled at the same time (before
/// either is recorded) both run, and a key expires after `ttl`. Handlers stay
/// idempotent; this layer only saves work. Put it inside the
/// [`PoisonQueueLayer`](super::PoisonQueueLayer) (add it after), so a poisoned message,
/// which the poison layer reports as handled, is not recorded and can be replayed.
///
/// ```
/// use std::time::Duration;
/// use mq::middleware::{DedupLayer, MemoryDedupStore};
///
/// let layer = DedupLayer::new(MemoryDedupStore::new(100_000), Duration::from_secs(3600))
///     .key_fn(|msg| msg.metadata().get("event_id").map(str::to_owned));
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct DedupLayer {
    store: Arc<dyn DedupStore>,
    ttl: Duration,
    key_fn: KeyFn,
}

impl DedupLayer {
    /// Deduplicates by message id through `store`, remembering keys for `ttl`.
    pub fn new(store: impl DedupStore, ttl: Duration) -> Self {
        Self {
            store: Arc::new(store),
            ttl,
            key_fn: Arc::new(|msg: &Message| Some(msg.id().to_owned())),
        }
    }

    /// How to find a message's dedup key; `None` skips deduplication for it.
    #[must_use]
    pub fn key_fn(
        mut self,
        f: impl Fn(&Message) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.key_fn = Arc::new(f);
        self
    }
}

impl fmt::Debug for DedupLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DedupLayer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<S: Handler> Layer<S> for DedupLayer {
    type Service = Dedup<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Dedup {
            inner,
            layer: self.clone(),
        }
    }
}

/// The handler made by [`DedupLayer`].
#[derive(Clone)]
pub struct Dedup<S> {
    inner: S,
    layer: DedupLayer,
}

impl<S> fmt::Debug for Dedup<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedup")
            .field("ttl", &self.layer.ttl)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: Handler> Handler for Dedup<S> {
    async fn handle(
        &self,
        msg: Message,
        ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        let Some(key) = (self.layer.key_fn)(&msg) else {
            return self.inner.handle(msg, ctx).await;
        };
        let key = format!("{}/{}/{}", ctx.topic(), ctx.group(), key);
        match self.layer.store.seen(&key).await {
            Ok(true) => {
                tracing::debug!(handler = ctx.handler(), message_id = msg.id(), dedup_key = %key, "duplicate skipped");
                return Ok(Vec::new());
            }
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(handler = ctx.handler(), error = %err, "dedup store lookup failed; handling the message");
            }
        }
        let produced = self.inner.handle(msg, ctx).await?;
        if let Err(err) = self.layer.store.record(&key, self.layer.ttl).await {
            tracing::warn!(handler = ctx.handler(), error = %err, "dedup store record failed; a duplicate may be handled again");
        }
        Ok(produced)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::handler::handler_fn;

    fn ctx() -> HandlerContext {
        HandlerContext::new("h", "t", "g")
    }

    /// Fails on payload "fail", counts calls.
    fn counting() -> (impl Handler, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let c = Arc::clone(&calls);
        let h = handler_fn(move |m: Message, _ctx: HandlerContext| {
            c.fetch_add(1, Ordering::SeqCst);
            async move {
                if m.payload().as_ref() == b"fail" {
                    Err(HandlerError::transient("failed"))
                } else {
                    Ok(vec![Message::new("out")])
                }
            }
        });
        (h, calls)
    }

    #[tokio::test]
    async fn duplicates_are_skipped_after_success() -> anyhow::Result<()> {
        let store = Arc::new(MemoryDedupStore::default());
        let (inner, calls) = counting();
        let handler = DedupLayer::new(Arc::clone(&store), Duration::from_secs(60)).layer(inner);
        let msg = Message::new("ok");
        let first = handler.handle(msg.clone(), &ctx()).await;
        assert!(matches!(first, Ok(ref v) if v.len() == 1));
        let second = handler.handle(msg.clone(), &ctx()).await;
        assert!(
            matches!(second, Ok(ref v) if v.is_empty()),
            "skipped and acked"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(store.seen(&format!("t/g/{}", msg.id())).await?);

        // Another group with the same store handles it.
        let other = HandlerContext::new("h2", "t", "g2");
        handler.handle(msg, &other).await.ok();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        Ok(())
    }

    #[tokio::test]
    async fn failures_are_not_recorded() {
        let (inner, calls) = counting();
        let handler =
            DedupLayer::new(MemoryDedupStore::default(), Duration::from_secs(60)).layer(inner);
        let msg = Message::new("fail");
        assert!(handler.handle(msg.clone(), &ctx()).await.is_err());
        assert!(handler.handle(msg, &ctx()).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn key_fn_chooses_the_key() {
        let (inner, calls) = counting();
        let handler = DedupLayer::new(MemoryDedupStore::default(), Duration::from_secs(60))
            .key_fn(|m| m.metadata().get("event").map(str::to_owned))
            .layer(inner);
        let a = Message::new("a").with_metadata("event", "e1");
        let b = Message::new("b").with_metadata("event", "e1");
        handler.handle(a, &ctx()).await.ok();
        handler.handle(b, &ctx()).await.ok();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "same event key");
        // No key: never deduplicated.
        handler.handle(Message::new("c"), &ctx()).await.ok();
        handler.handle(Message::new("c"), &ctx()).await.ok();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn memory_store_expires_and_stays_bounded() -> anyhow::Result<()> {
        let store = MemoryDedupStore::new(3);
        store.record("a", Duration::from_secs(10)).await?;
        assert!(store.seen("a").await?);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!store.seen("a").await?, "expired");
        store.record("b", Duration::from_secs(10)).await?;
        assert_eq!(store.len(), 1, "the expired key was dropped");

        for k in ["c", "d", "e", "f"] {
            store.record(k, Duration::from_secs(100)).await?;
        }
        assert_eq!(store.len(), 3);
        assert!(
            !store.seen("b").await? && !store.seen("c").await?,
            "oldest evicted"
        );
        assert!(store.seen("d").await? && store.seen("e").await? && store.seen("f").await?);

        // Recording again refreshes a key's age: "d" survives the next eviction.
        store.record("d", Duration::from_secs(100)).await?;
        store.record("g", Duration::from_secs(100)).await?;
        assert!(store.seen("d").await? && !store.seen("e").await?);
        assert_eq!(store.len(), 3);
        Ok(())
    }
}
