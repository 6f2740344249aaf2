//! [`ActivityService`]: activities and sign-ups.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::activity_rules as rules;
use super::paging::{encode_activity_cursor, Page, PageRequest};
use super::requests::{ActivityPatch, NewActivity};
use crate::clock::{Clock, SystemClock};
use crate::entities::{Activity, ActivityStatus, Signup, SignupStatus};
use crate::error::DomainError;
use crate::events::{ActivityCreated, GroupMemberRemoved, OutboxEvent};
use crate::repository::{ActivityRepository, SignupOutcome};
use crate::types::{
    ActivityId, CancelReason, Capacity, Description, GroupId, Location, Title, UserId,
};

/// Activities and sign-ups. Every change and its events commit in one transaction;
/// capacity holds under any concurrency (see [`crate::ActivityRepository`]).
///
/// ```
/// use std::time::Duration;
/// use domain::{ActivityService, NewActivity, SignupStatus, Store, Timestamp, UserId};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), domain::DomainError> {
/// let store = Store::connect("sqlite::memory:").await?;
/// let activities = ActivityService::new(store);
/// let organiser = UserId::new();
/// let hike = activities
///     .create(&organiser, NewActivity {
///         title: "Hike".into(),
///         description: String::new(),
///         location: "Trailhead".into(),
///         starts_at: Timestamp::now().plus(Duration::from_secs(86_400)),
///         capacity: 2,
///         requires_approval: false,
///     })
///     .await?;
/// assert_eq!(hike.member_count, 1); // the organiser
/// let joined = activities.sign_up(&UserId::new(), &hike.id).await?;
/// assert_eq!(joined.signup.status, SignupStatus::Accepted);
/// let full = activities.sign_up(&UserId::new(), &hike.id).await.unwrap_err();
/// assert_eq!(full.code(), "activity_full");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ActivityService {
    repo: Arc<dyn ActivityRepository>,
    clock: Arc<dyn Clock>,
}

impl ActivityService {
    /// A service over `repo`.
    pub fn new(repo: impl ActivityRepository) -> Self {
        Self {
            repo: Arc::new(repo),
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `clock` for "now" (start-time checks and timestamps).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Publishes an activity; the organiser is its first member (an accepted sign-up,
    /// `member_count` 1). Emits `activity.created`.
    pub async fn create(
        &self,
        organiser: &UserId,
        req: NewActivity,
    ) -> Result<Activity, DomainError> {
        let now = self.clock.now();
        let title = Title::parse(&req.title)?;
        let description = Description::parse(&req.description)?;
        let location = Location::parse(&req.location)?;
        let capacity = Capacity::new(req.capacity)?;
        if req.starts_at <= now {
            return Err(DomainError::invalid("starts_at", "must be in the future"));
        }
        let activity = Activity {
            id: ActivityId::new(),
            organiser_id: organiser.clone(),
            title,
            description,
            location,
            starts_at: req.starts_at,
            capacity,
            requires_approval: req.requires_approval,
            status: ActivityStatus::Open,
            member_count: 1,
            group_id: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let organiser_signup = Signup {
            activity_id: activity.id.clone(),
            user_id: organiser.clone(),
            status: SignupStatus::Accepted,
            at: now,
        };
        let event = OutboxEvent::new(&ActivityCreated {
            activity_id: activity.id.clone(),
            creator_id: organiser.clone(),
            title: activity.title.clone(),
            starts_at: activity.starts_at,
            capacity: activity.capacity,
            requires_approval: activity.requires_approval,
            created_at: now,
        })?;
        self.repo
            .insert_activity(&activity, &organiser_signup, vec![event])
            .await?;
        Ok(activity)
    }

    /// Open activities that have not started, soonest first, a page at a time.
    pub async fn list(&self, page: &PageRequest) -> Result<Page<Activity>, DomainError> {
        let limit = page.limit()?;
        let after = page.activity_cursor()?;
        let mut items = self
            .repo
            .list_upcoming(self.clock.now(), after.as_ref(), limit + 1)
            .await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more {
            items
                .last()
                .map(|a| encode_activity_cursor(a.starts_at, &a.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// One activity (with its `group_id` once the group exists).
    pub async fn get(&self, id: &ActivityId) -> Result<Activity, DomainError> {
        self.repo
            .activity(id)
            .await?
            .ok_or_else(|| DomainError::not_found("activity"))
    }

    /// The organiser edits an open activity; emits `activity.updated` with the fields
    /// that changed (nothing is written or emitted when none did).
    pub async fn update(
        &self,
        actor: &UserId,
        id: &ActivityId,
        patch: ActivityPatch,
    ) -> Result<Activity, DomainError> {
        let wanted = patch.validate()?;
        let now = self.clock.now();
        self.repo
            .change_activity(id, &|a| rules::update(a, actor, &wanted, now))
            .await
    }

    /// The organiser cancels an open activity; emits `activity.cancelled`.
    pub async fn cancel(
        &self,
        actor: &UserId,
        id: &ActivityId,
        reason: &str,
    ) -> Result<Activity, DomainError> {
        let reason = CancelReason::parse(reason)?;
        let now = self.clock.now();
        self.repo
            .change_activity(id, &|a| rules::cancel(a, actor, &reason, now))
            .await
    }

    /// Signs `user` up: accepted at once (emits `activity.member.joined`) or pending
    /// when the activity requires approval. Errors: `activity_full`,
    /// `already_signed_up`, `activity_cancelled`, `activity_started`, `signup_rejected`.
    pub async fn sign_up(
        &self,
        user: &UserId,
        id: &ActivityId,
    ) -> Result<SignupOutcome, DomainError> {
        let now = self.clock.now();
        self.repo
            .change_signup(id, user, &|a, s| rules::sign_up(a, s, user, now))
            .await
    }

    /// `user` leaves (emits `activity.member.left`) or withdraws a pending sign-up.
    /// The organiser cannot leave (`organiser_cannot_leave`).
    pub async fn leave(
        &self,
        user: &UserId,
        id: &ActivityId,
    ) -> Result<SignupOutcome, DomainError> {
        let now = self.clock.now();
        self.repo
            .change_signup(id, user, &|a, s| rules::leave(a, s, user, now))
            .await
    }

    /// The organiser accepts `user`'s pending sign-up (capacity permitting); emits
    /// `activity.member.joined`.
    pub async fn approve(
        &self,
        actor: &UserId,
        id: &ActivityId,
        user: &UserId,
    ) -> Result<SignupOutcome, DomainError> {
        let now = self.clock.now();
        self.repo
            .change_signup(id, user, &|a, s| rules::approve(a, s, actor, now))
            .await
    }

    /// The organiser turns down `user`'s pending sign-up; emits
    /// `activity.signup.rejected`.
    pub async fn reject(
        &self,
        actor: &UserId,
        id: &ActivityId,
        user: &UserId,
    ) -> Result<SignupOutcome, DomainError> {
        let now = self.clock.now();
        self.repo
            .change_signup(id, user, &|a, s| rules::reject(a, s, actor, now))
            .await
    }

    /// All sign-ups of an activity (the organiser's included); organiser only.
    pub async fn signups(
        &self,
        actor: &UserId,
        id: &ActivityId,
    ) -> Result<Vec<Signup>, DomainError> {
        let activity = self.get(id).await?;
        if !activity.is_organiser(actor) {
            return Err(DomainError::Forbidden("only the organiser may do this"));
        }
        self.repo.signups(id).await
    }

    /// `user`'s own sign-up, if any.
    pub async fn my_signup(
        &self,
        user: &UserId,
        id: &ActivityId,
    ) -> Result<Option<Signup>, DomainError> {
        self.repo.signup(id, user).await
    }

    /// Records the group the IM service created for the activity. Idempotent (a
    /// redelivered `activity.created` maps to the same group); a different group when
    /// one is set is `group_already_set`.
    pub async fn set_group_id(
        &self,
        id: &ActivityId,
        group_id: &GroupId,
    ) -> Result<Activity, DomainError> {
        self.repo.set_group_id(id, group_id, self.clock.now()).await
    }

    /// The organiser removed a member from the activity's group (`group.member.removed`
    /// with `by` set): the sign-up ends as `removed`, so signing up again is refused
    /// (`removed_by_organiser`); a member's place is freed and `activity.member.left`
    /// announces it. Idempotent. An event of a member who left by themselves, or
    /// without an activity id (written before events carried it), or of an activity
    /// this service does not know, changes nothing.
    pub async fn on_removed_from_group(&self, e: &GroupMemberRemoved) -> Result<(), DomainError> {
        let (Some(activity), Some(_)) = (&e.activity_id, &e.by) else {
            return Ok(());
        };
        let now = self.clock.now();
        let nothing_to_do = AtomicBool::new(false);
        let outcome = self
            .repo
            .change_signup(
                activity,
                &e.user_id,
                &|a, s| match rules::removed_from_group(a, s, &e.user_id, now)? {
                    Some(change) => Ok(change),
                    None => {
                        nothing_to_do.store(true, Ordering::Relaxed);
                        Err(DomainError::NotSignedUp)
                    }
                },
            )
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(_) if nothing_to_do.load(Ordering::Relaxed) => Ok(()),
            Err(DomainError::NotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
