//! Turning sqlx errors into [`DomainError`]s without leaking SQL to users.

use crate::error::DomainError;

/// Classifies a database error: unreachable / busy -> unavailable, else internal.
pub(crate) fn db_err(e: sqlx::Error) -> DomainError {
    if is_unavailable(&e) {
        DomainError::StorageUnavailable(Box::new(e))
    } else {
        DomainError::Storage(Box::new(e))
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            let code = d.code();
            match code.as_deref() {
                // MySQL: deadlock / serialization failure.
                Some("40001") => true,
                // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6), with extended codes.
                Some(c) => {
                    c.parse::<i32>()
                        .is_ok_and(|n| matches!(n & 0xff, 5 | 6) && is_sqlite_code(c))
                        || mysql_lock_timeout(d.message())
                }
                None => false,
            }
        }
        _ => false,
    }
}

/// SQLite reports numeric codes; MySQL reports five-character SQLSTATEs.
fn is_sqlite_code(c: &str) -> bool {
    c.len() < 5
}

fn mysql_lock_timeout(message: &str) -> bool {
    message.contains("Lock wait timeout exceeded")
}

/// True for a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A row held a value the domain types refuse: the database was changed behind our back.
pub(crate) fn corrupt(what: &str, e: DomainError) -> DomainError {
    DomainError::internal(format!("stored {what} is invalid: {e}"))
}
