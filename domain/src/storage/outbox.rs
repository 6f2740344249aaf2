//! The outbox table: written inside every state-changing transaction, read and marked
//! by the forwarder.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AnyConnection;
use tokio::sync::Notify;

use super::error::db_err;
use super::{rows, sql, Store};
use crate::error::DomainError;
use crate::events::OutboxEvent;
use crate::outbox::OutboxRecord;
use crate::repository::OutboxRepository;
use crate::types::Timestamp;

/// Appends `events` to the outbox on the transaction's connection.
pub(crate) async fn write_events(
    conn: &mut AnyConnection,
    events: &[OutboxEvent],
) -> Result<(), DomainError> {
    let now = Timestamp::now().unix_millis();
    for event in events {
        let metadata =
            serde_json::to_string(&event.metadata).map_err(|e| DomainError::Internal(e.into()))?;
        sqlx::query(sql::INSERT_OUTBOX)
            .bind(event.message_id.as_str())
            .bind(event.topic.as_str())
            .bind(event.key.as_str())
            .bind(event.payload.as_str())
            .bind(metadata)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

#[async_trait]
impl OutboxRepository for Store {
    async fn unpublished(&self, limit: u32) -> Result<Vec<OutboxRecord>, DomainError> {
        let rows = sqlx::query(sql::SELECT_UNPUBLISHED)
            .bind(i64::from(limit.max(1)))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::outbox).collect()
    }

    async fn acquire_lease(
        &self,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, DomainError> {
        sqlx::query(
            "UPDATE outbox_lease SET holder = ?, expires_at = ? \
             WHERE id = 1 AND (holder = ? OR expires_at < ?)",
        )
        .bind(holder)
        .bind(until.unix_millis())
        .bind(holder)
        .bind(now.unix_millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        // Read back rather than trust the affected-row count (MySQL counts unchanged
        // rows as unaffected).
        let current: Option<String> =
            sqlx::query_scalar("SELECT holder FROM outbox_lease WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(current.as_deref() == Some(holder))
    }

    async fn release_lease(&self, holder: &str) -> Result<(), DomainError> {
        sqlx::query(
            "UPDATE outbox_lease SET holder = '', expires_at = 0 WHERE id = 1 AND holder = ?",
        )
        .bind(holder)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn mark_published(&self, ids: &[i64], at: Timestamp) -> Result<(), DomainError> {
        // Explicit ids, never `id <= max`: a lower id may commit after a higher one.
        for chunk in ids.chunks(500) {
            let statement = format!(
                "UPDATE outbox SET published_at = ? WHERE id IN ({})",
                sql::placeholders(chunk.len())
            );
            let mut query = sqlx::query(&statement).bind(at.unix_millis());
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&self.pool).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn count_unpublished(&self) -> Result<u64, DomainError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn purge_published(&self, before: Timestamp) -> Result<u64, DomainError> {
        let done =
            sqlx::query("DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < ?")
                .bind(before.unix_millis())
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    fn new_rows(&self) -> Arc<Notify> {
        Arc::clone(&self.new_rows)
    }
}
