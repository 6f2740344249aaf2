//! [`Activity`] and [`ActivityStatus`].

use crate::error::DomainError;
use crate::types::{
    ActivityId, Capacity, Description, GroupId, Location, Timestamp, Title, UserId,
};

/// Whether an activity still takes sign-ups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    /// Published and taking sign-ups (until it starts or is full).
    Open,
    /// Cancelled by the organiser; nothing changes any more.
    Cancelled,
}

impl ActivityStatus {
    /// The stored and serialized form: `open` or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "open" => Ok(Self::Open),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(DomainError::invalid("status", "must be open or cancelled")),
        }
    }
}

/// An offline social activity.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Activity {
    /// The id.
    pub id: ActivityId,
    /// Who published it; always its first member.
    pub organiser_id: UserId,
    /// The title.
    pub title: Title,
    /// The description (may be empty).
    pub description: Description,
    /// Where it takes place.
    pub location: Location,
    /// When it starts.
    pub starts_at: Timestamp,
    /// Most members, the organiser included.
    pub capacity: Capacity,
    /// Whether sign-ups wait for the organiser's approval.
    pub requires_approval: bool,
    /// Open or cancelled.
    pub status: ActivityStatus,
    /// Accepted members, the organiser included (1..=capacity).
    pub member_count: u32,
    /// The group chat, once the IM service has created it.
    pub group_id: Option<GroupId>,
    /// When it was published.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
    /// Counts the organiser's edits and the cancellation (starts at 1).
    pub version: i64,
}

impl Activity {
    /// True when `user` is the organiser.
    pub fn is_organiser(&self, user: &UserId) -> bool {
        &self.organiser_id == user
    }

    /// Places left for new members.
    pub fn places_left(&self) -> u32 {
        self.capacity.get().saturating_sub(self.member_count)
    }

    /// True once `now` has reached the start time.
    pub fn has_started(&self, now: Timestamp) -> bool {
        now >= self.starts_at
    }
}
