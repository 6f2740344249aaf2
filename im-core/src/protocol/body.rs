//! Message bodies: any JSON value, kept as its compact JSON text.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A message body: any JSON value (a string, an object, ...), stored as compact JSON text.
///
/// Cloning is cheap (reference counted). The text is what a store persists.
#[derive(Clone)]
pub struct MessageBody(Arc<RawValue>);

/// The text given to [`MessageBody::from_json`] is not valid JSON.
#[derive(Debug, thiserror::Error)]
#[error("message body is not valid JSON: {0}")]
pub struct InvalidBody(String);

impl MessageBody {
    /// A body holding a JSON string, e.g. a plain chat text.
    pub fn text(text: &str) -> Self {
        Self::from_value(&serde_json::Value::String(text.to_owned()))
    }

    /// A body from a JSON value.
    pub fn from_value(value: &serde_json::Value) -> Self {
        let raw =
            serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned());
        Self(Arc::from(raw))
    }

    /// A body from JSON text (as a store returns it); the text is validated.
    pub fn from_json(json: String) -> Result<Self, InvalidBody> {
        RawValue::from_string(json)
            .map(|raw| Self(Arc::from(raw)))
            .map_err(|e| InvalidBody(e.to_string()))
    }

    /// The body as JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    /// The body parsed as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).unwrap_or(serde_json::Value::Null)
    }

    /// Length of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.0.get().len()
    }

    /// Whether the JSON text is empty (never true for a valid body).
    pub fn is_empty(&self) -> bool {
        self.0.get().is_empty()
    }
}

impl fmt::Debug for MessageBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.get())
    }
}

impl PartialEq for MessageBody {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Eq for MessageBody {}

impl Serialize for MessageBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MessageBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through a Value: raw values cannot pass through internally tagged enums.
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(Self::from_value(&value))
    }
}
