//! [`NotificationService`]: users' system notifications.

use std::collections::HashSet;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::entities::Notification;
use crate::error::DomainError;
use crate::repository::NotificationRepository;
use crate::types::UserId;

/// Longest source event id, in bytes.
const MAX_EVENT_ID_LEN: usize = 64;
/// Longest kind, in bytes.
const MAX_KIND_LEN: usize = 64;
/// Most ids one [`NotificationService::mark_read`] call takes.
pub const MAX_MARK_IDS: usize = 1000;

/// Stores notifications (idempotently per event and user), lists them and tracks
/// what was read.
///
/// ```
/// use domain::{NotificationService, Store, UserId};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), domain::DomainError> {
/// let notifications = NotificationService::new(Store::connect("sqlite::memory:").await?);
/// let alice = UserId::new();
/// let payload = serde_json::json!({ "hello": "alice" });
/// let made = notifications.notify("event-1", &[alice.clone()], "welcome", payload.clone()).await?;
/// let again = notifications.notify("event-1", &[alice.clone()], "welcome", payload).await?;
/// assert_eq!(made, again); // a redelivered event: the same notification
/// assert_eq!(notifications.unread_count(&alice).await?, 1);
/// assert_eq!(notifications.mark_read(&alice, None).await?, 1);
/// assert_eq!(notifications.unread_count(&alice).await?, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct NotificationService {
    repo: Arc<dyn NotificationRepository>,
    clock: Arc<dyn Clock>,
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.is_empty() || value.len() > max {
        return Err(DomainError::invalid(
            field,
            format!("must be 1 to {max} bytes"),
        ));
    }
    Ok(())
}

/// A notification id: a UUID's 36 characters of hex digits and hyphens.
fn check_id(field: &'static str, id: &str) -> Result<(), DomainError> {
    if id.len() != 36 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Err(DomainError::invalid(
            field,
            "must be a notification id (a UUID)",
        ));
    }
    Ok(())
}

impl NotificationService {
    /// A service over `repo` (a [`crate::Store`]).
    pub fn new(repo: impl NotificationRepository) -> Self {
        Self {
            repo: Arc::new(repo),
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `clock` for "now".
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Stores one notification per recipient for the event `event_id` (1 to 64
    /// bytes; `kind` 1 to 64 bytes). Idempotent per (recipient, event): returns the
    /// event's notifications for these recipients, in recipient order, whether created
    /// now or by an earlier delivery (so a redelivered event can be pushed again with
    /// the same ids; clients dedup by id). Duplicate recipients count once.
    pub async fn notify(
        &self,
        event_id: &str,
        recipients: &[UserId],
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<Vec<Notification>, DomainError> {
        check_len("event_id", event_id, MAX_EVENT_ID_LEN)?;
        check_len("kind", kind, MAX_KIND_LEN)?;
        let now = self.clock.now();
        let mut seen = HashSet::new();
        let rows: Vec<Notification> = recipients
            .iter()
            .filter(|u| seen.insert(*u))
            .map(|user| Notification {
                id: uuid::Uuid::now_v7().to_string(),
                user_id: user.clone(),
                kind: kind.to_owned(),
                payload: payload.clone(),
                created_at: now,
                read_at: None,
            })
            .collect();
        let mut stored = self.repo.insert_notifications(event_id, &rows).await?;
        let order: std::collections::HashMap<&UserId, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, n)| (&n.user_id, i))
            .collect();
        stored.sort_by_key(|n| order.get(&n.user_id).copied().unwrap_or(usize::MAX));
        Ok(stored)
    }

    /// `user`'s notifications, newest first; only unread ones when `unread_only`;
    /// older than `before_id` when given (the last id of the previous page); at most
    /// `limit` (1 to 200; 0 means 50).
    pub async fn list(
        &self,
        user: &UserId,
        unread_only: bool,
        before_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Notification>, DomainError> {
        if let Some(before) = before_id {
            check_id("before_id", before)?;
        }
        let limit = match limit {
            0 => 50,
            1..=200 => limit,
            _ => return Err(DomainError::invalid("limit", "must be at most 200")),
        };
        self.repo
            .notifications(user, unread_only, before_id, limit)
            .await
    }

    /// How many of `user`'s notifications are unread.
    pub async fn unread_count(&self, user: &UserId) -> Result<u64, DomainError> {
        self.repo.unread_notifications(user).await
    }

    /// Marks `user`'s notifications read: those with these ids (at most
    /// [`MAX_MARK_IDS`]; other users' and unknown ids are ignored), or all when `None`.
    /// Returns how many changed from unread to read.
    pub async fn mark_read(
        &self,
        user: &UserId,
        ids: Option<&[String]>,
    ) -> Result<u64, DomainError> {
        if let Some(ids) = ids {
            if ids.len() > MAX_MARK_IDS {
                return Err(DomainError::invalid(
                    "ids",
                    format!("at most {MAX_MARK_IDS} ids at once"),
                ));
            }
            for id in ids {
                check_id("ids", id)?;
            }
        }
        self.repo
            .mark_notifications_read(user, ids, self.clock.now())
            .await
    }
}
