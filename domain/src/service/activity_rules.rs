//! The activity rules as pure functions of the current (locked) state: what a change
//! writes and which events announce it. The repository runs them inside its
//! transaction; they are easy to test on their own.

use crate::entities::{Activity, ActivityStatus, Signup, SignupStatus};
use crate::error::DomainError;
use crate::events::{
    ActivityCancelled, ActivityChanges, ActivityMemberJoined, ActivityMemberLeft,
    ActivitySignupRejected, ActivityUpdated, OutboxEvent,
};
use crate::repository::{ActivityChange, MemberDelta, SignupChange};
use crate::types::{CancelReason, Timestamp, UserId};

fn require_organiser(a: &Activity, actor: &UserId) -> Result<(), DomainError> {
    if a.is_organiser(actor) {
        Ok(())
    } else {
        Err(DomainError::Forbidden("only the organiser may do this"))
    }
}

fn require_open(a: &Activity) -> Result<(), DomainError> {
    match a.status {
        ActivityStatus::Open => Ok(()),
        ActivityStatus::Cancelled => Err(DomainError::ActivityCancelled),
    }
}

fn signup(a: &Activity, user: &UserId, status: SignupStatus, at: Timestamp) -> Signup {
    Signup {
        activity_id: a.id.clone(),
        user_id: user.clone(),
        status,
        at,
    }
}

fn joined(a: &Activity, user: &UserId, at: Timestamp) -> Result<OutboxEvent, DomainError> {
    OutboxEvent::new(&ActivityMemberJoined {
        activity_id: a.id.clone(),
        user_id: user.clone(),
        joined_at: at,
    })
}

/// The organiser edits: only differing fields count; none means no change.
pub(super) fn update(
    a: &Activity,
    actor: &UserId,
    wanted: &ActivityChanges,
    now: Timestamp,
) -> Result<Option<ActivityChange>, DomainError> {
    require_organiser(a, actor)?;
    require_open(a)?;
    fn differs<T: PartialEq + Clone>(new: &Option<T>, old: &T) -> Option<T> {
        new.as_ref().filter(|n| *n != old).cloned()
    }
    let changes = ActivityChanges {
        title: differs(&wanted.title, &a.title),
        description: differs(&wanted.description, &a.description),
        location: differs(&wanted.location, &a.location),
        starts_at: differs(&wanted.starts_at, &a.starts_at),
        capacity: differs(&wanted.capacity, &a.capacity),
        requires_approval: differs(&wanted.requires_approval, &a.requires_approval),
    };
    if changes.is_empty() {
        return Ok(None);
    }
    if changes.starts_at.is_some_and(|t| t <= now) {
        return Err(DomainError::invalid("starts_at", "must be in the future"));
    }
    if changes.capacity.is_some_and(|c| c.get() < a.member_count) {
        return Err(DomainError::CapacityBelowMembers);
    }
    let mut next = a.clone();
    if let Some(v) = &changes.title {
        next.title = v.clone();
    }
    if let Some(v) = &changes.description {
        next.description = v.clone();
    }
    if let Some(v) = &changes.location {
        next.location = v.clone();
    }
    if let Some(v) = changes.starts_at {
        next.starts_at = v;
    }
    if let Some(v) = changes.capacity {
        next.capacity = v;
    }
    if let Some(v) = changes.requires_approval {
        next.requires_approval = v;
    }
    next.updated_at = now;
    let event = OutboxEvent::new(&ActivityUpdated {
        activity_id: a.id.clone(),
        updated_by: actor.clone(),
        changes,
        at: now,
    })?;
    Ok(Some(ActivityChange {
        activity: next,
        events: vec![event],
    }))
}

/// The organiser cancels an open activity.
pub(super) fn cancel(
    a: &Activity,
    actor: &UserId,
    reason: &CancelReason,
    now: Timestamp,
) -> Result<Option<ActivityChange>, DomainError> {
    require_organiser(a, actor)?;
    require_open(a)?;
    let mut next = a.clone();
    next.status = ActivityStatus::Cancelled;
    next.updated_at = now;
    let event = OutboxEvent::new(&ActivityCancelled {
        activity_id: a.id.clone(),
        cancelled_by: actor.clone(),
        reason: reason.as_str().to_owned(),
        at: now,
    })?;
    Ok(Some(ActivityChange {
        activity: next,
        events: vec![event],
    }))
}

/// A user signs up: pending when the activity needs approval, else a member.
pub(super) fn sign_up(
    a: &Activity,
    existing: Option<&Signup>,
    user: &UserId,
    now: Timestamp,
) -> Result<SignupChange, DomainError> {
    require_open(a)?;
    if a.has_started(now) {
        return Err(DomainError::ActivityStarted);
    }
    match existing.map(|s| s.status) {
        Some(SignupStatus::Pending | SignupStatus::Accepted) => {
            return Err(DomainError::AlreadySignedUp)
        }
        Some(SignupStatus::Rejected) => return Err(DomainError::SignupRejected),
        Some(SignupStatus::Removed) => return Err(DomainError::RemovedByOrganiser),
        Some(SignupStatus::Left) | None => {}
    }
    if a.requires_approval {
        return Ok(SignupChange {
            signup: signup(a, user, SignupStatus::Pending, now),
            member_delta: MemberDelta::Unchanged,
            events: Vec::new(),
        });
    }
    if a.places_left() == 0 {
        return Err(DomainError::ActivityFull);
    }
    Ok(SignupChange {
        signup: signup(a, user, SignupStatus::Accepted, now),
        member_delta: MemberDelta::Join,
        events: vec![joined(a, user, now)?],
    })
}

/// The organiser removed `user` from the activity's group: the sign-up ends as
/// `removed` (no new sign-up), a member's place is freed and `activity.member.left`
/// announces it; a user who had left or was pending is marked too, so that leaving and
/// signing up again does not undo the removal. `None`: nothing to change (the
/// organiser, no sign-up, or already rejected or removed).
pub(super) fn removed_from_group(
    a: &Activity,
    existing: Option<&Signup>,
    user: &UserId,
    now: Timestamp,
) -> Result<Option<SignupChange>, DomainError> {
    if a.is_organiser(user) {
        return Ok(None);
    }
    let removed = signup(a, user, SignupStatus::Removed, now);
    Ok(match existing.map(|s| s.status) {
        Some(SignupStatus::Accepted) => Some(SignupChange {
            signup: removed,
            member_delta: MemberDelta::Leave,
            events: vec![OutboxEvent::new(&ActivityMemberLeft {
                activity_id: a.id.clone(),
                user_id: user.clone(),
                left_at: now,
            })?],
        }),
        Some(SignupStatus::Pending | SignupStatus::Left) => Some(SignupChange {
            signup: removed,
            member_delta: MemberDelta::Unchanged,
            events: Vec::new(),
        }),
        Some(SignupStatus::Rejected | SignupStatus::Removed) | None => None,
    })
}

/// A user leaves (a member) or withdraws (a pending sign-up).
pub(super) fn leave(
    a: &Activity,
    existing: Option<&Signup>,
    user: &UserId,
    now: Timestamp,
) -> Result<SignupChange, DomainError> {
    if a.is_organiser(user) {
        return Err(DomainError::OrganiserCannotLeave);
    }
    require_open(a)?;
    let status = existing.map(|s| s.status);
    let left = signup(a, user, SignupStatus::Left, now);
    match status {
        Some(SignupStatus::Accepted) => Ok(SignupChange {
            signup: left,
            member_delta: MemberDelta::Leave,
            events: vec![OutboxEvent::new(&ActivityMemberLeft {
                activity_id: a.id.clone(),
                user_id: user.clone(),
                left_at: now,
            })?],
        }),
        Some(SignupStatus::Pending) => Ok(SignupChange {
            signup: left,
            member_delta: MemberDelta::Unchanged,
            events: Vec::new(),
        }),
        _ => Err(DomainError::NotSignedUp),
    }
}

fn pending<'s>(
    a: &Activity,
    actor: &UserId,
    existing: Option<&'s Signup>,
) -> Result<&'s Signup, DomainError> {
    require_organiser(a, actor)?;
    require_open(a)?;
    let s = existing.ok_or_else(|| DomainError::not_found("signup"))?;
    if s.status != SignupStatus::Pending {
        return Err(DomainError::SignupNotPending);
    }
    Ok(s)
}

/// The organiser accepts a pending sign-up (capacity permitting).
pub(super) fn approve(
    a: &Activity,
    existing: Option<&Signup>,
    actor: &UserId,
    now: Timestamp,
) -> Result<SignupChange, DomainError> {
    let s = pending(a, actor, existing)?;
    if a.has_started(now) {
        return Err(DomainError::ActivityStarted);
    }
    if a.places_left() == 0 {
        return Err(DomainError::ActivityFull);
    }
    Ok(SignupChange {
        signup: signup(a, &s.user_id, SignupStatus::Accepted, now),
        member_delta: MemberDelta::Join,
        events: vec![joined(a, &s.user_id, now)?],
    })
}

/// The organiser turns down a pending sign-up.
pub(super) fn reject(
    a: &Activity,
    existing: Option<&Signup>,
    actor: &UserId,
    now: Timestamp,
) -> Result<SignupChange, DomainError> {
    let s = pending(a, actor, existing)?;
    Ok(SignupChange {
        signup: signup(a, &s.user_id, SignupStatus::Rejected, now),
        member_delta: MemberDelta::Unchanged,
        events: vec![OutboxEvent::new(&ActivitySignupRejected {
            activity_id: a.id.clone(),
            user_id: s.user_id.clone(),
            by: actor.clone(),
            at: now,
        })?],
    })
}
