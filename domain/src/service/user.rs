//! [`UserService`]: registration, login, profiles.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::requests::{NewUser, ProfileUpdate};
use crate::auth::{IssuedToken, PasswordHasher, TokenIssuer};
use crate::clock::{Clock, SystemClock};
use crate::entities::{Profile, User};
use crate::error::DomainError;
use crate::events::{OutboxEvent, UserRegistered};
use crate::repository::UserRepository;
use crate::types::{Nickname, Password, UserId, Username};

/// Accounts: register (emits `user.registered`), log in (returns a JWT), profiles.
///
/// ```
/// use std::time::Duration;
/// use domain::{HashParams, NewUser, PasswordHasher, Store, TokenIssuer, UserService};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), domain::DomainError> {
/// let store = Store::connect("sqlite::memory:").await?;
/// let tokens = TokenIssuer::new([7u8; 32], "social-im", Duration::from_secs(3600))?;
/// let users = UserService::new(store, tokens)
///     .with_hasher(PasswordHasher::new(HashParams::insecure_fast())?);
/// let alice = users
///     .register(NewUser { username: "alice".into(), password: "hunter22".into(), nickname: None })
///     .await?;
/// let login = users.login("ALICE", "hunter22").await?;
/// assert_eq!(users.authenticate(&login.token)?, alice.user_id);
/// assert_eq!(users.login("alice", "wrong-pass1").await.unwrap_err().code(), "invalid_credentials");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct UserService {
    repo: Arc<dyn UserRepository>,
    tokens: TokenIssuer,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    dummy_hash: Arc<OnceCell<String>>,
}

impl UserService {
    /// Most ids one [`UserService::profiles`] call accepts.
    pub const MAX_BATCH: usize = 100;

    /// A service over `repo`, issuing tokens with `tokens`, hashing with argon2id's
    /// default cost.
    pub fn new(repo: impl UserRepository, tokens: TokenIssuer) -> Self {
        Self {
            repo: Arc::new(repo),
            tokens,
            hasher: PasswordHasher::default(),
            clock: Arc::new(SystemClock),
            dummy_hash: Arc::new(OnceCell::new()),
        }
    }

    /// Uses `hasher` (for example a cheaper one in tests).
    #[must_use]
    pub fn with_hasher(mut self, hasher: PasswordHasher) -> Self {
        self.hasher = hasher;
        self
    }

    /// Uses `clock` for timestamps.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The token issuer (servers verify bearer tokens with it).
    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    /// Creates an account and emits `user.registered` in the same transaction.
    ///
    /// Errors: `invalid_username`, `weak_password` (also when the password equals the
    /// username), `invalid_input` (nickname), `username_taken`.
    pub async fn register(&self, req: NewUser) -> Result<Profile, DomainError> {
        let username = Username::parse(&req.username)?;
        let password = Password::parse(&req.password)?;
        if password
            .expose()
            .trim()
            .eq_ignore_ascii_case(username.as_str())
        {
            return Err(DomainError::WeakPassword("must not be the username"));
        }
        let nickname = match req.nickname.as_deref() {
            Some(n) => Nickname::parse(n)?,
            None => Nickname::parse(username.as_str())?,
        };
        let password_hash = self.hasher.hash(&password).await?;
        let user = User {
            id: UserId::new(),
            username,
            nickname,
            password_hash,
            created_at: self.clock.now(),
        };
        let event = OutboxEvent::new(&UserRegistered {
            user_id: user.id.clone(),
            username: user.username.clone(),
            registered_at: user.created_at,
        })?;
        self.repo.insert_user(&user, vec![event]).await?;
        Ok(user.profile())
    }

    /// Checks the credentials and issues an access token.
    ///
    /// Any mismatch, unknown user or malformed input is `invalid_credentials`, and
    /// takes about as long as a wrong password (a hash is verified either way).
    pub async fn login(&self, username: &str, password: &str) -> Result<IssuedToken, DomainError> {
        let user = match Username::parse(username) {
            Ok(name) => self.repo.user_by_username(&name).await?,
            Err(_) => None,
        };
        let Some(user) = user else {
            let dummy = self.dummy_hash().await?;
            let _ = self.hasher.verify_str(password, dummy).await?;
            return Err(DomainError::InvalidCredentials);
        };
        if !self
            .hasher
            .verify_str(password, &user.password_hash)
            .await?
        {
            return Err(DomainError::InvalidCredentials);
        }
        self.tokens.issue(&user.id)
    }

    async fn dummy_hash(&self) -> Result<&String, DomainError> {
        self.dummy_hash
            .get_or_try_init(|| async {
                let p = Password::parse("not-a-real-password-1")?;
                self.hasher.hash(&p).await
            })
            .await
    }

    /// The user a bearer token belongs to (`token_expired` or `invalid_token` otherwise).
    pub fn authenticate(&self, token: &str) -> Result<UserId, DomainError> {
        self.tokens.verify(token)
    }

    /// A user's public profile.
    pub async fn profile(&self, id: &UserId) -> Result<Profile, DomainError> {
        self.repo
            .user_by_id(id)
            .await?
            .map(|u| u.profile())
            .ok_or_else(|| DomainError::not_found("user"))
    }

    /// Changes the caller's own profile.
    pub async fn update_profile(
        &self,
        id: &UserId,
        update: ProfileUpdate,
    ) -> Result<Profile, DomainError> {
        if let Some(n) = update.nickname.as_deref() {
            let nickname = Nickname::parse(n)?;
            if !self
                .repo
                .update_nickname(id, &nickname, self.clock.now())
                .await?
            {
                return Err(DomainError::not_found("user"));
            }
        }
        self.profile(id).await
    }

    /// Profiles of many users, in the order asked, without duplicates; unknown ids are
    /// left out. At most [`UserService::MAX_BATCH`] ids.
    pub async fn profiles(&self, ids: &[UserId]) -> Result<Vec<Profile>, DomainError> {
        if ids.len() > Self::MAX_BATCH {
            return Err(DomainError::invalid("ids", "at most 100 ids per request"));
        }
        let mut seen = HashSet::new();
        let unique: Vec<UserId> = ids.iter().filter(|id| seen.insert(*id)).cloned().collect();
        let found = self.repo.users_by_ids(&unique).await?;
        Ok(unique
            .iter()
            .filter_map(|id| found.iter().find(|u| &u.id == id).map(User::profile))
            .collect())
    }
}
