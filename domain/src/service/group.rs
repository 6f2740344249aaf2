//! [`GroupService`]: activity groups, driven by the activity events and by the owner.

use std::sync::Arc;

use super::group_rules as rules;
use crate::clock::{Clock, SystemClock};
use crate::entities::{Group, GroupMember, GroupStatus, MemberSnapshot, SenderStanding};
use crate::error::DomainError;
use crate::events::{ActivityCancelled, ActivityCreated, ActivityMemberJoined, ActivityMemberLeft};
use crate::repository::{
    CreationDecider, GroupChangeOutcome, GroupDecider, GroupRef, GroupRepository, InboxMark,
    MemberDecider, MemberEvent, MemberMark, MemberState,
};
use crate::types::{ActivityId, GroupId, UserId};

/// The inbox consumer name [`GroupService`] records handled events under by default.
pub const GROUP_CONSUMER: &str = "im.groups";

/// Groups and members. The `on_*` handlers consume the activity events idempotently:
/// each records the event id in the inbox in the transaction of its change, so a
/// redelivered event changes nothing (and `activity.created` is idempotent per
/// activity, whatever its event id). Every change writes its `group.*` events in the
/// same transaction.
///
/// The four activity topics are consumed independently, so their events arrive in
/// any order; the outcome does not depend on it. Membership per (activity, user) is a
/// last-writer-wins register on the event's own time (`joined_at` / `left_at`): an
/// event older than the one applied is recorded in the inbox and otherwise ignored.
/// Joins, leaves and a cancellation that arrive before `activity.created` are
/// recorded and applied when the group is created. The handlers of one activity are
/// serialised by a per-activity row lock.
///
/// ```
/// use domain::events::ActivityCreated;
/// use domain::{ActivityId, Capacity, GroupService, Store, Timestamp, Title, UserId};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), domain::DomainError> {
/// let store = Store::connect("sqlite::memory:").await?;
/// let groups = GroupService::new(store.clone());
/// let created = ActivityCreated {
///     activity_id: ActivityId::new(),
///     creator_id: UserId::new(),
///     title: Title::parse("Hike")?,
///     starts_at: Timestamp::now(),
///     capacity: Capacity::new(10)?,
///     requires_approval: false,
///     created_at: Timestamp::now(),
/// };
/// let group = groups.on_activity_created("event-1", &created).await?;
/// let again = groups.on_activity_created("event-2", &created).await?;
/// assert_eq!(group, again);
/// assert!(groups.is_member(&group.id, &created.creator_id).await?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GroupService {
    repo: Arc<dyn GroupRepository>,
    clock: Arc<dyn Clock>,
    consumer: String,
}

impl GroupService {
    /// A service over `repo` (a [`crate::Store`]).
    pub fn new(repo: impl GroupRepository) -> Self {
        Self {
            repo: Arc::new(repo),
            clock: Arc::new(SystemClock),
            consumer: GROUP_CONSUMER.to_owned(),
        }
    }

    /// Uses `clock` for "now".
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Records handled events under `consumer` (1 to 64 bytes) instead of
    /// [`GROUP_CONSUMER`].
    #[must_use]
    pub fn with_consumer(mut self, consumer: impl Into<String>) -> Self {
        self.consumer = consumer.into();
        self
    }

    fn mark<'a>(&'a self, event_id: &'a str) -> InboxMark<'a> {
        InboxMark {
            consumer: &self.consumer,
            message_id: event_id,
        }
    }

    /// `activity.created`: creates the activity's group, owned by the creator, who is
    /// its first member; emits `group.created` and `group.member.added` (reason
    /// `owner`). Members whose `activity.member.joined` arrived first (and was not
    /// superseded by a later `left`) are added too (`group.member.added`, reason
    /// `signup_accepted`), and when `activity.cancelled` arrived first the group is
    /// dissolved in the same transaction (`group.dissolved`, by nobody; its members
    /// are those who joined before the cancellation). When the activity already has a
    /// group, returns it and writes nothing.
    pub async fn on_activity_created(
        &self,
        event_id: &str,
        e: &ActivityCreated,
    ) -> Result<Group, DomainError> {
        let _ = event_id; // idempotent by activity, whatever the event id
        if let Some(existing) = self.repo.group_by_activity(&e.activity_id).await? {
            return Ok(existing);
        }
        let template = Group {
            id: GroupId::new(),
            activity_id: e.activity_id.clone(),
            owner_id: e.creator_id.clone(),
            status: GroupStatus::Active,
            created_at: self.clock.now(),
            dissolved_at: None,
        };
        let build: &CreationDecider<'_> = &|record| rules::creation(template.clone(), record);
        self.repo.create_activity_group(&e.activity_id, build).await
    }

    /// `activity.member.joined`: the user's membership register (per activity and
    /// user, last writer wins on the event's `joined_at`; see
    /// [`crate::MemberMark::wins_over`]) says `in`. When this event is the newest for
    /// the user and the group exists, adds them (role member) and emits
    /// `group.member.added` (reason `signup_accepted`). Nothing when the event is
    /// older than one already applied (a later `left` overtook it), they are already
    /// a member, the group is dissolved (unless the join is older than the activity's
    /// cancellation, which overtook it), or the event was handled. When the activity
    /// has no group yet, only the register is written and the member is added when
    /// `activity.created` arrives: this never fails with
    /// [`DomainError::GroupNotReady`] any more.
    pub async fn on_member_joined(
        &self,
        event_id: &str,
        e: &ActivityMemberJoined,
    ) -> Result<(), DomainError> {
        let mark = MemberMark {
            state: MemberState::In,
            at: e.joined_at,
        };
        self.member_event(event_id, &e.activity_id, &e.user_id, mark)
            .await
    }

    /// `activity.member.left`: the user's register says `out` (last writer wins on
    /// `left_at`; on a tie with a join, `out` wins). When this event is the newest for
    /// the user, removes them from the existing group and emits
    /// `group.member.removed` (reason `left`, by nobody). Nothing when the event is
    /// older than one already applied, they are not a member or are the owner (an
    /// organiser cannot leave their activity), the group is dissolved (unless the
    /// leave is older than the activity's cancellation), or the event was handled.
    /// Before the group exists only the register is written (the user is then not
    /// added by a `joined` that arrives later but happened earlier).
    pub async fn on_member_left(
        &self,
        event_id: &str,
        e: &ActivityMemberLeft,
    ) -> Result<(), DomainError> {
        let mark = MemberMark {
            state: MemberState::Out,
            at: e.left_at,
        };
        self.member_event(event_id, &e.activity_id, &e.user_id, mark)
            .await
    }

    async fn member_event(
        &self,
        event_id: &str,
        activity: &ActivityId,
        user: &UserId,
        mark: MemberMark,
    ) -> Result<(), DomainError> {
        let now = self.clock.now();
        let decide: &MemberDecider<'_> =
            &|g, m, cancelled_at| rules::member_event(g, m, user, mark, cancelled_at, now);
        let event = MemberEvent {
            activity,
            user,
            mark,
        };
        self.repo
            .apply_member_event(self.mark(event_id), &event, decide)
            .await
            .map(|_| ())
    }

    /// `activity.cancelled`: records the cancellation (at the event's `at`) and
    /// dissolves the group (members and messages are kept); emits `group.dissolved`
    /// (by nobody). Nothing more when already dissolved or the event was handled. When
    /// the activity has no group yet, the group is dissolved as soon as
    /// `activity.created` creates it.
    pub async fn on_activity_cancelled(
        &self,
        event_id: &str,
        e: &ActivityCancelled,
    ) -> Result<(), DomainError> {
        let now = self.clock.now();
        let decide: &GroupDecider<'_> = &|g, _| rules::dissolve(g, None, now);
        self.repo
            .cancel_activity(self.mark(event_id), &e.activity_id, e.at, decide)
            .await
            .map(|_| ())
    }

    /// The owner removes `user`; emits `group.member.removed` (reason
    /// `removed_by_owner`, by the owner). Errors: `not_found` (no such group),
    /// `forbidden` (not the owner), `group_dissolved`, `owner_cannot_be_removed`,
    /// `not_member`.
    pub async fn remove_member(
        &self,
        actor: &UserId,
        group: &GroupId,
        user: &UserId,
    ) -> Result<(), DomainError> {
        let now = self.clock.now();
        let decide: &GroupDecider<'_> = &|g, m| rules::remove(g, m, actor, user, now);
        let outcome = self
            .repo
            .change_group(GroupRef::Id(group), Some(user), None, decide)
            .await?;
        match outcome {
            GroupChangeOutcome::NoGroup => Err(DomainError::not_found("group")),
            _ => Ok(()),
        }
    }

    /// The owner dissolves the group; emits `group.dissolved` (by the owner).
    /// Dissolving a dissolved group changes nothing and returns it. Errors:
    /// `not_found`, `forbidden`.
    pub async fn dissolve(&self, actor: &UserId, group: &GroupId) -> Result<Group, DomainError> {
        let now = self.clock.now();
        let decide: &GroupDecider<'_> = &|g, _| rules::dissolve(g, Some(actor), now);
        self.repo
            .change_group(GroupRef::Id(group), None, None, decide)
            .await?
            .group()
            .ok_or_else(|| DomainError::not_found("group"))
    }

    /// The group with this id (`not_found` when there is none).
    pub async fn group(&self, id: &GroupId) -> Result<Group, DomainError> {
        self.repo
            .group(id)
            .await?
            .ok_or_else(|| DomainError::not_found("group"))
    }

    /// The group of an activity, once created.
    pub async fn group_by_activity(&self, id: &ActivityId) -> Result<Option<Group>, DomainError> {
        self.repo.group_by_activity(id).await
    }

    /// The members: the owner first, then by join time.
    pub async fn members(&self, id: &GroupId) -> Result<Vec<GroupMember>, DomainError> {
        self.repo.group_members(id).await
    }

    /// True when `user` is a member of the group (of a dissolved one too).
    pub async fn is_member(&self, group: &GroupId, user: &UserId) -> Result<bool, DomainError> {
        Ok(self.repo.group_member(group, user).await?.is_some())
    }

    /// The groups `user` is a member of, by group id.
    pub async fn groups_of(&self, user: &UserId) -> Result<Vec<Group>, DomainError> {
        self.repo.groups_of(user).await
    }

    /// The membership versions of those of `groups` that exist (see
    /// [`MemberSnapshot`]).
    pub async fn member_versions(
        &self,
        groups: &[GroupId],
    ) -> Result<Vec<(GroupId, u64)>, DomainError> {
        self.repo.member_versions(groups).await
    }

    /// The group's member ids with their membership version, read together
    /// (`not_found` when there is no such group).
    pub async fn member_snapshot(&self, group: &GroupId) -> Result<MemberSnapshot, DomainError> {
        self.repo
            .member_snapshot(group)
            .await?
            .ok_or_else(|| DomainError::not_found("group"))
    }

    /// The group's status and whether `user` is a member, in one read (`not_found`
    /// when there is no such group).
    pub async fn sender_standing(
        &self,
        group: &GroupId,
        user: &UserId,
    ) -> Result<SenderStanding, DomainError> {
        self.repo
            .sender_standing(group, user)
            .await?
            .ok_or_else(|| DomainError::not_found("group"))
    }
}
