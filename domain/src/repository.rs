//! The storage boundary: repository traits the services use, implemented by
//! [`crate::Store`] for SQLite and MySQL.
//!
//! Every state-changing method is one database transaction that also writes the
//! given [`OutboxEvent`]s, so a change and its events commit together or not at all.
//! Changes that depend on the current state take a *decider*: a pure function the
//! repository calls inside the transaction, with the activity row locked (`SELECT ...
//! FOR UPDATE` on MySQL, `BEGIN IMMEDIATE` on SQLite), so business rules are applied to
//! fresh state and stay in the services while locking stays in storage.

mod groups;
mod messages;
mod notifications;

pub use groups::{
    ActivityRecord, CreationDecider, GroupChange, GroupChangeOutcome, GroupCreation, GroupDecider,
    GroupRef, GroupRepository, InboxMark, MemberDecider, MemberEvent, MemberEventOutcome,
    MemberMark, MemberState, MembershipChange,
};
pub use messages::{AppendOutcome, MessageRepository};
pub use notifications::NotificationRepository;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::entities::{Activity, Signup, User};
use crate::error::DomainError;
use crate::events::OutboxEvent;
use crate::outbox::OutboxRecord;
use crate::types::{ActivityId, GroupId, Nickname, Timestamp, UserId, Username};

/// What an activity decider wants written: the activity's new editable fields and
/// status, and the events announcing the change.
#[derive(Clone, Debug)]
pub struct ActivityChange {
    /// The activity as it should be stored (`version`, `member_count` and `group_id`
    /// are managed by the repository).
    pub activity: Activity,
    /// Events written in the same transaction.
    pub events: Vec<OutboxEvent>,
}

/// How a sign-up change moves the member count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberDelta {
    /// No change.
    Unchanged,
    /// One more member; fails with [`DomainError::ActivityFull`] when there is no place.
    Join,
    /// One member fewer.
    Leave,
}

/// What a sign-up decider wants written.
#[derive(Clone, Debug)]
pub struct SignupChange {
    /// The sign-up as it should be stored.
    pub signup: Signup,
    /// The member-count change.
    pub member_delta: MemberDelta,
    /// Events written in the same transaction.
    pub events: Vec<OutboxEvent>,
}

/// The state after a sign-up change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignupOutcome {
    /// The activity, with its new member count.
    pub activity: Activity,
    /// The stored sign-up.
    pub signup: Signup,
}

/// Decides an activity change from the locked current state; `Ok(None)` means
/// "nothing to change".
pub type ActivityDecider<'a> =
    dyn Fn(&Activity) -> Result<Option<ActivityChange>, DomainError> + Send + Sync + 'a;

/// Decides a sign-up change from the locked activity and the user's current sign-up.
pub type SignupDecider<'a> =
    dyn Fn(&Activity, Option<&Signup>) -> Result<SignupChange, DomainError> + Send + Sync + 'a;

/// Where an activity listing continues: after this start time and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityCursor {
    /// The last start time seen.
    pub starts_at: Timestamp,
    /// The last id seen.
    pub id: ActivityId,
}

/// Users.
#[async_trait]
pub trait UserRepository: Debug + Send + Sync + 'static {
    /// Inserts `user` and writes `events`; [`DomainError::UsernameTaken`] when the
    /// username (case-insensitively) exists.
    async fn insert_user(&self, user: &User, events: Vec<OutboxEvent>) -> Result<(), DomainError>;
    /// The user with this id.
    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, DomainError>;
    /// The user with this username (case-insensitive).
    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, DomainError>;
    /// The users with these ids (unknown ids are skipped; order unspecified).
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, DomainError>;
    /// Sets the nickname; `false` when the user does not exist.
    async fn update_nickname(
        &self,
        id: &UserId,
        nickname: &Nickname,
        at: Timestamp,
    ) -> Result<bool, DomainError>;
}

/// Activities and sign-ups.
#[async_trait]
pub trait ActivityRepository: Debug + Send + Sync + 'static {
    /// Inserts `activity`, the organiser's accepted sign-up and `events`.
    async fn insert_activity(
        &self,
        activity: &Activity,
        organiser: &Signup,
        events: Vec<OutboxEvent>,
    ) -> Result<(), DomainError>;
    /// The activity with this id.
    async fn activity(&self, id: &ActivityId) -> Result<Option<Activity>, DomainError>;
    /// Open activities starting at or after `now`, by start time then id, after `after`.
    async fn list_upcoming(
        &self,
        now: Timestamp,
        after: Option<&ActivityCursor>,
        limit: u32,
    ) -> Result<Vec<Activity>, DomainError>;
    /// Locks the activity, lets `decide` choose the change, writes it (bumping the
    /// version) with its events, and returns the stored activity.
    async fn change_activity(
        &self,
        id: &ActivityId,
        decide: &ActivityDecider<'_>,
    ) -> Result<Activity, DomainError>;
    /// Records the activity's group. Idempotent for the same group; a different group
    /// when one is already set fails with [`DomainError::GroupAlreadySet`].
    async fn set_group_id(
        &self,
        id: &ActivityId,
        group_id: &GroupId,
        at: Timestamp,
    ) -> Result<Activity, DomainError>;
    /// A user's sign-up for an activity.
    async fn signup(
        &self,
        activity: &ActivityId,
        user: &UserId,
    ) -> Result<Option<Signup>, DomainError>;
    /// All sign-ups of an activity, oldest change first.
    async fn signups(&self, activity: &ActivityId) -> Result<Vec<Signup>, DomainError>;
    /// Locks the activity, lets `decide` choose the sign-up change, applies it (the
    /// member count moves only through a conditional update that never passes the
    /// capacity) with its events.
    async fn change_signup(
        &self,
        activity: &ActivityId,
        user: &UserId,
        decide: &SignupDecider<'_>,
    ) -> Result<SignupOutcome, DomainError>;
}

/// The outbox table, as read by the [`crate::OutboxForwarder`].
#[async_trait]
pub trait OutboxRepository: Debug + Send + Sync + 'static {
    /// Up to `limit` unpublished rows, in id (commit) order.
    async fn unpublished(&self, limit: u32) -> Result<Vec<OutboxRecord>, DomainError>;
    /// Marks these rows published.
    async fn mark_published(&self, ids: &[i64], at: Timestamp) -> Result<(), DomainError>;
    /// How many rows wait to be published.
    async fn count_unpublished(&self) -> Result<u64, DomainError>;
    /// Deletes rows published before `before`; returns how many.
    async fn purge_published(&self, before: Timestamp) -> Result<u64, DomainError>;
    /// Notified after every commit that wrote outbox rows in this process.
    fn new_rows(&self) -> Arc<Notify>;
    /// Takes or renews the forwarding lease for `holder` until `until`, when it is free,
    /// expired at `now`, or already `holder`'s; returns whether `holder` holds it. Only
    /// the holder forwards, so forwarders sharing a database do not publish every row
    /// once each. The default (a repository of one process) always grants it.
    async fn acquire_lease(
        &self,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, DomainError> {
        let _ = (holder, now, until);
        Ok(true)
    }
    /// Gives the lease up, if `holder` has it, so another forwarder takes over at once.
    async fn release_lease(&self, holder: &str) -> Result<(), DomainError> {
        let _ = holder;
        Ok(())
    }
}
