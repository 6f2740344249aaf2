//! [`GroupRepository`]: groups and their members, changed through a decider like the
//! activities are, with an optional inbox mark for idempotent event handling.

use async_trait::async_trait;

use crate::entities::{Group, GroupMember};
use crate::error::DomainError;
use crate::events::OutboxEvent;
use crate::types::{ActivityId, GroupId, Timestamp, UserId};

/// Which group a change is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupRef<'a> {
    /// The group with this id.
    Id(&'a GroupId),
    /// The group of this activity.
    Activity(&'a ActivityId),
}

/// Records that a consumer handled an event, in the transaction of the change it made:
/// a second delivery of the same event finds the mark and changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboxMark<'a> {
    /// The consumer (one name per handler, at most 64 bytes).
    pub consumer: &'a str,
    /// The event's message id (at most 64 bytes).
    pub message_id: &'a str,
}

/// A change to a group's membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MembershipChange {
    /// Insert this member.
    Add(GroupMember),
    /// Delete this user's membership.
    Remove(UserId),
}

/// What a group decider wants written.
#[derive(Clone, Debug, Default)]
pub struct GroupChange {
    /// A membership change.
    pub membership: Option<MembershipChange>,
    /// Dissolve the group at this time.
    pub dissolve_at: Option<Timestamp>,
    /// Events written in the same transaction.
    pub events: Vec<OutboxEvent>,
}

/// What [`GroupRepository::change_group`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupChangeOutcome {
    /// The inbox already held the mark: the event was handled before; nothing written.
    AlreadyProcessed,
    /// There is no such group; nothing written (not even the mark).
    NoGroup,
    /// The decider chose no change (the mark, if any, is recorded).
    Unchanged(Group),
    /// The change and its events were written; the group as stored.
    Changed(Group),
}

impl GroupChangeOutcome {
    /// The group, when there is one.
    pub fn group(self) -> Option<Group> {
        match self {
            Self::Unchanged(g) | Self::Changed(g) => Some(g),
            Self::AlreadyProcessed | Self::NoGroup => None,
        }
    }
}

/// Decides a group change from the locked group and the subject user's current
/// membership (`None` when they are not a member, or no subject was given); `Ok(None)`
/// means "nothing to change".
pub type GroupDecider<'a> = dyn Fn(&Group, Option<&GroupMember>) -> Result<Option<GroupChange>, DomainError>
    + Send
    + Sync
    + 'a;

/// Groups and members.
#[async_trait]
pub trait GroupRepository: std::fmt::Debug + Send + Sync + 'static {
    /// Inserts `group`, its `owner` membership and `events`, unless the activity already
    /// has a group: then nothing is written and the existing group is returned.
    async fn create_group(
        &self,
        group: &Group,
        owner: &GroupMember,
        events: Vec<OutboxEvent>,
    ) -> Result<Group, DomainError>;

    /// One transaction: records `mark` (if given; a duplicate means
    /// [`GroupChangeOutcome::AlreadyProcessed`]), locks the group, reads `member`'s
    /// membership, lets `decide` choose the change and writes it with its events.
    async fn change_group(
        &self,
        group: GroupRef<'_>,
        member: Option<&UserId>,
        mark: Option<InboxMark<'_>>,
        decide: &GroupDecider<'_>,
    ) -> Result<GroupChangeOutcome, DomainError>;

    /// The group with this id.
    async fn group(&self, id: &GroupId) -> Result<Option<Group>, DomainError>;

    /// The group of this activity.
    async fn group_by_activity(&self, id: &ActivityId) -> Result<Option<Group>, DomainError>;

    /// The members of a group: the owner first, then by join time (then user id).
    async fn group_members(&self, id: &GroupId) -> Result<Vec<GroupMember>, DomainError>;

    /// One user's membership of a group.
    async fn group_member(
        &self,
        group: &GroupId,
        user: &UserId,
    ) -> Result<Option<GroupMember>, DomainError>;

    /// The groups `user` is a member of (dissolved ones included), by group id.
    async fn groups_of(&self, user: &UserId) -> Result<Vec<Group>, DomainError>;
}
