//! [`TokenIssuer`]: HS256 JWT access tokens.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use crate::clock::{Clock, SystemClock};
use crate::error::DomainError;
use crate::types::{Timestamp, UserId};

/// The claims inside an access token.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessClaims {
    /// The user (`sub`).
    pub sub: String,
    /// The issuer (`iss`).
    pub iss: String,
    /// Issued at, Unix seconds (`iat`).
    pub iat: i64,
    /// Expires at, Unix seconds (`exp`).
    pub exp: i64,
}

/// A freshly issued token.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Whose it is.
    pub user_id: UserId,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

/// Issues and verifies HS256 JWTs: `sub` = user id, `iss`, `iat`, `exp`.
///
/// ```
/// use std::time::Duration;
/// use domain::{TokenIssuer, UserId};
///
/// let tokens = TokenIssuer::new(b"a-secret-of-at-least-32-bytes!!!".to_vec(), "social-im", Duration::from_secs(3600))?;
/// let user = UserId::new();
/// let issued = tokens.issue(&user)?;
/// assert_eq!(tokens.verify(&issued.token)?, user);
/// assert_eq!(tokens.verify("garbage").unwrap_err().code(), "invalid_token");
/// # Ok::<(), domain::DomainError>(())
/// ```
#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl TokenIssuer {
    /// Shortest accepted secret, in bytes (256 bits, the HS256 key size).
    pub const MIN_SECRET_LEN: usize = 32;

    /// An issuer signing with `secret` (at least 32 bytes), naming itself `issuer`,
    /// handing out tokens valid for `ttl` (at least one second).
    pub fn new(
        secret: impl AsRef<[u8]>,
        issuer: impl Into<String>,
        ttl: Duration,
    ) -> Result<Self, DomainError> {
        let secret = secret.as_ref();
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(DomainError::InvalidConfig(format!(
                "the JWT secret must be at least {} bytes",
                Self::MIN_SECRET_LEN
            )));
        }
        let issuer = issuer.into();
        if issuer.trim().is_empty() {
            return Err(DomainError::InvalidConfig(
                "the JWT issuer must not be empty".into(),
            ));
        }
        if ttl < Duration::from_secs(1) {
            return Err(DomainError::InvalidConfig(
                "the token lifetime must be at least one second".into(),
            ));
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer,
            ttl,
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses `clock` for `iat`/`exp` and for expiry checks.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long issued tokens are valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for `user`.
    pub fn issue(&self, user: &UserId) -> Result<IssuedToken, DomainError> {
        let now = self.clock.now();
        let iat = now.unix_seconds();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let exp = iat.saturating_add(ttl);
        let claims = AccessClaims {
            sub: user.to_string(),
            iss: self.issuer.clone(),
            iat,
            exp,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| DomainError::Internal(e.into()))?;
        Ok(IssuedToken {
            token,
            user_id: user.clone(),
            expires_at: Timestamp::from_unix_millis(exp.saturating_mul(1000)),
        })
    }

    /// Checks signature, algorithm, issuer and expiry; returns the user.
    ///
    /// Errors: [`DomainError::TokenExpired`] for a genuine token past its `exp`,
    /// [`DomainError::InvalidToken`] for anything else.
    pub fn verify(&self, token: &str) -> Result<UserId, DomainError> {
        self.verify_claims(token)
            .and_then(|c| UserId::parse(&c.sub).map_err(|_| DomainError::InvalidToken))
    }

    /// Like [`TokenIssuer::verify`], returning all claims.
    pub fn verify_claims(&self, token: &str) -> Result<AccessClaims, DomainError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        // Expiry is checked below against our clock, so tests can move time.
        validation.validate_exp = false;
        // A token that says it is not valid yet is not (ours carry no `nbf`).
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .map_err(|e| match e.kind() {
                JwtErrorKind::ExpiredSignature => DomainError::TokenExpired,
                _ => DomainError::InvalidToken,
            })?;
        if self.clock.now().unix_seconds() >= data.claims.exp {
            return Err(DomainError::TokenExpired);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a-test-secret-of-at-least-thirty-two-bytes";

    fn signed(claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap_or_default()
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() -> Result<(), DomainError> {
        let tokens = TokenIssuer::new(SECRET, "social-im", std::time::Duration::from_secs(60))?;
        let now = crate::Timestamp::now().unix_seconds();
        let user = crate::UserId::new().to_string();
        let claims = |nbf: i64| serde_json::json!({"sub": user, "iss": "social-im", "iat": now, "exp": now + 600, "nbf": nbf});
        let later = tokens.verify(&signed(&claims(now + 86_400))).err();
        assert_eq!(later.map(|e| e.code()), Some("invalid_token"));
        assert!(tokens.verify(&signed(&claims(now - 10))).is_ok());
        Ok(())
    }
}
