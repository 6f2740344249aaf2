//! GroupService's activity-event handlers consume four topics independently, so the
//! events of one activity arrive in any order, and more than once. The outcome must
//! not depend on it: membership is a last-writer-wins register on the event's time,
//! and joins, leaves and a cancellation that overtake `activity.created` are recorded
//! and applied by it. Scenarios on SQLite and MariaDB, then a proptest (random
//! histories, delivered in a random order with duplicates) and a concurrent delivery.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use domain::events::{
    ActivityCancelled, ActivityCreated, ActivityMemberJoined, ActivityMemberLeft, GroupCreated,
    GroupDissolved, GroupMemberAdded, GroupMemberRemoved,
};
use domain::{
    ActivityId, Capacity, DomainError, ErrorKind, Group, GroupService, GroupStatus, Timestamp,
    Title, UserId,
};
use proptest::prelude::*;
use support::{Db, TestDb};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_750_000_000_000 + ms)
}

/// One activity event, with the message id it is delivered under.
#[derive(Clone, Debug)]
enum Ev {
    Created(ActivityCreated),
    Joined(ActivityMemberJoined),
    Left(ActivityMemberLeft),
    Cancelled(ActivityCancelled),
}

/// One activity, its organiser, and helpers to make its events.
#[derive(Clone, Debug)]
struct Activity {
    id: ActivityId,
    owner: UserId,
    title: Title,
    capacity: Capacity,
}

impl Activity {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            id: ActivityId::new(),
            owner: UserId::new(),
            title: Title::parse("Climbing")?,
            capacity: Capacity::new(20)?,
        })
    }

    fn created(&self) -> Ev {
        Ev::Created(ActivityCreated {
            activity_id: self.id.clone(),
            creator_id: self.owner.clone(),
            title: self.title.clone(),
            starts_at: at(1_000_000),
            capacity: self.capacity,
            requires_approval: false,
            created_at: at(0),
        })
    }

    fn joined(&self, user: &UserId, ms: i64) -> Ev {
        Ev::Joined(ActivityMemberJoined {
            activity_id: self.id.clone(),
            user_id: user.clone(),
            joined_at: at(ms),
        })
    }

    fn left(&self, user: &UserId, ms: i64) -> Ev {
        Ev::Left(ActivityMemberLeft {
            activity_id: self.id.clone(),
            user_id: user.clone(),
            left_at: at(ms),
        })
    }

    fn cancelled(&self, ms: i64) -> Ev {
        Ev::Cancelled(ActivityCancelled {
            activity_id: self.id.clone(),
            cancelled_by: self.owner.clone(),
            reason: "storm".into(),
            at: at(ms),
        })
    }
}

async fn deliver(groups: &GroupService, id: &str, ev: &Ev) -> Result<(), DomainError> {
    match ev {
        Ev::Created(e) => groups.on_activity_created(id, e).await.map(|_| ()),
        Ev::Joined(e) => groups.on_member_joined(id, e).await,
        Ev::Left(e) => groups.on_member_left(id, e).await,
        Ev::Cancelled(e) => groups.on_activity_cancelled(id, e).await,
    }
}

/// Delivers every `(id, event)` in order; any failure fails the test.
async fn deliver_all(groups: &GroupService, evs: &[(&str, Ev)]) -> anyhow::Result<()> {
    for (id, ev) in evs {
        deliver(groups, id, ev).await?;
    }
    Ok(())
}

async fn group_of(groups: &GroupService, a: &Activity) -> anyhow::Result<Group> {
    groups
        .group_by_activity(&a.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no group"))
}

async fn member_set(groups: &GroupService, g: &Group) -> anyhow::Result<BTreeSet<UserId>> {
    Ok(groups
        .members(&g.id)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect())
}

/// The `group.member.added` (true) and `.removed` (false) events per user, in order.
async fn membership_events(t: &TestDb) -> anyhow::Result<BTreeMap<UserId, Vec<bool>>> {
    let mut out: BTreeMap<UserId, Vec<bool>> = BTreeMap::new();
    for r in t.outbox().await? {
        let event = domain::events::OutboxEvent {
            message_id: r.message_id,
            topic: r.topic,
            key: r.key,
            payload: r.payload,
            metadata: r.metadata,
        };
        if event.topic == "group.member.added" {
            let e = event.decode::<GroupMemberAdded>()?;
            out.entry(e.user_id).or_default().push(true);
        } else if event.topic == "group.member.removed" {
            let e = event.decode::<GroupMemberRemoved>()?;
            out.entry(e.user_id).or_default().push(false);
        }
    }
    Ok(out)
}

async fn left_before_joined(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let groups = GroupService::new(t.store.clone());
    let (a, alice, bob) = (Activity::new()?, UserId::new(), UserId::new());

    // The group exists; alice's leave (t=20) overtakes her join (t=10).
    deliver_all(
        &groups,
        &[
            ("c", a.created()),
            ("j-bob", a.joined(&bob, 5)),
            ("l-alice", a.left(&alice, 20)),
            ("j-alice", a.joined(&alice, 10)),
        ],
    )
    .await?;
    let g = group_of(&groups, &a).await?;
    assert_eq!(
        member_set(&groups, &g).await?,
        BTreeSet::from([a.owner.clone(), bob.clone()])
    );
    let events = membership_events(&t).await?;
    assert_eq!(
        events.get(&alice),
        None,
        "alice was never added: {events:?}"
    );

    // Before the group exists: the same, and the creation does not add her.
    let b = Activity::new()?;
    deliver_all(
        &groups,
        &[
            ("b-l-alice", b.left(&alice, 20)),
            ("b-j-alice", b.joined(&alice, 10)),
            ("b-j-bob", b.joined(&bob, 10)),
            ("b-c", b.created()),
        ],
    )
    .await?;
    let g = group_of(&groups, &b).await?;
    assert_eq!(
        member_set(&groups, &g).await?,
        BTreeSet::from([b.owner.clone(), bob.clone()])
    );

    // A tie between a join and a leave: out wins, whatever the order.
    let c = Activity::new()?;
    deliver_all(
        &groups,
        &[
            ("c-c", c.created()),
            ("c-l", c.left(&alice, 7)),
            ("c-j", c.joined(&alice, 7)),
            ("c-j-bob", c.joined(&bob, 7)),
            ("c-l-bob", c.left(&bob, 7)),
        ],
    )
    .await?;
    let g = group_of(&groups, &c).await?;
    assert_eq!(
        member_set(&groups, &g).await?,
        BTreeSet::from([c.owner.clone()])
    );
    t.finish().await
}
on_both_databases!(left_before_joined_on, left_before_joined);

async fn rejoin(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let groups = GroupService::new(t.store.clone());
    let alice = UserId::new();
    // joined(10), left(20), joined(30), in every order: alice ends in.
    let orders: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for (n, order) in orders.iter().enumerate() {
        let a = Activity::new()?;
        let history = [
            (format!("{n}-j1"), a.joined(&alice, 10)),
            (format!("{n}-l"), a.left(&alice, 20)),
            (format!("{n}-j2"), a.joined(&alice, 30)),
        ];
        deliver(&groups, "c", &a.created()).await?;
        for &i in order {
            deliver(&groups, &history[i].0, &history[i].1).await?;
        }
        let g = group_of(&groups, &a).await?;
        assert!(
            groups.is_member(&g.id, &alice).await?,
            "order {order:?}: alice should be in"
        );
    }
    // In order she was added, removed and added again; in every other order a stale
    // event was ignored and she was added once.
    let events = membership_events(&t).await?;
    assert_eq!(events.get(&alice).map(|v| v.len()), Some(3 + 5));
    assert_eq!(events.get(&alice).and_then(|v| v.last()), Some(&true));
    t.finish().await
}
on_both_databases!(rejoin_on, rejoin);

async fn the_same_event_twice(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let groups = GroupService::new(t.store.clone());
    let (a, alice, bob) = (Activity::new()?, UserId::new(), UserId::new());
    deliver_all(
        &groups,
        &[
            ("j-alice", a.joined(&alice, 10)),
            ("j-alice", a.joined(&alice, 10)),
            ("c", a.created()),
            ("c", a.created()),
            ("c-2", a.created()),
            ("j-alice", a.joined(&alice, 10)),
            // The same join under another message id (published twice).
            ("j-alice-again", a.joined(&alice, 10)),
            ("j-bob", a.joined(&bob, 11)),
            ("l-bob", a.left(&bob, 12)),
            ("l-bob", a.left(&bob, 12)),
            ("j-bob", a.joined(&bob, 11)),
        ],
    )
    .await?;
    let g = group_of(&groups, &a).await?;
    assert_eq!(
        member_set(&groups, &g).await?,
        BTreeSet::from([a.owner.clone(), alice.clone()])
    );
    let events = membership_events(&t).await?;
    assert_eq!(events.get(&alice), Some(&vec![true]));
    assert_eq!(events.get(&bob), Some(&vec![true, false]));
    assert_eq!(t.events::<GroupCreated>().await?.len(), 1);
    t.finish().await
}
on_both_databases!(the_same_event_twice_on, the_same_event_twice);

async fn cancelled_before_created(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let groups = GroupService::new(t.store.clone());
    let a = Activity::new()?;
    deliver(&groups, "x", &a.cancelled(50)).await?;
    assert!(t.outbox().await?.is_empty());
    assert_eq!(groups.group_by_activity(&a.id).await?, None);
    deliver_all(&groups, &[("c", a.created()), ("x", a.cancelled(50))]).await?;

    let g = group_of(&groups, &a).await?;
    assert_eq!(g.status, GroupStatus::Dissolved);
    assert!(g.dissolved_at.is_some());
    let topics: Vec<_> = t.outbox().await?.into_iter().map(|r| r.topic).collect();
    assert_eq!(
        topics,
        vec!["group.created", "group.member.added", "group.dissolved"]
    );
    let added = t.events::<GroupMemberAdded>().await?;
    assert_eq!(added[0].user_id, a.owner);
    assert_eq!(added[0].reason, "owner");
    let dissolved = t.events::<GroupDissolved>().await?;
    assert_eq!(dissolved[0].group_id, g.id);
    assert_eq!(dissolved[0].by, None);
    assert_eq!(
        member_set(&groups, &g).await?,
        BTreeSet::from([a.owner.clone()])
    );

    // Joins older than the cancellation still shape the dissolved group, whether they
    // arrive before the creation or after it; a join at or after it does not.
    let b = Activity::new()?;
    let (alice, bob, carol) = (UserId::new(), UserId::new(), UserId::new());
    deliver_all(
        &groups,
        &[
            ("b-j-alice", b.joined(&alice, 10)),
            ("b-x", b.cancelled(50)),
            ("b-c", b.created()),
            ("b-j-bob", b.joined(&bob, 20)),
            ("b-j-carol", b.joined(&carol, 50)),
        ],
    )
    .await?;
    let g = group_of(&groups, &b).await?;
    assert_eq!(g.status, GroupStatus::Dissolved);
    assert_eq!(
        member_set(&groups, &g).await?,
        BTreeSet::from([b.owner.clone(), alice, bob])
    );
    t.finish().await
}
on_both_databases!(cancelled_before_created_on, cancelled_before_created);

async fn joined_before_created(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let groups = GroupService::new(t.store.clone());
    let (a, alice, bob) = (Activity::new()?, UserId::new(), UserId::new());
    deliver_all(
        &groups,
        &[
            ("j-alice", a.joined(&alice, 10)),
            ("j-bob", a.joined(&bob, 11)),
            ("l-bob", a.left(&bob, 12)),
            // The organiser cannot leave, not even before the group exists.
            ("l-owner", a.left(&a.owner, 13)),
        ],
    )
    .await?;
    assert!(t.outbox().await?.is_empty());
    deliver(&groups, "c", &a.created()).await?;
    let g = group_of(&groups, &a).await?;
    assert_eq!(g.status, GroupStatus::Active);
    assert_eq!(
        member_set(&groups, &g).await?,
        BTreeSet::from([a.owner.clone(), alice.clone()])
    );
    let topics: Vec<_> = t.outbox().await?.into_iter().map(|r| r.topic).collect();
    assert_eq!(
        topics,
        vec!["group.created", "group.member.added", "group.member.added"]
    );
    let added = t.events::<GroupMemberAdded>().await?;
    assert_eq!(added[1].user_id, alice);
    assert_eq!(added[1].reason, "signup_accepted");
    assert_eq!(added[1].group_id, g.id);
    // Later a cancellation dissolves it as before.
    deliver(&groups, "x", &a.cancelled(99)).await?;
    assert_eq!(group_of(&groups, &a).await?.status, GroupStatus::Dissolved);
    assert_eq!(t.events::<GroupDissolved>().await?.len(), 1);
    t.finish().await
}
on_both_databases!(joined_before_created_on, joined_before_created);

/// A generated history of one activity: per user, alternating join/leave events
/// (starting with a join) at strictly increasing times, optionally a cancellation
/// after all of them; `created` has no time (the IM side does not compare it).
#[derive(Clone, Debug)]
struct History {
    /// Per user: how many events (join, leave, join, ...) and their time steps.
    users: Vec<Vec<i64>>,
    cancelled: bool,
}

fn history() -> impl Strategy<Value = History> {
    (
        prop::collection::vec(prop::collection::vec(1i64..4, 0..5), 1..4),
        any::<bool>(),
    )
        .prop_map(|(users, cancelled)| History { users, cancelled })
}

/// The events of `h` for `a`, with message ids, and the expected final members.
fn events_of(h: &History, a: &Activity) -> (Vec<(String, Ev)>, BTreeSet<UserId>) {
    let mut evs = vec![("created".to_owned(), a.created())];
    let mut members = BTreeSet::from([a.owner.clone()]);
    let mut last = 0;
    for (u, steps) in h.users.iter().enumerate() {
        let user = UserId::new();
        let mut t = 0;
        for (i, step) in steps.iter().enumerate() {
            t += step;
            let ev = if i % 2 == 0 {
                a.joined(&user, t)
            } else {
                a.left(&user, t)
            };
            evs.push((format!("u{u}-{i}"), ev));
        }
        if steps.len() % 2 == 1 {
            members.insert(user);
        }
        last = last.max(t);
    }
    if h.cancelled {
        evs.push(("cancelled".to_owned(), a.cancelled(last + 1)));
    }
    (evs, members)
}

/// Delivers `h` in the order of `keys` with the `dups` redelivered, then checks the
/// members, the status and the outbox against the in-order history.
async fn check_history(
    db: Db,
    h: History,
    keys: Vec<u32>,
    dups: Vec<prop::sample::Index>,
) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let groups = GroupService::new(t.store.clone());
    let a = Activity::new()?;
    let (evs, expected) = events_of(&h, &a);
    let mut delivery: Vec<&(String, Ev)> = evs.iter().collect();
    for d in &dups {
        delivery.push(d.get(&evs));
    }
    let mut order: Vec<(u32, usize)> = delivery
        .iter()
        .enumerate()
        .map(|(i, _)| (keys.get(i).copied().unwrap_or(0), i))
        .collect();
    order.sort();
    for (_, i) in order {
        let (id, ev) = delivery[i];
        deliver(&groups, id, ev).await?;
    }

    let g = group_of(&groups, &a).await?;
    assert_eq!(member_set(&groups, &g).await?, expected, "history {h:?}");
    let status = if h.cancelled {
        GroupStatus::Dissolved
    } else {
        GroupStatus::Active
    };
    assert_eq!(g.status, status);
    assert_eq!(t.events::<GroupCreated>().await?.len(), 1);
    let dissolved = t.events::<GroupDissolved>().await?;
    assert_eq!(dissolved.len(), usize::from(h.cancelled));
    // Per user, the announcements alternate added/removed and end with the state.
    for (user, seq) in membership_events(&t).await? {
        assert!(
            seq.iter()
                .enumerate()
                .all(|(i, &added)| added == (i % 2 == 0)),
            "{user}: {seq:?}"
        );
        assert_eq!(seq.last() == Some(&true), expected.contains(&user));
    }
    t.finish().await
}

fn run(db: Db, cases: u32) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        h in history(),
        keys in prop::collection::vec(any::<u32>(), 40),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    )| {
        let done = rt.block_on(check_history(db, h, keys, dups));
        prop_assert!(done.is_ok(), "{:?}", done.err());
    });
    Ok(())
}

#[test]
fn any_order_any_duplicates_sqlite() -> anyhow::Result<()> {
    run(Db::Sqlite, 24)
}

#[test]
fn any_order_any_duplicates_mariadb() -> anyhow::Result<()> {
    run(Db::MariaDb, 8)
}

/// Delivers `ev` until it succeeds, retrying what is retryable (a MySQL deadlock or
/// lock wait timeout), as the consumer would.
async fn deliver_retrying(groups: &GroupService, id: &str, ev: &Ev) -> anyhow::Result<()> {
    for _ in 0..50 {
        match deliver(groups, id, ev).await {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Unavailable || e.code() == "concurrent_update" => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("{id}: still failing after 50 attempts")
}

/// All the events of several activities at once, each by its own task: the creation
/// races the joins and leaves; the per-activity lock keeps the outcome.
async fn concurrent_delivery(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let groups = GroupService::new(t.store.clone());
    let mut expected = Vec::new();
    let mut tasks = Vec::new();
    for n in 0..4 {
        let a = Activity::new()?;
        let (stay, go, back) = (UserId::new(), UserId::new(), UserId::new());
        let evs = vec![
            (format!("{n}-c"), a.created()),
            (format!("{n}-c2"), a.created()),
            (format!("{n}-j-stay"), a.joined(&stay, 1)),
            (format!("{n}-j-go"), a.joined(&go, 2)),
            (format!("{n}-l-go"), a.left(&go, 3)),
            (format!("{n}-j-back"), a.joined(&back, 1)),
            (format!("{n}-l-back"), a.left(&back, 2)),
            (format!("{n}-j-back-2"), a.joined(&back, 3)),
            (format!("{n}-j-stay"), a.joined(&stay, 1)),
        ];
        expected.push((a.clone(), BTreeSet::from([a.owner.clone(), stay, back])));
        for (id, ev) in evs {
            let groups = groups.clone();
            tasks.push(tokio::spawn(async move {
                deliver_retrying(&groups, &id, &ev).await
            }));
        }
    }
    for task in tasks {
        task.await??;
    }
    for (a, members) in expected {
        let g = group_of(&groups, &a).await?;
        assert_eq!(member_set(&groups, &g).await?, members);
    }
    assert_eq!(t.events::<GroupCreated>().await?.len(), 4);
    t.finish().await
}
on_both_databases!(concurrent_delivery_on, concurrent_delivery);
