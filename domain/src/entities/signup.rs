//! [`Signup`] and [`SignupStatus`].

use crate::error::DomainError;
use crate::types::{ActivityId, Timestamp, UserId};

/// Where a user stands with an activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignupStatus {
    /// Waiting for the organiser's approval.
    Pending,
    /// A member.
    Accepted,
    /// Turned down by the organiser; cannot sign up again.
    Rejected,
    /// Left (or withdrew a pending sign-up); may sign up again.
    Left,
    /// Removed from the activity's group by the organiser; cannot sign up again.
    Removed,
}

impl SignupStatus {
    /// The stored and serialized form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Left => "left",
            Self::Removed => "removed",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "pending" => Ok(Self::Pending),
            "accepted" => Ok(Self::Accepted),
            "rejected" => Ok(Self::Rejected),
            "left" => Ok(Self::Left),
            "removed" => Ok(Self::Removed),
            _ => Err(DomainError::invalid("status", "unknown sign-up status")),
        }
    }

    /// True for a sign-up that counts as taking part (pending or accepted).
    pub fn is_active(self) -> bool {
        matches!(self, Self::Pending | Self::Accepted)
    }
}

/// One user's sign-up for one activity (at most one per pair).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Signup {
    /// The activity.
    pub activity_id: ActivityId,
    /// The user.
    pub user_id: UserId,
    /// Pending, accepted, rejected, left or removed.
    pub status: SignupStatus,
    /// When the status last changed.
    pub at: Timestamp,
}
