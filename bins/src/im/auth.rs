//! [`JwtAuth`]: the WebSocket `auth` frame checked with the platform's login tokens.

use async_trait::async_trait;
use domain::auth::TokenIssuer;
use domain::DomainError;
use im_core::{AuthError, Authenticator, UserId};

/// Accepts the JWTs the user service issues.
#[derive(Clone, Debug)]
pub struct JwtAuth {
    tokens: TokenIssuer,
}

impl JwtAuth {
    /// Verifies with `tokens`.
    pub fn new(tokens: TokenIssuer) -> Self {
        Self { tokens }
    }
}

#[async_trait]
impl Authenticator for JwtAuth {
    async fn authenticate(&self, token: &str) -> Result<UserId, AuthError> {
        match self.tokens.verify(token) {
            Ok(user) => Ok(UserId::from(user.as_str())),
            Err(DomainError::TokenExpired) => Err(AuthError::Expired),
            Err(e) => Err(AuthError::Invalid(e.to_string())),
        }
    }
}
