//! Per-group sequencing: one owner per group assigns seq = last + 1, stores, then runs
//! the fan-out while still the owner, so every session sees the group in seq order.

use std::future::Future;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::Mutex;

use crate::ids::{ClientMsgId, GroupId, Seq, UserId};
use crate::message::{now_millis, StoredMessage};
use crate::metrics as m;
use crate::protocol::MessageBody;
use crate::store::{Appended, MessageStore, StoreError};

mod batch;
#[cfg(test)]
mod flaky;

/// How often an append is retried after a (group, seq) conflict before giving up.
const CONFLICT_RETRIES: usize = 3;

/// A message before it has a seq.
#[derive(Clone, Debug)]
pub struct Draft {
    /// Target group.
    pub group_id: GroupId,
    /// Sender.
    pub sender_id: UserId,
    /// The sender's id for the message (dedup key).
    pub client_msg_id: ClientMsgId,
    /// Content.
    pub body: MessageBody,
}

/// Why sequencing failed. Nothing was fanned out.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other writers kept taking the next seq; the caller may retry later.
    #[error("group {0}: seq kept conflicting after {CONFLICT_RETRIES} attempts")]
    Contended(GroupId),
}

#[derive(Debug, Default)]
pub(crate) struct GroupState {
    /// The last seq known to be stored; `None` until loaded from the store.
    pub(crate) last: Option<Seq>,
    /// The last seq this process pushed to its sessions; `None` before the first.
    pub(crate) pushed: Option<Seq>,
}

/// Assigns per-group sequence numbers: 1, 2, 3, ... with no gaps or duplicates.
///
/// Each group has one owner at a time (a per-group async lock, groups sharded in a
/// `dashmap`). The last seq is loaded from the store on first use and reloaded after any
/// store failure, so a restart continues at last + 1 and a number is never reused.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use im_core::{protocol::MessageBody, sequencer::{Draft, Sequencer}, store::InMemoryStore};
/// let seq = Sequencer::new(Arc::new(InMemoryStore::new()));
/// let draft = Draft { group_id: "g".into(), sender_id: "a".into(),
///                     client_msg_id: "c1".into(), body: MessageBody::text("hi") };
/// let first = seq.append(draft.clone(), |_| async {}).await.unwrap();
/// let retry = seq.append(draft, |_| async {}).await.unwrap();
/// assert_eq!((first.message().seq, retry.message().seq), (1, 1));
/// # });
/// ```
pub struct Sequencer {
    store: Arc<dyn MessageStore>,
    groups: DashMap<GroupId, Arc<Mutex<GroupState>>>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer")
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl Sequencer {
    /// A sequencer over `store` (the source of truth for the last seq).
    pub fn new(store: Arc<dyn MessageStore>) -> Self {
        Self {
            store,
            groups: DashMap::new(),
        }
    }

    pub(crate) fn group(&self, group: &GroupId) -> Arc<Mutex<GroupState>> {
        if let Some(state) = self.groups.get(group) {
            return state.clone();
        }
        self.groups.entry(group.clone()).or_default().clone()
    }

    /// Assigns the next seq, persists the message, then calls `after_store` with it while
    /// still owning the group (persist before push; fan-out in seq order). A retried
    /// (group, sender, client_msg_id) returns [`Appended::Duplicate`] with the original
    /// seq and does not call `after_store`.
    pub async fn append<F, Fut>(
        &self,
        draft: Draft,
        after_store: F,
    ) -> Result<Appended, SequenceError>
    where
        F: FnOnce(StoredMessage) -> Fut,
        Fut: Future<Output = ()>,
    {
        let owner = self.group(&draft.group_id);
        let mut state = owner.lock().await;
        let mut message = StoredMessage {
            group_id: draft.group_id,
            seq: 0,
            sender_id: draft.sender_id,
            client_msg_id: draft.client_msg_id,
            body: draft.body,
            sent_at: now_millis(),
        };
        for _ in 0..CONFLICT_RETRIES {
            let last = match state.last {
                Some(last) => last,
                None => {
                    let last = self.store.latest_seq(&message.group_id).await?;
                    state.last = Some(last);
                    last
                }
            };
            message.seq = last + 1;
            match self.store.append(message.clone()).await {
                Ok(Appended::Stored(stored)) => {
                    state.last = Some(stored.seq);
                    metrics::counter!(m::MESSAGES_STORED).increment(1);
                    after_store(stored.clone()).await;
                    state.pushed = Some(stored.seq);
                    return Ok(Appended::Stored(stored));
                }
                Ok(dup @ Appended::Duplicate(_)) => return Ok(dup),
                Err(StoreError::SeqConflict { .. }) => state.last = None,
                Err(e) => {
                    state.last = None; // unknown outcome: trust only the store
                    return Err(e.into());
                }
            }
        }
        Err(SequenceError::Contended(message.group_id))
    }

    /// Runs `f` as the group's owner, after raising the known last seq to `seq` (for a
    /// message stored elsewhere, e.g. on another node, delivered here in order).
    pub async fn observe<F, Fut>(&self, group: &GroupId, seq: Seq, f: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        let owner = self.group(group);
        let mut state = owner.lock().await;
        if let Some(last) = state.last {
            state.last = Some(last.max(seq));
        }
        f().await;
    }

    /// Forgets the cached last seq of `group`; the next append reloads it from the store.
    pub async fn invalidate(&self, group: &GroupId) {
        let owner = self.group(group);
        owner.lock().await.last = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::flaky::Flaky;
    use super::*;

    fn draft(cid: &str) -> Draft {
        Draft {
            group_id: "g".into(),
            sender_id: "alice".into(),
            client_msg_id: cid.into(),
            body: MessageBody::text("x"),
        }
    }

    async fn seqs(store: &Flaky) -> Vec<Seq> {
        let all = store.inner.messages_after(&"g".into(), 0, 100).await;
        all.unwrap_or_default().iter().map(|m| m.seq).collect()
    }

    #[tokio::test]
    async fn conflict_with_another_writer_moves_on_to_the_next_free_seq() {
        let store = Flaky::new();
        let sequencer = Sequencer::new(store.clone());
        let pushed = std::sync::Mutex::new(Vec::new());
        let first = sequencer.append(draft("c1"), |_| async {}).await.unwrap();
        assert_eq!(first.message().seq, 1);
        store.conflicts.store(1, Ordering::SeqCst);
        let second = sequencer
            .append(draft("c2"), |m| {
                pushed.lock().unwrap().push(m.seq);
                async {}
            })
            .await
            .unwrap();
        assert_eq!(second.message().seq, 3, "seq 2 went to the other writer");
        assert_eq!(*pushed.lock().unwrap(), vec![3]);
        assert_eq!(seqs(&store).await, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn a_failed_append_assigns_nothing_and_pushes_nothing() {
        let store = Flaky::new();
        let sequencer = Sequencer::new(store.clone());
        sequencer.append(draft("c1"), |_| async {}).await.unwrap();
        store.failures.store(1, Ordering::SeqCst);
        let mut pushed = false;
        let failed = sequencer
            .append(draft("c2"), |_| {
                pushed = true;
                async {}
            })
            .await;
        assert!(matches!(failed, Err(SequenceError::Store(_))));
        assert!(!pushed);
        let next = sequencer.append(draft("c2"), |_| async {}).await.unwrap();
        assert_eq!(next.message().seq, 2, "no gap after a failure");
    }

    #[tokio::test]
    async fn a_write_of_unknown_outcome_is_never_reused_and_its_retry_dedups() {
        let store = Flaky::new();
        let sequencer = Sequencer::new(store.clone());
        store.lost_writes.store(1, Ordering::SeqCst);
        assert!(sequencer.append(draft("c1"), |_| async {}).await.is_err());
        // The client retries c1: it was stored after all, so it keeps seq 1.
        let retry = sequencer.append(draft("c1"), |_| async {}).await.unwrap();
        assert!(matches!(retry, Appended::Duplicate(ref m) if m.seq == 1));
        // The next message does not reuse seq 1: the state was reloaded from the store.
        let next = sequencer.append(draft("c2"), |_| async {}).await.unwrap();
        assert_eq!(next.message().seq, 2);
        assert_eq!(seqs(&store).await, vec![1, 2]);
    }

    #[tokio::test]
    async fn persistent_conflicts_end_in_contended_without_a_push() {
        let store = Flaky::new();
        let sequencer = Sequencer::new(store.clone());
        store.conflicts.store(CONFLICT_RETRIES, Ordering::SeqCst);
        let result = sequencer.append(draft("c1"), |_| async {}).await;
        assert!(matches!(result, Err(SequenceError::Contended(_))));
        let next = sequencer.append(draft("c1"), |_| async {}).await.unwrap();
        assert_eq!(next.message().seq, CONFLICT_RETRIES as Seq + 1);
    }
}
