//! [`Notification`]: a system notification stored for one user.

use crate::types::{Timestamp, UserId};

/// A system notification (registered, sign-up accepted, removed from a group, ...),
/// stored for one user, pushed live and listed later.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    /// The id: a UUID v7, so ids sort by creation time.
    pub id: String,
    /// The recipient.
    pub user_id: UserId,
    /// What happened, e.g. `signup_accepted` (see [`crate::service::notification_for`]).
    pub kind: String,
    /// Details (JSON).
    pub payload: serde_json::Value,
    /// When it was created.
    pub created_at: Timestamp,
    /// When the user marked it read.
    pub read_at: Option<Timestamp>,
}
