//! [`SqlMessages`]: im-core's message store on the platform database, with batched
//! (group-commit) appends.
//!
//! Appends from concurrent callers (the persister handles many groups at once) are
//! collected by one writer task and written in one transaction per batch
//! ([`domain::Store::append_messages`]); each caller gets its own row's outcome. Reads
//! go straight to the pool.

use async_trait::async_trait;
use domain::{AppendOutcome, ChatMessage, DomainError, Store, Timestamp};
use im_core::protocol::MessageBody;
use im_core::store::{Appended, MessageStore, StoreError};
use im_core::{GroupId, Seq, StoredMessage, UserId};
use tokio::sync::{mpsc, oneshot};

/// Most rows written in one transaction.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<AppendOutcome, String>>;

/// The message store of the IM service (see the module docs).
#[derive(Clone, Debug)]
pub struct SqlMessages {
    store: Store,
    appends: mpsc::Sender<(ChatMessage, Reply)>,
}

impl SqlMessages {
    /// A store over `store`'s pool; spawns the batch writer (it ends when the last
    /// clone is dropped).
    pub fn new(store: Store) -> Self {
        let (appends, queue) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_batches(store.clone(), queue));
        Self { store, appends }
    }
}

async fn write_batches(store: Store, mut queue: mpsc::Receiver<(ChatMessage, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (rows, replies): (Vec<ChatMessage>, Vec<Reply>) = batch.drain(..).unzip();
        metrics::histogram!("im_persist_batch_size").record(rows.len() as f64);
        match store.append_messages(&rows).await {
            Ok(outcomes) if outcomes.len() == rows.len() => {
                for (outcome, reply) in outcomes.into_iter().zip(replies) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Ok(_) => fail_all(replies, "the store answered a different number of rows"),
            Err(e) => {
                tracing::warn!(error = %e, rows = rows.len(), "message batch failed");
                fail_all(replies, &e.to_string());
            }
        }
    }
}

fn fail_all(replies: Vec<Reply>, why: &str) {
    for reply in replies {
        let _ = reply.send(Err(why.to_owned()));
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string().into())
}

fn domain_err(e: DomainError) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// im-core's message as a row.
pub fn to_row(m: &StoredMessage) -> Result<ChatMessage, StoreError> {
    Ok(ChatMessage {
        group_id: group_of(&m.group_id)?,
        seq: m.seq,
        sender_id: m.sender_id.to_string(),
        client_msg_id: m.client_msg_id.to_string(),
        body: m.body.as_json().to_owned(),
        sent_at: Timestamp::from_unix_millis(m.sent_at),
    })
}

/// A row as im-core's message.
pub fn from_row(row: ChatMessage) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        group_id: GroupId::from(row.group_id.as_str()),
        seq: row.seq,
        sender_id: UserId::from(row.sender_id.as_str()),
        client_msg_id: row.client_msg_id.as_str().into(),
        body: MessageBody::from_json(row.body).map_err(backend)?,
        sent_at: row.sent_at.unix_millis(),
    })
}

fn group_of(group: &GroupId) -> Result<domain::GroupId, StoreError> {
    domain::GroupId::parse(group.as_str()).map_err(domain_err)
}

#[async_trait]
impl MessageStore for SqlMessages {
    async fn append(&self, message: StoredMessage) -> Result<Appended, StoreError> {
        let row = to_row(&message)?;
        let (reply, answer) = oneshot::channel();
        self.appends
            .send((row, reply))
            .await
            .map_err(|_| backend("the batch writer stopped"))?;
        match answer
            .await
            .map_err(|_| backend("the batch writer stopped"))?
        {
            Ok(AppendOutcome::Stored(row)) => Ok(Appended::Stored(from_row(row)?)),
            Ok(AppendOutcome::Duplicate(row)) => Ok(Appended::Duplicate(from_row(row)?)),
            Ok(AppendOutcome::SeqTaken) => Err(StoreError::SeqConflict {
                group: message.group_id,
                seq: message.seq,
            }),
            Err(why) => Err(backend(why)),
        }
    }

    async fn messages_after(
        &self,
        group: &GroupId,
        after_seq: Seq,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let rows = self
            .store
            .messages_after(&group_of(group)?, after_seq, limit)
            .await
            .map_err(domain_err)?;
        rows.into_iter().map(from_row).collect()
    }

    async fn latest_seq(&self, group: &GroupId) -> Result<Seq, StoreError> {
        self.store
            .latest_seq(&group_of(group)?)
            .await
            .map_err(domain_err)
    }

    async fn set_read_position(
        &self,
        group: &GroupId,
        user: &UserId,
        seq: Seq,
    ) -> Result<Seq, StoreError> {
        self.store
            .set_read_position(&group_of(group)?, user.as_str(), seq)
            .await
            .map_err(domain_err)
    }

    async fn read_position(&self, group: &GroupId, user: &UserId) -> Result<Seq, StoreError> {
        self.store
            .read_position(&group_of(group)?, user.as_str())
            .await
            .map_err(domain_err)
    }

    async fn set_delivered_position(
        &self,
        group: &GroupId,
        user: &UserId,
        seq: Seq,
    ) -> Result<Seq, StoreError> {
        self.store
            .set_delivered_position(&group_of(group)?, user.as_str(), seq)
            .await
            .map_err(domain_err)
    }

    async fn delivered_position(&self, group: &GroupId, user: &UserId) -> Result<Seq, StoreError> {
        self.store
            .delivered_position(&group_of(group)?, user.as_str())
            .await
            .map_err(domain_err)
    }
}
