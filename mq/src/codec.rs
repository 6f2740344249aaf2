//! Typed payloads: encode a serde value into a [`Message`] and decode it back (JSON).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::CodecError;
use crate::message::Message;

/// The metadata key naming the payload's content type.
pub const CONTENT_TYPE: &str = "content-type";
/// The content type written by [`Message::json`].
pub const JSON: &str = "application/json";

impl Message {
    /// A new message whose payload is `value` as JSON.
    ///
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    /// struct Joined { user_id: String }
    ///
    /// let msg = mq::Message::json(&Joined { user_id: "u1".into() })?;
    /// let back: Joined = msg.decode_json()?;
    /// assert_eq!(back, Joined { user_id: "u1".into() });
    /// # Ok::<(), mq::CodecError>(())
    /// ```
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, CodecError> {
        let bytes = serde_json::to_vec(value).map_err(|e| CodecError {
            op: "encode",
            type_name: std::any::type_name::<T>(),
            message: e.to_string(),
        })?;
        Ok(Message::new(bytes).with_metadata(CONTENT_TYPE, JSON))
    }

    /// Decodes the payload as JSON into `T`.
    pub fn decode_json<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        serde_json::from_slice(self.payload()).map_err(|e| CodecError {
            op: "decode",
            type_name: std::any::type_name::<T>(),
            message: e.to_string(),
        })
    }
}
