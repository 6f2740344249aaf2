//! [`GroupMembership`]: im-core's membership on the IM service's groups.
//!
//! Every send, sync and fan-out asks the database, so a removal takes effect at once on
//! every node (they share the database). Members of a dissolved group stay members (they
//! can still read its history); the send pipeline refuses new messages to it.

use std::sync::Arc;

use async_trait::async_trait;
use domain::service::GroupService;
use im_core::membership::{MemberList, Membership, MembershipError};
use im_core::{GroupId, UserId};

/// Membership answered by the [`GroupService`].
#[derive(Clone, Debug)]
pub struct GroupMembership {
    groups: Arc<GroupService>,
}

impl GroupMembership {
    /// Membership over `groups`.
    pub fn new(groups: Arc<GroupService>) -> Self {
        Self { groups }
    }
}

fn failed(e: domain::DomainError) -> MembershipError {
    MembershipError(Box::new(e))
}

/// The group id, or `None` when it cannot be one of ours (so nobody is a member).
fn parse_group(group: &GroupId) -> Option<domain::GroupId> {
    domain::GroupId::parse(group.as_str()).ok()
}

fn parse_user(user: &UserId) -> Option<domain::UserId> {
    domain::UserId::parse(user.as_str()).ok()
}

#[async_trait]
impl Membership for GroupMembership {
    async fn is_member(&self, group: &GroupId, user: &UserId) -> Result<bool, MembershipError> {
        let (Some(group), Some(user)) = (parse_group(group), parse_user(user)) else {
            return Ok(false);
        };
        self.groups.is_member(&group, &user).await.map_err(failed)
    }

    async fn members(&self, group: &GroupId) -> Result<MemberList, MembershipError> {
        let Some(group) = parse_group(group) else {
            return Ok(Arc::from(Vec::new()));
        };
        let members = self.groups.members(&group).await.map_err(failed)?;
        Ok(members
            .iter()
            .map(|m| UserId::from(m.user_id.as_str()))
            .collect())
    }

    async fn groups_of(&self, user: &UserId) -> Result<Vec<GroupId>, MembershipError> {
        let Some(user) = parse_user(user) else {
            return Ok(Vec::new());
        };
        let groups = self.groups.groups_of(&user).await.map_err(failed)?;
        Ok(groups
            .iter()
            .map(|g| GroupId::from(g.id.as_str()))
            .collect())
    }
}
