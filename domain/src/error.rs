//! [`DomainError`]: everything a domain operation can refuse or fail with, each with a
//! stable machine code and an [`ErrorKind`] that servers map to a status.

use std::error::Error as StdError;

/// The class of an error, for mapping to an HTTP status, a gRPC code or a WebSocket
/// error frame in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed or breaks a validation rule (HTTP 400/422).
    InvalidInput,
    /// Missing, wrong or expired credentials (HTTP 401).
    Unauthorized,
    /// Authenticated, but not allowed to do this (HTTP 403).
    Forbidden,
    /// The thing asked for does not exist (HTTP 404).
    NotFound,
    /// The request conflicts with the current state (HTTP 409).
    Conflict,
    /// A dependency (the database) is unavailable; retrying later may work (HTTP 503).
    Unavailable,
    /// A bug or an unexpected failure (HTTP 500).
    Internal,
}

/// Why a domain operation failed.
///
/// `Display` is safe to show to users: storage failures never include SQL text or
/// driver messages (those stay reachable through [`std::error::Error::source`] for logs).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// A username breaks the username rules.
    #[error("invalid username: {0}")]
    InvalidUsername(&'static str),
    /// A password breaks the password rules.
    #[error("weak password: {0}")]
    WeakPassword(&'static str),
    /// A field of the request is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field (as named in the API).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Another account already uses this username (compared case-insensitively).
    #[error("username is already taken")]
    UsernameTaken,
    /// The username or the password is wrong (never says which).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The token is well formed and signed by us but has expired.
    #[error("token has expired")]
    TokenExpired,
    /// The token is malformed, tampered with, signed with another key or for another issuer.
    #[error("invalid token")]
    InvalidToken,
    /// A configuration value is unusable (for example a JWT secret that is too short).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The entity does not exist.
    #[error("{entity} not found")]
    NotFound {
        /// `user`, `activity`, `signup` or `group`.
        entity: &'static str,
    },
    /// The caller may not do this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The activity has as many members as its capacity.
    #[error("activity is full")]
    ActivityFull,
    /// The user already has a pending or accepted sign-up for this activity.
    #[error("already signed up")]
    AlreadySignedUp,
    /// The activity was cancelled.
    #[error("activity is cancelled")]
    ActivityCancelled,
    /// The activity has already started.
    #[error("activity has already started")]
    ActivityStarted,
    /// The user has no pending or accepted sign-up for this activity.
    #[error("not signed up")]
    NotSignedUp,
    /// The organiser is a member by definition and cannot leave (cancel instead).
    #[error("the organiser cannot leave their own activity")]
    OrganiserCannotLeave,
    /// The organiser rejected this user's sign-up earlier.
    #[error("sign-up was rejected by the organiser")]
    SignupRejected,
    /// The organiser removed this user from the activity's group.
    #[error("removed from this activity's group by the organiser")]
    RemovedByOrganiser,
    /// Approve or reject was asked for a sign-up that is not pending.
    #[error("sign-up is not pending")]
    SignupNotPending,
    /// The new capacity is below the current number of members.
    #[error("capacity is below the current number of members")]
    CapacityBelowMembers,
    /// The activity already has a different group.
    #[error("activity already has a group")]
    GroupAlreadySet,
    /// The activity's group does not exist yet (its `activity.created` has not been
    /// handled); retrying later will work.
    #[error("the activity's group does not exist yet")]
    GroupNotReady,
    /// The group was dissolved; nothing changes any more.
    #[error("group is dissolved")]
    GroupDissolved,
    /// The user is not a member of the group.
    #[error("not a member of the group")]
    NotMember,
    /// The owner cannot be removed from their group (dissolve it instead).
    #[error("the owner cannot be removed from the group")]
    OwnerCannotBeRemoved,
    /// An event's payload does not decode as its topic's event type.
    #[error("malformed {topic} event: {reason}")]
    MalformedEvent {
        /// The topic the payload came from.
        topic: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A concurrent change won; read again and retry.
    #[error("concurrent update, please retry")]
    ConcurrentUpdate,
    /// Publishing to the message bus failed (the outbox keeps the event).
    #[error("publishing events failed")]
    Publish(#[source] mq::Error),
    /// The database could not be reached or is busy.
    #[error("storage unavailable")]
    StorageUnavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// The database reported an unexpected error.
    #[error("internal storage error")]
    Storage(#[source] Box<dyn StdError + Send + Sync>),
    /// Anything else that should not happen.
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

impl DomainError {
    /// The stable machine-readable code, e.g. `"activity_full"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUsername(_) => "invalid_username",
            Self::WeakPassword(_) => "weak_password",
            Self::InvalidInput { .. } => "invalid_input",
            Self::UsernameTaken => "username_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::TokenExpired => "token_expired",
            Self::InvalidToken => "invalid_token",
            Self::InvalidConfig(_) => "invalid_config",
            Self::NotFound { .. } => "not_found",
            Self::Forbidden(_) => "forbidden",
            Self::ActivityFull => "activity_full",
            Self::AlreadySignedUp => "already_signed_up",
            Self::ActivityCancelled => "activity_cancelled",
            Self::ActivityStarted => "activity_started",
            Self::NotSignedUp => "not_signed_up",
            Self::OrganiserCannotLeave => "organiser_cannot_leave",
            Self::SignupRejected => "signup_rejected",
            Self::RemovedByOrganiser => "removed_by_organiser",
            Self::SignupNotPending => "signup_not_pending",
            Self::CapacityBelowMembers => "capacity_below_members",
            Self::GroupAlreadySet => "group_already_set",
            Self::GroupNotReady => "group_not_ready",
            Self::GroupDissolved => "group_dissolved",
            Self::NotMember => "not_member",
            Self::OwnerCannotBeRemoved => "owner_cannot_be_removed",
            Self::MalformedEvent { .. } => "malformed_event",
            Self::ConcurrentUpdate => "concurrent_update",
            Self::StorageUnavailable(_) => "storage_unavailable",
            Self::Publish(_) => "publish_failed",
            Self::Storage(_) | Self::Internal(_) => "internal",
        }
    }

    /// The class of the error, for choosing a status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidUsername(_)
            | Self::WeakPassword(_)
            | Self::InvalidInput { .. }
            | Self::MalformedEvent { .. } => ErrorKind::InvalidInput,
            Self::InvalidCredentials | Self::TokenExpired | Self::InvalidToken => {
                ErrorKind::Unauthorized
            }
            Self::Forbidden(_) => ErrorKind::Forbidden,
            Self::NotFound { .. } | Self::NotMember => ErrorKind::NotFound,
            Self::UsernameTaken
            | Self::ActivityFull
            | Self::AlreadySignedUp
            | Self::ActivityCancelled
            | Self::ActivityStarted
            | Self::NotSignedUp
            | Self::OrganiserCannotLeave
            | Self::SignupRejected
            | Self::RemovedByOrganiser
            | Self::SignupNotPending
            | Self::CapacityBelowMembers
            | Self::GroupAlreadySet
            | Self::GroupDissolved
            | Self::OwnerCannotBeRemoved
            | Self::ConcurrentUpdate => ErrorKind::Conflict,
            Self::StorageUnavailable(_) | Self::Publish(_) | Self::GroupNotReady => {
                ErrorKind::Unavailable
            }
            Self::InvalidConfig(_) | Self::Storage(_) | Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// An invalid-input error for `field`.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    /// A not-found error for `entity`.
    pub fn not_found(entity: &'static str) -> Self {
        Self::NotFound { entity }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_hide_their_source_text() {
        let err = DomainError::Storage("SELECT secret FROM users".into());
        assert_eq!(err.to_string(), "internal storage error");
        assert_eq!(err.code(), "internal");
        assert!(err
            .source()
            .map(|s| s.to_string())
            .unwrap_or_default()
            .contains("SELECT"));
        let err = DomainError::StorageUnavailable("connection refused to db:3306".into());
        assert_eq!(err.to_string(), "storage unavailable");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn codes_and_kinds() {
        assert_eq!(DomainError::ActivityFull.code(), "activity_full");
        assert_eq!(DomainError::ActivityFull.kind(), ErrorKind::Conflict);
        assert_eq!(DomainError::TokenExpired.kind(), ErrorKind::Unauthorized);
        assert_eq!(DomainError::not_found("user").to_string(), "user not found");
        assert_eq!(DomainError::GroupNotReady.kind(), ErrorKind::Unavailable);
        assert_eq!(DomainError::GroupDissolved.code(), "group_dissolved");
        assert_eq!(DomainError::NotMember.code(), "not_member");
        assert_eq!(
            DomainError::OwnerCannotBeRemoved.code(),
            "owner_cannot_be_removed"
        );
        assert_eq!(
            DomainError::invalid("title", "too long").code(),
            "invalid_input"
        );
    }
}
