//! The services: business rules over the repositories. No HTTP, no gRPC: servers
//! authenticate the caller, call these, and map [`crate::DomainError`] to a status.

mod activity;
mod activity_rules;
mod group;
mod group_rules;
mod notification;
mod notification_rules;
mod paging;
mod requests;
mod user;

pub use activity::ActivityService;
pub use group::{GroupService, GROUP_CONSUMER};
pub use notification::{NotificationService, MAX_MARK_IDS};
pub use notification_rules::{kinds, notification_for, NotificationDraft, Recipients};
pub use paging::{Page, PageRequest};
pub use requests::{ActivityPatch, NewActivity, NewUser, ProfileUpdate};
pub use user::UserService;
