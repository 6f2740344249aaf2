//! The authentication hook: the application turns a token into a user id.

use async_trait::async_trait;

use crate::ids::UserId;

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is not valid (bad signature, unknown, malformed).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token has expired.
    #[error("token expired")]
    Expired,
    /// The verifier could not decide (e.g. a backend is down); reported as `internal`.
    #[error("authentication unavailable: {0}")]
    Unavailable(String),
}

/// Verifies the token of an `auth` frame. Implemented by the application (e.g. JWT).
///
/// ```
/// use im_core::{AuthError, Authenticator, UserId};
/// #[derive(Debug)]
/// struct NameIsToken;
/// #[async_trait::async_trait]
/// impl Authenticator for NameIsToken {
///     async fn authenticate(&self, token: &str) -> Result<UserId, AuthError> {
///         if token.is_empty() { return Err(AuthError::Invalid("empty".into())); }
///         Ok(UserId::from(token))
///     }
/// }
/// ```
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// Returns the user the token belongs to, or why it is refused.
    async fn authenticate(&self, token: &str) -> Result<UserId, AuthError>;
}
