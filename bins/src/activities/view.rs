//! How an activity and a sign-up look in HTTP answers.

use domain::{
    Activity, ActivityId, ActivityStatus, GroupId, Signup, SignupStatus, Timestamp, UserId,
};
use serde::Serialize;

/// An activity as clients see it.
#[derive(Debug, Serialize)]
pub struct ActivityView {
    /// Its id.
    pub activity_id: ActivityId,
    /// Who published it (the first member).
    pub organiser_id: UserId,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Where.
    pub location: String,
    /// When it starts (RFC 3339).
    pub starts_at: Timestamp,
    /// Most members, the organiser included.
    pub capacity: u32,
    /// Whether sign-ups wait for the organiser's approval.
    pub requires_approval: bool,
    /// `open` or `cancelled`.
    pub status: ActivityStatus,
    /// Accepted members, the organiser included.
    pub member_count: u32,
    /// Places left.
    pub places_left: u32,
    /// The activity's group chat, once the IM service created it.
    pub group_id: Option<GroupId>,
    /// When it was published.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl From<Activity> for ActivityView {
    fn from(a: Activity) -> Self {
        Self {
            places_left: a.places_left(),
            activity_id: a.id,
            organiser_id: a.organiser_id,
            title: a.title.as_str().to_owned(),
            description: a.description.as_str().to_owned(),
            location: a.location.as_str().to_owned(),
            starts_at: a.starts_at,
            capacity: a.capacity.get(),
            requires_approval: a.requires_approval,
            status: a.status,
            member_count: a.member_count,
            group_id: a.group_id,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A sign-up as clients see it.
#[derive(Debug, Serialize)]
pub struct SignupView {
    /// The activity.
    pub activity_id: ActivityId,
    /// Who signed up.
    pub user_id: UserId,
    /// `pending`, `accepted`, `rejected` or `left`.
    pub status: SignupStatus,
    /// When it last changed.
    pub at: Timestamp,
}

impl From<Signup> for SignupView {
    fn from(s: Signup) -> Self {
        Self {
            activity_id: s.activity_id,
            user_id: s.user_id,
            status: s.status,
            at: s.at,
        }
    }
}
