//! [`Waiters`]: sends of this node waiting for their stored message to come back.

use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::oneshot;

use super::wire::{wait_key, StoredEnvelope, WaitKey};

/// Pending sends by (group, sender, client message id). Several waiters may share a key
/// (a client retrying before the first answer); all get the outcome.
#[derive(Clone, Debug, Default)]
pub struct Waiters {
    pending: Arc<DashMap<WaitKey, Vec<oneshot::Sender<StoredEnvelope>>>>,
}

impl Waiters {
    /// Registers interest in `key`; the receiver gets the stored message.
    pub fn register(&self, key: WaitKey) -> oneshot::Receiver<StoredEnvelope> {
        let (tx, rx) = oneshot::channel();
        self.pending.entry(key).or_default().push(tx);
        rx
    }

    /// Hands `stored` to whoever waits for it.
    pub fn resolve(&self, stored: &StoredEnvelope) {
        if let Some((_, waiters)) = self.pending.remove(&wait_key(&stored.message)) {
            for waiter in waiters {
                let _ = waiter.send(stored.clone());
            }
        }
    }

    /// Forgets the waiters of `key` that gave up.
    pub fn forget_abandoned(&self, key: &WaitKey) {
        self.pending.remove_if_mut(key, |_, waiters| {
            waiters.retain(|w| !w.is_closed());
            waiters.is_empty()
        });
    }

    /// How many keys are waited for.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}
