//! [`OutboxEvent`]: an event on its way into the outbox table.

use std::collections::BTreeMap;

use super::Event;
use crate::error::DomainError;

/// An event ready to be written to the outbox: a stable message id (so a re-publish
/// after a crash carries the same id), the topic, the key, the JSON payload and
/// metadata (`content-type` and `event-type` are set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEvent {
    /// The message id the forwarder publishes with (UUID v7).
    pub message_id: String,
    /// The topic.
    pub topic: String,
    /// The message key.
    pub key: String,
    /// The JSON payload.
    pub payload: String,
    /// Message metadata.
    pub metadata: BTreeMap<String, String>,
}

/// Metadata key naming the event type (equal to the topic).
pub const EVENT_TYPE: &str = "event-type";

impl OutboxEvent {
    /// Serializes `event` with a fresh message id.
    pub fn new<E: Event>(event: &E) -> Result<Self, DomainError> {
        let payload = serde_json::to_string(event).map_err(|e| DomainError::Internal(e.into()))?;
        let mut metadata = BTreeMap::new();
        metadata.insert(mq::CONTENT_TYPE.to_owned(), mq::JSON.to_owned());
        metadata.insert(EVENT_TYPE.to_owned(), E::TOPIC.to_owned());
        Ok(Self {
            message_id: uuid::Uuid::now_v7().to_string(),
            topic: E::TOPIC.to_owned(),
            key: event.key(),
            payload,
            metadata,
        })
    }

    /// Adds a metadata entry (for example a correlation id).
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Decodes the payload as `E`.
    pub fn decode<E: Event>(&self) -> Result<E, DomainError> {
        serde_json::from_str(&self.payload).map_err(|e| DomainError::Internal(e.into()))
    }
}
