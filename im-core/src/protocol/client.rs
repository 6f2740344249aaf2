//! Frames a client sends to the server.

use serde::{Deserialize, Serialize};

use crate::ids::{ClientMsgId, GroupId, Seq};
use crate::protocol::MessageBody;

/// A client -> server frame. JSON object with a `type` field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Authenticate the connection; must be the first frame.
    Auth {
        /// The application's token (e.g. a JWT).
        token: String,
    },
    /// Send a message to a group.
    Send {
        /// Target group.
        group_id: GroupId,
        /// The client's id for this message; a retry reuses it.
        client_msg_id: ClientMsgId,
        /// The content, any JSON value.
        body: MessageBody,
    },
    /// Acknowledge delivery of everything up to `seq` in a group.
    Ack {
        /// The group.
        group_id: GroupId,
        /// Highest seq received without a gap.
        seq: Seq,
    },
    /// Ask for the group's messages after `after_seq`.
    Sync {
        /// The group.
        group_id: GroupId,
        /// Return messages with seq greater than this (0 for all).
        after_seq: Seq,
        /// At most this many messages (server default and maximum apply).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Mark everything up to `seq` in a group as read.
    Read {
        /// The group.
        group_id: GroupId,
        /// Highest seq read.
        seq: Seq,
    },
    /// Ask for the latest seq, read position and unread count of groups: the listed ones,
    /// or (without `group_ids`) every group of the user.
    Latest {
        /// The groups to report on; all of the user's groups when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_ids: Option<Vec<GroupId>>,
    },
    /// Application-level ping; answered with `pong`.
    Ping,
}

impl ClientFrame {
    /// The `type` strings of every client frame.
    pub const TYPES: [&'static str; 7] = ["auth", "send", "ack", "sync", "read", "latest", "ping"];

    /// The frame's `type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientFrame::Auth { .. } => "auth",
            ClientFrame::Send { .. } => "send",
            ClientFrame::Ack { .. } => "ack",
            ClientFrame::Sync { .. } => "sync",
            ClientFrame::Read { .. } => "read",
            ClientFrame::Latest { .. } => "latest",
            ClientFrame::Ping => "ping",
        }
    }

    /// Serialises the frame to JSON text (what a client puts in a text frame).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
