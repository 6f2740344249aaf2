//! [`MessageRepository`] for [`Store`]: appending chat messages (the batched
//! persister) and reading them back by seq. Positions are in `positions.rs`.

use async_trait::async_trait;
use sqlx::AnyConnection;

use super::error::{db_err, is_unique_violation};
use super::rows::{self, MESSAGE_COLUMNS};
use super::Store;
use crate::entities::ChatMessage;
use crate::error::DomainError;
use crate::repository::{AppendOutcome, MessageRepository};
use crate::types::GroupId;

/// Longest stored sender id, in bytes.
pub(crate) const MAX_SENDER_LEN: usize = 64;
/// Longest stored client message id, in bytes.
pub(crate) const MAX_CLIENT_MSG_ID_LEN: usize = 128;
/// Largest stored body, in bytes (MySQL `MEDIUMTEXT`).
pub(crate) const MAX_BODY_LEN: usize = 16 * 1024 * 1024 - 1;

const INSERT_MESSAGE: &str = "INSERT INTO messages \
    (group_id, seq, sender_id, client_msg_id, body, sent_at) VALUES (?, ?, ?, ?, ?, ?)";

/// Most rows in one multi-row INSERT (6 parameters each: well under SQLite's 32,766
/// and MySQL's 65,535 placeholders).
const ROWS_PER_INSERT: usize = 500;

/// A multi-row INSERT of `rows` rows.
fn insert_rows(rows: usize) -> String {
    let mut q = String::from(
        "INSERT INTO messages (group_id, seq, sender_id, client_msg_id, body, sent_at) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            q.push_str(", ");
        }
        q.push_str("(?, ?, ?, ?, ?, ?)");
    }
    q
}

/// A seq or position as the database's signed 64-bit integer.
pub(crate) fn to_db(field: &'static str, v: u64) -> Result<i64, DomainError> {
    i64::try_from(v).map_err(|_| DomainError::invalid(field, "is too large"))
}

fn validate(m: &ChatMessage) -> Result<(), DomainError> {
    if m.seq == 0 {
        return Err(DomainError::invalid("seq", "must be at least 1"));
    }
    to_db("seq", m.seq)?;
    if m.sender_id.is_empty() || m.sender_id.len() > MAX_SENDER_LEN {
        return Err(DomainError::invalid(
            "sender_id",
            format!("must be 1 to {MAX_SENDER_LEN} bytes"),
        ));
    }
    if m.client_msg_id.is_empty() || m.client_msg_id.len() > MAX_CLIENT_MSG_ID_LEN {
        return Err(DomainError::invalid(
            "client_msg_id",
            format!("must be 1 to {MAX_CLIENT_MSG_ID_LEN} bytes"),
        ));
    }
    if m.body.len() > MAX_BODY_LEN {
        return Err(DomainError::invalid("body", "is too large"));
    }
    Ok(())
}

impl Store {
    /// The message with this dedup key, read with a locking read on MySQL so that a
    /// row another transaction committed after ours began is seen.
    async fn by_dedup_key(
        &self,
        conn: &mut AnyConnection,
        m: &ChatMessage,
    ) -> Result<Option<ChatMessage>, DomainError> {
        let q = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE group_id = ? AND sender_id = ? AND client_msg_id = ?{}",
            self.backend.lock_suffix()
        );
        let row = sqlx::query(&q)
            .bind(m.group_id.as_str())
            .bind(m.sender_id.as_str())
            .bind(m.client_msg_id.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::chat_message).transpose()
    }

    /// One INSERT; on a unique violation, the original row (a duplicate) or, when
    /// there is none, a taken seq. A failed INSERT rolls back only itself on MySQL
    /// (InnoDB statement rollback) and SQLite (`ON CONFLICT ABORT`), so the batch's
    /// transaction goes on (`tests/messages.rs` checks this on both).
    async fn append_one(
        &self,
        conn: &mut AnyConnection,
        m: &ChatMessage,
    ) -> Result<AppendOutcome, DomainError> {
        let inserted = sqlx::query(INSERT_MESSAGE)
            .bind(m.group_id.as_str())
            .bind(to_db("seq", m.seq)?)
            .bind(m.sender_id.as_str())
            .bind(m.client_msg_id.as_str())
            .bind(m.body.as_str())
            .bind(m.sent_at.unix_millis())
            .execute(&mut *conn)
            .await;
        match inserted {
            Ok(_) => Ok(AppendOutcome::Stored(m.clone())),
            Err(e) if is_unique_violation(&e) => Ok(match self.by_dedup_key(conn, m).await? {
                Some(original) => AppendOutcome::Duplicate(original),
                None => AppendOutcome::SeqTaken,
            }),
            Err(e) => Err(db_err(e)),
        }
    }

    /// Inserts all of `messages` with as few statements as possible. `Ok(false)` when a
    /// row clashed with a stored one (a retry, or a seq taken): the caller rolls back
    /// and goes row by row to find which.
    async fn insert_all<'a>(
        conn: &mut AnyConnection,
        messages: impl Iterator<Item = &'a ChatMessage>,
    ) -> Result<bool, DomainError> {
        let messages: Vec<&ChatMessage> = messages.collect();
        for chunk in messages.chunks(ROWS_PER_INSERT) {
            let q = insert_rows(chunk.len());
            let mut query = sqlx::query(&q);
            for m in chunk {
                query = query
                    .bind(m.group_id.as_str())
                    .bind(to_db("seq", m.seq)?)
                    .bind(m.sender_id.as_str())
                    .bind(m.client_msg_id.as_str())
                    .bind(m.body.as_str())
                    .bind(m.sent_at.unix_millis());
            }
            match query.execute(&mut *conn).await {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Ok(false),
                Err(e) => return Err(db_err(e)),
            }
        }
        Ok(true)
    }

    /// See [`MessageRepository::append_messages`].
    pub async fn append_messages(
        &self,
        batch: &[ChatMessage],
    ) -> Result<Vec<AppendOutcome>, DomainError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        for m in batch {
            validate(m)?;
        }
        let mut hot = self.hot().await?;
        let mut tx = self.begin_write_on(&mut hot).await?;
        if Self::insert_all(&mut tx, batch.iter()).await? {
            tx.commit().await.map_err(db_err)?;
            hot.keep();
            return Ok(batch.iter().cloned().map(AppendOutcome::Stored).collect());
        }
        tx.rollback().await.map_err(db_err)?;
        let mut tx = self.begin_write_on(&mut hot).await?;
        let mut out = Vec::with_capacity(batch.len());
        for m in batch {
            out.push(self.append_one(&mut tx, m).await?);
        }
        tx.commit().await.map_err(db_err)?;
        hot.keep();
        Ok(out)
    }

    /// See [`MessageRepository::append_message_runs`].
    pub async fn append_message_runs(
        &self,
        runs: &[Vec<ChatMessage>],
    ) -> Result<Vec<Vec<AppendOutcome>>, DomainError> {
        if runs.iter().all(Vec::is_empty) {
            return Ok(vec![Vec::new(); runs.len()]);
        }
        for m in runs.iter().flatten() {
            validate(m)?;
        }
        let all_stored = || {
            runs.iter()
                .map(|run| run.iter().cloned().map(AppendOutcome::Stored).collect())
                .collect()
        };
        let mut hot = self.hot().await?;
        let rows: usize = runs.iter().map(Vec::len).sum();
        if rows <= ROWS_PER_INSERT {
            // One statement is atomic on its own: no BEGIN and COMMIT round trips.
            if Self::insert_all(&mut hot, runs.iter().flatten()).await? {
                hot.keep();
                return Ok(all_stored());
            }
        } else {
            let mut tx = self.begin_write_on(&mut hot).await?;
            if Self::insert_all(&mut tx, runs.iter().flatten()).await? {
                tx.commit().await.map_err(db_err)?;
                hot.keep();
                return Ok(all_stored());
            }
            tx.rollback().await.map_err(db_err)?;
        }
        // Something clashed and nothing was kept: row by row, to tell which.
        let mut tx = self.begin_write_on(&mut hot).await?;
        let mut out = Vec::with_capacity(runs.len());
        for run in runs {
            let mut outcomes = Vec::with_capacity(run.len());
            for m in run {
                let outcome = self.append_one(&mut tx, m).await?;
                let stored = matches!(outcome, AppendOutcome::Stored(_));
                outcomes.push(outcome);
                if !stored {
                    break;
                }
            }
            out.push(outcomes);
        }
        tx.commit().await.map_err(db_err)?;
        hot.keep();
        Ok(out)
    }

    /// See [`MessageRepository::message_by_client_id`].
    pub async fn message_by_client_id(
        &self,
        group: &GroupId,
        sender: &str,
        client_msg_id: &str,
    ) -> Result<Option<ChatMessage>, DomainError> {
        let q = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE group_id = ? AND sender_id = ? AND client_msg_id = ?"
        );
        let row = sqlx::query(&q)
            .bind(group.as_str())
            .bind(sender)
            .bind(client_msg_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::chat_message).transpose()
    }

    /// See [`MessageRepository::messages_after`].
    pub async fn messages_after(
        &self,
        group: &GroupId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, DomainError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        let q = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE group_id = ? AND seq > ? \
             ORDER BY seq LIMIT ?"
        );
        let found = sqlx::query(&q)
            .bind(group.as_str())
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found.iter().map(rows::chat_message).collect()
    }

    /// See [`MessageRepository::latest_seq`].
    pub async fn latest_seq(&self, group: &GroupId) -> Result<u64, DomainError> {
        let row =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM messages WHERE group_id = ?")
                .bind(group.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
        rows::position(&row, "seq")
    }
}

#[async_trait]
impl MessageRepository for Store {
    async fn append_messages(
        &self,
        batch: &[ChatMessage],
    ) -> Result<Vec<AppendOutcome>, DomainError> {
        Store::append_messages(self, batch).await
    }

    async fn append_message_runs(
        &self,
        runs: &[Vec<ChatMessage>],
    ) -> Result<Vec<Vec<AppendOutcome>>, DomainError> {
        Store::append_message_runs(self, runs).await
    }

    async fn messages_after(
        &self,
        group: &GroupId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, DomainError> {
        Store::messages_after(self, group, after_seq, limit).await
    }

    async fn message_by_client_id(
        &self,
        group: &GroupId,
        sender: &str,
        client_msg_id: &str,
    ) -> Result<Option<ChatMessage>, DomainError> {
        Store::message_by_client_id(self, group, sender, client_msg_id).await
    }

    async fn latest_seq(&self, group: &GroupId) -> Result<u64, DomainError> {
        Store::latest_seq(self, group).await
    }

    async fn set_read_position(
        &self,
        group: &GroupId,
        user: &str,
        seq: u64,
    ) -> Result<u64, DomainError> {
        Store::set_read_position(self, group, user, seq).await
    }

    async fn read_position(&self, group: &GroupId, user: &str) -> Result<u64, DomainError> {
        Store::read_position(self, group, user).await
    }

    async fn set_delivered_position(
        &self,
        group: &GroupId,
        user: &str,
        seq: u64,
    ) -> Result<u64, DomainError> {
        Store::set_delivered_position(self, group, user, seq).await
    }

    async fn delivered_position(&self, group: &GroupId, user: &str) -> Result<u64, DomainError> {
        Store::delivered_position(self, group, user).await
    }
}
