//! [`OutboxRecord`]: one stored outbox row.

use std::collections::BTreeMap;

use crate::types::Timestamp;

/// Metadata key carrying the outbox row id of a published message.
pub const OUTBOX_ID: &str = "outbox-id";

/// One row of the outbox table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRecord {
    /// The row id: commit order of the rows of one key.
    pub id: i64,
    /// The message id, fixed when the row was written.
    pub message_id: String,
    /// The topic.
    pub topic: String,
    /// The message key.
    pub key: String,
    /// The JSON payload.
    pub payload: String,
    /// The message metadata.
    pub metadata: BTreeMap<String, String>,
    /// When the row was written.
    pub created_at: Timestamp,
}

impl OutboxRecord {
    /// The message to publish: the stored id, key, payload and metadata.
    pub fn to_message(&self) -> mq::Message {
        let mut msg =
            mq::Message::with_id(self.message_id.as_str(), self.payload.clone().into_bytes())
                .with_key(self.key.as_str())
                .with_metadata(OUTBOX_ID, self.id.to_string());
        for (k, v) in &self.metadata {
            msg = msg.with_metadata(k.as_str(), v.as_str());
        }
        msg
    }
}
