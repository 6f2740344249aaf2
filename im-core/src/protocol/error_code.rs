//! The one table of stable error codes sent in `error` frames.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code carried by an `error` frame.
///
/// The string form (`as_str`, and the serde form) never changes once released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The text frame is not valid JSON.
    MalformedJson,
    /// The frame's `type` is missing or not one this server knows.
    UnknownType,
    /// The frame exceeds the maximum frame size; the connection is closed.
    FrameTooLarge,
    /// A binary frame was received; only text frames carry the protocol.
    BinaryNotSupported,
    /// A frame other than `auth` arrived before authentication succeeded.
    NotAuthenticated,
    /// `auth` arrived on an already authenticated connection.
    AlreadyAuthenticated,
    /// The token was rejected (invalid or expired); the connection is closed.
    AuthFailed,
    /// The user is not a member of the group.
    NotMember,
    /// Too many frames in a short time; slow down and retry.
    RateLimited,
    /// A field is missing, has the wrong type, or an invalid value.
    InvalidField,
    /// The message body exceeds the maximum body size.
    BodyTooLarge,
    /// The group accepts no more messages (e.g. it was dissolved).
    GroupClosed,
    /// The server could not finish in time (e.g. the message pipeline is busy); retry
    /// with the same `client_msg_id`, which never produces a second message.
    Unavailable,
    /// A server-side failure (storage unavailable, ...); the request may be retried.
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and exhaustive tests.
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::MalformedJson,
        ErrorCode::UnknownType,
        ErrorCode::FrameTooLarge,
        ErrorCode::BinaryNotSupported,
        ErrorCode::NotAuthenticated,
        ErrorCode::AlreadyAuthenticated,
        ErrorCode::AuthFailed,
        ErrorCode::NotMember,
        ErrorCode::RateLimited,
        ErrorCode::InvalidField,
        ErrorCode::BodyTooLarge,
        ErrorCode::GroupClosed,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The stable wire string, e.g. `"not_member"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::BinaryNotSupported => "binary_not_supported",
            ErrorCode::NotAuthenticated => "not_authenticated",
            ErrorCode::AlreadyAuthenticated => "already_authenticated",
            ErrorCode::AuthFailed => "auth_failed",
            ErrorCode::NotMember => "not_member",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::GroupClosed => "group_closed",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// Whether the server closes the connection after sending this error.
    pub fn closes_connection(self) -> bool {
        matches!(self, ErrorCode::FrameTooLarge | ErrorCode::AuthFailed)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_form_matches_as_str() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
