//! [`GroupRepository`]: groups and their members, changed through a decider like the
//! activities are, with an optional inbox mark for idempotent event handling.
//!
//! The activity events reach the IM side on four topics, each by its own consumer, so
//! in no particular order. What they said is kept per activity (the cancellation, and
//! a last-writer-wins [`MemberMark`] per member), under a per-activity lock every
//! handler takes first, so the outcome does not depend on the order of arrival.

use async_trait::async_trait;

use crate::entities::{Group, GroupMember, MemberSnapshot, SenderStanding};
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

/// Where a user stands in an activity by its membership events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Joined (`activity.member.joined`).
    In,
    /// Left (`activity.member.left`).
    Out,
}

impl MemberState {
    /// The stored form: `in` or `out`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "in" => Ok(Self::In),
            "out" => Ok(Self::Out),
            other => Err(DomainError::internal(format!(
                "unknown member state {other:?}"
            ))),
        }
    }
}

/// A membership register value: the state an event set and the event's own time
/// (`joined_at` / `left_at`, set by the activity service).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberMark {
    /// In or out.
    pub state: MemberState,
    /// The event's time.
    pub at: Timestamp,
}

impl MemberMark {
    /// Last writer wins: true when this mark replaces `stored` (none stored, a newer
    /// time, or the same time with `out` over `in`). An equal mark does not win, so a
    /// second event saying the same thing changes nothing.
    pub fn wins_over(self, stored: Option<MemberMark>) -> bool {
        let Some(stored) = stored else { return true };
        self.at > stored.at
            || (self.at == stored.at
                && self.state == MemberState::Out
                && stored.state == MemberState::In)
    }
}

/// One membership event of an activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberEvent<'a> {
    /// The activity.
    pub activity: &'a ActivityId,
    /// The member.
    pub user: &'a UserId,
    /// What the event says, and when.
    pub mark: MemberMark,
}

/// What the IM side recorded of an activity from its events, whether or not its
/// group exists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivityRecord {
    /// When the activity was cancelled (the event's time), if it was.
    pub cancelled_at: Option<Timestamp>,
    /// The users whose register says [`MemberState::In`], with its time, by user id.
    pub members_in: Vec<(UserId, Timestamp)>,
}

/// A new group as [`GroupRepository::create_activity_group`] writes it.
#[derive(Clone, Debug)]
pub struct GroupCreation {
    /// The group as stored (possibly dissolved already).
    pub group: Group,
    /// Its members, the owner first.
    pub members: Vec<GroupMember>,
    /// Events written in the same transaction.
    pub events: Vec<OutboxEvent>,
}

/// Builds a new group from what was recorded of its activity.
pub type CreationDecider<'a> =
    dyn Fn(&ActivityRecord) -> Result<GroupCreation, DomainError> + Send + Sync + 'a;

/// Decides what a membership event that won its register does to the existing (locked)
/// group, from the user's membership and the activity's cancellation time.
pub type MemberDecider<'a> = dyn Fn(&Group, Option<&GroupMember>, Option<Timestamp>) -> Result<Option<GroupChange>, DomainError>
    + Send
    + Sync
    + 'a;

/// What [`GroupRepository::apply_member_event`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberEventOutcome {
    /// The inbox already held the mark; nothing written.
    AlreadyProcessed,
    /// The register holds a newer (or equal) mark: only the inbox mark was written.
    Stale,
    /// The register was updated; the activity has no group yet.
    Recorded,
    /// The register was updated; the decider chose no group change.
    Unchanged(Group),
    /// The register, the group change and its events were written.
    Changed(Group),
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
    /// has a group: then nothing is written and the existing group is returned. Ignores
    /// what was recorded of the activity's events (see
    /// [`GroupRepository::create_activity_group`], which the service uses).
    async fn create_group(
        &self,
        group: &Group,
        owner: &GroupMember,
        events: Vec<OutboxEvent>,
    ) -> Result<Group, DomainError>;

    /// One transaction, under the activity's lock: unless the activity already has a
    /// group (returned, nothing written), reads what was recorded of the activity, lets
    /// `build` choose the group, its members and events, and writes them.
    async fn create_activity_group(
        &self,
        activity: &ActivityId,
        build: &CreationDecider<'_>,
    ) -> Result<Group, DomainError>;

    /// One transaction, under the activity's lock: records `mark` (a duplicate means
    /// [`MemberEventOutcome::AlreadyProcessed`]); unless the event's mark wins over
    /// the user's register ([`MemberMark::wins_over`]), stops there
    /// ([`MemberEventOutcome::Stale`]); else updates the register and, when the
    /// activity has a group, locks it and writes what `decide` chooses.
    async fn apply_member_event(
        &self,
        mark: InboxMark<'_>,
        event: &MemberEvent<'_>,
        decide: &MemberDecider<'_>,
    ) -> Result<MemberEventOutcome, DomainError>;

    /// One transaction, under the activity's lock: records `mark` (a duplicate means
    /// [`GroupChangeOutcome::AlreadyProcessed`]) and the cancellation at `at` (the
    /// earliest one is kept), then, when the activity has a group, locks it and writes
    /// what `decide` chooses. Without a group, returns [`GroupChangeOutcome::NoGroup`]
    /// with the mark and the cancellation recorded (its group is dissolved when created).
    async fn cancel_activity(
        &self,
        mark: InboxMark<'_>,
        activity: &ActivityId,
        at: Timestamp,
        decide: &GroupDecider<'_>,
    ) -> Result<GroupChangeOutcome, DomainError>;

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

    /// The membership versions of those of `groups` that exist, in one read.
    async fn member_versions(&self, groups: &[GroupId])
        -> Result<Vec<(GroupId, u64)>, DomainError>;

    /// The group's member ids and the membership version they are at, in one read;
    /// `None` when there is no such group.
    async fn member_snapshot(&self, group: &GroupId)
        -> Result<Option<MemberSnapshot>, DomainError>;

    /// The group's status and whether `user` is a member, in one read; `None` when
    /// there is no such group.
    async fn sender_standing(
        &self,
        group: &GroupId,
        user: &UserId,
    ) -> Result<Option<SenderStanding>, DomainError>;
}
