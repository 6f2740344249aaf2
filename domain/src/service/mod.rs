//! The services: business rules over the repositories. No HTTP, no gRPC: servers
//! authenticate the caller, call these, and map [`crate::DomainError`] to a status.

mod activity;
mod activity_rules;
mod paging;
mod requests;
mod user;

pub use activity::ActivityService;
pub use paging::{Page, PageRequest};
pub use requests::{ActivityPatch, NewActivity, NewUser, ProfileUpdate};
pub use user::UserService;
