//! The inbox table: which events a consumer has handled, written in the transaction of
//! the change the event caused.

use sqlx::AnyConnection;

use super::error::{db_err, is_unique_violation};
use crate::error::DomainError;
use crate::repository::InboxMark;
use crate::types::Timestamp;

/// Longest consumer name and message id the inbox stores, in bytes.
const MAX_LEN: usize = 64;

/// Records `mark` on the transaction's connection; `false` when it was already there
/// (the event was handled before). A failed INSERT leaves the transaction usable on
/// both MySQL and SQLite (the statement alone is rolled back), but callers roll back
/// anyway when this returns `false`.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    mark: &InboxMark<'_>,
) -> Result<bool, DomainError> {
    check("consumer", mark.consumer)?;
    check("event_id", mark.message_id)?;
    let done =
        sqlx::query("INSERT INTO inbox (consumer, message_id, processed_at) VALUES (?, ?, ?)")
            .bind(mark.consumer)
            .bind(mark.message_id)
            .bind(Timestamp::now().unix_millis())
            .execute(&mut *conn)
            .await;
    match done {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(db_err(e)),
    }
}

fn check(field: &'static str, value: &str) -> Result<(), DomainError> {
    if value.is_empty() || value.len() > MAX_LEN {
        return Err(DomainError::invalid(
            field,
            format!("must be 1 to {MAX_LEN} bytes"),
        ));
    }
    Ok(())
}
