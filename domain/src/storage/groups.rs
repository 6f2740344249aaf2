//! [`GroupRepository`] for [`Store`]: groups and members.

use async_trait::async_trait;
use sqlx::AnyConnection;

use super::error::{db_err, is_unique_violation};
use super::outbox::write_events;
use super::rows::{self, GROUP_COLUMNS, MEMBER_COLUMNS};
use super::{inbox, member_versions, Store};
use crate::entities::{Group, GroupMember, MemberSnapshot, SenderStanding};
use crate::error::DomainError;
use crate::events::OutboxEvent;
use crate::repository::{
    ActivityRecord, CreationDecider, GroupChange, GroupChangeOutcome, GroupDecider, GroupRef,
    GroupRepository, InboxMark, MemberDecider, MemberEvent, MemberEventOutcome, MemberMark,
    MemberState, MembershipChange,
};
use crate::types::{ActivityId, GroupId, Timestamp, UserId};

const INSERT_GROUP: &str = "INSERT INTO chat_groups \
    (id, activity_id, owner_id, status, created_at, dissolved_at) VALUES (?, ?, ?, ?, ?, ?)";

const INSERT_MEMBER: &str =
    "INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)";

const DISSOLVE: &str = "UPDATE chat_groups SET status = 'dissolved', dissolved_at = ?, \
    member_version = member_version + 1 WHERE id = ? AND status = 'active'";

async fn insert_member(conn: &mut AnyConnection, m: &GroupMember) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT_MEMBER)
        .bind(m.group_id.as_str())
        .bind(m.user_id.as_str())
        .bind(m.role.as_str())
        .bind(m.joined_at.unix_millis())
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

async fn insert_group(conn: &mut AnyConnection, g: &Group) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT_GROUP)
        .bind(g.id.as_str())
        .bind(g.activity_id.as_str())
        .bind(g.owner_id.as_str())
        .bind(g.status.as_str())
        .bind(g.created_at.unix_millis())
        .bind(g.dissolved_at.map(|t| t.unix_millis()))
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

impl Store {
    /// Creates and locks the activity's `activity_state` row (every activity-event
    /// handler takes this lock first, so the handlers of one activity run one at a
    /// time); returns its cancellation time.
    async fn lock_activity_state(
        &self,
        conn: &mut AnyConnection,
        activity: &ActivityId,
    ) -> Result<Option<Timestamp>, DomainError> {
        sqlx::query(self.backend.lock_activity_state())
            .bind(activity.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        let row = sqlx::query("SELECT cancelled_at FROM activity_state WHERE activity_id = ?")
            .bind(activity.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
        rows::cancelled_at(&row)
    }

    /// The activity's group, locked (on MySQL) when there is one. Reads it unlocked
    /// first: a locking read of a missing row would take a gap lock (the caller holds
    /// the activity's lock, so the group cannot appear meanwhile).
    async fn lock_group_of(
        &self,
        conn: &mut AnyConnection,
        activity: &ActivityId,
    ) -> Result<Option<Group>, DomainError> {
        let Some(g) = self
            .read_group(conn, GroupRef::Activity(activity), false)
            .await?
        else {
            return Ok(None);
        };
        self.read_group(conn, GroupRef::Id(&g.id), true).await
    }

    async fn read_mark(
        conn: &mut AnyConnection,
        activity: &ActivityId,
        user: &UserId,
    ) -> Result<Option<MemberMark>, DomainError> {
        let row = sqlx::query(
            "SELECT user_id, state, changed_at FROM activity_member_state \
             WHERE activity_id = ? AND user_id = ?",
        )
        .bind(activity.as_str())
        .bind(user.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(row
            .as_ref()
            .map(rows::member_mark)
            .transpose()?
            .map(|(_, m)| m))
    }

    /// Writes the register (`exists`: whether a row is there to update).
    async fn write_mark(
        conn: &mut AnyConnection,
        e: &MemberEvent<'_>,
        exists: bool,
    ) -> Result<(), DomainError> {
        let q = if exists {
            "UPDATE activity_member_state SET state = ?, changed_at = ? \
             WHERE activity_id = ? AND user_id = ?"
        } else {
            "INSERT INTO activity_member_state (state, changed_at, activity_id, user_id) \
             VALUES (?, ?, ?, ?)"
        };
        sqlx::query(q)
            .bind(e.mark.state.as_str())
            .bind(e.mark.at.unix_millis())
            .bind(e.activity.as_str())
            .bind(e.user.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_err)
            .map(|_| ())
    }

    /// Everything recorded of the activity, on a connection holding its lock.
    async fn activity_record(
        conn: &mut AnyConnection,
        activity: &ActivityId,
        cancelled_at: Option<Timestamp>,
    ) -> Result<ActivityRecord, DomainError> {
        let found = sqlx::query(
            "SELECT user_id, state, changed_at FROM activity_member_state \
             WHERE activity_id = ? AND state = ? ORDER BY user_id",
        )
        .bind(activity.as_str())
        .bind(MemberState::In.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        let mut members_in = Vec::with_capacity(found.len());
        for row in &found {
            let (user, mark) = rows::member_mark(row)?;
            members_in.push((user, mark.at));
        }
        Ok(ActivityRecord {
            cancelled_at,
            members_in,
        })
    }

    /// Writes `change` to the locked group `current` and returns the group as stored.
    async fn write_change(
        &self,
        conn: &mut AnyConnection,
        current: &Group,
        change: &GroupChange,
    ) -> Result<Group, DomainError> {
        if let Some(m) = &change.membership {
            Self::apply_membership(conn, current, m).await?;
        }
        if let Some(at) = change.dissolve_at {
            sqlx::query(DISSOLVE)
                .bind(at.unix_millis())
                .bind(current.id.as_str())
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
        write_events(conn, &change.events).await?;
        self.read_group(conn, GroupRef::Id(&current.id), false)
            .await?
            .ok_or_else(|| DomainError::internal("a locked group disappeared"))
    }

    /// Reads a group (locking its row on MySQL when `lock`), on `conn`.
    async fn read_group(
        &self,
        conn: &mut AnyConnection,
        group: GroupRef<'_>,
        lock: bool,
    ) -> Result<Option<Group>, DomainError> {
        let (column, value) = match group {
            GroupRef::Id(id) => ("id", id.as_str()),
            GroupRef::Activity(id) => ("activity_id", id.as_str()),
        };
        let suffix = if lock { self.backend.lock_suffix() } else { "" };
        let q = format!("SELECT {GROUP_COLUMNS} FROM chat_groups WHERE {column} = ?{suffix}");
        let row = sqlx::query(&q)
            .bind(value)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::group).transpose()
    }

    async fn read_member(
        conn: &mut AnyConnection,
        group: &GroupId,
        user: &UserId,
    ) -> Result<Option<GroupMember>, DomainError> {
        let q = format!(
            "SELECT {MEMBER_COLUMNS} FROM group_members WHERE group_id = ? AND user_id = ?"
        );
        let row = sqlx::query(&q)
            .bind(group.as_str())
            .bind(user.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::group_member).transpose()
    }

    /// Adds or removes a member and raises the group's membership version.
    async fn apply_membership(
        conn: &mut AnyConnection,
        group: &Group,
        change: &MembershipChange,
    ) -> Result<(), DomainError> {
        Self::write_membership(conn, group, change).await?;
        member_versions::bump(conn, &group.id).await
    }

    async fn write_membership(
        conn: &mut AnyConnection,
        group: &Group,
        change: &MembershipChange,
    ) -> Result<(), DomainError> {
        match change {
            MembershipChange::Add(m) => {
                if m.group_id != group.id {
                    return Err(DomainError::internal("a decider added a member elsewhere"));
                }
                insert_member(conn, m).await.map_err(|e| {
                    if is_unique_violation(&e) {
                        DomainError::ConcurrentUpdate
                    } else {
                        db_err(e)
                    }
                })
            }
            MembershipChange::Remove(user) => {
                sqlx::query("DELETE FROM group_members WHERE group_id = ? AND user_id = ?")
                    .bind(group.id.as_str())
                    .bind(user.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)
                    .map(|_| ())
            }
        }
    }
}

#[async_trait]
impl GroupRepository for Store {
    async fn create_group(
        &self,
        group: &Group,
        owner: &GroupMember,
        events: Vec<OutboxEvent>,
    ) -> Result<Group, DomainError> {
        let mut tx = self.begin_write().await?;
        let by_activity = GroupRef::Activity(&group.activity_id);
        if let Some(existing) = self.read_group(&mut tx, by_activity, false).await? {
            return Ok(existing);
        }
        let inserted = insert_group(&mut tx, group).await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                // Another handler created the activity's group first (MySQL: it waited
                // for that commit). Nothing of ours is kept.
                tx.rollback().await.map_err(db_err)?;
                return self
                    .group_by_activity(&group.activity_id)
                    .await?
                    .ok_or(DomainError::ConcurrentUpdate);
            }
            Err(e) => return Err(db_err(e)),
        }
        insert_member(&mut tx, owner).await.map_err(db_err)?;
        write_events(&mut tx, &events).await?;
        tx.commit().await.map_err(db_err)?;
        self.announce(!events.is_empty());
        Ok(group.clone())
    }

    async fn create_activity_group(
        &self,
        activity: &ActivityId,
        build: &CreationDecider<'_>,
    ) -> Result<Group, DomainError> {
        let mut tx = self.begin_write().await?;
        let cancelled_at = self.lock_activity_state(&mut tx, activity).await?;
        if let Some(existing) = self
            .read_group(&mut tx, GroupRef::Activity(activity), false)
            .await?
        {
            tx.rollback().await.map_err(db_err)?;
            return Ok(existing);
        }
        let record = Self::activity_record(&mut tx, activity, cancelled_at).await?;
        let creation = build(&record)?;
        let group = &creation.group;
        if group.activity_id != *activity {
            return Err(DomainError::internal(
                "a decider created another activity's group",
            ));
        }
        if let Err(e) = insert_group(&mut tx, group).await {
            // Unexpected under the activity's lock; another writer without it?
            return Err(if is_unique_violation(&e) {
                DomainError::ConcurrentUpdate
            } else {
                db_err(e)
            });
        }
        for m in &creation.members {
            Self::apply_membership(&mut tx, group, &MembershipChange::Add(m.clone())).await?;
        }
        write_events(&mut tx, &creation.events).await?;
        tx.commit().await.map_err(db_err)?;
        self.announce(!creation.events.is_empty());
        Ok(creation.group)
    }

    async fn apply_member_event(
        &self,
        mark: InboxMark<'_>,
        event: &MemberEvent<'_>,
        decide: &MemberDecider<'_>,
    ) -> Result<MemberEventOutcome, DomainError> {
        let mut tx = self.begin_write().await?;
        if !inbox::record(&mut tx, &mark).await? {
            tx.rollback().await.map_err(db_err)?;
            return Ok(MemberEventOutcome::AlreadyProcessed);
        }
        let cancelled_at = self.lock_activity_state(&mut tx, event.activity).await?;
        let stored = Self::read_mark(&mut tx, event.activity, event.user).await?;
        if !event.mark.wins_over(stored) {
            tx.commit().await.map_err(db_err)?;
            return Ok(MemberEventOutcome::Stale);
        }
        Self::write_mark(&mut tx, event, stored.is_some()).await?;
        let Some(current) = self.lock_group_of(&mut tx, event.activity).await? else {
            tx.commit().await.map_err(db_err)?;
            return Ok(MemberEventOutcome::Recorded);
        };
        let membership = Self::read_member(&mut tx, &current.id, event.user).await?;
        let Some(change) = decide(&current, membership.as_ref(), cancelled_at)? else {
            tx.commit().await.map_err(db_err)?;
            return Ok(MemberEventOutcome::Unchanged(current));
        };
        let stored = self.write_change(&mut tx, &current, &change).await?;
        tx.commit().await.map_err(db_err)?;
        self.announce(!change.events.is_empty());
        Ok(MemberEventOutcome::Changed(stored))
    }

    async fn cancel_activity(
        &self,
        mark: InboxMark<'_>,
        activity: &ActivityId,
        at: Timestamp,
        decide: &GroupDecider<'_>,
    ) -> Result<GroupChangeOutcome, DomainError> {
        let mut tx = self.begin_write().await?;
        if !inbox::record(&mut tx, &mark).await? {
            tx.rollback().await.map_err(db_err)?;
            return Ok(GroupChangeOutcome::AlreadyProcessed);
        }
        let cancelled_at = self.lock_activity_state(&mut tx, activity).await?;
        if cancelled_at.is_none_or(|c| at < c) {
            sqlx::query("UPDATE activity_state SET cancelled_at = ? WHERE activity_id = ?")
                .bind(at.unix_millis())
                .bind(activity.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let Some(current) = self.lock_group_of(&mut tx, activity).await? else {
            tx.commit().await.map_err(db_err)?;
            return Ok(GroupChangeOutcome::NoGroup);
        };
        let Some(change) = decide(&current, None)? else {
            tx.commit().await.map_err(db_err)?;
            return Ok(GroupChangeOutcome::Unchanged(current));
        };
        let stored = self.write_change(&mut tx, &current, &change).await?;
        tx.commit().await.map_err(db_err)?;
        self.announce(!change.events.is_empty());
        Ok(GroupChangeOutcome::Changed(stored))
    }

    async fn change_group(
        &self,
        group: GroupRef<'_>,
        member: Option<&UserId>,
        mark: Option<InboxMark<'_>>,
        decide: &GroupDecider<'_>,
    ) -> Result<GroupChangeOutcome, DomainError> {
        let mut tx = self.begin_write().await?;
        if let Some(mark) = &mark {
            if !inbox::record(&mut tx, mark).await? {
                tx.rollback().await.map_err(db_err)?;
                return Ok(GroupChangeOutcome::AlreadyProcessed);
            }
        }
        let Some(current) = self.read_group(&mut tx, group, true).await? else {
            tx.rollback().await.map_err(db_err)?;
            return Ok(GroupChangeOutcome::NoGroup);
        };
        let membership = match member {
            Some(user) => Self::read_member(&mut tx, &current.id, user).await?,
            None => None,
        };
        let Some(change) = decide(&current, membership.as_ref())? else {
            tx.commit().await.map_err(db_err)?;
            return Ok(GroupChangeOutcome::Unchanged(current));
        };
        let stored = self.write_change(&mut tx, &current, &change).await?;
        tx.commit().await.map_err(db_err)?;
        self.announce(!change.events.is_empty());
        Ok(GroupChangeOutcome::Changed(stored))
    }

    async fn group(&self, id: &GroupId) -> Result<Option<Group>, DomainError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        self.read_group(&mut conn, GroupRef::Id(id), false).await
    }

    async fn group_by_activity(&self, id: &ActivityId) -> Result<Option<Group>, DomainError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        self.read_group(&mut conn, GroupRef::Activity(id), false)
            .await
    }

    async fn group_members(&self, id: &GroupId) -> Result<Vec<GroupMember>, DomainError> {
        let q = format!(
            "SELECT {MEMBER_COLUMNS} FROM group_members WHERE group_id = ? \
             ORDER BY CASE role WHEN 'owner' THEN 0 ELSE 1 END, joined_at, user_id"
        );
        let found = sqlx::query(&q)
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found.iter().map(rows::group_member).collect()
    }

    async fn group_member(
        &self,
        group: &GroupId,
        user: &UserId,
    ) -> Result<Option<GroupMember>, DomainError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        Self::read_member(&mut conn, group, user).await
    }

    async fn groups_of(&self, user: &UserId) -> Result<Vec<Group>, DomainError> {
        let q = format!(
            "SELECT {} FROM chat_groups g JOIN group_members m ON m.group_id = g.id \
             WHERE m.user_id = ? ORDER BY g.id",
            qualified("g", GROUP_COLUMNS)
        );
        let found = sqlx::query(&q)
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found.iter().map(rows::group).collect()
    }

    async fn member_versions(
        &self,
        groups: &[GroupId],
    ) -> Result<Vec<(GroupId, u64)>, DomainError> {
        self.read_member_versions(groups).await
    }

    async fn member_snapshot(
        &self,
        group: &GroupId,
    ) -> Result<Option<MemberSnapshot>, DomainError> {
        self.read_member_snapshot(group).await
    }

    async fn sender_standing(
        &self,
        group: &GroupId,
        user: &UserId,
    ) -> Result<Option<SenderStanding>, DomainError> {
        self.read_sender_standing(group, user).await
    }
}

/// `a.x, a.y` for the columns `x, y`.
fn qualified(alias: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}
