//! Value types that validate on construction: once you hold one, it is valid.
//!
//! Every type parses from a `String` (`TryFrom<String>`, `FromStr`) and deserializes
//! through the same validation, so a bad value is refused at the edge with a typed
//! [`crate::DomainError`].

mod capacity;
mod group_id;
mod ids;
mod password;
mod text;
mod timestamp;
mod username;

pub use capacity::Capacity;
pub use group_id::GroupId;
pub use ids::{ActivityId, UserId};
pub use password::Password;
pub use text::{CancelReason, Description, Location, Nickname, Title};
pub use timestamp::Timestamp;
pub use username::Username;
