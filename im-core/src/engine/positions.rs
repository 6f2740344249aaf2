//! Catch-up and read state: sync pages, latest seqs, read and delivered positions.

use super::{check_id, Engine};
use crate::error::EngineError;
use crate::ids::{GroupId, Seq, UserId};
use crate::sync::{GroupPosition, SyncPage};

impl Engine {
    /// Messages of `group` after `after_seq` for `user` (a member), bounded by the
    /// configured limits; `has_more` says whether to ask again.
    pub async fn sync(
        &self,
        user: &UserId,
        group: &GroupId,
        after_seq: Seq,
        limit: Option<u32>,
    ) -> Result<SyncPage, EngineError> {
        check_id("group_id", group.as_str())?;
        self.ensure_member(group, user).await?;
        crate::sync::read_page(
            &*self.inner.store,
            &self.inner.config,
            group,
            after_seq,
            limit,
        )
        .await
    }

    /// Where `user` stands in `groups` (latest seq, read position, unread count), or in
    /// every group of `user` when `groups` is `None` (at most `latest_max_groups` of
    /// them, by group id). Every listed group must have `user` as a member.
    pub async fn latest(
        &self,
        user: &UserId,
        groups: Option<&[GroupId]>,
    ) -> Result<Vec<GroupPosition>, EngineError> {
        let max = self.inner.config.latest_max_groups;
        let groups = match groups {
            Some(groups) if groups.len() > max => {
                return Err(EngineError::InvalidField {
                    field: "group_ids",
                    reason: format!("at most {max} groups per request"),
                })
            }
            Some(groups) => {
                for group in groups {
                    check_id("group_ids", group.as_str())?;
                    self.ensure_member(group, user).await?;
                }
                groups.to_vec()
            }
            None => {
                let mut all = self.inner.membership.groups_of(user).await?;
                all.truncate(max);
                all
            }
        };
        let store = &self.inner.store;
        let mut positions = Vec::with_capacity(groups.len());
        for group_id in groups {
            let latest_seq = store.latest_seq(&group_id).await?;
            let read_seq = store.read_position(&group_id, user).await?;
            positions.push(GroupPosition {
                group_id,
                latest_seq,
                read_seq,
                unread: latest_seq.saturating_sub(read_seq),
            });
        }
        Ok(positions)
    }

    /// Records that `user` has read `group` up to `seq`; returns the stored position.
    pub async fn mark_read(
        &self,
        user: &UserId,
        group: &GroupId,
        seq: Seq,
    ) -> Result<Seq, EngineError> {
        self.check_position(user, group, seq).await?;
        Ok(self.inner.store.set_read_position(group, user, seq).await?)
    }

    /// Records that `user` has received `group` up to `seq`; returns the stored position.
    pub async fn ack(&self, user: &UserId, group: &GroupId, seq: Seq) -> Result<Seq, EngineError> {
        self.check_position(user, group, seq).await?;
        Ok(self
            .inner
            .store
            .set_delivered_position(group, user, seq)
            .await?)
    }

    async fn check_position(
        &self,
        user: &UserId,
        group: &GroupId,
        seq: Seq,
    ) -> Result<(), EngineError> {
        check_id("group_id", group.as_str())?;
        self.ensure_member(group, user).await?;
        let latest = self.inner.store.latest_seq(group).await?;
        if seq > latest {
            return Err(EngineError::InvalidField {
                field: "seq",
                reason: format!("{seq} is beyond the latest seq {latest}"),
            });
        }
        Ok(())
    }
}
