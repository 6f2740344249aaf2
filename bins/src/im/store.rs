//! [`SqlMessages`]: im-core's message store on the platform database, with batched
//! (group-commit) appends.
//!
//! Appends from concurrent callers (the persister's lanes, each with a run of messages)
//! are collected by one writer task and written at once
//! ([`domain::Store::append_message_runs`]: one multi-row INSERT when nothing clashes);
//! each caller gets its own run's outcomes. After each write the writer reads the
//! membership versions of the groups written (one statement) and keeps the newest
//! per group ([`SqlMessages::member_version`]), so the persister can stamp each stored
//! message with a version read after it was stored. Reads go straight to the pool.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use domain::{AppendOutcome, ChatMessage, DomainError, GroupRepository, Store, Timestamp};
use im_core::protocol::MessageBody;
use im_core::store::{Appended, MessageStore, RunAppended, RunStop, StoreError};
use im_core::{GroupId, Seq, StoredMessage, UserId};
use tokio::sync::{mpsc, oneshot};

/// Most runs written in one transaction.
const MAX_RUNS: usize = 64;

type Reply = oneshot::Sender<Result<Vec<AppendOutcome>, String>>;

/// The message store of the IM service (see the module docs).
#[derive(Clone, Debug)]
pub struct SqlMessages {
    store: Store,
    appends: mpsc::Sender<(Vec<ChatMessage>, Reply)>,
    versions: MemberVersions,
}

/// The newest membership version read per group (by group id).
type MemberVersions = Arc<DashMap<String, u64>>;

impl SqlMessages {
    /// A store over `store`'s pool; spawns the batch writer (it ends when the last
    /// clone is dropped).
    pub fn new(store: Store) -> Self {
        let (appends, queue) = mpsc::channel(4 * MAX_RUNS);
        let versions = MemberVersions::default();
        tokio::spawn(write_batches(store.clone(), queue, Arc::clone(&versions)));
        Self {
            store,
            appends,
            versions,
        }
    }

    /// The message `sender` sent to `group` with `client_msg_id`, if stored (the
    /// original of a retried send).
    pub async fn original(
        &self,
        group: &GroupId,
        sender: &UserId,
        client_msg_id: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.store
            .message_by_client_id(&group_of(group)?, sender.as_str(), client_msg_id)
            .await
            .map_err(domain_err)?
            .map(from_row)
            .transpose()
    }

    /// The newest membership version of `group` read after a write of its messages
    /// (`None` before the first, or when those reads failed).
    pub fn member_version(&self, group: &GroupId) -> Option<u64> {
        self.versions.get(group.as_str()).map(|v| *v)
    }

    /// Writes `run` through the batch writer: the outcomes of the messages attempted.
    async fn write_run(&self, run: Vec<ChatMessage>) -> Result<Vec<AppendOutcome>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.appends
            .send((run, reply))
            .await
            .map_err(|_| backend("the batch writer stopped"))?;
        answer
            .await
            .map_err(|_| backend("the batch writer stopped"))?
            .map_err(backend)
    }
}

async fn write_batches(
    store: Store,
    mut queue: mpsc::Receiver<(Vec<ChatMessage>, Reply)>,
    versions: MemberVersions,
) {
    let mut batch = Vec::with_capacity(MAX_RUNS);
    while queue.recv_many(&mut batch, MAX_RUNS).await > 0 {
        let (runs, replies): (Vec<Vec<ChatMessage>>, Vec<Reply>) = batch.drain(..).unzip();
        let rows: usize = runs.iter().map(Vec::len).sum();
        metrics::histogram!("im_persist_batch_size").record(rows as f64);
        match store.append_message_runs(&runs).await {
            Ok(outcomes) if outcomes.len() == runs.len() => {
                read_versions(&store, &runs, &versions).await;
                for (outcome, reply) in outcomes.into_iter().zip(replies) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Ok(_) => fail_all(replies, "the store answered a different number of runs"),
            Err(e) => {
                tracing::warn!(error = %e, rows, "message batch failed");
                fail_all(replies, &e.to_string());
            }
        }
    }
}

/// Reads the membership versions of the groups of `runs` and keeps the newest of each;
/// on failure keeps nothing (the nodes then read the members in any case).
async fn read_versions(store: &Store, runs: &[Vec<ChatMessage>], versions: &MemberVersions) {
    let mut groups: Vec<domain::GroupId> = Vec::new();
    for m in runs.iter().flatten() {
        if !groups.contains(&m.group_id) {
            groups.push(m.group_id.clone());
        }
    }
    match store.member_versions(&groups).await {
        Ok(read) => {
            for (group, version) in read {
                let mut kept = versions.entry(group.as_str().to_owned()).or_insert(version);
                *kept = (*kept).max(version);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "membership versions not read; nodes read members");
            for group in &groups {
                versions.remove(group.as_str());
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
        match self.write_run(vec![row]).await?.pop() {
            Some(AppendOutcome::Stored(row)) => Ok(Appended::Stored(from_row(row)?)),
            Some(AppendOutcome::Duplicate(row)) => Ok(Appended::Duplicate(from_row(row)?)),
            Some(AppendOutcome::SeqTaken) => Err(StoreError::SeqConflict {
                group: message.group_id,
                seq: message.seq,
            }),
            None => Err(backend("the store answered nothing for a message")),
        }
    }

    async fn append_run(&self, run: Vec<StoredMessage>) -> Result<RunAppended, StoreError> {
        let rows = run.iter().map(to_row).collect::<Result<Vec<_>, _>>()?;
        let mut stored = Vec::with_capacity(rows.len());
        let mut stopped = None;
        for outcome in self.write_run(rows).await? {
            match outcome {
                AppendOutcome::Stored(row) => stored.push(from_row(row)?),
                AppendOutcome::Duplicate(row) => stopped = Some(RunStop::Duplicate(from_row(row)?)),
                AppendOutcome::SeqTaken => stopped = Some(RunStop::SeqTaken),
            }
        }
        Ok(RunAppended { stored, stopped })
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
