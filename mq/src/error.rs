//! The crate's error type.

use std::time::Duration;

/// Everything that can go wrong when publishing, subscribing or acknowledging.
///
/// Backend-specific failures are carried as [`Error::Backend`] with the backend's
/// message, so a change in a backend's client library never changes this type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The publisher, subscriber or router was closed.
    #[error("closed")]
    Closed,
    /// A topic or group name is empty or contains characters the backends reject.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The backend's buffer stayed full for longer than the publish timeout.
    #[error("buffer full: no room for the message after {waited:?}")]
    Backpressure {
        /// How long the publisher waited for room.
        waited: Duration,
    },
    /// Encoding or decoding a typed payload failed.
    #[error("codec: {0}")]
    Codec(#[from] CodecError),
    /// The backend reported an error (connection lost, broker refused, ...).
    #[error("{backend} backend: {message}")]
    Backend {
        /// Which backend: `memory`, `redis`, `kafka`.
        backend: &'static str,
        /// What the backend said.
        message: String,
    },
    /// A router could not start or stop as asked.
    #[error("router: {0}")]
    Router(String),
    /// A setting is out of range, or disagrees with what the broker already holds
    /// (a Redis topic created with another partition count). Nothing was changed.
    #[error("invalid configuration: {setting}: {reason}")]
    InvalidConfig {
        /// The setting, e.g. `RedisConfig::partitions`.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A handler's subscription ended while the router was running (its backend was
    /// closed or lost for good), so the router stopped.
    #[error("handler {handler:?} stopped: {reason}")]
    HandlerStopped {
        /// The handler's name.
        handler: String,
        /// Why its subscription ended.
        reason: String,
    },
}

impl Error {
    /// An [`Error::InvalidConfig`].
    pub(crate) fn invalid_config(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            setting,
            reason: reason.into(),
        }
    }
}

/// A typed payload could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{op} {type_name}: {message}")]
pub struct CodecError {
    /// `encode` or `decode`.
    pub op: &'static str,
    /// The Rust type involved.
    pub type_name: &'static str,
    /// What the codec said (line and column for JSON).
    pub message: String,
}

/// Checks that a topic or consumer-group name is usable on every backend.
///
/// Names are 1..=249 characters of ASCII letters, digits, `.`, `_` and `-`
/// (the intersection of what Kafka and Redis accept without escaping), other than
/// `.` and `..` (which Kafka rejects).
pub fn validate_name(name: &str) -> Result<(), Error> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name == "." || name == ".." {
        Some("must not be '.' or '..'")
    } else if name.len() > 249 {
        Some("must be at most 249 characters")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("only ASCII letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("user.registered").is_ok());
        assert!(validate_name("a_b-c.1").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("has space").is_err());
        assert!(validate_name("ü").is_err());
        assert!(validate_name(&"x".repeat(250)).is_err());
        assert!(validate_name(&"x".repeat(249)).is_ok());
        assert!(validate_name(".").is_err());
        assert!(validate_name("..").is_err());
        assert!(validate_name("...").is_ok());
    }
}
