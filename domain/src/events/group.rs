//! Events of the IM service (defined here so every service shares one contract).
//! Key: `group_id` for all of them.

use super::{topics, Event};
use crate::types::{ActivityId, GroupId, Timestamp, UserId};

macro_rules! keyed_by_group {
    ($($ty:ident => $topic:path),* $(,)?) => {$(
        impl Event for $ty {
            const TOPIC: &'static str = $topic;
            fn key(&self) -> String {
                self.group_id.to_string()
            }
        }
    )*};
}

keyed_by_group!(
    GroupCreated => topics::GROUP_CREATED,
    GroupMemberAdded => topics::GROUP_MEMBER_ADDED,
    GroupMemberRemoved => topics::GROUP_MEMBER_REMOVED,
    GroupDissolved => topics::GROUP_DISSOLVED,
);

/// The group of an activity exists.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupCreated {
    /// The group.
    pub group_id: GroupId,
    /// The activity it belongs to.
    pub activity_id: ActivityId,
    /// The owner (the activity's organiser).
    pub owner_id: UserId,
    /// When.
    pub created_at: Timestamp,
}

/// A user was added to a group.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupMemberAdded {
    /// The group.
    pub group_id: GroupId,
    /// The new member.
    pub user_id: UserId,
    /// Who added them (the owner, or the system acting on an accepted sign-up).
    pub by: Option<UserId>,
    /// Why (e.g. `signup_accepted`).
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// A user was removed from a group (left, or removed by the owner).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupMemberRemoved {
    /// The group.
    pub group_id: GroupId,
    /// The group's activity (missing in events written before it was added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<ActivityId>,
    /// The former member.
    pub user_id: UserId,
    /// Who removed them (`None` when they left themselves).
    pub by: Option<UserId>,
    /// Why (e.g. `left`, `removed_by_owner`).
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// A group was dissolved.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupDissolved {
    /// The group.
    pub group_id: GroupId,
    /// Who dissolved it (`None` for the system, e.g. on a cancelled activity).
    pub by: Option<UserId>,
    /// When.
    pub at: Timestamp,
}
