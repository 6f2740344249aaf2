//! Which events notify whom: [`notification_for`], a pure mapping from an event (its
//! topic and JSON payload) to a [`NotificationDraft`].

use crate::error::DomainError;
use crate::events::{
    decode, topics, ActivityCancelled, ActivityMemberJoined, ActivitySignupRejected,
    ActivityUpdated, Event, GroupDissolved, GroupMemberRemoved, UserRegistered,
};
use crate::types::{ActivityId, GroupId, UserId};

/// The notification kinds [`notification_for`] produces.
pub mod kinds {
    /// `user.registered`, to the new user.
    pub const WELCOME: &str = "welcome";
    /// `activity.member.joined`, to the new member.
    pub const SIGNUP_ACCEPTED: &str = "signup_accepted";
    /// `activity.signup.rejected`, to the user turned down.
    pub const SIGNUP_REJECTED: &str = "signup_rejected";
    /// `group.member.removed` (not by leaving), to the removed user.
    pub const REMOVED_FROM_GROUP: &str = "removed_from_group";
    /// `activity.updated`, to every member of the activity's group.
    pub const ACTIVITY_UPDATED: &str = "activity_updated";
    /// `activity.cancelled`, to every member of the activity's group.
    pub const ACTIVITY_CANCELLED: &str = "activity_cancelled";
    /// `group.dissolved` by its owner (not by a cancellation, which has its own), to
    /// every member of the group.
    pub const GROUP_DISSOLVED: &str = "group_dissolved";
}

/// Who receives a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipients {
    /// One user.
    User(UserId),
    /// Every member of the activity's group (the caller resolves them).
    GroupOfActivity(ActivityId),
    /// Every member of the group (the caller resolves them).
    Group(GroupId),
}

/// A notification to store and push: its kind, payload and recipients.
#[derive(Clone, Debug, PartialEq)]
pub struct NotificationDraft {
    /// One of [`kinds`].
    pub kind: &'static str,
    /// The event's fields (plus `changed_fields` for `activity_updated`).
    pub payload: serde_json::Value,
    /// Who receives it.
    pub recipients: Recipients,
}

fn draft<E: Event>(
    payload: &[u8],
    kind: &'static str,
    recipients: impl FnOnce(&E) -> Option<Recipients>,
) -> Result<Option<NotificationDraft>, DomainError> {
    let event: E = decode(payload)?;
    let Some(recipients) = recipients(&event) else {
        return Ok(None);
    };
    let payload = serde_json::to_value(&event).map_err(|e| DomainError::Internal(e.into()))?;
    Ok(Some(NotificationDraft {
        kind,
        payload,
        recipients,
    }))
}

/// The notification an event causes: `Ok(None)` for a topic that notifies nobody (and
/// for a member who left on their own); [`DomainError::MalformedEvent`] when the
/// payload is not the topic's event.
///
/// | topic | kind | to |
/// |---|---|---|
/// | `user.registered` | `welcome` | the user |
/// | `activity.member.joined` | `signup_accepted` | the user |
/// | `activity.signup.rejected` | `signup_rejected` | the user |
/// | `group.member.removed` (reason not `left`) | `removed_from_group` | the user |
/// | `activity.updated` | `activity_updated` | the activity's group |
/// | `activity.cancelled` | `activity_cancelled` | the activity's group |
///
/// ```
/// use domain::service::{notification_for, Recipients};
///
/// let payload = br#"{"user_id":"0190b1e2-7c4a-7d3e-9f10-2b3c4d5e6f70",
///     "username":"alice","registered_at":"2030-01-01T00:00:00Z"}"#;
/// let draft = notification_for("user.registered", payload)?.expect("a welcome");
/// assert_eq!(draft.kind, "welcome");
/// assert!(matches!(draft.recipients, Recipients::User(_)));
/// assert_eq!(draft.payload["username"], "alice");
/// assert!(notification_for("group.created", b"{}")?.is_none());
/// assert!(notification_for("user.registered", b"[]").is_err());
/// # Ok::<(), domain::DomainError>(())
/// ```
pub fn notification_for(
    topic: &str,
    payload: &[u8],
) -> Result<Option<NotificationDraft>, DomainError> {
    match topic {
        topics::USER_REGISTERED => draft(payload, kinds::WELCOME, |e: &UserRegistered| {
            Some(Recipients::User(e.user_id.clone()))
        }),
        topics::ACTIVITY_MEMBER_JOINED => draft(
            payload,
            kinds::SIGNUP_ACCEPTED,
            |e: &ActivityMemberJoined| Some(Recipients::User(e.user_id.clone())),
        ),
        topics::ACTIVITY_SIGNUP_REJECTED => draft(
            payload,
            kinds::SIGNUP_REJECTED,
            |e: &ActivitySignupRejected| Some(Recipients::User(e.user_id.clone())),
        ),
        topics::GROUP_MEMBER_REMOVED => draft(
            payload,
            kinds::REMOVED_FROM_GROUP,
            |e: &GroupMemberRemoved| {
                (e.reason != "left").then(|| Recipients::User(e.user_id.clone()))
            },
        ),
        topics::ACTIVITY_UPDATED => {
            let mut found = draft(payload, kinds::ACTIVITY_UPDATED, |e: &ActivityUpdated| {
                Some(Recipients::GroupOfActivity(e.activity_id.clone()))
            })?;
            if let Some(d) = &mut found {
                let event: ActivityUpdated = decode(payload)?;
                if let Some(map) = d.payload.as_object_mut() {
                    map.insert(
                        "changed_fields".to_owned(),
                        serde_json::json!(event.changes.changed_fields()),
                    );
                }
            }
            Ok(found)
        }
        topics::ACTIVITY_CANCELLED => draft(
            payload,
            kinds::ACTIVITY_CANCELLED,
            |e: &ActivityCancelled| Some(Recipients::GroupOfActivity(e.activity_id.clone())),
        ),
        topics::GROUP_DISSOLVED => draft(payload, kinds::GROUP_DISSOLVED, |e: &GroupDissolved| {
            e.by.is_some()
                .then(|| Recipients::Group(e.group_id.clone()))
        }),
        _ => Ok(None),
    }
}
