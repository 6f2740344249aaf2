//! Request bodies as clients send them (plain strings); services validate them into
//! value types and answer with the first rule broken.

use crate::error::DomainError;
use crate::events::ActivityChanges;
use crate::types::{Capacity, Description, Location, Timestamp, Title};

/// A registration.
#[derive(Clone, serde::Deserialize)]
pub struct NewUser {
    /// The login name (see [`crate::Username`]).
    pub username: String,
    /// The password (see [`crate::Password`]).
    pub password: String,
    /// The display name; the username when absent.
    #[serde(default)]
    pub nickname: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("nickname", &self.nickname)
            .finish()
    }
}

/// A profile change.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct ProfileUpdate {
    /// A new display name.
    #[serde(default)]
    pub nickname: Option<String>,
}

/// A new activity.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct NewActivity {
    /// 1-100 characters.
    pub title: String,
    /// 0-5,000 characters.
    #[serde(default)]
    pub description: String,
    /// 1-200 characters.
    pub location: String,
    /// Must be in the future.
    pub starts_at: Timestamp,
    /// 2..=10,000, the organiser included.
    pub capacity: i64,
    /// Whether sign-ups wait for the organiser's approval.
    #[serde(default)]
    pub requires_approval: bool,
}

/// An organiser's edit: only the fields given change.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct ActivityPatch {
    /// A new title.
    #[serde(default)]
    pub title: Option<String>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// A new location.
    #[serde(default)]
    pub location: Option<String>,
    /// A new start time (in the future).
    #[serde(default)]
    pub starts_at: Option<Timestamp>,
    /// A new capacity (not below the member count).
    #[serde(default)]
    pub capacity: Option<i64>,
    /// Whether new sign-ups wait for approval.
    #[serde(default)]
    pub requires_approval: Option<bool>,
}

impl ActivityPatch {
    /// Validates every given field.
    pub fn validate(&self) -> Result<ActivityChanges, DomainError> {
        Ok(ActivityChanges {
            title: self.title.as_deref().map(Title::parse).transpose()?,
            description: self
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()?,
            location: self.location.as_deref().map(Location::parse).transpose()?,
            starts_at: self.starts_at,
            capacity: self.capacity.map(Capacity::new).transpose()?,
            requires_approval: self.requires_approval,
        })
    }
}
