//! [`Message`]: what travels through publishers, subscribers and handlers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// Well-known metadata keys set by this crate.
pub mod keys {
    /// Correlates every message caused by one original message.
    pub const CORRELATION_ID: &str = "correlation_id";
    /// Why a message was sent to the poison topic.
    pub const POISON_REASON: &str = "poison.reason";
    /// The topic a poisoned message was consumed from.
    pub const POISON_TOPIC: &str = "poison.topic";
    /// The handler that failed on a poisoned message.
    pub const POISON_HANDLER: &str = "poison.handler";
    /// How many attempts were made before poisoning.
    pub const POISON_ATTEMPTS: &str = "poison.attempts";
    /// When the message was poisoned (RFC 3339, UTC).
    pub const POISON_AT: &str = "poison.at";
    /// The consumer group that poisoned the message.
    pub const POISON_GROUP: &str = "poison.group";
}

/// A message: a unique id, an optional ordering key, string metadata and a byte payload.
///
/// Cloning is cheap (reference counted); changing a clone never changes the original.
///
/// ```
/// use mq::Message;
///
/// let msg = Message::new("hello")
///     .with_key("group-42")
///     .with_metadata("source", "docs");
/// assert_eq!(msg.payload().as_ref(), b"hello");
/// assert_eq!(msg.key(), Some("group-42"));
/// assert_eq!(msg.metadata().get("source"), Some("docs"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    id: Arc<str>,
    key: Option<Arc<str>>,
    metadata: Metadata,
    payload: Bytes,
}

impl Message {
    /// A message with a fresh time-ordered id (UUID v7) and the given payload.
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Self::with_id(uuid::Uuid::now_v7().to_string(), payload)
    }

    /// A message with a caller-chosen id (for idempotent publishing or replay).
    pub fn with_id(id: impl Into<Arc<str>>, payload: impl Into<Bytes>) -> Self {
        Self {
            id: id.into(),
            key: None,
            metadata: Metadata::default(),
            payload: payload.into(),
        }
    }

    /// Sets the ordering key: messages with the same key keep their order and land
    /// on the same partition.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<Arc<str>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Adds one metadata entry.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key, value);
        self
    }

    /// The unique id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The ordering key, if any.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Replaces or removes the ordering key.
    pub fn set_key(&mut self, key: Option<impl Into<Arc<str>>>) {
        self.key = key.map(Into::into);
    }

    /// The metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The metadata, for changing.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Replaces the payload.
    pub fn set_payload(&mut self, payload: impl Into<Bytes>) {
        self.payload = payload.into();
    }

    /// The approximate size in bytes (payload, key, id and metadata).
    pub fn size(&self) -> usize {
        self.payload.len()
            + self.id.len()
            + self.key.as_ref().map_or(0, |k| k.len())
            + self.metadata.size()
    }

    /// A copy with a new id and the same key, metadata and payload.
    #[must_use]
    pub fn copy_with_new_id(&self) -> Self {
        let mut copy = self.clone();
        copy.id = uuid::Uuid::now_v7().to_string().into();
        copy
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("metadata", &self.metadata)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// String key/value metadata. Cloning is cheap; the first change to a clone copies it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata(Option<Arc<BTreeMap<String, String>>>);

impl Metadata {
    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.as_ref()?.get(key).map(String::as_str)
    }

    /// Stores `value` under `key`, replacing any earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let map = self.0.get_or_insert_with(Default::default);
        Arc::make_mut(map).insert(key.into(), value.into());
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let map = self.0.as_mut()?;
        Arc::make_mut(map).remove(key)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |m| m.len())
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .flat_map(|m| m.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn size(&self) -> usize {
        self.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = Metadata::default();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_is_independent() {
        let a = Message::new("x").with_metadata("k", "1");
        let mut b = a.clone();
        b.metadata_mut().insert("k", "2");
        assert_eq!(a.metadata().get("k"), Some("1"));
        assert_eq!(b.metadata().get("k"), Some("2"));
        assert_eq!(a.id(), b.id());
    }

    #[test]
    fn ids_are_unique() {
        let a = Message::new("");
        let b = Message::new("");
        assert_ne!(a.id(), b.id());
        assert_ne!(a.copy_with_new_id().id(), a.id());
    }
}
