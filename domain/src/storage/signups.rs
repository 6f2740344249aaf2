//! Sign-up changes: the capacity-safe part of [`crate::ActivityRepository`].

use sqlx::AnyConnection;

use super::activities::insert_signup;
use super::error::{db_err, is_unique_violation};
use super::outbox::write_events;
use super::{rows, sql, Store};
use crate::entities::{ActivityStatus, Signup};
use crate::error::DomainError;
use crate::repository::{MemberDelta, SignupDecider, SignupOutcome};
use crate::types::{ActivityId, UserId};

impl Store {
    /// One user's sign-up, on `conn` when inside a transaction, else on the pool.
    pub(super) async fn read_signup(
        &self,
        conn: Option<&mut AnyConnection>,
        activity: &ActivityId,
        user: &UserId,
    ) -> Result<Option<Signup>, DomainError> {
        let q = format!(
            "SELECT {} FROM signups WHERE activity_id = ? AND user_id = ?",
            sql::SIGNUP_COLUMNS
        );
        let query = sqlx::query(&q).bind(activity.as_str()).bind(user.as_str());
        let row = match conn {
            Some(conn) => query.fetch_optional(conn).await,
            None => query.fetch_optional(&self.pool).await,
        }
        .map_err(db_err)?;
        row.as_ref().map(rows::signup).transpose()
    }

    /// Lock the activity, decide, move the member count through the conditional
    /// update, store the sign-up, write the events: one transaction.
    pub(super) async fn change_signup_tx(
        &self,
        activity_id: &ActivityId,
        user: &UserId,
        decide: &SignupDecider<'_>,
    ) -> Result<SignupOutcome, DomainError> {
        let mut tx = self.begin_write().await?;
        let activity = self.lock_activity(&mut tx, activity_id).await?;
        let existing = self.read_signup(Some(&mut tx), activity_id, user).await?;
        let change = decide(&activity, existing.as_ref())?;
        if change.signup.activity_id != *activity_id || change.signup.user_id != *user {
            return Err(DomainError::internal(
                "a decider changed a sign-up's identity",
            ));
        }
        match change.member_delta {
            MemberDelta::Unchanged => {}
            MemberDelta::Join => {
                let done = sqlx::query(sql::JOIN_MEMBER)
                    .bind(activity_id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(match activity.status {
                        ActivityStatus::Cancelled => DomainError::ActivityCancelled,
                        ActivityStatus::Open => DomainError::ActivityFull,
                    });
                }
            }
            MemberDelta::Leave => {
                let done = sqlx::query(sql::LEAVE_MEMBER)
                    .bind(activity_id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(DomainError::internal("member count would drop below one"));
                }
            }
        }
        let signup = &change.signup;
        match &existing {
            None => insert_signup(&mut tx, signup).await.map_err(|e| {
                if is_unique_violation(&e) {
                    DomainError::AlreadySignedUp
                } else {
                    db_err(e)
                }
            })?,
            Some(old) => {
                let done = sqlx::query(sql::UPDATE_SIGNUP)
                    .bind(signup.status.as_str())
                    .bind(signup.at.unix_millis())
                    .bind(activity_id.as_str())
                    .bind(user.as_str())
                    .bind(old.status.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(DomainError::ConcurrentUpdate);
                }
            }
        }
        write_events(&mut tx, &change.events).await?;
        let activity = self.lock_activity(&mut tx, activity_id).await?;
        tx.commit().await.map_err(db_err)?;
        self.announce(!change.events.is_empty());
        Ok(SignupOutcome {
            activity,
            signup: change.signup,
        })
    }
}
