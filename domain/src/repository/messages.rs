//! [`MessageRepository`]: stored chat messages and per-user read/delivered positions.

use async_trait::async_trait;

use crate::entities::ChatMessage;
use crate::error::DomainError;
use crate::types::GroupId;

/// What happened to one message of an [`MessageRepository::append_messages`] batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored as given.
    Stored(ChatMessage),
    /// The group already holds a message with this sender and client message id: this
    /// is the original row, with its original seq (nothing was written).
    Duplicate(ChatMessage),
    /// The seq is taken by a different message (nothing was written): assign the next
    /// one and try again.
    SeqTaken,
}

/// Chat messages and positions. User ids are `&str` here: the real-time engine's ids
/// are strings (at most 64 bytes are stored).
#[async_trait]
pub trait MessageRepository: std::fmt::Debug + Send + Sync + 'static {
    /// Stores a batch in one transaction, one outcome per message, in order. A message
    /// whose (group, sender, client message id) exists is a
    /// [`AppendOutcome::Duplicate`] (checked before the seq); one whose (group, seq)
    /// is taken is [`AppendOutcome::SeqTaken`]. Neither stops the rest of the batch.
    /// Fails as a whole (nothing stored) on an invalid message or a storage error.
    async fn append_messages(
        &self,
        batch: &[ChatMessage],
    ) -> Result<Vec<AppendOutcome>, DomainError>;

    /// Stores runs of messages in one transaction. Each run is written in order until
    /// its first message that is not stored as given (a [`AppendOutcome::Duplicate`] or
    /// [`AppendOutcome::SeqTaken`]): that outcome ends the run's list and the rest of the
    /// run is not attempted, so a run with seqs assigned in order never leaves a gap.
    /// Runs do not affect each other. Fails as a whole (nothing stored) on an invalid
    /// message or a storage error.
    async fn append_message_runs(
        &self,
        runs: &[Vec<ChatMessage>],
    ) -> Result<Vec<Vec<AppendOutcome>>, DomainError>;

    /// The message `sender` sent to `group` with this client message id, if any (the
    /// original of a retried send).
    async fn message_by_client_id(
        &self,
        group: &GroupId,
        sender: &str,
        client_msg_id: &str,
    ) -> Result<Option<ChatMessage>, DomainError>;

    /// Messages of `group` with seq above `after_seq`, in seq order, at most `limit`.
    async fn messages_after(
        &self,
        group: &GroupId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, DomainError>;

    /// The highest stored seq of `group` (0 when it has none).
    async fn latest_seq(&self, group: &GroupId) -> Result<u64, DomainError>;

    /// Moves `user`'s read position in `group` forward to `seq` (never backwards);
    /// returns the stored position.
    async fn set_read_position(
        &self,
        group: &GroupId,
        user: &str,
        seq: u64,
    ) -> Result<u64, DomainError>;

    /// `user`'s read position in `group` (0 when never set).
    async fn read_position(&self, group: &GroupId, user: &str) -> Result<u64, DomainError>;

    /// Moves `user`'s delivered position in `group` forward to `seq` (never
    /// backwards); returns the stored position.
    async fn set_delivered_position(
        &self,
        group: &GroupId,
        user: &str,
        seq: u64,
    ) -> Result<u64, DomainError>;

    /// `user`'s delivered position in `group` (0 when never set).
    async fn delivered_position(&self, group: &GroupId, user: &str) -> Result<u64, DomainError>;
}
