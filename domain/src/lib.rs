//! # domain: the social-activity platform's business
//!
//! Users, activities and sign-ups; groups, chat messages and notifications (the IM
//! service's business and storage); their events; and a transactional outbox that
//! moves those events to the message bus ([`mq`]). Storage is sqlx over SQLite (the
//! embedded default) or MySQL/MariaDB, chosen by URL at run time.
//!
//! - [`types`]: value types that validate on construction ([`Username`], [`Password`],
//!   [`Title`], [`Capacity`], [`Timestamp`], ids, ...).
//! - [`entities`]: [`User`] (and its outward [`Profile`]), [`Activity`], [`Signup`],
//!   [`Group`], [`GroupMember`], [`ChatMessage`], [`Notification`].
//! - [`auth`]: argon2id password hashing and HS256 JWT access tokens.
//! - [`events`]: the event payloads, topics and keys of the platform's contract.
//! - [`repository`]: the storage traits; [`Store`] implements them.
//! - [`outbox`]: the [`OutboxForwarder`] that publishes committed events.
//! - [`service`]: [`UserService`], [`ActivityService`], [`GroupService`] and
//!   [`NotificationService`], the business rules; [`notification_for`] maps events to
//!   notifications. Chat messages are stored through [`MessageRepository`] on [`Store`].
//!
//! Every error is a [`DomainError`] with a stable [`DomainError::code`] and an
//! [`ErrorKind`] that servers map to HTTP/gRPC/WebSocket statuses in one place.
//!
//! ## Cargo features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `sqlite` | yes | the SQLite backend (`sqlite://file.db?mode=rwc`, `sqlite::memory:`) |
//! | `mysql` | yes | the MySQL / MariaDB backend (`mysql://user:pass@host/db`) |
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use domain::events::{topics, ActivityCreated};
//! use domain::{ActivityService, NewActivity, OutboxForwarder, Store, Timestamp, UserId};
//! use mq::backend::memory::MemoryBroker;
//! use mq::Subscriber;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::connect("sqlite::memory:").await?;
//! let broker = MemoryBroker::default();
//! let mut created = broker.subscribe(topics::ACTIVITY_CREATED, "im").await?;
//! let forwarder = OutboxForwarder::new(store.clone(), Arc::new(broker.clone())).spawn();
//!
//! let activities = ActivityService::new(store.clone());
//! let organiser = UserId::new();
//! let hike = activities
//!     .create(&organiser, NewActivity {
//!         title: "Sunday hike".into(),
//!         description: "Bring water".into(),
//!         location: "North trailhead".into(),
//!         starts_at: Timestamp::now().plus(Duration::from_secs(86_400)),
//!         capacity: 10,
//!         requires_approval: false,
//!     })
//!     .await?;
//!
//! let batch = created.next_batch(10).await?.expect("subscription open");
//! let delivery = batch.deliveries.into_iter().next().expect("one event");
//! let event: ActivityCreated = serde_json::from_slice(delivery.message().payload())?;
//! assert_eq!(event.activity_id, hike.id);
//! assert_eq!(delivery.message().key(), Some(hike.id.as_str()));
//! delivery.ack();
//! forwarder.stop().await;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod clock;
pub mod entities;
mod error;
pub mod events;
pub mod outbox;
pub mod repository;
pub mod service;
mod storage;
pub mod types;

pub use auth::{AccessClaims, HashParams, IssuedToken, PasswordHasher, TokenIssuer};
pub use clock::{Clock, ManualClock, SystemClock};
pub use entities::{
    Activity, ActivityStatus, ChatMessage, Group, GroupMember, GroupStatus, MemberRole,
    MemberSnapshot, Notification, Profile, SenderStanding, Signup, SignupStatus, User,
};
pub use error::{DomainError, ErrorKind};
pub use outbox::{ForwarderConfig, ForwarderHandle, OutboxForwarder, OutboxRecord};
pub use repository::{
    ActivityChange, ActivityCursor, ActivityDecider, ActivityRepository, AppendOutcome,
    GroupChange, GroupChangeOutcome, GroupDecider, GroupRef, GroupRepository, InboxMark,
    MemberDelta, MemberMark, MemberState, MembershipChange, MessageRepository,
    NotificationRepository, OutboxRepository, SignupChange, SignupDecider, SignupOutcome,
    UserRepository,
};
pub use service::{
    notification_for, ActivityPatch, ActivityService, GroupService, NewActivity, NewUser,
    NotificationDraft, NotificationService, Page, PageRequest, ProfileUpdate, Recipients,
    UserService,
};
pub use storage::{Backend, Store, StoreOptions};
pub use types::{
    ActivityId, CancelReason, Capacity, Description, GroupId, Location, Nickname, Password,
    Timestamp, Title, UserId, Username,
};
