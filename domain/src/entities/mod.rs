//! The entities the services store and return.

mod activity;
mod signup;
mod user;

pub use activity::{Activity, ActivityStatus};
pub use signup::{Signup, SignupStatus};
pub use user::{Profile, User};
