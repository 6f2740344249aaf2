//! Message storage: the `MessageStore` trait and the in-memory implementation.

mod memory;

use async_trait::async_trait;

use crate::ids::{GroupId, Seq, UserId};
use crate::message::StoredMessage;

pub use memory::InMemoryStore;

/// What [`MessageStore::append`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Appended {
    /// The message was new and is now stored with the given seq.
    Stored(StoredMessage),
    /// A message with the same (group, sender, client_msg_id) was already stored: this is it,
    /// with its original seq. Nothing was written.
    Duplicate(StoredMessage),
}

impl Appended {
    /// The stored message, new or original.
    pub fn message(&self) -> &StoredMessage {
        match self {
            Appended::Stored(m) | Appended::Duplicate(m) => m,
        }
    }
}

/// What [`MessageStore::append_run`] did: it stored a prefix of the run, in order, and
/// stopped at the first message it could not store as given.
#[derive(Debug)]
pub struct RunAppended {
    /// The messages stored, the run's first `stored.len()`.
    pub stored: Vec<StoredMessage>,
    /// Why the run stopped before its end (`None`: every message was stored).
    pub stopped: Option<RunStop>,
}

/// Why [`MessageStore::append_run`] stopped at a message. Nothing after it was written.
#[derive(Debug)]
pub enum RunStop {
    /// The message's (group, sender, client_msg_id) was already stored: this is the
    /// original, with its seq. The message itself was not written.
    Duplicate(StoredMessage),
    /// Its (group, seq) is taken by a different message: another writer got there first.
    SeqTaken,
    /// The backend failed at this message; the messages before it are stored.
    Failed(StoreError),
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The (group, seq) is already taken by a different message: another writer got there
    /// first. The sequencer reloads the latest seq and retries.
    #[error("seq {seq} of group {group} is already taken")]
    SeqConflict {
        /// The group.
        group: GroupId,
        /// The seq that was taken.
        seq: Seq,
    },
    /// The backend failed (connection lost, timeout, ...). Whether the write happened is
    /// unknown; the sequencer reloads its state from the store before the next append.
    #[error("storage backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Where messages, read positions and delivery positions live.
///
/// Implementations must enforce two unique keys: (group, seq), answered with
/// [`StoreError::SeqConflict`], and (group, sender, client_msg_id), answered with
/// [`Appended::Duplicate`] carrying the original message. The dedup check comes first.
/// The store is the source of truth for the latest seq: the sequencer loads it after a
/// restart and never reuses a number.
///
/// What the engine relies on, shown on the in-memory implementation:
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use im_core::store::{Appended, InMemoryStore, MessageStore, StoreError};
/// use im_core::{protocol::MessageBody, GroupId, StoredMessage, UserId};
///
/// let store: Arc<dyn MessageStore> = Arc::new(InMemoryStore::new());
/// let msg = |seq, cid: &str| StoredMessage {
///     group_id: "g".into(), seq, sender_id: "alice".into(), client_msg_id: cid.into(),
///     body: MessageBody::text("hi"), sent_at: 0,
/// };
/// assert!(matches!(store.append(msg(1, "c1")).await?, Appended::Stored(_)));
/// // A retry (same sender and client_msg_id) is answered with the original, seq 1.
/// assert!(matches!(store.append(msg(2, "c1")).await?, Appended::Duplicate(m) if m.seq == 1));
/// // Seq 1 is taken by a different message: a conflict, never an overwrite.
/// assert!(matches!(store.append(msg(1, "c2")).await, Err(StoreError::SeqConflict { .. })));
///
/// let (g, bob) = (GroupId::from("g"), UserId::from("bob"));
/// assert_eq!(store.latest_seq(&g).await?, 1);
/// assert_eq!(store.messages_after(&g, 0, 10).await?.len(), 1);
/// assert_eq!(store.unread_count(&g, &bob).await?, 1);
/// store.set_read_position(&g, &bob, 1).await?;
/// assert_eq!(store.unread_count(&g, &bob).await?, 0);
/// # Ok::<_, StoreError>(()) }).unwrap();
/// ```
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Stores `message` (its seq already assigned), atomically checking both unique keys.
    async fn append(&self, message: StoredMessage) -> Result<Appended, StoreError>;

    /// Stores a run of messages (seqs assigned, in order) until the first one that is a
    /// duplicate, has a taken seq or fails; nothing after that one is written. An `Err`
    /// means nothing of the run was stored.
    ///
    /// The default appends one message at a time. A store that can write many rows at
    /// once (one transaction) should override it: the sequencer hands it a lane's
    /// whole backlog.
    async fn append_run(&self, run: Vec<StoredMessage>) -> Result<RunAppended, StoreError> {
        let mut stored = Vec::with_capacity(run.len());
        for message in run {
            let stop = match self.append(message).await {
                Ok(Appended::Stored(message)) => {
                    stored.push(message);
                    continue;
                }
                Ok(Appended::Duplicate(original)) => RunStop::Duplicate(original),
                Err(StoreError::SeqConflict { .. }) => RunStop::SeqTaken,
                Err(e) if stored.is_empty() => return Err(e),
                Err(e) => RunStop::Failed(e),
            };
            return Ok(RunAppended {
                stored,
                stopped: Some(stop),
            });
        }
        Ok(RunAppended {
            stored,
            stopped: None,
        })
    }

    /// Messages of `group` with seq greater than `after_seq`, in seq order, at most `limit`.
    async fn messages_after(
        &self,
        group: &GroupId,
        after_seq: Seq,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// The highest stored seq of `group` (0 when it has no message).
    async fn latest_seq(&self, group: &GroupId) -> Result<Seq, StoreError>;

    /// Moves `user`'s read position in `group` forward to `seq` (never backwards);
    /// returns the position now stored.
    async fn set_read_position(
        &self,
        group: &GroupId,
        user: &UserId,
        seq: Seq,
    ) -> Result<Seq, StoreError>;

    /// `user`'s read position in `group` (0 when never set).
    async fn read_position(&self, group: &GroupId, user: &UserId) -> Result<Seq, StoreError>;

    /// Moves `user`'s delivered (acknowledged) position in `group` forward to `seq`;
    /// returns the position now stored.
    async fn set_delivered_position(
        &self,
        group: &GroupId,
        user: &UserId,
        seq: Seq,
    ) -> Result<Seq, StoreError>;

    /// `user`'s delivered position in `group` (0 when never set).
    async fn delivered_position(&self, group: &GroupId, user: &UserId) -> Result<Seq, StoreError>;

    /// Messages in `group` after `user`'s read position. Seqs are contiguous, so the
    /// default is `latest_seq - read_position`.
    async fn unread_count(&self, group: &GroupId, user: &UserId) -> Result<u64, StoreError> {
        let latest = self.latest_seq(group).await?;
        let read = self.read_position(group, user).await?;
        Ok(latest.saturating_sub(read))
    }
}
