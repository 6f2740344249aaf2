//! The IM service's internal topics (`im.message.*`) and their payloads.

use im_core::protocol::MessageBody;
use im_core::sequencer::Draft;
use im_core::StoredMessage;
use serde::{Deserialize, Serialize};

/// Sends waiting for a seq, keyed by group: consumed in order by the persister.
pub const SEND_TOPIC: &str = "im.message.send";
/// Stored messages, keyed by group: every IM node consumes them all and pushes them
/// (or, with presence in Redis, the router forwards each to the nodes that need it).
pub const STORED_TOPIC: &str = "im.message.stored";

/// The stored messages routed to one node (presence in Redis), keyed by group.
pub fn node_topic(node: &str) -> String {
    format!("im.node.{node}")
}

/// A send that passed the gateway's checks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendRequest {
    /// The group.
    pub group_id: String,
    /// The sender.
    pub sender_id: String,
    /// The sender's id for the message.
    pub client_msg_id: String,
    /// The content.
    pub body: MessageBody,
    /// The node the send came in on (its sender waits there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl SendRequest {
    /// From im-core's draft.
    pub fn from_draft(draft: &Draft, origin: &str) -> Self {
        Self {
            group_id: draft.group_id.to_string(),
            sender_id: draft.sender_id.to_string(),
            client_msg_id: draft.client_msg_id.to_string(),
            body: draft.body.clone(),
            origin: Some(origin.to_owned()),
        }
    }

    /// As im-core's draft.
    pub fn into_draft(self) -> Draft {
        Draft {
            group_id: self.group_id.as_str().into(),
            sender_id: self.sender_id.as_str().into(),
            client_msg_id: self.client_msg_id.as_str().into(),
            body: self.body,
        }
    }
}

/// A stored message on its way to every node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredEnvelope {
    /// The message, with its seq.
    pub message: StoredMessage,
    /// Whether this was a retry of a message stored before (nothing new was written).
    pub duplicate: bool,
    /// The node the send came in on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The group's membership version read after the message was stored: a node
    /// whose cached member list is older reads it again before pushing. Missing (the
    /// read failed): the list is read in any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_version: Option<u64>,
}

/// Who waits for a send's outcome: (group, sender, client message id).
pub type WaitKey = (String, String, String);

/// The wait key of a stored message.
pub fn wait_key(m: &StoredMessage) -> WaitKey {
    (
        m.group_id.to_string(),
        m.sender_id.to_string(),
        m.client_msg_id.to_string(),
    )
}
