//! The entities the services store and return.

mod activity;
mod group;
mod message;
mod notification;
mod signup;
mod user;

pub use activity::{Activity, ActivityStatus};
pub use group::{Group, GroupMember, GroupStatus, MemberRole, MemberSnapshot, SenderStanding};
pub use message::ChatMessage;
pub use notification::Notification;
pub use signup::{Signup, SignupStatus};
pub use user::{Profile, User};
