//! What differs between SQLite and MySQL.

use sqlx::any::Any;
use sqlx::Transaction;

use super::error::db_err;
use super::Store;
use crate::error::DomainError;

/// The database behind a [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite (embedded; a file or memory).
    Sqlite,
    /// MySQL 8 or MariaDB.
    MySql,
}

impl Backend {
    /// From a URL's scheme.
    pub(crate) fn from_url(url: &str) -> Result<Self, DomainError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Ok(Self::MySql)
        } else {
            Err(DomainError::InvalidConfig(
                "database URL must start with sqlite:, mysql: or mariadb:".into(),
            ))
        }
    }

    /// The suffix that makes a `SELECT` lock the rows it reads until commit.
    /// SQLite needs none: a `BEGIN IMMEDIATE` transaction already excludes writers.
    pub(crate) fn lock_suffix(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::MySql => " FOR UPDATE",
        }
    }
}

impl Store {
    /// Starts a transaction that will write.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, DomainError> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::MySql => self.pool.begin().await,
        }
        .map_err(db_err)
    }
}
