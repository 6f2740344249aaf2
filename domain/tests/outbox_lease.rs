//! Two forwarders on one database (as when several servers share it) publish every
//! event once, in order, and the survivor takes over when one stops.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use domain::events::topics;
use domain::repository::OutboxRepository;
use domain::{ActivityService, NewActivity, OutboxForwarder, Timestamp, UserId};
use mq::backend::memory::MemoryBroker;
use mq::{Subscriber, Subscription};
use support::{Db, TestDb};

fn new_activity(i: usize) -> NewActivity {
    NewActivity {
        title: format!("activity {i}"),
        description: String::new(),
        location: "here".into(),
        starts_at: Timestamp::now().plus(Duration::from_secs(86_400)),
        capacity: 5,
        requires_approval: false,
    }
}

/// Reads `n` events; returns their message ids in arrival order.
async fn read(sub: &mut Box<dyn Subscription>, n: usize) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    while ids.len() < n {
        let batch = tokio::time::timeout(Duration::from_secs(30), sub.next_batch(100))
            .await??
            .expect("subscription open");
        for d in batch.deliveries {
            ids.push(d.message().id().to_owned());
            d.ack();
        }
    }
    Ok(ids)
}

async fn two_forwarders(db: Db) -> anyhow::Result<()> {
    let test = TestDb::open(db).await?;
    let bus = MemoryBroker::default();
    let mut sub = bus.subscribe(topics::ACTIVITY_CREATED, "watch").await?;
    let first = OutboxForwarder::new(test.store.clone(), Arc::new(bus.clone())).spawn();
    let second = OutboxForwarder::new(test.store.clone(), Arc::new(bus.clone())).spawn();
    let activities = ActivityService::new(test.store.clone());
    let organiser = UserId::new();
    for i in 0..60 {
        activities.create(&organiser, new_activity(i)).await?;
    }
    let ids = read(&mut sub, 60).await?;
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        60,
        "every event once: {} duplicates",
        ids.len() - unique.len()
    );
    // Nothing more arrives: no forwarder publishes a row twice.
    let extra = tokio::time::timeout(Duration::from_millis(700), sub.next_batch(10)).await;
    assert!(extra.is_err(), "a duplicate arrived: {extra:?}");

    // One stops (releasing the lease if it held it); the other forwards what follows.
    first.stop().await;
    for i in 60..80 {
        activities.create(&organiser, new_activity(i)).await?;
    }
    let later = read(&mut sub, 20).await?;
    assert_eq!(later.iter().collect::<HashSet<_>>().len(), 20);
    second.stop().await;
    assert_eq!(test.store.count_unpublished().await?, 0);
    test.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_forwarders_publish_each_event_once() -> anyhow::Result<()> {
    two_forwarders(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_two_forwarders_publish_each_event_once() -> anyhow::Result<()> {
    two_forwarders(Db::MariaDb).await
}
