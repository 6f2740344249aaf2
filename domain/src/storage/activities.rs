//! [`ActivityRepository`] for [`Store`]: activities (sign-ups are in `signups.rs`).

use async_trait::async_trait;
use sqlx::AnyConnection;

use super::error::db_err;
use super::outbox::write_events;
use super::{rows, sql, Store};
use crate::entities::{Activity, Signup};
use crate::error::DomainError;
use crate::events::OutboxEvent;
use crate::repository::{
    ActivityCursor, ActivityDecider, ActivityRepository, SignupDecider, SignupOutcome,
};
use crate::types::{ActivityId, GroupId, Timestamp, UserId};

impl Store {
    /// Reads an activity inside a write transaction, locking its row on MySQL.
    pub(super) async fn lock_activity(
        &self,
        conn: &mut AnyConnection,
        id: &ActivityId,
    ) -> Result<Activity, DomainError> {
        let q = format!(
            "SELECT {} FROM activities WHERE id = ?{}",
            sql::ACTIVITY_COLUMNS,
            self.backend.lock_suffix()
        );
        let row = sqlx::query(&q)
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
        match row {
            Some(row) => rows::activity(&row),
            None => Err(DomainError::not_found("activity")),
        }
    }
}

pub(super) async fn insert_signup(
    conn: &mut AnyConnection,
    signup: &Signup,
) -> Result<(), sqlx::Error> {
    sqlx::query(sql::INSERT_SIGNUP)
        .bind(signup.activity_id.as_str())
        .bind(signup.user_id.as_str())
        .bind(signup.status.as_str())
        .bind(signup.at.unix_millis())
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

#[async_trait]
impl ActivityRepository for Store {
    async fn insert_activity(
        &self,
        a: &Activity,
        organiser: &Signup,
        events: Vec<OutboxEvent>,
    ) -> Result<(), DomainError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(sql::INSERT_ACTIVITY)
            .bind(a.id.as_str())
            .bind(a.organiser_id.as_str())
            .bind(a.title.as_str())
            .bind(a.description.as_str())
            .bind(a.location.as_str())
            .bind(a.starts_at.unix_millis())
            .bind(i64::from(a.capacity))
            .bind(i64::from(a.requires_approval))
            .bind(a.status.as_str())
            .bind(i64::from(a.member_count))
            .bind(a.group_id.as_ref().map(|g| g.as_str().to_owned()))
            .bind(a.created_at.unix_millis())
            .bind(a.updated_at.unix_millis())
            .bind(a.version)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        insert_signup(&mut tx, organiser).await.map_err(db_err)?;
        write_events(&mut tx, &events).await?;
        tx.commit().await.map_err(db_err)?;
        self.announce(!events.is_empty());
        Ok(())
    }

    async fn activity(&self, id: &ActivityId) -> Result<Option<Activity>, DomainError> {
        let q = format!(
            "SELECT {} FROM activities WHERE id = ?",
            sql::ACTIVITY_COLUMNS
        );
        let row = sqlx::query(&q)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::activity).transpose()
    }

    async fn list_upcoming(
        &self,
        now: Timestamp,
        after: Option<&ActivityCursor>,
        limit: u32,
    ) -> Result<Vec<Activity>, DomainError> {
        let base = format!(
            "SELECT {} FROM activities WHERE status = 'open' AND starts_at >= ?",
            sql::ACTIVITY_COLUMNS
        );
        let order = " ORDER BY starts_at, id LIMIT ?";
        let found = match after {
            None => {
                sqlx::query(&format!("{base}{order}"))
                    .bind(now.unix_millis())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
            Some(c) => {
                let q = format!("{base} AND (starts_at > ? OR (starts_at = ? AND id > ?)){order}");
                sqlx::query(&q)
                    .bind(now.unix_millis())
                    .bind(c.starts_at.unix_millis())
                    .bind(c.starts_at.unix_millis())
                    .bind(c.id.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(db_err)?;
        found.iter().map(rows::activity).collect()
    }

    async fn change_activity(
        &self,
        id: &ActivityId,
        decide: &ActivityDecider<'_>,
    ) -> Result<Activity, DomainError> {
        let mut tx = self.begin_write().await?;
        let current = self.lock_activity(&mut tx, id).await?;
        let Some(change) = decide(&current)? else {
            return Ok(current);
        };
        let a = &change.activity;
        if a.id != current.id || a.organiser_id != current.organiser_id {
            return Err(DomainError::internal(
                "a decider changed an activity's identity",
            ));
        }
        let done = sqlx::query(sql::UPDATE_ACTIVITY)
            .bind(a.title.as_str())
            .bind(a.description.as_str())
            .bind(a.location.as_str())
            .bind(a.starts_at.unix_millis())
            .bind(i64::from(a.capacity))
            .bind(i64::from(a.requires_approval))
            .bind(a.status.as_str())
            .bind(a.updated_at.unix_millis())
            .bind(a.id.as_str())
            .bind(current.version)
            .bind(i64::from(a.capacity))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(if a.capacity.get() < current.member_count {
                DomainError::CapacityBelowMembers
            } else {
                DomainError::ConcurrentUpdate
            });
        }
        write_events(&mut tx, &change.events).await?;
        let stored = self.lock_activity(&mut tx, id).await?;
        tx.commit().await.map_err(db_err)?;
        self.announce(!change.events.is_empty());
        Ok(stored)
    }

    async fn set_group_id(
        &self,
        id: &ActivityId,
        group_id: &GroupId,
        at: Timestamp,
    ) -> Result<Activity, DomainError> {
        let mut tx = self.begin_write().await?;
        let current = self.lock_activity(&mut tx, id).await?;
        match &current.group_id {
            Some(g) if g == group_id => return Ok(current),
            Some(_) => return Err(DomainError::GroupAlreadySet),
            None => {}
        }
        let done = sqlx::query(sql::SET_GROUP)
            .bind(group_id.as_str())
            .bind(at.unix_millis())
            .bind(id.as_str())
            .bind(group_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(DomainError::GroupAlreadySet);
        }
        let stored = self.lock_activity(&mut tx, id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn signup(
        &self,
        activity: &ActivityId,
        user: &UserId,
    ) -> Result<Option<Signup>, DomainError> {
        self.read_signup(None, activity, user).await
    }

    async fn signups(&self, activity: &ActivityId) -> Result<Vec<Signup>, DomainError> {
        let q = format!(
            "SELECT {} FROM signups WHERE activity_id = ? ORDER BY changed_at, user_id",
            sql::SIGNUP_COLUMNS
        );
        let found = sqlx::query(&q)
            .bind(activity.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found.iter().map(rows::signup).collect()
    }

    async fn change_signup(
        &self,
        activity: &ActivityId,
        user: &UserId,
        decide: &SignupDecider<'_>,
    ) -> Result<SignupOutcome, DomainError> {
        self.change_signup_tx(activity, user, decide).await
    }
}
