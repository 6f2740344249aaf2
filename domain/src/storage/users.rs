//! [`UserRepository`] for [`Store`].

use async_trait::async_trait;

use super::error::{db_err, is_unique_violation};
use super::outbox::write_events;
use super::{rows, sql, Store};
use crate::entities::User;
use crate::error::DomainError;
use crate::events::OutboxEvent;
use crate::repository::UserRepository;
use crate::types::{Nickname, Timestamp, UserId, Username};

#[async_trait]
impl UserRepository for Store {
    async fn insert_user(&self, user: &User, events: Vec<OutboxEvent>) -> Result<(), DomainError> {
        let mut tx = self.begin_write().await?;
        let at = user.created_at.unix_millis();
        sqlx::query(sql::INSERT_USER)
            .bind(user.id.as_str())
            .bind(user.username.as_str())
            .bind(user.username.key())
            .bind(user.nickname.as_str())
            .bind(user.password_hash.as_str())
            .bind(at)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    DomainError::UsernameTaken
                } else {
                    db_err(e)
                }
            })?;
        write_events(&mut tx, &events).await?;
        tx.commit().await.map_err(db_err)?;
        self.announce(!events.is_empty());
        Ok(())
    }

    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, DomainError> {
        let q = format!("SELECT {} FROM users WHERE id = ?", sql::USER_COLUMNS);
        let row = sqlx::query(&q)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, DomainError> {
        let q = format!(
            "SELECT {} FROM users WHERE username_key = ?",
            sql::USER_COLUMNS
        );
        let row = sqlx::query(&q)
            .bind(username.key())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, DomainError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let q = format!(
                "SELECT {} FROM users WHERE id IN ({})",
                sql::USER_COLUMNS,
                sql::placeholders(chunk.len())
            );
            let mut query = sqlx::query(&q);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            let found = query.fetch_all(&self.pool).await.map_err(db_err)?;
            for row in &found {
                out.push(rows::user(row)?);
            }
        }
        Ok(out)
    }

    async fn update_nickname(
        &self,
        id: &UserId,
        nickname: &Nickname,
        at: Timestamp,
    ) -> Result<bool, DomainError> {
        sqlx::query(sql::UPDATE_NICKNAME)
            .bind(nickname.as_str())
            .bind(at.unix_millis())
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        // MySQL reports 0 affected rows when nothing changed: check existence instead.
        Ok(self.user_by_id(id).await?.is_some())
    }
}
