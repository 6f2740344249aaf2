//! Frames the server sends to a client.

use serde::{Deserialize, Serialize};

use crate::ids::{ClientMsgId, GroupId, Seq, UserId};
use crate::message::{Notification, StoredMessage};
use crate::protocol::ErrorCode;
use crate::sync::GroupPosition;

/// A server -> client frame. JSON object with a `type` field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Authentication succeeded.
    AuthOk {
        /// The authenticated user.
        user_id: UserId,
    },
    /// A stored group message (live push).
    Message(StoredMessage),
    /// A `send` was stored (or had been stored before: a retry gets the original seq).
    SendOk {
        /// The client's id from the `send`.
        client_msg_id: ClientMsgId,
        /// The group.
        group_id: GroupId,
        /// The message's seq.
        seq: Seq,
    },
    /// Answer to `sync`.
    SyncResult {
        /// The group.
        group_id: GroupId,
        /// Messages in seq order, contiguous from `after_seq + 1`.
        messages: Vec<StoredMessage>,
        /// The group's latest seq when the result was read.
        latest_seq: Seq,
        /// More messages follow the last one returned; sync again after it.
        has_more: bool,
    },
    /// Answer to `latest`: one entry per group, in the order asked (or by group id).
    LatestResult {
        /// Where the user stands in each group.
        groups: Vec<GroupPosition>,
    },
    /// A notification for the user.
    Notification(Notification),
    /// A request failed; see `code`.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
        /// What it refers to (e.g. the `client_msg_id` of a failed `send`).
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Answer to `ping`.
    Pong,
    /// The server is closing this session; `reason` says why.
    Kicked {
        /// Why (e.g. `"kicked"`, `"shutdown"`).
        reason: String,
    },
}

impl ServerFrame {
    /// An `error` frame.
    pub fn error(code: ErrorCode, message: impl Into<String>, reference: Option<String>) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
            reference,
        }
    }

    /// Serialises the frame to JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"encoding failed"}"#.to_owned()
        })
    }

    /// Parses a server frame (for clients and tests).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}
