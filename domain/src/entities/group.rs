//! [`Group`], [`GroupStatus`], [`GroupMember`] and [`MemberRole`]: an activity's group chat.

use crate::error::DomainError;
use crate::types::{ActivityId, GroupId, Timestamp, UserId};

/// Whether a group is still in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    /// Members chat.
    Active,
    /// Dissolved (by the owner, or because the activity was cancelled); the members
    /// and messages are kept, nothing changes any more.
    Dissolved,
}

impl GroupStatus {
    /// The stored and serialized form: `active` or `dissolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Dissolved => "dissolved",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "active" => Ok(Self::Active),
            "dissolved" => Ok(Self::Dissolved),
            _ => Err(DomainError::invalid(
                "status",
                "must be active or dissolved",
            )),
        }
    }
}

/// The group chat of one activity.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Group {
    /// The id.
    pub id: GroupId,
    /// The activity it belongs to (one group per activity).
    pub activity_id: ActivityId,
    /// The owner: the activity's organiser.
    pub owner_id: UserId,
    /// Active or dissolved.
    pub status: GroupStatus,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was dissolved.
    pub dissolved_at: Option<Timestamp>,
}

impl Group {
    /// True when `user` owns the group.
    pub fn is_owner(&self, user: &UserId) -> bool {
        &self.owner_id == user
    }

    /// True once dissolved.
    pub fn is_dissolved(&self) -> bool {
        self.status == GroupStatus::Dissolved
    }
}

/// A group's member ids as of one membership version, read together.
///
/// The version grows with every change of the members (and with the dissolution), in
/// the same transaction, so a cache keyed by it is never older than a version it was
/// asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSnapshot {
    /// The membership version the members were read at.
    pub version: u64,
    /// The members' ids, in no particular order.
    pub members: Vec<UserId>,
}

/// What a sender needs to know about a group, read at once: its status and whether
/// the sender is a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderStanding {
    /// Active or dissolved.
    pub status: GroupStatus,
    /// Whether the user is a member.
    pub member: bool,
}

/// A member's role in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// The owner (the activity's organiser); removes members and dissolves the group.
    Owner,
    /// Any other member.
    Member,
}

impl MemberRole {
    /// The stored and serialized form: `owner` or `member`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Member => "member",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "owner" => Ok(Self::Owner),
            "member" => Ok(Self::Member),
            _ => Err(DomainError::invalid("role", "must be owner or member")),
        }
    }
}

/// A user's membership of a group.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupMember {
    /// The group.
    pub group_id: GroupId,
    /// The member.
    pub user_id: UserId,
    /// Owner or member.
    pub role: MemberRole,
    /// When they joined.
    pub joined_at: Timestamp,
}
