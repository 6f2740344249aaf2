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

/// The threads that run argon2: one per CPU (at least two, at most eight), for the
/// whole process. Each hash holds its argon2 memory (19 MiB by default) while it runs,
/// and the allocator keeps it per thread afterwards; running every hash on these few
/// threads bounds the memory to a few hashes' worth however many logins arrive together
/// (on tokio's blocking pool, each new thread would keep its own 19 MiB). Jobs queue.
type Job = Box<dyn FnOnce() + Send>;

fn hashing_pool() -> Option<&'static std::sync::Mutex<std::sync::mpsc::Sender<Job>>> {
    static POOL: std::sync::OnceLock<Option<std::sync::Mutex<std::sync::mpsc::Sender<Job>>>> =
        std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let threads = std::thread::available_parallelism()
            .map_or(2, std::num::NonZeroUsize::get)
            .clamp(2, 8);
        for i in 0..threads {
            let queue = std::sync::Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if spawned.is_err() {
                return None;
            }
        }
        Some(std::sync::Mutex::new(jobs))
    })
    .as_ref()
}

/// Runs `work` on the hashing threads and waits for its answer.
async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DomainError> + Send + 'static,
) -> Result<T, DomainError> {
    let pool = hashing_pool().ok_or_else(|| DomainError::internal("no hashing threads"))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(work());
    });
    pool.lock()
        .map_err(|_| DomainError::internal("hashing pool poisoned"))?
        .send(job)
        .map_err(|_| DomainError::internal("hashing threads stopped"))?;
    rx.await
        .map_err(|_| DomainError::internal("hashing job dropped"))?
}

/// Hashes and verifies passwords with argon2id. Work runs on a few dedicated threads
/// (one per CPU, two to eight), so it never stalls the async runtime and memory stays
/// bounded however many logins arrive together.
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
        on_hashing_thread(move || {
            let salt =
                SaltString::encode_b64(&salt).map_err(|e| DomainError::internal(e.to_string()))?;
            argon2
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| DomainError::internal(e.to_string()))
        })
        .await
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
        on_hashing_thread(move || {
            let parsed =
                PasswordHash::new(&hash).map_err(|e| DomainError::internal(e.to_string()))?;
            Ok(argon2.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
    }
}
