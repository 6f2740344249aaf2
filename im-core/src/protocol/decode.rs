//! Decoding client frames with precise error codes.

use std::borrow::Cow;

use serde::Deserialize;

use crate::protocol::{ClientFrame, ErrorCode};

/// Why a client text frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not valid JSON.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// No `type`, or a `type` the server does not know.
    #[error("unknown frame type: {0}")]
    UnknownType(String),
    /// A known type with missing or ill-typed fields.
    #[error("invalid field: {0}")]
    InvalidField(String),
}

impl DecodeError {
    /// The error code to report.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::Malformed(_) => ErrorCode::MalformedJson,
            DecodeError::UnknownType(_) => ErrorCode::UnknownType,
            DecodeError::InvalidField(_) => ErrorCode::InvalidField,
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow, default)]
    ty: Option<Cow<'a, str>>,
}

impl ClientFrame {
    /// Decodes a text frame, telling malformed JSON, unknown types and bad fields apart.
    ///
    /// ```
    /// use im_core::protocol::{ClientFrame, DecodeError};
    /// let frame = ClientFrame::decode(r#"{"type":"ping"}"#).unwrap();
    /// assert_eq!(frame, ClientFrame::Ping);
    /// assert!(matches!(ClientFrame::decode("{"), Err(DecodeError::Malformed(_))));
    /// assert!(matches!(ClientFrame::decode(r#"{"type":"dance"}"#), Err(DecodeError::UnknownType(_))));
    /// ```
    pub fn decode(text: &str) -> Result<ClientFrame, DecodeError> {
        let envelope: Envelope<'_> = match serde_json::from_str(text) {
            Ok(envelope) => envelope,
            Err(e) if e.is_syntax() || e.is_eof() => {
                return Err(DecodeError::Malformed(e.to_string()))
            }
            Err(_) => {
                return Err(DecodeError::UnknownType(
                    "a frame is a JSON object with a string `type`".to_owned(),
                ))
            }
        };
        let Some(ty) = envelope.ty else {
            return Err(DecodeError::UnknownType("missing `type`".to_owned()));
        };
        if !ClientFrame::TYPES.contains(&ty.as_ref()) {
            let shown: String = ty.chars().take(32).collect();
            return Err(DecodeError::UnknownType(format!("`{shown}`")));
        }
        serde_json::from_str(text).map_err(|e| DecodeError::InvalidField(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MessageBody;
    use proptest::prelude::*;

    #[test]
    fn classifies_errors() {
        assert!(matches!(
            ClientFrame::decode("not json"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            ClientFrame::decode("[1,2]"),
            Err(DecodeError::UnknownType(_))
        ));
        assert!(matches!(
            ClientFrame::decode(r#"{"group_id":"g"}"#),
            Err(DecodeError::UnknownType(_))
        ));
        assert!(matches!(
            ClientFrame::decode(r#"{"type":"send","group_id":"g"}"#),
            Err(DecodeError::InvalidField(_))
        ));
        assert!(matches!(
            ClientFrame::decode(r#"{"type":"ack","group_id":"g","seq":"x"}"#),
            Err(DecodeError::InvalidField(_))
        ));
    }

    #[test]
    fn send_round_trips_with_object_body() {
        let text = r#"{"type":"send","group_id":"g1","client_msg_id":"c1","body":{"text":"hi","n":[1,2]}}"#;
        let frame = ClientFrame::decode(text).unwrap();
        let ClientFrame::Send { body, .. } = &frame else {
            panic!("not a send")
        };
        assert_eq!(
            body.to_value(),
            serde_json::json!({"text": "hi", "n": [1, 2]})
        );
        assert_eq!(ClientFrame::decode(&frame.to_json()).unwrap(), frame);
    }

    proptest! {
        #[test]
        fn decode_never_panics(s in ".{0,200}") {
            let _ = ClientFrame::decode(&s);
        }

        #[test]
        fn send_frames_round_trip(g in "[a-z0-9]{1,12}", c in "[ -~]{1,20}", text in ".{0,50}") {
            let frame = ClientFrame::Send {
                group_id: g.as_str().into(),
                client_msg_id: c.as_str().into(),
                body: MessageBody::text(&text),
            };
            prop_assert_eq!(ClientFrame::decode(&frame.to_json()).unwrap(), frame);
        }
    }
}
