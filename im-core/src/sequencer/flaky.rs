//! A test store that fails the next appends in chosen ways.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use crate::ids::{GroupId, Seq, UserId};
use crate::message::StoredMessage;
use crate::store::{Appended, InMemoryStore, MessageStore, StoreError};

/// A store that fails the next `n` appends in a chosen way, then behaves.
#[derive(Debug)]
pub(super) struct Flaky {
    pub(super) inner: InMemoryStore,
    pub(super) conflicts: AtomicUsize,
    pub(super) failures: AtomicUsize,
    /// A "lost" write: stored, but reported as a backend failure.
    pub(super) lost_writes: AtomicUsize,
}

impl Flaky {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: InMemoryStore::new(),
            conflicts: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
            lost_writes: AtomicUsize::new(0),
        })
    }
}

fn take(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

#[async_trait]
impl MessageStore for Flaky {
    async fn append(&self, message: StoredMessage) -> Result<Appended, StoreError> {
        if take(&self.conflicts) {
            // Another writer takes this seq first.
            let mut theirs = message.clone();
            theirs.sender_id = "other-node".into();
            theirs.client_msg_id = format!("other-{}", message.seq).into();
            self.inner.append(theirs).await?;
            return self.inner.append(message).await;
        }
        if take(&self.failures) {
            return Err(StoreError::Backend("connection reset".into()));
        }
        if take(&self.lost_writes) {
            self.inner.append(message).await?;
            return Err(StoreError::Backend("timeout after commit".into()));
        }
        self.inner.append(message).await
    }
    async fn messages_after(
        &self,
        group: &GroupId,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.inner.messages_after(group, after, limit).await
    }
    async fn latest_seq(&self, group: &GroupId) -> Result<Seq, StoreError> {
        self.inner.latest_seq(group).await
    }
    async fn set_read_position(&self, g: &GroupId, u: &UserId, s: Seq) -> Result<Seq, StoreError> {
        self.inner.set_read_position(g, u, s).await
    }
    async fn read_position(&self, g: &GroupId, u: &UserId) -> Result<Seq, StoreError> {
        self.inner.read_position(g, u).await
    }
    async fn set_delivered_position(
        &self,
        g: &GroupId,
        u: &UserId,
        s: Seq,
    ) -> Result<Seq, StoreError> {
        self.inner.set_delivered_position(g, u, s).await
    }
    async fn delivered_position(&self, g: &GroupId, u: &UserId) -> Result<Seq, StoreError> {
        self.inner.delivered_position(g, u).await
    }
}
