//! [`Store`]: the SQLite / MySQL implementation of the repository traits.
//!
//! One code path serves both databases through sqlx's `Any` driver: both dialects
//! use `?` placeholders and the schema keeps to types they share (text, 64-bit
//! integers). The few differences live in [`dialect`]: how a write transaction starts
//! (`BEGIN IMMEDIATE` on SQLite, so concurrent writers queue on the busy timeout
//! instead of failing) and how a row is locked (`FOR UPDATE` on MySQL).

mod activities;
mod connect;
mod dialect;
mod error;
mod groups;
mod hot;
mod inbox;
mod member_versions;
mod messages;
mod notifications;
mod outbox;
mod positions;
mod rows;
mod signups;
mod sql;
mod users;

use std::fmt;
use std::sync::Arc;

use sqlx::AnyPool;
use tokio::sync::Notify;

pub use connect::StoreOptions;
pub use dialect::Backend;

/// A connection pool to SQLite or MySQL/MariaDB with the schema migrated.
/// Implements [`crate::UserRepository`], [`crate::ActivityRepository`],
/// [`crate::OutboxRepository`], [`crate::GroupRepository`], [`crate::MessageRepository`]
/// (its methods are also inherent, so `store.append_messages(..)` needs no import) and
/// [`crate::NotificationRepository`]. Clones share the pool.
///
/// URLs: `sqlite://path/to/file.db?mode=rwc` (created if missing), `sqlite::memory:`
/// (one connection, gone when the store closes), `mysql://user:pass@host:3306/db`
/// (also `mariadb://`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), domain::DomainError> {
/// use domain::{Backend, OutboxRepository, Store};
///
/// let store = Store::connect("sqlite::memory:").await?;
/// assert_eq!(store.backend(), Backend::Sqlite);
/// assert_eq!(store.count_unpublished().await?, 0);
/// store.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    new_rows: Arc<Notify>,
    hot: Arc<hot::HotLanes>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("connections", &self.pool.size())
            .finish()
    }
}

impl Store {
    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for connections in use to come back, and the
    /// dedicated connections of the hot paths.
    pub async fn close(&self) {
        self.hot.close().await;
        self.pool.close().await;
    }

    /// Wakes whoever waits for new outbox rows (the forwarder).
    fn announce(&self, wrote_events: bool) {
        if wrote_events {
            self.new_rows.notify_one();
        }
    }
}
