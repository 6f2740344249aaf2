//! A consumer in a child process is killed (SIGKILL) mid-stream; a new one starts; every
//! published message is handled at least once. Run per durable backend against a real
//! server. The child is this same test binary, started with `--ignored --exact child`.

mod support;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use mq::middleware::PoisonQueueLayer;
use mq::{consumer_fn, keys, Message, Publisher, Router, RouterConfig, Subscriber};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const MESSAGES: u32 = 2_000;
const KEYS: u32 = 8;
/// A payload that crashes every consumer that handles it.
const PILL: &[u8] = b"pill";

async fn backend(kind: &str) -> anyhow::Result<(Arc<dyn Publisher>, Arc<dyn Subscriber>)> {
    match kind {
        #[cfg(feature = "redis")]
        "redis" => {
            let mut cfg = mq::backend::redis::RedisConfig::new(support::redis_url());
            cfg.lease_ttl = Duration::from_secs(2);
            cfg.block = Duration::from_millis(200);
            let b = mq::backend::redis::RedisBroker::connect(cfg).await?;
            Ok((Arc::new(b.clone()), Arc::new(b)))
        }
        #[cfg(feature = "kafka")]
        "kafka" => {
            let mut cfg = mq::backend::kafka::KafkaConfig::new(support::kafka_brokers());
            cfg.session_timeout = Duration::from_secs(6);
            cfg.commit_interval = Duration::from_millis(200);
            cfg.extra
                .insert("max.poll.interval.ms".into(), "10000".into());
            if std::env::var("MQ_CRASH_DEBUG_LOG").is_ok() {
                cfg.extra.insert("debug".into(), "cgrp".into());
            }
            let b = mq::backend::kafka::KafkaBroker::connect(cfg)?;
            Ok((Arc::new(b.clone()), Arc::new(b)))
        }
        other => anyhow::bail!("unknown backend {other}"),
    }
}

/// The child: consumes the topic in the group and prints `handled <n>` for each message
/// it handled, before the router acknowledges it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "started as a child process by the crash tests"]
async fn child() -> anyhow::Result<()> {
    let (Ok(kind), Ok(topic), Ok(group)) = (
        std::env::var("MQ_CRASH_BACKEND"),
        std::env::var("MQ_CRASH_TOPIC"),
        std::env::var("MQ_CRASH_GROUP"),
    ) else {
        return Ok(());
    };
    if std::env::var("MQ_CRASH_DEBUG_LOG").is_ok() {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter("info,librdkafka=debug,rdkafka=debug")
            .init();
    }
    let (publisher, subscriber) = backend(&kind).await?;
    let mut router = Router::new(RouterConfig::default());
    // A message delivered more than 3 times is poisoned before its handler runs.
    router.layer(PoisonQueueLayer::new(publisher, format!("{topic}.poison")).max_deliveries(3));
    router
        .consumer(
            "crash-child",
            topic,
            subscriber,
            consumer_fn(|msg: Message| async move {
                if msg.payload().as_ref() == PILL {
                    // Takes the whole process down, as an OOM kill or a native crash would.
                    std::process::abort();
                }
                // Slow enough that the parent kills us mid-stream.
                tokio::time::sleep(Duration::from_micros(300)).await;
                println!("handled {}", String::from_utf8_lossy(msg.payload()));
                Ok(())
            }),
        )
        .group(group)
        .concurrency(
            std::env::var("MQ_CRASH_CONCURRENCY")
                .ok()
                .and_then(|c| c.parse().ok())
                .unwrap_or(4),
        );
    router.run().await?;
    Ok(())
}

fn spawn_child(kind: &str, topic: &str, group: &str) -> anyhow::Result<Child> {
    spawn_child_with(kind, topic, group, 4)
}

fn spawn_child_with(
    kind: &str,
    topic: &str,
    group: &str,
    concurrency: usize,
) -> anyhow::Result<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .env("MQ_CRASH_CONCURRENCY", concurrency.to_string())
        .args([
            "--ignored",
            "--exact",
            "child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MQ_CRASH_BACKEND", kind)
        .env("MQ_CRASH_TOPIC", topic)
        .env("MQ_CRASH_GROUP", group)
        .stdout(Stdio::piped())
        .stderr(match std::env::var("MQ_CRASH_DEBUG_LOG") {
            Ok(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            Err(_) => Stdio::null(),
        })
        .kill_on_drop(true)
        .spawn()?)
}

/// When to stop reading a child's output.
type StopWhen<'a> = &'a dyn Fn(&HashMap<u32, u32>) -> bool;

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

fn lines_of(child: &mut Child) -> anyhow::Result<Lines> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    Ok(BufReader::new(stdout).lines())
}

/// Counts `handled <n>` lines until `stop` says so, or until the child's output ends
/// (`stop` = None: drain what a killed child wrote before it died).
async fn read_handled(
    lines: &mut Lines,
    counts: &mut HashMap<u32, u32>,
    stop: Option<StopWhen<'_>>,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    while !stop.is_some_and(|stop| stop(counts)) {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .map_err(|_| {
                let missing: Vec<u32> = (0..MESSAGES)
                    .filter(|n| !counts.contains_key(n))
                    .take(20)
                    .collect();
                anyhow::anyhow!(
                    "timed out with {} of {MESSAGES} handled; missing (first 20): {missing:?}",
                    counts.len()
                )
            })??;
        let Some(line) = line else {
            if stop.is_none() {
                return Ok(());
            }
            anyhow::bail!(
                "the child exited after {} distinct messages were handled",
                counts.len()
            );
        };
        // libtest may print `test child ... ` on the same line first.
        if let Some((_, n)) = line.split_once("handled ") {
            *counts.entry(n.trim().parse()?).or_default() += 1;
        }
    }
    Ok(())
}

/// Reads `handled <n>` lines until `stop` says so; fails when 40 s pass without a
/// message handled for the first time.
async fn read_handled_while_progressing(
    lines: &mut Lines,
    counts: &mut HashMap<u32, u32>,
    stop: StopWhen<'_>,
) -> anyhow::Result<()> {
    loop {
        let before = counts.len();
        let grown = move |c: &HashMap<u32, u32>| stop(c) || c.len() > before;
        read_handled(lines, counts, Some(&grown), Duration::from_secs(40)).await?;
        if stop(counts) {
            return Ok(());
        }
    }
}

async fn killed_consumer_loses_nothing(kind: &str) -> anyhow::Result<()> {
    let topic = support::unique("crash");
    let group = support::unique("crash-group");
    let (publisher, _) = backend(kind).await?;
    let messages = (0..MESSAGES)
        .map(|i| Message::new(i.to_string()).with_key(format!("key-{}", i % KEYS)))
        .collect();
    publisher.publish(&topic, messages).await?;

    let mut counts = HashMap::new();
    let mut first = spawn_child(kind, &topic, &group)?;
    let mut first_lines = lines_of(&mut first)?;
    let a_quarter = |c: &HashMap<u32, u32>| c.len() as u32 >= MESSAGES / 4;
    read_handled(
        &mut first_lines,
        &mut counts,
        Some(&a_quarter),
        Duration::from_secs(60),
    )
    .await?;
    first.kill().await?; // SIGKILL: no close, no final acknowledgement
                         // What it handled between our last read and its death is in the pipe.
    read_handled(&mut first_lines, &mut counts, None, Duration::from_secs(10)).await?;
    let handled_before = counts.len();
    assert!(
        handled_before < MESSAGES as usize,
        "killed too late to prove anything"
    );

    // The replacement. tansu 0.6 can leave it without partitions for good: when its
    // JoinGroup arrives just as the dead member's session expires, the new generation
    // names the dead member leader, the replacement's SyncGroup succeeds with an empty
    // assignment, and no rebalance follows (seen in librdkafka's cgrp log under load).
    // A replacement that handles nothing new for 40 s is therefore killed in turn and
    // another one started (at most three in all): each is one more crash that the
    // guarantee must survive. Other backends get one replacement: it must recover alone.
    let all = |c: &HashMap<u32, u32>| c.len() as u32 == MESSAGES;
    let most_replacements = if kind == "kafka" { 3 } else { 1 };
    let mut replacements = 0;
    loop {
        replacements += 1;
        let mut replacement = spawn_child(kind, &topic, &group)?;
        let mut lines = lines_of(&mut replacement)?;
        let outcome = read_handled_while_progressing(&mut lines, &mut counts, &all).await;
        replacement.kill().await?;
        match outcome {
            Ok(()) => break,
            Err(stalled) if replacements < most_replacements => {
                read_handled(&mut lines, &mut counts, None, Duration::from_secs(10)).await?;
                eprintln!(
                    "{kind}: replacement {replacements} stalled ({stalled}); starting another"
                );
            }
            Err(stalled) => return Err(stalled),
        }
    }

    let twice: u32 = counts.values().map(|c| c - 1).sum();
    eprintln!(
        "{kind}: {MESSAGES} published, first consumer handled {handled_before} before SIGKILL, \
         {replacements} replacement(s), all {} handled at least once, {twice} handled more than once",
        counts.len()
    );
    assert_eq!(counts.len(), MESSAGES as usize);
    Ok(())
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_consumer_killed_mid_stream_loses_nothing() -> anyhow::Result<()> {
    killed_consumer_loses_nothing("redis").await
}

/// The replacement joins while the dead member's session (6 s) is still open; the
/// broker evicts the dead member once its session times out and hands its partitions,
/// from their last committed offsets, to the replacement (see the note on tansu in
/// `killed_consumer_loses_nothing`).
#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_consumer_killed_mid_stream_loses_nothing() -> anyhow::Result<()> {
    killed_consumer_loses_nothing("kafka").await
}

/// A message that kills every consumer taking it is moved to the poison topic once the
/// backend's delivery count passes the limit, and the stream goes on.
async fn crash_looping_message_is_poisoned(kind: &str) -> anyhow::Result<()> {
    const NORMAL: u32 = 200;
    let topic = support::unique("pill");
    let group = support::unique("pill-group");
    let (publisher, subscriber) = backend(kind).await?;
    let mut poison = subscriber
        .subscribe(&format!("{topic}.poison"), "inspector")
        .await?;
    let mut messages: Vec<Message> = (0..NORMAL)
        .map(|i| Message::new(i.to_string()).with_key(format!("key-{}", i % KEYS)))
        .collect();
    let pill = Message::new(PILL).with_key("key-0");
    messages.insert(10, pill.clone());
    publisher.publish(&topic, messages).await?;

    let mut counts = HashMap::new();
    let mut crashes = 0;
    loop {
        // One lane at a time: a message in flight when the process dies counts as
        // delivered, so with several lanes in flight each crash would count against
        // the messages handled beside the pill too.
        let mut child = spawn_child_with(kind, &topic, &group, 1)?;
        let mut lines = lines_of(&mut child)?;
        let all = |c: &HashMap<u32, u32>| c.len() as u32 == NORMAL;
        // Either every normal message is handled, or the child dies on the pill.
        let outcome =
            read_handled(&mut lines, &mut counts, Some(&all), Duration::from_secs(60)).await;
        if outcome.is_ok() {
            child.kill().await?;
            break;
        }
        eprintln!("consumer ended: {outcome:?}");
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        anyhow::ensure!(
            status.is_ok(),
            "the consumer neither crashed nor finished: {outcome:?}"
        );
        crashes += 1;
        anyhow::ensure!(
            crashes <= 6,
            "still crashing after {crashes} consumers: {outcome:?}"
        );
    }
    let batch = tokio::time::timeout(Duration::from_secs(30), poison.next_batch(10))
        .await??
        .ok_or_else(|| anyhow::anyhow!("poison subscription closed"))?;
    let poisoned = batch
        .deliveries
        .first()
        .ok_or_else(|| anyhow::anyhow!("empty batch"))?
        .message()
        .clone();
    eprintln!(
        "{kind}: the pill crashed {crashes} consumers, then was poisoned with {:?}",
        poisoned.metadata()
    );
    assert_eq!(poisoned.id(), pill.id());
    assert_eq!(
        poisoned.metadata().get(keys::POISON_TOPIC),
        Some(topic.as_str())
    );
    assert_eq!(crashes, 3, "three deliveries crash, the fourth is poisoned");
    assert_eq!(poisoned.metadata().get(keys::POISON_ATTEMPTS), Some("4"));
    Ok(())
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crash_looping_message_ends_in_the_poison_topic() -> anyhow::Result<()> {
    crash_looping_message_is_poisoned("redis").await
}
