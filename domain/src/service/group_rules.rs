//! The group rules as pure functions of the current (locked) group and the subject's
//! membership: what a change writes and which events announce it.

use crate::entities::{Group, GroupMember, MemberRole};
use crate::error::DomainError;
use crate::events::{GroupDissolved, GroupMemberAdded, GroupMemberRemoved, OutboxEvent};
use crate::repository::{GroupChange, MembershipChange};
use crate::types::{Timestamp, UserId};

/// Why the system added a member on an accepted sign-up.
pub(super) const REASON_SIGNUP_ACCEPTED: &str = "signup_accepted";
/// Why the owner is a member.
pub(super) const REASON_OWNER: &str = "owner";
/// A member left the activity.
pub(super) const REASON_LEFT: &str = "left";
/// The owner removed a member.
pub(super) const REASON_REMOVED_BY_OWNER: &str = "removed_by_owner";

fn require_owner(g: &Group, actor: &UserId) -> Result<(), DomainError> {
    if g.is_owner(actor) {
        Ok(())
    } else {
        Err(DomainError::Forbidden("only the group owner may do this"))
    }
}

/// The owner's membership and its event, for a new group.
pub(super) fn owner_membership(g: &Group) -> Result<(GroupMember, OutboxEvent), DomainError> {
    let member = GroupMember {
        group_id: g.id.clone(),
        user_id: g.owner_id.clone(),
        role: MemberRole::Owner,
        joined_at: g.created_at,
    };
    let event = OutboxEvent::new(&GroupMemberAdded {
        group_id: g.id.clone(),
        user_id: g.owner_id.clone(),
        by: None,
        reason: REASON_OWNER.to_owned(),
        at: g.created_at,
    })?;
    Ok((member, event))
}

/// An accepted sign-up joins the group: nothing when already a member or dissolved.
pub(super) fn join(
    g: &Group,
    existing: Option<&GroupMember>,
    user: &UserId,
    at: Timestamp,
) -> Result<Option<GroupChange>, DomainError> {
    if existing.is_some() || g.is_dissolved() {
        return Ok(None);
    }
    let event = OutboxEvent::new(&GroupMemberAdded {
        group_id: g.id.clone(),
        user_id: user.clone(),
        by: None,
        reason: REASON_SIGNUP_ACCEPTED.to_owned(),
        at,
    })?;
    Ok(Some(GroupChange {
        membership: Some(MembershipChange::Add(GroupMember {
            group_id: g.id.clone(),
            user_id: user.clone(),
            role: MemberRole::Member,
            joined_at: at,
        })),
        dissolve_at: None,
        events: vec![event],
    }))
}

fn removal(
    g: &Group,
    user: &UserId,
    by: Option<&UserId>,
    reason: &str,
    at: Timestamp,
) -> Result<GroupChange, DomainError> {
    let event = OutboxEvent::new(&GroupMemberRemoved {
        group_id: g.id.clone(),
        user_id: user.clone(),
        by: by.cloned(),
        reason: reason.to_owned(),
        at,
    })?;
    Ok(GroupChange {
        membership: Some(MembershipChange::Remove(user.clone())),
        dissolve_at: None,
        events: vec![event],
    })
}

/// A member left the activity: nothing when not a member, the owner (who cannot leave
/// an activity) or the group is dissolved (its members are kept).
pub(super) fn leave(
    g: &Group,
    existing: Option<&GroupMember>,
    user: &UserId,
    at: Timestamp,
) -> Result<Option<GroupChange>, DomainError> {
    if existing.is_none() || g.is_owner(user) || g.is_dissolved() {
        return Ok(None);
    }
    removal(g, user, None, REASON_LEFT, at).map(Some)
}

/// The owner removes a member.
pub(super) fn remove(
    g: &Group,
    existing: Option<&GroupMember>,
    actor: &UserId,
    user: &UserId,
    at: Timestamp,
) -> Result<Option<GroupChange>, DomainError> {
    require_owner(g, actor)?;
    if g.is_dissolved() {
        return Err(DomainError::GroupDissolved);
    }
    if g.is_owner(user) {
        return Err(DomainError::OwnerCannotBeRemoved);
    }
    if existing.is_none() {
        return Err(DomainError::NotMember);
    }
    removal(g, user, Some(actor), REASON_REMOVED_BY_OWNER, at).map(Some)
}

/// Dissolves the group: by its owner (`actor`), or by the system (`None`, e.g. for a
/// cancelled activity). Nothing when already dissolved.
pub(super) fn dissolve(
    g: &Group,
    actor: Option<&UserId>,
    at: Timestamp,
) -> Result<Option<GroupChange>, DomainError> {
    if let Some(actor) = actor {
        require_owner(g, actor)?;
    }
    if g.is_dissolved() {
        return Ok(None);
    }
    let event = OutboxEvent::new(&GroupDissolved {
        group_id: g.id.clone(),
        by: actor.cloned(),
        at,
    })?;
    Ok(Some(GroupChange {
        membership: None,
        dissolve_at: Some(at),
        events: vec![event],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::GroupStatus;
    use crate::types::{ActivityId, GroupId};

    fn group() -> Group {
        Group {
            id: GroupId::new(),
            activity_id: ActivityId::new(),
            owner_id: UserId::new(),
            status: GroupStatus::Active,
            created_at: Timestamp::from_unix_millis(1),
            dissolved_at: None,
        }
    }

    fn member(g: &Group, user: &UserId) -> GroupMember {
        GroupMember {
            group_id: g.id.clone(),
            user_id: user.clone(),
            role: MemberRole::Member,
            joined_at: Timestamp::from_unix_millis(2),
        }
    }

    #[test]
    fn only_the_owner_removes_and_dissolves() {
        let g = group();
        let (alice, bob) = (UserId::new(), UserId::new());
        let now = Timestamp::from_unix_millis(3);
        let m = member(&g, &bob);
        let err = remove(&g, Some(&m), &alice, &bob, now).err();
        assert_eq!(err.map(|e| e.code()), Some("forbidden"));
        let err = dissolve(&g, Some(&alice), now).err();
        assert_eq!(err.map(|e| e.code()), Some("forbidden"));
        assert!(matches!(
            remove(&g, Some(&m), &g.owner_id, &bob, now),
            Ok(Some(_))
        ));
        let err = remove(&g, None, &g.owner_id, &bob, now).err();
        assert_eq!(err.map(|e| e.code()), Some("not_member"));
        let owner = g.owner_id.clone();
        let err = remove(&g, None, &owner, &owner, now).err();
        assert_eq!(err.map(|e| e.code()), Some("owner_cannot_be_removed"));
    }

    #[test]
    fn a_dissolved_group_changes_no_more() {
        let mut g = group();
        g.status = GroupStatus::Dissolved;
        let bob = UserId::new();
        let now = Timestamp::from_unix_millis(3);
        assert!(matches!(join(&g, None, &bob, now), Ok(None)));
        assert!(matches!(dissolve(&g, None, now), Ok(None)));
        let err = remove(&g, Some(&member(&g, &bob)), &g.owner_id, &bob, now).err();
        assert_eq!(err.map(|e| e.code()), Some("group_dissolved"));
    }
}
