//! Typed events on the in-memory broker: serde structs in, serde structs out, per-key order.
//!
//! The platform's flow in miniature: when someone joins an activity, the activity
//! service publishes `activity.member.joined` (keyed by the activity id); the IM side
//! turns it into `group.member.added` (keyed by the group id) and a notifier consumes
//! that. Here:
//!
//! - `add-to-group` is a `router.handler(...)`: it consumes `activity.member.joined`,
//!   decodes `MemberJoined` with `Message::decode_json`, and returns a
//!   `GroupMemberAdded` built with `Message::json`, which the router publishes to
//!   `group.member.added` before it acknowledges the input;
//! - `notify` is a `json_consumer_fn` that receives `GroupMemberAdded` values directly;
//! - a `CorrelationIdLayer` carries each input's id to the event it caused.
//!
//! Joins of three activities are published interleaved and the handler runs with
//! concurrency 2; every group still sees its members in the order they joined, because
//! events with the same key share a lane and a lane is handled in order.
//!
//! Run with `cargo run -p examples --example typed_events`.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use mq::backend::memory::MemoryBroker;
use mq::middleware::CorrelationIdLayer;
use mq::{
    handler_fn, json_consumer_fn, keys, HandlerContext, HandlerError, Message, Publisher, Router,
    RouterConfig,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

const JOINED: &str = "activity.member.joined";
const ADDED: &str = "group.member.added";
const WAIT: Duration = Duration::from_secs(10);

/// `activity.member.joined`, keyed by `activity_id`.
#[derive(Debug, Serialize, Deserialize)]
struct MemberJoined {
    activity_id: String,
    user_id: String,
    joined_at: u64,
}

/// `group.member.added`, keyed by `group_id`.
#[derive(Debug, Serialize, Deserialize)]
struct GroupMemberAdded {
    group_id: String,
    user_id: String,
    by: String,
    reason: String,
    at: u64,
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The group of an activity (the real system asks the IM service for it).
fn group_of(activity_id: &str) -> String {
    format!("group-of-{activity_id}")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_target(false)
        .without_time()
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    let broker = MemoryBroker::default();
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<GroupMemberAdded>();

    let mut router = Router::new(RouterConfig::default());
    router.layer(CorrelationIdLayer::new());
    router
        .handler(
            "add-to-group",
            JOINED,
            broker.clone(),
            ADDED,
            broker.clone(),
            handler_fn(|msg: Message, _ctx: HandlerContext| async move {
                // A payload that does not decode can never succeed: a permanent error.
                let joined: MemberJoined = msg.decode_json().map_err(HandlerError::permanent)?;
                let group_id = group_of(&joined.activity_id);
                println!(
                    "  add-to-group: {} joined {} -> adding to {group_id} (correlation id {})",
                    joined.user_id,
                    joined.activity_id,
                    msg.metadata().get(keys::CORRELATION_ID).unwrap_or("-"),
                );
                let added = GroupMemberAdded {
                    group_id: group_id.clone(),
                    user_id: joined.user_id,
                    by: "system".into(),
                    reason: "activity.member.joined".into(),
                    at: now_millis(),
                };
                let out = Message::json(&added)
                    .map_err(HandlerError::permanent)?
                    .with_key(group_id);
                Ok(vec![out])
            }),
        )
        .concurrency(2);
    router.consumer(
        "notify",
        ADDED,
        broker.clone(),
        json_consumer_fn(move |added: GroupMemberAdded, ctx: HandlerContext| {
            let seen = seen_tx.clone();
            async move {
                println!(
                    "  {}: {} added to {} by {} ({})",
                    ctx.handler(),
                    added.user_id,
                    added.group_id,
                    added.by,
                    added.reason
                );
                seen.send(added).ok();
                Ok(())
            }
        }),
    );
    let handle = router.handle();
    let running = tokio::spawn(router.run());
    handle.running().await;

    // Four joins for each of three activities, interleaved across activities.
    let activities = ["hike-1", "boardgames-2", "climbing-3"];
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut joins = Vec::new();
    for n in 1..=4 {
        for activity in activities {
            let user = format!("{activity}-user-{n}");
            expected
                .entry(group_of(activity))
                .or_default()
                .push(user.clone());
            let event = MemberJoined {
                activity_id: activity.into(),
                user_id: user,
                joined_at: now_millis(),
            };
            joins.push(Message::json(&event)?.with_key(activity));
        }
    }
    let total = joins.len();
    println!("== publishing {total} {JOINED} events, keyed by activity id");
    broker.publish(JOINED, joins).await?;

    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for _ in 0..total {
        let added = tokio::time::timeout(WAIT, seen_rx.recv())
            .await
            .context("waiting for group.member.added")?
            .context("notifier gone")?;
        seen.entry(added.group_id).or_default().push(added.user_id);
    }

    println!("== per-group order as seen by the notifier");
    for (group, users) in &seen {
        println!("  {group}: {}", users.join(", "));
    }
    if seen != expected {
        bail!("per-key order broken: expected {expected:?}, saw {seen:?}");
    }
    println!("== every group saw its members in join order");

    handle.shutdown();
    running.await??;
    println!("== router stopped cleanly");
    Ok(())
}
