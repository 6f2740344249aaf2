//! The events services publish (brief section 2): one topic per event type, JSON
//! payloads, and a key that keeps all events of one activity, group or user in order.
//!
//! Services never publish directly: they write an [`OutboxEvent`] in the same database
//! transaction as the state change, and the [`crate::OutboxForwarder`] publishes it.
//!
//! ```
//! use domain::events::{ActivityMemberJoined, Event, topics};
//! use domain::{ActivityId, Timestamp, UserId};
//!
//! let joined = ActivityMemberJoined {
//!     activity_id: ActivityId::new(),
//!     user_id: UserId::new(),
//!     joined_at: Timestamp::now(),
//! };
//! assert_eq!(ActivityMemberJoined::TOPIC, topics::ACTIVITY_MEMBER_JOINED);
//! assert_eq!(joined.key(), joined.activity_id.as_str());
//! ```

mod activity;
mod group;
mod outbox_event;
mod user;

pub use activity::{
    ActivityCancelled, ActivityChanges, ActivityCreated, ActivityMemberJoined, ActivityMemberLeft,
    ActivitySignupRejected, ActivityUpdated,
};
pub use group::{GroupCreated, GroupDissolved, GroupMemberAdded, GroupMemberRemoved};
pub use outbox_event::{OutboxEvent, EVENT_TYPE};
pub use user::UserRegistered;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::DomainError;

/// The topic names, one per event type.
pub mod topics {
    /// [`super::UserRegistered`].
    pub const USER_REGISTERED: &str = "user.registered";
    /// [`super::ActivityCreated`].
    pub const ACTIVITY_CREATED: &str = "activity.created";
    /// [`super::ActivityMemberJoined`].
    pub const ACTIVITY_MEMBER_JOINED: &str = "activity.member.joined";
    /// [`super::ActivityMemberLeft`].
    pub const ACTIVITY_MEMBER_LEFT: &str = "activity.member.left";
    /// [`super::ActivityUpdated`].
    pub const ACTIVITY_UPDATED: &str = "activity.updated";
    /// [`super::ActivityCancelled`].
    pub const ACTIVITY_CANCELLED: &str = "activity.cancelled";
    /// [`super::ActivitySignupRejected`].
    pub const ACTIVITY_SIGNUP_REJECTED: &str = "activity.signup.rejected";
    /// [`super::GroupCreated`].
    pub const GROUP_CREATED: &str = "group.created";
    /// [`super::GroupMemberAdded`].
    pub const GROUP_MEMBER_ADDED: &str = "group.member.added";
    /// [`super::GroupMemberRemoved`].
    pub const GROUP_MEMBER_REMOVED: &str = "group.member.removed";
    /// [`super::GroupDissolved`].
    pub const GROUP_DISSOLVED: &str = "group.dissolved";
}

/// An event type: its payload, topic and ordering key.
pub trait Event: Serialize + DeserializeOwned {
    /// The topic it is published on.
    const TOPIC: &'static str;
    /// The message key: the activity, group or user id it is about.
    fn key(&self) -> String;
}

/// Decodes a message payload as the event `E`; a payload that is not `E`'s JSON is a
/// [`DomainError::MalformedEvent`] (retrying cannot help: send it to the poison queue).
///
/// ```
/// use domain::events::{decode, ActivityMemberLeft};
///
/// let err = decode::<ActivityMemberLeft>(br#"{"activity_id": 1}"#).unwrap_err();
/// assert_eq!(err.code(), "malformed_event");
/// ```
pub fn decode<E: Event>(payload: &[u8]) -> Result<E, DomainError> {
    serde_json::from_slice(payload).map_err(|e| DomainError::MalformedEvent {
        topic: E::TOPIC.to_owned(),
        reason: e.to_string(),
    })
}
