//! What differs between SQLite and MySQL.

use sqlx::any::Any;
use sqlx::{AnyConnection, Connection, Transaction};

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

impl Backend {
    /// Creates the activity's `activity_state` row if missing and locks it until commit
    /// (binds the activity id). MySQL: `ON DUPLICATE KEY UPDATE` takes an exclusive
    /// lock on an existing row (`INSERT IGNORE` would take a shared one, and two
    /// handlers upgrading it would deadlock). SQLite: `BEGIN IMMEDIATE` already
    /// serialises the writers.
    pub(crate) fn lock_activity_state(self) -> &'static str {
        match self {
            Self::Sqlite => {
                "INSERT INTO activity_state (activity_id, cancelled_at) VALUES (?, NULL) \
                 ON CONFLICT (activity_id) DO NOTHING"
            }
            Self::MySql => {
                "INSERT INTO activity_state (activity_id, cancelled_at) VALUES (?, NULL) \
                 ON DUPLICATE KEY UPDATE activity_id = activity_id"
            }
        }
    }
}

/// Which position of a (group, user) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Position {
    /// What the user has read.
    Read,
    /// What the user's devices acknowledged.
    Delivered,
}

impl Position {
    /// The column that holds it.
    pub(crate) fn column(self) -> &'static str {
        match self {
            Self::Read => "read_seq",
            Self::Delivered => "delivered_seq",
        }
    }
}

impl Backend {
    /// An upsert of one position that never moves it backwards; binds group, user, seq.
    pub(crate) fn advance_position(self, which: Position) -> String {
        let (read, delivered) = match which {
            Position::Read => ("?", "0"),
            Position::Delivered => ("0", "?"),
        };
        let c = which.column();
        let insert = format!(
            "INSERT INTO message_positions (group_id, user_id, read_seq, delivered_seq) \
             VALUES (?, ?, {read}, {delivered})"
        );
        match self {
            Self::Sqlite => format!(
                "{insert} ON CONFLICT (group_id, user_id) DO UPDATE SET {c} = MAX({c}, excluded.{c})"
            ),
            Self::MySql => {
                format!("{insert} ON DUPLICATE KEY UPDATE {c} = GREATEST({c}, VALUES({c}))")
            }
        }
    }
}

impl Store {
    /// Starts a transaction that will write, on `conn`.
    pub(crate) async fn begin_write_on<'c>(
        &self,
        conn: &'c mut AnyConnection,
    ) -> Result<Transaction<'c, Any>, DomainError> {
        match self.backend {
            Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await,
            Backend::MySql => conn.begin().await,
        }
        .map_err(db_err)
    }

    /// Starts a transaction that will write.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, DomainError> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::MySql => self.pool.begin().await,
        }
        .map_err(db_err)
    }
}
