//! [`User`] and its outward view [`Profile`].

use std::fmt;

use crate::types::{Nickname, Timestamp, UserId, Username};

/// An account as stored. Deliberately not `Serialize`: send a [`Profile`] outward,
/// so that the password hash can never end up in a response or an event.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The id.
    pub id: UserId,
    /// The login name, as registered.
    pub username: Username,
    /// The display name.
    pub nickname: Nickname,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// When the account was registered.
    pub created_at: Timestamp,
}

impl User {
    /// The public view of this user.
    pub fn profile(&self) -> Profile {
        Profile {
            user_id: self.id.clone(),
            username: self.username.clone(),
            nickname: self.nickname.clone(),
            created_at: self.created_at,
        }
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("nickname", &self.nickname)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// What anyone may see of a user.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// The id.
    pub user_id: UserId,
    /// The login name.
    pub username: Username,
    /// The display name.
    pub nickname: Nickname,
    /// When the account was registered.
    pub created_at: Timestamp,
}
