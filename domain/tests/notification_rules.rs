//! `notification_for`: which events notify whom, and that no payload panics it.

use domain::events::{
    topics, ActivityCancelled, ActivityChanges, ActivityMemberJoined, ActivityMemberLeft,
    ActivitySignupRejected, ActivityUpdated, GroupDissolved, GroupMemberRemoved, UserRegistered,
};
use domain::service::kinds;
use domain::{
    notification_for, ActivityId, GroupId, Recipients, Timestamp, Title, UserId, Username,
};
use proptest::prelude::*;

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

#[test]
fn each_event_maps_to_its_kind_and_recipients() -> anyhow::Result<()> {
    let (user, activity, at) = (UserId::new(), ActivityId::new(), Timestamp::now());
    let one = |topic: &str, payload: Vec<u8>| notification_for(topic, &payload);

    let d = one(
        topics::USER_REGISTERED,
        json(&UserRegistered {
            user_id: user.clone(),
            username: Username::parse("alice")?,
            registered_at: at,
        }),
    )?
    .ok_or_else(|| anyhow::anyhow!("no welcome"))?;
    assert_eq!(
        (d.kind, d.recipients),
        (kinds::WELCOME, Recipients::User(user.clone()))
    );
    assert_eq!(d.payload["username"], "alice");

    let d = one(
        topics::ACTIVITY_MEMBER_JOINED,
        json(&ActivityMemberJoined {
            activity_id: activity.clone(),
            user_id: user.clone(),
            joined_at: at,
        }),
    )?
    .ok_or_else(|| anyhow::anyhow!("no signup_accepted"))?;
    assert_eq!(
        (d.kind, d.recipients),
        (kinds::SIGNUP_ACCEPTED, Recipients::User(user.clone()))
    );
    assert_eq!(d.payload["activity_id"], activity.as_str());

    let d = one(
        topics::ACTIVITY_SIGNUP_REJECTED,
        json(&ActivitySignupRejected {
            activity_id: activity.clone(),
            user_id: user.clone(),
            by: UserId::new(),
            at,
        }),
    )?
    .ok_or_else(|| anyhow::anyhow!("no signup_rejected"))?;
    assert_eq!(
        (d.kind, d.recipients),
        (kinds::SIGNUP_REJECTED, Recipients::User(user.clone()))
    );

    let removed = |reason: &str| GroupMemberRemoved {
        group_id: GroupId::new(),
        activity_id: Some(activity.clone()),
        user_id: user.clone(),
        by: None,
        reason: reason.into(),
        at,
    };
    let d = one(
        topics::GROUP_MEMBER_REMOVED,
        json(&removed("removed_by_owner")),
    )?
    .ok_or_else(|| anyhow::anyhow!("no removed_from_group"))?;
    assert_eq!(
        (d.kind, d.recipients),
        (kinds::REMOVED_FROM_GROUP, Recipients::User(user.clone()))
    );
    assert_eq!(d.payload["reason"], "removed_by_owner");
    assert!(one(topics::GROUP_MEMBER_REMOVED, json(&removed("left")))?.is_none());

    let updated = ActivityUpdated {
        activity_id: activity.clone(),
        updated_by: user.clone(),
        changes: ActivityChanges {
            title: Some(Title::parse("New")?),
            ..ActivityChanges::default()
        },
        at,
    };
    let d = one(topics::ACTIVITY_UPDATED, json(&updated))?
        .ok_or_else(|| anyhow::anyhow!("no activity_updated"))?;
    assert_eq!(
        (d.kind, d.recipients),
        (
            kinds::ACTIVITY_UPDATED,
            Recipients::GroupOfActivity(activity.clone())
        )
    );
    assert_eq!(d.payload["changed_fields"], serde_json::json!(["title"]));
    assert_eq!(d.payload["changes"]["title"], "New");

    let d = one(
        topics::ACTIVITY_CANCELLED,
        json(&ActivityCancelled {
            activity_id: activity.clone(),
            cancelled_by: user.clone(),
            reason: "rain".into(),
            at,
        }),
    )?
    .ok_or_else(|| anyhow::anyhow!("no activity_cancelled"))?;
    assert_eq!(
        (d.kind, d.recipients),
        (
            kinds::ACTIVITY_CANCELLED,
            Recipients::GroupOfActivity(activity.clone())
        )
    );
    assert_eq!(d.payload["reason"], "rain");

    // Dissolved by the owner: every member; by a cancellation: nobody more (they got
    // `activity_cancelled`).
    let group = GroupId::new();
    let dissolved = |by: Option<UserId>| GroupDissolved {
        group_id: group.clone(),
        by,
        at,
    };
    let d = one(
        topics::GROUP_DISSOLVED,
        json(&dissolved(Some(user.clone()))),
    )?
    .ok_or_else(|| anyhow::anyhow!("no group_dissolved"))?;
    assert_eq!(
        (d.kind, d.recipients),
        (kinds::GROUP_DISSOLVED, Recipients::Group(group.clone()))
    );
    assert!(one(topics::GROUP_DISSOLVED, json(&dissolved(None)))?.is_none());

    // Topics that notify nobody, whatever their payload.
    let left = json(&ActivityMemberLeft {
        activity_id: activity,
        user_id: user,
        left_at: at,
    });
    for topic in [
        topics::ACTIVITY_MEMBER_LEFT,
        topics::ACTIVITY_CREATED,
        topics::GROUP_CREATED,
        "nope",
    ] {
        assert!(notification_for(topic, &left)?.is_none());
    }
    Ok(())
}

#[test]
fn malformed_payloads_are_typed_errors() {
    for topic in [
        topics::USER_REGISTERED,
        topics::ACTIVITY_UPDATED,
        topics::GROUP_MEMBER_REMOVED,
    ] {
        for payload in [&b""[..], b"{", b"[]", b"{\"user_id\":\"x\"}", b"\xff\xfe"] {
            let err = notification_for(topic, payload).err();
            assert_eq!(
                err.map(|e| e.code()),
                Some("malformed_event"),
                "{topic} {payload:?}"
            );
        }
    }
}

const NOTIFYING: [&str; 7] = [
    topics::USER_REGISTERED,
    topics::ACTIVITY_MEMBER_JOINED,
    topics::ACTIVITY_SIGNUP_REJECTED,
    topics::GROUP_MEMBER_REMOVED,
    topics::ACTIVITY_UPDATED,
    topics::ACTIVITY_CANCELLED,
    topics::GROUP_DISSOLVED,
];

proptest! {
    /// Any bytes on any topic: a draft, nothing or a malformed_event error, never a panic.
    #[test]
    fn never_panics(topic in prop::sample::select(NOTIFYING.to_vec()), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        match notification_for(topic, &bytes) {
            Ok(_) => {}
            Err(e) => prop_assert_eq!(e.code(), "malformed_event"),
        }
    }

    /// A removal notifies the removed user exactly when they did not leave.
    #[test]
    fn removal_notifies_unless_left(reason in "[a-z_]{0,20}", by_owner in any::<bool>()) {
        let user = UserId::new();
        let e = GroupMemberRemoved {
            group_id: GroupId::new(),
            activity_id: None,
            user_id: user.clone(),
            by: by_owner.then(UserId::new),
            reason: reason.clone(),
            at: Timestamp::now(),
        };
        let got = notification_for(topics::GROUP_MEMBER_REMOVED, &json(&e));
        prop_assert!(got.is_ok());
        let got = got.unwrap_or_default();
        if reason == "left" {
            prop_assert!(got.is_none());
        } else {
            let d = got.map(|d| (d.kind, d.recipients));
            prop_assert_eq!(d, Some((kinds::REMOVED_FROM_GROUP, Recipients::User(user))));
        }
    }
}
