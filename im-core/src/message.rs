//! Stored group messages and user notifications: what sessions receive.

use serde::{Deserialize, Serialize};

use crate::ids::{ClientMsgId, GroupId, Seq, UserId};
use crate::protocol::MessageBody;

/// A message as persisted: it has its group's sequence number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// The group the message belongs to.
    pub group_id: GroupId,
    /// Position in the group: 1, 2, 3, ... with no gaps.
    pub seq: Seq,
    /// Who sent it.
    pub sender_id: UserId,
    /// The sender's id for the message (dedup key together with group and sender).
    pub client_msg_id: ClientMsgId,
    /// The content, any JSON value.
    pub body: MessageBody,
    /// When the server accepted it, in milliseconds since the Unix epoch.
    pub sent_at: i64,
}

/// A system notification pushed to every session of one user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The notification's id (the application's, e.g. a UUID v7).
    pub id: String,
    /// What happened, e.g. `"group.member.added"`.
    pub kind: String,
    /// Details, any JSON value.
    pub payload: serde_json::Value,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at: i64,
}

impl Notification {
    /// A notification with a fresh UUID v7 id, created now.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            kind: kind.into(),
            payload,
            created_at: now_millis(),
        }
    }
}

/// The current time in milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
