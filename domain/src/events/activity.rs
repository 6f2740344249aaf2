//! Events of the activity service. Key: `activity_id` for all of them.

use super::{topics, Event};
use crate::types::{ActivityId, Capacity, Description, Location, Timestamp, Title, UserId};

macro_rules! keyed_by_activity {
    ($($ty:ident => $topic:path),* $(,)?) => {$(
        impl Event for $ty {
            const TOPIC: &'static str = $topic;
            fn key(&self) -> String {
                self.activity_id.to_string()
            }
        }
    )*};
}

keyed_by_activity!(
    ActivityCreated => topics::ACTIVITY_CREATED,
    ActivityMemberJoined => topics::ACTIVITY_MEMBER_JOINED,
    ActivityMemberLeft => topics::ACTIVITY_MEMBER_LEFT,
    ActivityUpdated => topics::ACTIVITY_UPDATED,
    ActivityCancelled => topics::ACTIVITY_CANCELLED,
    ActivitySignupRejected => topics::ACTIVITY_SIGNUP_REJECTED,
);

/// An activity was published. The IM service creates its group, owned by the creator
/// (who is the activity's first member; no `activity.member.joined` is sent for them).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActivityCreated {
    /// The activity.
    pub activity_id: ActivityId,
    /// The organiser.
    pub creator_id: UserId,
    /// The title (a name for the group).
    pub title: Title,
    /// When it starts.
    pub starts_at: Timestamp,
    /// Most members, the organiser included.
    pub capacity: Capacity,
    /// Whether sign-ups wait for approval.
    pub requires_approval: bool,
    /// When it was published.
    pub created_at: Timestamp,
}

/// A user became a member (signed up without approval, or was approved).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActivityMemberJoined {
    /// The activity.
    pub activity_id: ActivityId,
    /// The new member.
    pub user_id: UserId,
    /// When.
    pub joined_at: Timestamp,
}

/// A member left (sent only for accepted members, not for a withdrawn pending sign-up).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActivityMemberLeft {
    /// The activity.
    pub activity_id: ActivityId,
    /// The former member.
    pub user_id: UserId,
    /// When.
    pub left_at: Timestamp,
}

/// Fields of an activity that change: in an update request, the fields to set; in an
/// [`ActivityUpdated`] event, the fields that actually changed, with their new values.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActivityChanges {
    /// A new title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Title>,
    /// A new description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Description>,
    /// A new location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// A new start time (must be in the future).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<Timestamp>,
    /// A new capacity (not below the current member count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    /// Whether new sign-ups wait for approval (pending ones stay pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_approval: Option<bool>,
}

impl ActivityChanges {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.changed_fields().is_empty()
    }

    /// The names of the fields that are set, in declaration order.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let fields = [
            ("title", self.title.is_some()),
            ("description", self.description.is_some()),
            ("location", self.location.is_some()),
            ("starts_at", self.starts_at.is_some()),
            ("capacity", self.capacity.is_some()),
            ("requires_approval", self.requires_approval.is_some()),
        ];
        for (name, set) in fields {
            if set {
                out.push(name);
            }
        }
        out
    }
}

/// The organiser changed an activity; `changes` holds only the fields that differ.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActivityUpdated {
    /// The activity.
    pub activity_id: ActivityId,
    /// Who changed it (the organiser).
    pub updated_by: UserId,
    /// The changed fields with their new values.
    pub changes: ActivityChanges,
    /// When.
    pub at: Timestamp,
}

/// The organiser cancelled an activity. The IM service dissolves (or archives) its group.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActivityCancelled {
    /// The activity.
    pub activity_id: ActivityId,
    /// Who cancelled it (the organiser).
    pub cancelled_by: UserId,
    /// Why, as given by the organiser (may be empty).
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// The organiser turned down a pending sign-up.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActivitySignupRejected {
    /// The activity.
    pub activity_id: ActivityId,
    /// The user turned down.
    pub user_id: UserId,
    /// Who decided (the organiser).
    pub by: UserId,
    /// When.
    pub at: Timestamp,
}
