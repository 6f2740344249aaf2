//! Errors of engine operations, each mapped to a protocol error code.

use crate::membership::MembershipError;
use crate::protocol::ErrorCode;
use crate::sequencer::SequenceError;
use crate::store::StoreError;

/// Why an engine operation (send, sync, read, ...) failed. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The user is not a member of the group.
    #[error("not a member of this group")]
    NotMember,
    /// A field has an invalid value.
    #[error("invalid field `{field}`: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The body is larger than allowed.
    #[error("body is {size} bytes; at most {max} allowed")]
    BodyTooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Storage failed.
    #[error("storage failed")]
    Store(#[from] StoreError),
    /// Sequencing failed.
    #[error("sequencing failed")]
    Sequence(#[from] SequenceError),
    /// Membership lookup failed.
    #[error("membership lookup failed")]
    Membership(#[from] MembershipError),
    /// The application refused the request (from a [`SendPipeline`](crate::pipeline::SendPipeline)
    /// or another hook), with the code to report and a reason safe to show.
    #[error("{reason}")]
    Rejected {
        /// The error code sent to the client.
        code: ErrorCode,
        /// Why, for the client.
        reason: String,
    },
}

impl EngineError {
    /// The protocol error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::NotMember => ErrorCode::NotMember,
            EngineError::InvalidField { .. } => ErrorCode::InvalidField,
            EngineError::BodyTooLarge { .. } => ErrorCode::BodyTooLarge,
            EngineError::Rejected { code, .. } => *code,
            EngineError::Store(_) | EngineError::Sequence(_) | EngineError::Membership(_) => {
                ErrorCode::Internal
            }
        }
    }

    /// A message safe to show a client (no backend details).
    pub fn public_message(&self) -> String {
        match self.code() {
            ErrorCode::Internal => "internal error; retry later".to_owned(),
            _ => self.to_string(),
        }
    }
}
