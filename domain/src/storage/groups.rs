//! [`GroupRepository`] for [`Store`]: groups and members.

use async_trait::async_trait;
use sqlx::AnyConnection;

use super::error::{db_err, is_unique_violation};
use super::outbox::write_events;
use super::rows::{self, GROUP_COLUMNS, MEMBER_COLUMNS};
use super::{inbox, Store};
use crate::entities::{Group, GroupMember};
use crate::error::DomainError;
use crate::events::OutboxEvent;
use crate::repository::{
    GroupChangeOutcome, GroupDecider, GroupRef, GroupRepository, InboxMark, MembershipChange,
};
use crate::types::{ActivityId, GroupId, UserId};

const INSERT_GROUP: &str = "INSERT INTO chat_groups \
    (id, activity_id, owner_id, status, created_at, dissolved_at) VALUES (?, ?, ?, ?, ?, ?)";

const INSERT_MEMBER: &str =
    "INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)";

const DISSOLVE: &str = "UPDATE chat_groups SET status = 'dissolved', dissolved_at = ? \
    WHERE id = ? AND status = 'active'";

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

impl Store {
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

    async fn apply_membership(
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
        let inserted = sqlx::query(INSERT_GROUP)
            .bind(group.id.as_str())
            .bind(group.activity_id.as_str())
            .bind(group.owner_id.as_str())
            .bind(group.status.as_str())
            .bind(group.created_at.unix_millis())
            .bind(group.dissolved_at.map(|t| t.unix_millis()))
            .execute(&mut *tx)
            .await;
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
        if let Some(m) = &change.membership {
            Self::apply_membership(&mut tx, &current, m).await?;
        }
        if let Some(at) = change.dissolve_at {
            sqlx::query(DISSOLVE)
                .bind(at.unix_millis())
                .bind(current.id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        write_events(&mut tx, &change.events).await?;
        let stored = self
            .read_group(&mut tx, GroupRef::Id(&current.id), false)
            .await?
            .ok_or_else(|| DomainError::internal("a locked group disappeared"))?;
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
}

/// `a.x, a.y` for the columns `x, y`.
fn qualified(alias: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}
