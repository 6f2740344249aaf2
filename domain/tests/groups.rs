//! GroupService on SQLite and MariaDB: idempotent creation, the join/leave/cancel
//! flows with their outbox events, and the owner-only actions.

mod support;

use std::sync::Arc;
use std::time::Duration;

use domain::events::{
    ActivityCancelled, ActivityCreated, ActivityMemberJoined, ActivityMemberLeft, GroupCreated,
    GroupDissolved, GroupMemberAdded, GroupMemberRemoved,
};
use domain::{
    ActivityId, Capacity, GroupId, GroupService, GroupStatus, ManualClock, MemberRole, Timestamp,
    Title, UserId,
};
use support::{Db, TestDb};

fn created(activity: &ActivityId, creator: &UserId) -> anyhow::Result<ActivityCreated> {
    Ok(ActivityCreated {
        activity_id: activity.clone(),
        creator_id: creator.clone(),
        title: Title::parse("Board games")?,
        starts_at: Timestamp::now().plus(Duration::from_secs(3600)),
        capacity: Capacity::new(10)?,
        requires_approval: false,
        created_at: Timestamp::now(),
    })
}

fn joined(activity: &ActivityId, user: &UserId) -> ActivityMemberJoined {
    ActivityMemberJoined {
        activity_id: activity.clone(),
        user_id: user.clone(),
        joined_at: Timestamp::now(),
    }
}

fn left(activity: &ActivityId, user: &UserId) -> ActivityMemberLeft {
    ActivityMemberLeft {
        activity_id: activity.clone(),
        user_id: user.clone(),
        left_at: Timestamp::now(),
    }
}

/// Event times: a fixed base plus `ms`.
fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_700_000_000_000 + ms)
}

fn joined_at(activity: &ActivityId, user: &UserId, ms: i64) -> ActivityMemberJoined {
    ActivityMemberJoined {
        joined_at: at(ms),
        ..joined(activity, user)
    }
}

fn left_at(activity: &ActivityId, user: &UserId, ms: i64) -> ActivityMemberLeft {
    ActivityMemberLeft {
        left_at: at(ms),
        ..left(activity, user)
    }
}

fn cancelled_at(activity: &ActivityId, by: &UserId, ms: i64) -> ActivityCancelled {
    ActivityCancelled {
        at: at(ms),
        ..cancelled(activity, by)
    }
}

fn cancelled(activity: &ActivityId, by: &UserId) -> ActivityCancelled {
    ActivityCancelled {
        activity_id: activity.clone(),
        cancelled_by: by.clone(),
        reason: "rain".into(),
        at: Timestamp::now(),
    }
}

async fn creation_is_idempotent(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let groups = GroupService::new(t.store.clone());
    let (activity, owner) = (ActivityId::new(), UserId::new());
    let e = created(&activity, &owner)?;

    let group = groups.on_activity_created("ev-1", &e).await?;
    assert_eq!(group.activity_id, activity);
    assert_eq!(group.owner_id, owner);
    assert_eq!(group.status, GroupStatus::Active);
    assert_eq!(group.dissolved_at, None);
    assert_eq!(groups.on_activity_created("ev-1", &e).await?, group);
    assert_eq!(groups.on_activity_created("ev-2", &e).await?, group);

    // Concurrent deliveries of the same activity still make one group.
    let other = ActivityId::new();
    let e2 = created(&other, &owner)?;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (groups, e2) = (groups.clone(), e2.clone());
        tasks.push(tokio::spawn(async move {
            groups.on_activity_created(&format!("race-{i}"), &e2).await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await??.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one group per activity: {ids:?}");

    let created_events = t.events::<GroupCreated>().await?;
    assert_eq!(created_events.len(), 2);
    assert_eq!(created_events[0].group_id, group.id);
    assert_eq!(created_events[0].activity_id, activity);
    assert_eq!(created_events[0].owner_id, owner);
    let added = t.events::<GroupMemberAdded>().await?;
    assert_eq!(added.len(), 2);
    assert_eq!(added[0].user_id, owner);
    assert_eq!(added[0].by, None);
    assert_eq!(added[0].reason, "owner");

    let members = groups.members(&group.id).await?;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].role, MemberRole::Owner);
    assert_eq!(
        groups.group_by_activity(&activity).await?,
        Some(group.clone())
    );
    assert_eq!(groups.group_by_activity(&ActivityId::new()).await?, None);
    let err = groups.group(&GroupId::new()).await.err();
    assert_eq!(err.map(|e| e.code()), Some("not_found"));
    t.finish().await
}
on_both_databases!(creation_is_idempotent_on, creation_is_idempotent);

async fn join_leave_cancel(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_700_000_000_000));
    let groups = GroupService::new(t.store.clone()).with_clock(Arc::new(clock.clone()));
    let (activity, owner, bob, carol) = (
        ActivityId::new(),
        UserId::new(),
        UserId::new(),
        UserId::new(),
    );

    // A join that overtakes the creation is recorded, and applied by the creation; a
    // leave of someone who never joined is recorded and changes nothing.
    let dave = UserId::new();
    groups
        .on_member_joined("j-early", &joined_at(&activity, &bob, 1))
        .await?;
    groups
        .on_member_left("l-early", &left_at(&activity, &dave, 1))
        .await?;
    assert!(t.outbox().await?.is_empty());
    assert_eq!(groups.group_by_activity(&activity).await?, None);

    let group = groups
        .on_activity_created("c", &created(&activity, &owner)?)
        .await?;
    assert!(groups.is_member(&group.id, &bob).await?);
    clock.advance(Duration::from_secs(1));
    groups
        .on_member_joined("j-carol", &joined_at(&activity, &carol, 2))
        .await?;
    // Redelivered, and a second (newer) event for the same membership: nothing new.
    groups
        .on_member_joined("j-early", &joined_at(&activity, &bob, 1))
        .await?;
    groups
        .on_member_joined("j-bob-2", &joined_at(&activity, &bob, 3))
        .await?;
    let members = groups.members(&group.id).await?;
    let ids: Vec<_> = members.iter().map(|m| m.user_id.clone()).collect();
    assert_eq!(ids, vec![owner.clone(), bob.clone(), carol.clone()]);
    assert_eq!(members[1].role, MemberRole::Member);
    let added = t.events::<GroupMemberAdded>().await?;
    assert_eq!(added.len(), 3, "owner, bob, carol: {added:?}");
    assert_eq!(added[1].user_id, bob);
    assert_eq!(added[1].group_id, group.id);
    assert_eq!(added[1].by, None);
    assert_eq!(added[1].reason, "signup_accepted");
    assert!(groups.is_member(&group.id, &bob).await?);
    assert_eq!(groups.groups_of(&bob).await?, vec![group.clone()]);

    groups
        .on_member_left("l-bob", &left_at(&activity, &bob, 4))
        .await?;
    assert!(!groups.is_member(&group.id, &bob).await?);
    // The old join comes again after the leave: the inbox remembers it; under another
    // id, it is older than the leave.
    groups
        .on_member_joined("j-early", &joined_at(&activity, &bob, 1))
        .await?;
    groups
        .on_member_joined("j-early-copy", &joined_at(&activity, &bob, 1))
        .await?;
    assert!(!groups.is_member(&group.id, &bob).await?);
    groups
        .on_member_left("l-bob", &left_at(&activity, &bob, 4))
        .await?;
    groups
        .on_member_left("l-nobody", &left_at(&activity, &UserId::new(), 4))
        .await?;
    // The organiser never leaves their group.
    groups
        .on_member_left("l-owner", &left_at(&activity, &owner, 4))
        .await?;
    assert!(groups.is_member(&group.id, &owner).await?);
    let removed = t.events::<GroupMemberRemoved>().await?;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].user_id, bob);
    assert_eq!(removed[0].by, None);
    assert_eq!(removed[0].reason, "left");
    assert!(groups.groups_of(&bob).await?.is_empty());

    clock.advance(Duration::from_secs(1));
    groups
        .on_activity_cancelled("cancel", &cancelled_at(&activity, &owner, 10))
        .await?;
    groups
        .on_activity_cancelled("cancel-2", &cancelled_at(&activity, &owner, 11))
        .await?;
    let dissolved = groups.group(&group.id).await?;
    assert_eq!(dissolved.status, GroupStatus::Dissolved);
    assert_eq!(dissolved.dissolved_at, Some(clock_now(&clock)));
    let events = t.events::<GroupDissolved>().await?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].group_id, group.id);
    assert_eq!(events[0].by, None);
    // Dissolving keeps the members; nobody joins a dissolved group after the
    // cancellation.
    assert_eq!(groups.members(&group.id).await?.len(), 2);
    groups
        .on_member_joined("j-late", &joined_at(&activity, &UserId::new(), 12))
        .await?;
    assert_eq!(groups.members(&group.id).await?.len(), 2);
    assert_eq!(groups.groups_of(&carol).await?, vec![dissolved]);
    t.finish().await
}
on_both_databases!(join_leave_cancel_on, join_leave_cancel);

fn code<T>(r: Result<T, domain::DomainError>) -> Option<&'static str> {
    r.err().map(|e| e.code())
}

fn clock_now(clock: &ManualClock) -> Timestamp {
    use domain::Clock;
    clock.now()
}

async fn owner_only_actions(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let groups = GroupService::new(t.store.clone());
    let (activity, owner, bob, carol) = (
        ActivityId::new(),
        UserId::new(),
        UserId::new(),
        UserId::new(),
    );
    let group = groups
        .on_activity_created("c", &created(&activity, &owner)?)
        .await?;
    groups
        .on_member_joined("j1", &joined(&activity, &bob))
        .await?;
    groups
        .on_member_joined("j2", &joined(&activity, &carol))
        .await?;
    let before = t.outbox().await?.len();

    assert_eq!(
        code(groups.remove_member(&bob, &group.id, &carol).await),
        Some("forbidden")
    );
    assert_eq!(
        code(groups.dissolve(&bob, &group.id).await),
        Some("forbidden")
    );
    assert_eq!(
        code(groups.remove_member(&owner, &group.id, &owner).await),
        Some("owner_cannot_be_removed")
    );
    assert_eq!(
        code(
            groups
                .remove_member(&owner, &group.id, &UserId::new())
                .await
        ),
        Some("not_member")
    );
    assert_eq!(
        code(groups.remove_member(&owner, &GroupId::new(), &bob).await),
        Some("not_found")
    );
    assert_eq!(
        code(groups.dissolve(&owner, &GroupId::new()).await),
        Some("not_found")
    );
    assert_eq!(
        t.outbox().await?.len(),
        before,
        "a refused action wrote events"
    );
    assert_eq!(groups.members(&group.id).await?.len(), 3);
    assert_eq!(groups.group(&group.id).await?.status, GroupStatus::Active);

    groups.remove_member(&owner, &group.id, &carol).await?;
    assert!(!groups.is_member(&group.id, &carol).await?);
    let removed = t.events::<GroupMemberRemoved>().await?;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].user_id, carol);
    assert_eq!(removed[0].by, Some(owner.clone()));
    assert_eq!(removed[0].reason, "removed_by_owner");

    let dissolved = groups.dissolve(&owner, &group.id).await?;
    assert_eq!(dissolved.status, GroupStatus::Dissolved);
    assert!(dissolved.dissolved_at.is_some());
    assert_eq!(groups.dissolve(&owner, &group.id).await?, dissolved);
    let events = t.events::<GroupDissolved>().await?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].by, Some(owner.clone()));
    assert_eq!(
        code(groups.remove_member(&owner, &group.id, &bob).await),
        Some("group_dissolved")
    );
    assert!(groups.is_member(&group.id, &bob).await?);
    t.finish().await
}
on_both_databases!(owner_only_actions_on, owner_only_actions);
