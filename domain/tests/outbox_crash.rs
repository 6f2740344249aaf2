//! Guarantee 2: a state change and its event commit together, and killing the process
//! between the commit and the publish loses nothing.
//!
//! A child process (this test binary, started with `--ignored --exact child`) creates
//! activities in a loop on a real database, printing `committed <id>` after each commit,
//! while its outbox forwarder publishes to a real Redis. After the first batches the
//! child's publisher writes one more batch to Redis and then hangs before returning, so
//! the forwarder never marks it published; every later row waits in the outbox. The
//! parent kills the child with SIGKILL mid-stream, starts a new forwarder on the same
//! database, and checks that every activity in the database was announced on the bus,
//! and nothing else was. It runs on SQLite (a file) and on MariaDB.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::events::{topics, ActivityCreated};
use domain::repository::OutboxRepository;
use domain::{ActivityService, ForwarderConfig, NewActivity, OutboxForwarder, PageRequest, Store};
use domain::{Timestamp, UserId};
use mq::backend::redis::{RedisBroker, RedisConfig};
use mq::{Message, Publisher, Subscriber};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Messages the child's forwarder publishes and sees marked before its publisher hangs.
const PUBLISHED_BEFORE_HANG: usize = 20;
/// Commits the parent waits for before it kills the child.
const COMMITS_BEFORE_KILL: usize = 120;

fn redis_url() -> String {
    std::env::var("MQ_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn mysql_base() -> String {
    std::env::var("DATABASE_URL_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A Redis broker whose keys no other test run shares.
async fn broker(prefix: &str) -> anyhow::Result<RedisBroker> {
    let mut config = RedisConfig::new(redis_url());
    config.key_prefix = prefix.to_owned();
    config.block = Duration::from_millis(100);
    Ok(RedisBroker::connect(config).await?)
}

/// Publishes through to Redis until `PUBLISHED_BEFORE_HANG` messages have gone out;
/// the call that crosses it publishes and then never returns, as a process dying right
/// after the broker took a batch and before the outbox row was marked.
#[derive(Debug)]
struct HangingPublisher {
    inner: RedisBroker,
    published: AtomicUsize,
}

#[async_trait]
impl Publisher for HangingPublisher {
    async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), mq::Error> {
        let n = messages.len();
        self.inner.publish(topic, messages).await?;
        if self.published.fetch_add(n, Ordering::SeqCst) + n >= PUBLISHED_BEFORE_HANG {
            println!("publisher hangs");
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn close(&self) -> Result<(), mq::Error> {
        self.inner.close().await
    }
}

fn new_activity(i: usize) -> NewActivity {
    NewActivity {
        title: format!("Activity {i}"),
        description: String::new(),
        location: "Somewhere".into(),
        starts_at: Timestamp::now().plus(Duration::from_secs(86_400)),
        capacity: 5,
        requires_approval: false,
    }
}

/// The child: commits activities until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "started as a child process by the outbox crash tests"]
async fn child() -> anyhow::Result<()> {
    let (Ok(url), Ok(prefix)) = (
        std::env::var("OUTBOX_CRASH_DB"),
        std::env::var("OUTBOX_CRASH_PREFIX"),
    ) else {
        return Ok(());
    };
    let store = Store::connect(&url).await?;
    let publisher = HangingPublisher {
        inner: broker(&prefix).await?,
        published: AtomicUsize::new(0),
    };
    let _forwarder = OutboxForwarder::new(store.clone(), Arc::new(publisher))
        .with_config(ForwarderConfig {
            batch_size: 5,
            ..ForwarderConfig::default()
        })
        .spawn();
    let activities = ActivityService::new(store);
    let organiser = UserId::new();
    for i in 0.. {
        let made = activities.create(&organiser, new_activity(i)).await?;
        println!("committed {}", made.id);
    }
    Ok(())
}

async fn killed_between_commit_and_publish(url: &str) -> anyhow::Result<()> {
    let prefix = format!("outbox-crash-{}:", uuid::Uuid::now_v7().simple());
    let bus = broker(&prefix).await?;
    // Subscribed before anything is published, so the group sees every event.
    let mut events = bus.subscribe(topics::ACTIVITY_CREATED, "checker").await?;
    Store::connect(url).await?.close().await; // migrate before the child races to

    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--ignored",
            "--exact",
            "child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OUTBOX_CRASH_DB", url)
        .env("OUTBOX_CRASH_PREFIX", &prefix)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let mut committed = HashSet::new();
    let mut hung = false;
    tokio::time::timeout(Duration::from_secs(60), async {
        while committed.len() < COMMITS_BEFORE_KILL || !hung {
            let Some(line) = lines.next_line().await? else {
                anyhow::bail!("the child exited after {} commits", committed.len());
            };
            if let Some((_, id)) = line.split_once("committed ") {
                committed.insert(id.trim().to_owned());
            } else if line.contains("publisher hangs") {
                hung = true;
            }
        }
        Ok(())
    })
    .await??;
    child.kill().await?; // SIGKILL: no shutdown, nothing flushed
    while let Some(line) = lines.next_line().await? {
        if let Some((_, id)) = line.split_once("committed ") {
            committed.insert(id.trim().to_owned());
        }
    }

    let store = Store::connect(url).await?;
    let waiting = store.count_unpublished().await?;
    assert!(
        waiting as usize >= committed.len() - PUBLISHED_BEFORE_HANG - 5,
        "only {waiting} of {} committed rows were left unpublished: the kill proved nothing",
        committed.len()
    );

    // Every activity the database holds.
    let activities = ActivityService::new(store.clone());
    let mut stored = HashSet::new();
    let mut page = PageRequest {
        cursor: None,
        limit: Some(100),
    };
    loop {
        let got = activities.list(&page).await?;
        stored.extend(got.items.iter().map(|a| a.id.to_string()));
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert!(
        committed.is_subset(&stored),
        "a reported commit is missing from the database"
    );

    // A new forwarder on the same database publishes what the dead one left.
    let forwarder = OutboxForwarder::new(store.clone(), Arc::new(bus.clone())).spawn();
    let mut seen: HashMap<String, u32> = HashMap::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while !stored.iter().all(|id| seen.contains_key(id)) {
            let batch = events
                .next_batch(256)
                .await?
                .ok_or_else(|| anyhow::anyhow!("subscription closed"))?;
            for delivery in batch.deliveries {
                let event: ActivityCreated = serde_json::from_slice(delivery.message().payload())?;
                *seen.entry(event.activity_id.to_string()).or_default() += 1;
                delivery.ack();
            }
        }
        anyhow::Ok(())
    })
    .await
    .map_err(|_| {
        let missing = stored.iter().filter(|id| !seen.contains_key(*id)).count();
        anyhow::anyhow!(
            "{missing} of {} stored activities never announced",
            stored.len()
        )
    })??;
    forwarder.stop().await;
    assert_eq!(store.count_unpublished().await?, 0);

    let announced: HashSet<&String> = seen.keys().collect();
    let stored_refs: HashSet<&String> = stored.iter().collect();
    assert_eq!(
        announced, stored_refs,
        "events for activities that were never stored"
    );
    let twice: u32 = seen.values().map(|n| n - 1).sum();
    eprintln!(
        "{url}: {} committed before SIGKILL ({} in the database), {waiting} left unpublished, \
         all announced after restart, {twice} announced twice",
        committed.len(),
        stored.len()
    );
    assert!(
        twice >= 1,
        "the batch published before the hang should come again"
    );
    store.close().await;
    bus.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_outbox_survives_a_kill_between_commit_and_publish() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("crash.db").display()
    );
    killed_between_commit_and_publish(&url).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_outbox_survives_a_kill_between_commit_and_publish() -> anyhow::Result<()> {
    use sqlx::Connection;
    let name = format!("t_crash_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::MySqlConnection::connect(&mysql_base()).await?;
    sqlx::query(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        .execute(&mut admin)
        .await?;
    let result = killed_between_commit_and_publish(&format!("{}/{name}", mysql_base())).await;
    sqlx::query(&format!("DROP DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    result
}
