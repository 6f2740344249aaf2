//! [`PasswordHasher`]: argon2id with PHC strings, off the async threads.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

use crate::error::DomainError;
use crate::types::Password;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB (default 19,456 = 19 MiB, OWASP's recommendation).
    pub memory_kib: u32,
    /// Passes over memory (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashParams {
    /// The cheapest parameters argon2 accepts: for tests only, never production.
    pub fn insecure_fast() -> Self {
        Self {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords with argon2id. Work runs in
/// `tokio::task::spawn_blocking`, so it never stalls the async runtime.
/// Verification reads the parameters from the stored PHC string, so hashes made with
/// older parameters keep working after the parameters change.
///
/// ```
/// use domain::{HashParams, Password, PasswordHasher};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), domain::DomainError> {
/// let hasher = PasswordHasher::new(HashParams::insecure_fast())?;
/// let hash = hasher.hash(&Password::parse("hunter22")?).await?;
/// assert!(hash.starts_with("$argon2id$"));
/// assert!(hasher.verify(&Password::parse("hunter22")?, &hash).await?);
/// assert!(!hasher.verify(&Password::parse("hunter23")?, &hash).await?);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct PasswordHasher {
    params: Params,
}

impl PasswordHasher {
    /// A hasher with the given cost; refuses parameters argon2 does not accept.
    pub fn new(params: HashParams) -> Result<Self, DomainError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| DomainError::InvalidConfig(format!("argon2 parameters: {e}")))?;
        Ok(Self { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes `password` with a fresh random salt; returns the PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String, DomainError> {
        let argon2 = self.argon2();
        let password = password.clone();
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        tokio::task::spawn_blocking(move || {
            let salt =
                SaltString::encode_b64(&salt).map_err(|e| DomainError::internal(e.to_string()))?;
            argon2
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| DomainError::internal(e.to_string()))
        })
        .await
        .map_err(|e| DomainError::Internal(e.into()))?
    }

    /// True when `password` matches the PHC string `hash`.
    pub async fn verify(&self, password: &Password, hash: &str) -> Result<bool, DomainError> {
        self.verify_str(password.expose(), hash).await
    }

    /// Like [`PasswordHasher::verify`] for text that was never validated as a
    /// [`Password`] (login must not tell rule-breaking passwords apart).
    pub async fn verify_str(&self, password: &str, hash: &str) -> Result<bool, DomainError> {
        let argon2 = self.argon2();
        let password = password.to_owned();
        let hash = hash.to_owned();
        tokio::task::spawn_blocking(move || {
            let parsed =
                PasswordHash::new(&hash).map_err(|e| DomainError::internal(e.to_string()))?;
            Ok(argon2.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(|e| DomainError::Internal(e.into()))?
    }
}
