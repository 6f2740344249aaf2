//! Membership versions on SQLite and MariaDB: every change of a group's members, and
//! its dissolution, raises the version in the same transaction; a snapshot reads the
//! members and their version together; a sender's standing is read in one statement.
//! The IM nodes cache member lists by this version, so a change that did not raise it
//! would let a removed member keep receiving.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use domain::events::{ActivityCreated, ActivityMemberJoined, ActivityMemberLeft};
use domain::{
    ActivityId, Capacity, GroupId, GroupService, GroupStatus, MemberSnapshot, Timestamp, Title,
    UserId,
};
use support::{Db, TestDb};

fn created(activity: &ActivityId, creator: &UserId) -> anyhow::Result<ActivityCreated> {
    Ok(ActivityCreated {
        activity_id: activity.clone(),
        creator_id: creator.clone(),
        title: Title::parse("Hike")?,
        starts_at: Timestamp::now().plus(Duration::from_secs(3600)),
        capacity: Capacity::new(10)?,
        requires_approval: false,
        created_at: Timestamp::now(),
    })
}

fn ids(snapshot: &MemberSnapshot) -> BTreeSet<String> {
    snapshot.members.iter().map(|u| u.to_string()).collect()
}

fn set(users: &[&UserId]) -> BTreeSet<String> {
    users.iter().map(|u| u.to_string()).collect()
}

async fn versions_follow_every_change(db: Db) -> anyhow::Result<()> {
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
    let v0 = groups.member_snapshot(&group.id).await?;
    assert_eq!(ids(&v0), set(&[&owner]));

    let join = |user: &UserId, id: &str| {
        let e = ActivityMemberJoined {
            activity_id: activity.clone(),
            user_id: user.clone(),
            joined_at: Timestamp::now(),
        };
        let (groups, id) = (groups.clone(), id.to_owned());
        async move { groups.on_member_joined(&id, &e).await }
    };
    join(&bob, "j-bob").await?;
    let v1 = groups.member_snapshot(&group.id).await?;
    assert!(v1.version > v0.version, "a join raises the version");
    assert_eq!(ids(&v1), set(&[&owner, &bob]));

    // A redelivered event changes nothing, so the version stays.
    join(&bob, "j-bob").await?;
    assert_eq!(groups.member_snapshot(&group.id).await?.version, v1.version);

    join(&carol, "j-carol").await?;
    let v2 = groups.member_snapshot(&group.id).await?;
    assert!(v2.version > v1.version);

    groups.remove_member(&owner, &group.id, &carol).await?;
    let v3 = groups.member_snapshot(&group.id).await?;
    assert!(v3.version > v2.version, "a removal raises the version");
    assert_eq!(ids(&v3), set(&[&owner, &bob]));

    let left = ActivityMemberLeft {
        activity_id: activity.clone(),
        user_id: bob.clone(),
        left_at: Timestamp::now(),
    };
    groups.on_member_left("l-bob", &left).await?;
    let v4 = groups.member_snapshot(&group.id).await?;
    assert!(v4.version > v3.version, "leaving raises the version");
    assert_eq!(ids(&v4), set(&[&owner]));

    groups.dissolve(&owner, &group.id).await?;
    let v5 = groups.member_snapshot(&group.id).await?;
    assert!(v5.version > v4.version, "dissolving raises the version");
    assert_eq!(ids(&v5), set(&[&owner]), "members stay after dissolution");

    // The versions of several groups in one read; unknown ones are left out.
    let other = groups
        .on_activity_created("c2", &created(&ActivityId::new(), &bob)?)
        .await?;
    let read = groups
        .member_versions(&[group.id.clone(), GroupId::new(), other.id.clone()])
        .await?;
    assert_eq!(read.len(), 2, "{read:?}");
    assert!(read.contains(&(group.id.clone(), v5.version)));
    let other_version = groups.member_snapshot(&other.id).await?.version;
    assert!(read.contains(&(other.id.clone(), other_version)));
    assert!(groups.member_versions(&[]).await?.is_empty());
    let missing = groups.member_snapshot(&GroupId::new()).await.err();
    assert_eq!(missing.map(|e| e.code()), Some("not_found"));
    t.finish().await
}
on_both_databases!(
    versions_follow_every_change_on,
    versions_follow_every_change
);

async fn sender_standing_in_one_read(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let groups = GroupService::new(t.store.clone());
    let (activity, owner, stranger) = (ActivityId::new(), UserId::new(), UserId::new());
    let group = groups
        .on_activity_created("c", &created(&activity, &owner)?)
        .await?;

    let s = groups.sender_standing(&group.id, &owner).await?;
    assert!(s.member);
    assert_eq!(s.status, GroupStatus::Active);
    let s = groups.sender_standing(&group.id, &stranger).await?;
    assert!(!s.member);
    assert_eq!(s.status, GroupStatus::Active);

    groups.dissolve(&owner, &group.id).await?;
    let s = groups.sender_standing(&group.id, &owner).await?;
    assert!(s.member);
    assert_eq!(s.status, GroupStatus::Dissolved);

    let missing = groups.sender_standing(&GroupId::new(), &owner).await.err();
    assert_eq!(missing.map(|e| e.code()), Some("not_found"));
    t.finish().await
}
on_both_databases!(sender_standing_in_one_read_on, sender_standing_in_one_read);

/// Many concurrent reads over the dedicated connections (MariaDB: four of them) while
/// the server kills every connection of the test (as a restart would): a read on a
/// dead connection fails with an error and drops that connection, so the failures are
/// bounded by the connections there were (4 dedicated + at most 10 pooled), and the
/// reads after them answer on fresh connections.
async fn hot_reads_survive_killed_connections(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let groups = GroupService::new(t.store.clone());
    let owner = UserId::new();
    let group = groups
        .on_activity_created("c", &created(&ActivityId::new(), &owner)?)
        .await?;
    for round in 0..3 {
        let mut reads = Vec::new();
        for _ in 0..32 {
            let (groups, id, owner) = (groups.clone(), group.id.clone(), owner.clone());
            reads.push(tokio::spawn(async move {
                groups.sender_standing(&id, &owner).await
            }));
        }
        for read in reads {
            assert!(read.await??.member);
        }
        support::kill_connections_of(&t).await?;
        let mut outcomes = Vec::new();
        for _ in 0..30 {
            outcomes.push(groups.sender_standing(&group.id, &owner).await.is_ok());
        }
        let failures = outcomes.iter().filter(|ok| !**ok).count();
        assert!(failures <= 14, "round {round}: {failures} failed reads");
        assert!(
            outcomes[outcomes.len() - 10..].iter().all(|ok| *ok),
            "round {round}: still failing after the dead connections were dropped: {outcomes:?}"
        );
    }
    t.finish().await
}
on_both_databases!(
    hot_reads_survive_killed_connections_on,
    hot_reads_survive_killed_connections
);
