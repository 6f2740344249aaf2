//! The group rules as pure functions of the current (locked) group and the subject's
//! membership: what a change writes and which events announce it.

use crate::entities::{Group, GroupMember, GroupStatus, MemberRole};
use crate::error::DomainError;
use crate::events::{
    GroupCreated, GroupDissolved, GroupMemberAdded, GroupMemberRemoved, OutboxEvent,
};
use crate::repository::{
    ActivityRecord, GroupChange, GroupCreation, MemberMark, MemberState, MembershipChange,
};
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

/// Adds `user` as a member (reason `signup_accepted`): nothing when already one.
fn admit(
    g: &Group,
    existing: Option<&GroupMember>,
    user: &UserId,
    at: Timestamp,
) -> Result<Option<GroupChange>, DomainError> {
    if existing.is_some() {
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
        activity_id: Some(g.activity_id.clone()),
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

/// Removes `user` (reason `left`): nothing when not a member or the owner.
fn depart(
    g: &Group,
    existing: Option<&GroupMember>,
    user: &UserId,
    at: Timestamp,
) -> Result<Option<GroupChange>, DomainError> {
    if existing.is_none() || g.is_owner(user) {
        return Ok(None);
    }
    removal(g, user, None, REASON_LEFT, at).map(Some)
}

/// Whether a membership event of time `at` still shapes a dissolved group: only when
/// the activity was cancelled after it (the event was overtaken by the
/// cancellation). A group its owner dissolved, or an event at or after the
/// cancellation, changes no more.
fn shapes_dissolved(at: Timestamp, cancelled_at: Option<Timestamp>) -> bool {
    cancelled_at.is_some_and(|c| at < c)
}

/// A membership event that won its register ([`MemberMark::wins_over`]), applied to
/// the existing group: `in` adds the user, `out` removes them (never the owner). An
/// active group follows the register; a dissolved one only for events older than the
/// activity's cancellation, so that the members of a cancelled activity's group do
/// not depend on whether the cancellation overtook them.
pub(super) fn member_event(
    g: &Group,
    existing: Option<&GroupMember>,
    user: &UserId,
    mark: MemberMark,
    cancelled_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<Option<GroupChange>, DomainError> {
    if g.is_dissolved() && !shapes_dissolved(mark.at, cancelled_at) {
        return Ok(None);
    }
    match mark.state {
        MemberState::In => admit(g, existing, user, now),
        MemberState::Out => depart(g, existing, user, now),
    }
}

/// A new activity group from what was recorded of its activity's events before
/// `activity.created` arrived: the owner first, then every user whose register says
/// `in` (for a cancelled activity: set before the cancellation), then, when the
/// activity was cancelled, the dissolution (by nobody). `template` is the group as an
/// active one, created at `template.created_at`.
pub(super) fn creation(
    template: Group,
    record: &ActivityRecord,
) -> Result<GroupCreation, DomainError> {
    let now = template.created_at;
    let mut group = template;
    let mut events = vec![OutboxEvent::new(&GroupCreated {
        group_id: group.id.clone(),
        activity_id: group.activity_id.clone(),
        owner_id: group.owner_id.clone(),
        created_at: group.created_at,
    })?];
    let (owner, added) = owner_membership(&group)?;
    events.push(added);
    let mut members = vec![owner];
    for (user, at) in &record.members_in {
        if group.is_owner(user) {
            continue;
        }
        if record.cancelled_at.is_some() && !shapes_dissolved(*at, record.cancelled_at) {
            continue;
        }
        if let Some(change) = admit(&group, None, user, now)? {
            if let Some(MembershipChange::Add(m)) = change.membership {
                members.push(m);
            }
            events.extend(change.events);
        }
    }
    if record.cancelled_at.is_some() {
        if let Some(change) = dissolve(&group, None, now)? {
            events.extend(change.events);
        }
        group.status = GroupStatus::Dissolved;
        group.dissolved_at = Some(now);
    }
    Ok(GroupCreation {
        group,
        members,
        events,
    })
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
    fn the_owner_never_leaves() {
        let g = group();
        let owner = g.owner_id.clone();
        let out = MemberMark {
            state: MemberState::Out,
            at: Timestamp::from_unix_millis(3),
        };
        let m = GroupMember {
            role: MemberRole::Owner,
            ..member(&g, &owner)
        };
        assert!(matches!(
            member_event(&g, Some(&m), &owner, out, None, out.at),
            Ok(None)
        ));
    }

    #[test]
    fn last_writer_wins_and_out_wins_a_tie() {
        let mark = |state, at| MemberMark {
            state,
            at: Timestamp::from_unix_millis(at),
        };
        let (i, o) = (MemberState::In, MemberState::Out);
        assert!(mark(i, 5).wins_over(None));
        assert!(mark(i, 6).wins_over(Some(mark(o, 5))));
        assert!(!mark(i, 4).wins_over(Some(mark(o, 5))));
        assert!(mark(o, 5).wins_over(Some(mark(i, 5))));
        assert!(!mark(i, 5).wins_over(Some(mark(o, 5))));
        assert!(!mark(i, 5).wins_over(Some(mark(i, 5))));
        assert!(!mark(o, 5).wins_over(Some(mark(o, 5))));
    }

    #[test]
    fn creation_after_a_cancellation_is_dissolved() -> Result<(), DomainError> {
        let g = group();
        let (early, late) = (UserId::new(), UserId::new());
        let record = ActivityRecord {
            cancelled_at: Some(Timestamp::from_unix_millis(10)),
            members_in: vec![
                (early.clone(), Timestamp::from_unix_millis(9)),
                (late, Timestamp::from_unix_millis(10)),
                (g.owner_id.clone(), Timestamp::from_unix_millis(8)),
            ],
        };
        let c = creation(g.clone(), &record)?;
        assert_eq!(c.group.status, GroupStatus::Dissolved);
        assert_eq!(c.group.dissolved_at, Some(g.created_at));
        let users: Vec<_> = c.members.iter().map(|m| m.user_id.clone()).collect();
        assert_eq!(users, vec![g.owner_id.clone(), early]);
        let topics: Vec<_> = c.events.iter().map(|e| e.topic.as_str()).collect();
        assert_eq!(
            topics,
            vec![
                "group.created",
                "group.member.added",
                "group.member.added",
                "group.dissolved"
            ]
        );
        Ok(())
    }

    #[test]
    fn a_dissolved_group_changes_no_more() {
        let mut g = group();
        g.status = GroupStatus::Dissolved;
        let bob = UserId::new();
        let now = Timestamp::from_unix_millis(3);
        let join = MemberMark {
            state: MemberState::In,
            at: now,
        };
        // A dissolved group takes no joins, except ones older than the cancellation.
        assert!(matches!(
            member_event(&g, None, &bob, join, None, now),
            Ok(None)
        ));
        let at_cancel = Some(now);
        assert!(matches!(
            member_event(&g, None, &bob, join, at_cancel, now),
            Ok(None)
        ));
        let later = Some(Timestamp::from_unix_millis(4));
        assert!(matches!(
            member_event(&g, None, &bob, join, later, now),
            Ok(Some(_))
        ));
        assert!(matches!(dissolve(&g, None, now), Ok(None)));
        let err = remove(&g, Some(&member(&g, &bob)), &g.owner_id, &bob, now).err();
        assert_eq!(err.map(|e| e.code()), Some("group_dissolved"));
    }
}
