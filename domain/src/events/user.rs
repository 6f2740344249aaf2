//! Events of the user service.

use super::{topics, Event};
use crate::types::{Timestamp, UserId, Username};

/// A new account exists. Key: `user_id`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserRegistered {
    /// The new user.
    pub user_id: UserId,
    /// The login name.
    pub username: Username,
    /// When the account was registered.
    pub registered_at: Timestamp,
}

impl Event for UserRegistered {
    const TOPIC: &'static str = topics::USER_REGISTERED;
    fn key(&self) -> String {
        self.user_id.to_string()
    }
}
