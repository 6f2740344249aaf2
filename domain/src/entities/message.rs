//! [`ChatMessage`]: a stored group chat message.

use crate::types::{GroupId, Timestamp};

/// A group chat message as stored: its place in the group (`seq`: 1, 2, 3, ... with no
/// gaps), who sent it, the sender's id for it (the dedup key together with group and
/// sender) and the body.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    /// The group.
    pub group_id: GroupId,
    /// Position in the group, from 1.
    pub seq: u64,
    /// The sender's user id (text: the real-time engine's ids are strings; at most 64 bytes).
    pub sender_id: String,
    /// The sender's id for this message (1 to 128 bytes).
    pub client_msg_id: String,
    /// The content: JSON text, stored and returned verbatim.
    pub body: String,
    /// When the server accepted it.
    pub sent_at: Timestamp,
}
