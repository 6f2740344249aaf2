//! Read and delivered positions: per (group, user), only ever moving forward.

use super::dialect::Position;
use super::error::db_err;
use super::messages::{to_db, MAX_SENDER_LEN};
use super::{rows, Store};
use crate::error::DomainError;
use crate::types::GroupId;

fn check_user(user: &str) -> Result<(), DomainError> {
    if user.is_empty() || user.len() > MAX_SENDER_LEN {
        return Err(DomainError::invalid(
            "user_id",
            format!("must be 1 to {MAX_SENDER_LEN} bytes"),
        ));
    }
    Ok(())
}

impl Store {
    async fn advance(
        &self,
        which: Position,
        group: &GroupId,
        user: &str,
        seq: u64,
    ) -> Result<u64, DomainError> {
        check_user(user)?;
        let seq = to_db("seq", seq)?;
        let mut tx = self.begin_write().await?;
        sqlx::query(&self.backend.advance_position(which))
            .bind(group.as_str())
            .bind(user)
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let stored = self.position_on(&mut tx, which, group, user).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn position_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        which: Position,
        group: &GroupId,
        user: &str,
    ) -> Result<u64, DomainError> {
        let column = which.column();
        let q =
            format!("SELECT {column} FROM message_positions WHERE group_id = ? AND user_id = ?");
        let row = sqlx::query(&q)
            .bind(group.as_str())
            .bind(user)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
        match row {
            Some(row) => rows::position(&row, column),
            None => Ok(0),
        }
    }

    async fn position(
        &self,
        which: Position,
        group: &GroupId,
        user: &str,
    ) -> Result<u64, DomainError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        self.position_on(&mut conn, which, group, user).await
    }

    /// Moves `user`'s read position in `group` forward to `seq` (a lower `seq` changes
    /// nothing); returns the stored position. `user` is the real-time engine's user id
    /// as text (1 to 64 bytes).
    pub async fn set_read_position(
        &self,
        group: &GroupId,
        user: &str,
        seq: u64,
    ) -> Result<u64, DomainError> {
        self.advance(Position::Read, group, user, seq).await
    }

    /// `user`'s read position in `group` (0 when never set).
    pub async fn read_position(&self, group: &GroupId, user: &str) -> Result<u64, DomainError> {
        self.position(Position::Read, group, user).await
    }

    /// Moves `user`'s delivered (acknowledged) position in `group` forward to `seq`;
    /// returns the stored position. `user` as in [`Store::set_read_position`].
    pub async fn set_delivered_position(
        &self,
        group: &GroupId,
        user: &str,
        seq: u64,
    ) -> Result<u64, DomainError> {
        self.advance(Position::Delivered, group, user, seq).await
    }

    /// `user`'s delivered position in `group` (0 when never set).
    pub async fn delivered_position(
        &self,
        group: &GroupId,
        user: &str,
    ) -> Result<u64, DomainError> {
        self.position(Position::Delivered, group, user).await
    }
}
