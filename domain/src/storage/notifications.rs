//! [`NotificationRepository`] for [`Store`].

use async_trait::async_trait;

use super::error::{db_err, is_unique_violation};
use super::rows::{self, NOTIFICATION_COLUMNS};
use super::{sql, Store};
use crate::entities::Notification;
use crate::error::DomainError;
use crate::repository::NotificationRepository;
use crate::types::{Timestamp, UserId};

const INSERT_NOTIFICATION: &str = "INSERT INTO notifications \
    (id, user_id, kind, payload, source_event_id, created_at, read_at) \
    VALUES (?, ?, ?, ?, ?, ?, ?)";

/// Values per `IN (...)` list.
const CHUNK: usize = 500;

#[async_trait]
impl NotificationRepository for Store {
    async fn insert_notifications(
        &self,
        source_event_id: &str,
        new: &[Notification],
    ) -> Result<Vec<Notification>, DomainError> {
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        for n in new {
            let payload =
                serde_json::to_string(&n.payload).map_err(|e| DomainError::Internal(e.into()))?;
            let inserted = sqlx::query(INSERT_NOTIFICATION)
                .bind(n.id.as_str())
                .bind(n.user_id.as_str())
                .bind(n.kind.as_str())
                .bind(payload)
                .bind(source_event_id)
                .bind(n.created_at.unix_millis())
                .bind(n.read_at.map(|t| t.unix_millis()))
                .execute(&mut *tx)
                .await;
            match inserted {
                // Already notified of this event: keep the first row.
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(db_err(e)),
            }
        }
        let mut out = Vec::with_capacity(new.len());
        for chunk in new.chunks(CHUNK) {
            let q = format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
                 WHERE source_event_id = ? AND user_id IN ({})",
                sql::placeholders(chunk.len())
            );
            let mut query = sqlx::query(&q).bind(source_event_id);
            for n in chunk {
                query = query.bind(n.user_id.as_str());
            }
            for row in query.fetch_all(&mut *tx).await.map_err(db_err)? {
                out.push(rows::notification(&row)?);
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn notifications(
        &self,
        user: &UserId,
        unread_only: bool,
        before_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Notification>, DomainError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut q = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = ?");
        if unread_only {
            q.push_str(" AND read_at IS NULL");
        }
        if before_id.is_some() {
            q.push_str(" AND id < ?");
        }
        q.push_str(" ORDER BY id DESC LIMIT ?");
        let mut query = sqlx::query(&q).bind(user.as_str());
        if let Some(before) = before_id {
            query = query.bind(before);
        }
        let found = query
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found.iter().map(rows::notification).collect()
    }

    async fn unread_notifications(&self, user: &UserId) -> Result<u64, DomainError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at IS NULL",
        )
        .bind(user.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn mark_notifications_read(
        &self,
        user: &UserId,
        ids: Option<&[String]>,
        at: Timestamp,
    ) -> Result<u64, DomainError> {
        const BASE: &str =
            "UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL";
        let Some(ids) = ids else {
            let done = sqlx::query(BASE)
                .bind(at.unix_millis())
                .bind(user.as_str())
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
            return Ok(done.rows_affected());
        };
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut changed = 0;
        for chunk in ids.chunks(CHUNK) {
            let q = format!("{BASE} AND id IN ({})", sql::placeholders(chunk.len()));
            let mut query = sqlx::query(&q).bind(at.unix_millis()).bind(user.as_str());
            for id in chunk {
                query = query.bind(id.as_str());
            }
            changed += query
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
        tx.commit().await.map_err(db_err)?;
        Ok(changed)
    }
}
