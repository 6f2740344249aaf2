//! [`NotificationRepository`]: users' stored notifications.

use async_trait::async_trait;

use crate::entities::Notification;
use crate::error::DomainError;
use crate::types::{Timestamp, UserId};

/// Notifications.
#[async_trait]
pub trait NotificationRepository: std::fmt::Debug + Send + Sync + 'static {
    /// Inserts `rows` (all made from the event `source_event_id`) in one transaction,
    /// skipping users who already have a notification from that event; returns the
    /// stored notifications of that event for the users of `rows`, new or old.
    async fn insert_notifications(
        &self,
        source_event_id: &str,
        rows: &[Notification],
    ) -> Result<Vec<Notification>, DomainError>;

    /// `user`'s notifications, newest first, with ids below `before_id` when given.
    async fn notifications(
        &self,
        user: &UserId,
        unread_only: bool,
        before_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Notification>, DomainError>;

    /// How many of `user`'s notifications are unread.
    async fn unread_notifications(&self, user: &UserId) -> Result<u64, DomainError>;

    /// Marks `user`'s unread notifications read at `at`: those with these ids, or all
    /// when `ids` is `None`. Other users' rows and unknown ids are left alone; returns
    /// how many rows changed.
    async fn mark_notifications_read(
        &self,
        user: &UserId,
        ids: Option<&[String]>,
        at: Timestamp,
    ) -> Result<u64, DomainError>;
}
