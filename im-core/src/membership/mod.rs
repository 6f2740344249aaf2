//! Group membership: the `Membership` trait the engine consults on every send, sync and
//! fan-out, and an in-memory implementation.

mod memory;

use std::sync::Arc;

use async_trait::async_trait;

use crate::ids::{GroupId, UserId};

pub use memory::InMemoryMembership;

/// A snapshot of a group's members, cheap to clone.
pub type MemberList = Arc<[UserId]>;

/// A membership backend failure.
#[derive(Debug, thiserror::Error)]
#[error("membership backend failed: {0}")]
pub struct MembershipError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Who belongs to which group. The engine asks on every send, sync and fan-out, so a
/// removal takes effect at once; implementations cache as they see fit.
#[async_trait]
pub trait Membership: Send + Sync + 'static {
    /// Whether `user` is a member of `group`.
    async fn is_member(&self, group: &GroupId, user: &UserId) -> Result<bool, MembershipError>;

    /// The members of `group` (empty if the group does not exist).
    async fn members(&self, group: &GroupId) -> Result<MemberList, MembershipError>;

    /// The groups `user` belongs to, in a stable order (for `latest` without a list).
    async fn groups_of(&self, user: &UserId) -> Result<Vec<GroupId>, MembershipError>;
}
