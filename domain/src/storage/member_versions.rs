//! Membership versions: `chat_groups.member_version` grows with every change of a
//! group's members and with its dissolution, in the transaction of the change. Readers
//! cache member lists by version (the IM nodes' fan-out), and the send path reads a
//! sender's standing in one statement.

use sqlx::AnyConnection;

use super::error::{corrupt, db_err};
use super::rows;
use super::Store;
use crate::entities::{GroupStatus, MemberSnapshot, SenderStanding};
use crate::error::DomainError;
use crate::types::{GroupId, UserId};

/// Most groups asked for in one `member_versions` statement.
const VERSIONS_PER_STATEMENT: usize = 200;

/// Raises the group's membership version (in the caller's transaction).
pub(super) async fn bump(conn: &mut AnyConnection, group: &GroupId) -> Result<(), DomainError> {
    sqlx::query("UPDATE chat_groups SET member_version = member_version + 1 WHERE id = ?")
        .bind(group.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_err)
        .map(|_| ())
}

impl Store {
    /// See [`GroupRepository::member_versions`](crate::GroupRepository::member_versions).
    pub(super) async fn read_member_versions(
        &self,
        groups: &[GroupId],
    ) -> Result<Vec<(GroupId, u64)>, DomainError> {
        let mut out = Vec::with_capacity(groups.len());
        for chunk in groups.chunks(VERSIONS_PER_STATEMENT) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let q = format!("SELECT id, member_version FROM chat_groups WHERE id IN ({marks})");
            let mut query = sqlx::query(&q);
            for g in chunk {
                query = query.bind(g.as_str());
            }
            let mut hot = self.hot().await?;
            let found = query.fetch_all(&mut *hot).await.map_err(db_err)?;
            hot.keep();
            for row in found {
                let id =
                    GroupId::parse(&rows::text(&row, "id")?).map_err(|e| corrupt("group", e))?;
                out.push((id, rows::position(&row, "member_version")?));
            }
        }
        Ok(out)
    }

    /// See [`GroupRepository::member_snapshot`](crate::GroupRepository::member_snapshot).
    pub(super) async fn read_member_snapshot(
        &self,
        group: &GroupId,
    ) -> Result<Option<MemberSnapshot>, DomainError> {
        // One statement, so the version and the members are of one moment.
        let found = sqlx::query(
            "SELECT g.member_version, m.user_id FROM chat_groups g \
             LEFT JOIN group_members m ON m.group_id = g.id WHERE g.id = ?",
        )
        .bind(group.as_str());
        let mut hot = self.hot().await?;
        let found = found.fetch_all(&mut *hot).await.map_err(db_err)?;
        hot.keep();
        let Some(first) = found.first() else {
            return Ok(None);
        };
        let version = rows::position(first, "member_version")?;
        let mut members = Vec::with_capacity(found.len());
        for row in &found {
            if let Some(user) = rows::optional_text(row, "user_id")? {
                members.push(UserId::parse(&user).map_err(|e| corrupt("group member", e))?);
            }
        }
        Ok(Some(MemberSnapshot { version, members }))
    }

    /// See [`GroupRepository::sender_standing`](crate::GroupRepository::sender_standing).
    pub(super) async fn read_sender_standing(
        &self,
        group: &GroupId,
        user: &UserId,
    ) -> Result<Option<SenderStanding>, DomainError> {
        let row = sqlx::query(
            "SELECT g.status, (SELECT COUNT(*) FROM group_members m \
             WHERE m.group_id = g.id AND m.user_id = ?) AS member \
             FROM chat_groups g WHERE g.id = ?",
        )
        .bind(user.as_str())
        .bind(group.as_str());
        let mut hot = self.hot().await?;
        let row = row.fetch_optional(&mut *hot).await.map_err(db_err)?;
        hot.keep();
        let Some(row) = row else {
            return Ok(None);
        };
        let status =
            GroupStatus::parse(&rows::text(&row, "status")?).map_err(|e| corrupt("group", e))?;
        Ok(Some(SenderStanding {
            status,
            member: rows::position(&row, "member")? > 0,
        }))
    }
}
