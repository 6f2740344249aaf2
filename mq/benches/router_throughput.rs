//! Router throughput over the in-memory backend, with an ack-only handler.
//!
//! Run with `cargo bench -p mq --bench router_throughput` (or `scripts/bench.sh`).
//! Prints one Markdown table: every figure next to its target and to a reference
//! measured in the same run (a raw `tokio::sync::mpsc` channel moving the same
//! messages) or published (Watermill's GoChannel).
//!
//! Environment:
//! - `MQ_BENCH_SMOKE=1`: tiny sizes, one run (CI checks that it works, not how fast);
//! - `MQ_BENCH_MESSAGES=N`: messages per measurement (default 2,000,000);
//! - `MQ_BENCH_RUNS=R`: runs per figure, the median is reported (default 3);
//! - `MQ_BENCH_ONLY=router|publish|mpsc`: measure only that kind of figure (for profiling);
//! - `MQ_BENCH_PERF_CTL=FIFO`: write `enable` / `disable` to this `perf record --control`
//!   FIFO around each timed section, so a profile holds the timed work only (see
//!   `docs/benchmarks.md`).
//!
//! What is measured:
//! - **router subscribe**: N messages are published first (untimed, keys spread over
//!   the 16 partitions, capacity large enough to hold them all), then a `Router` with one
//!   ack-only consumer is started and timed until its handler has seen all N. Completion
//!   is detected with an atomic counter and a `Notify`, never by sleeping.
//! - **broker publish**: `MemoryBroker::publish` in batches of 1,000 pre-built messages,
//!   with a consumer group in place (so every message is kept).
//! - **raw mpsc**: a producer task sends the same pre-built messages through a bounded
//!   `tokio::sync::mpsc` channel to a consumer task that drops them: the floor any
//!   in-process queue pays.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mq::backend::memory::{MemoryBroker, MemoryConfig};
use mq::{consumer_fn, Message, Publisher, Router, RouterConfig};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, Notify};

const TOPIC: &str = "bench";
const GROUP: &str = "ack-only";
const SIZES: [usize; 3] = [16, 64, 256];
const PUBLISH_BATCH: usize = 1_000;
const KEYS: usize = 1_024;
const MPSC_CAPACITY: usize = 1_024;
const TARGET_SUBSCRIBE: f64 = 1_000_000.0;
const WATERMILL_GOCHANNEL_SUBSCRIBE: f64 = 118_943.0;

/// Messages handled in the current run, and the run's goal.
static HANDLED: AtomicUsize = AtomicUsize::new(0);
static GOAL: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Woken when `HANDLED` reaches `GOAL`.
static DONE: Notify = Notify::const_new();

#[derive(Clone, Copy)]
enum Flavor {
    CurrentThread,
    MultiThread2,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current_thread",
            Flavor::MultiThread2 => "multi_thread(2)",
        }
    }

    fn runtime(self) -> anyhow::Result<Runtime> {
        let rt = match self {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            Flavor::MultiThread2 => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?,
        };
        Ok(rt)
    }
}

struct Settings {
    messages: usize,
    runs: usize,
    smoke: bool,
    only: Option<String>,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let smoke = std::env::var("MQ_BENCH_SMOKE").is_ok_and(|v| v == "1");
        let number = |name: &str, default: usize| -> anyhow::Result<usize> {
            match std::env::var(name) {
                Ok(v) => Ok(v.replace(['_', ','], "").parse()?),
                Err(_) => Ok(default),
            }
        };
        let only = std::env::var("MQ_BENCH_ONLY")
            .ok()
            .filter(|v| !v.is_empty());
        Ok(if smoke {
            Self {
                messages: 5_000,
                runs: 1,
                smoke,
                only,
            }
        } else {
            Self {
                messages: number("MQ_BENCH_MESSAGES", 2_000_000)?.max(1),
                runs: number("MQ_BENCH_RUNS", 3)?.max(1),
                smoke,
                only,
            }
        })
    }

    /// True unless `MQ_BENCH_ONLY` names another kind of figure.
    fn wants(&self, kind: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == kind)
    }
}

/// Fresh messages, built the way an application builds them: a UUID v7 id, a key
/// (spread over the partitions) and a payload of `size` bytes, each its own allocation.
fn make_messages(n: usize, size: usize) -> Vec<Message> {
    (0..n)
        .map(|i| Message::new(Bytes::from(vec![b'x'; size])).with_key(format!("key-{}", i % KEYS)))
        .collect()
}

/// A broker that holds `n` messages without pushing back.
fn broker_for(n: usize) -> MemoryBroker {
    let config = MemoryConfig {
        partition_capacity: n.max(1),
        partition_capacity_bytes: usize::MAX / 2,
        ..MemoryConfig::default()
    };
    MemoryBroker::new(config)
}

async fn publish_all(broker: &MemoryBroker, messages: Vec<Message>) -> anyhow::Result<()> {
    let mut messages = messages.into_iter();
    loop {
        let batch: Vec<Message> = messages.by_ref().take(PUBLISH_BATCH).collect();
        if batch.is_empty() {
            return Ok(());
        }
        broker.publish(TOPIC, batch).await?;
    }
}

/// Tells a `perf record --control fifo:FIFO -D -1` session to sample (or to stop), so
/// that the profile holds only the timed sections. A no-op without `MQ_BENCH_PERF_CTL`.
fn perf_control(command: &str) {
    if let Ok(fifo) = std::env::var("MQ_BENCH_PERF_CTL") {
        if let Err(err) = std::fs::write(&fifo, format!("{command}\n")) {
            eprintln!("MQ_BENCH_PERF_CTL={fifo}: {err}");
        }
    }
}

/// Router subscribe: consume `n` pre-published messages with `members` handlers of one
/// consumer group, each handling `concurrency` lanes at once; returns the consuming time.
async fn router_subscribe(
    n: usize,
    size: usize,
    members: usize,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let broker = broker_for(n);
    broker.create_group(TOPIC, GROUP)?;
    publish_all(&broker, make_messages(n, size)).await?;
    anyhow::ensure!(
        broker.lag(TOPIC, GROUP)? == n as u64,
        "not every message was kept"
    );

    HANDLED.store(0, Ordering::SeqCst);
    GOAL.store(n, Ordering::SeqCst);
    let mut router = Router::new(RouterConfig::default());
    for member in 0..members {
        router
            .consumer(
                format!("{GROUP}-{member}"),
                TOPIC,
                broker.clone(),
                consumer_fn(|_m: Message| async {
                    if HANDLED.fetch_add(1, Ordering::Relaxed) + 1 == GOAL.load(Ordering::Relaxed) {
                        DONE.notify_one();
                    }
                    Ok(())
                }),
            )
            .group(GROUP)
            .concurrency(concurrency);
    }
    let handle = router.handle();

    perf_control("enable");
    let started = Instant::now();
    let running = tokio::spawn(router.run());
    DONE.notified().await;
    let elapsed = started.elapsed();
    perf_control("disable");

    handle.shutdown();
    running.await??;
    anyhow::ensure!(
        HANDLED.load(Ordering::SeqCst) == n,
        "handled {} of {n}",
        HANDLED.load(Ordering::SeqCst)
    );
    anyhow::ensure!(
        broker.lag(TOPIC, GROUP)? == 0,
        "messages left unacknowledged"
    );
    Ok(elapsed)
}

/// Broker publish: `n` pre-built messages in batches of `PUBLISH_BATCH`.
async fn broker_publish(n: usize, size: usize) -> anyhow::Result<Duration> {
    let broker = broker_for(n);
    broker.create_group(TOPIC, GROUP)?;
    let mut messages = make_messages(n, size).into_iter();
    let mut batches = Vec::with_capacity(n / PUBLISH_BATCH + 1);
    loop {
        let batch: Vec<Message> = messages.by_ref().take(PUBLISH_BATCH).collect();
        if batch.is_empty() {
            break;
        }
        batches.push(batch);
    }
    perf_control("enable");
    let started = Instant::now();
    for batch in batches {
        broker.publish(TOPIC, batch).await?;
    }
    let elapsed = started.elapsed();
    perf_control("disable");
    anyhow::ensure!(
        broker.lag(TOPIC, GROUP)? == n as u64,
        "not every message was kept"
    );
    Ok(elapsed)
}

/// Building messages: `Message::new` (a UUID v7 id), a key and a payload.
async fn build_messages(n: usize, size: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let messages = make_messages(n, size);
    let elapsed = started.elapsed();
    anyhow::ensure!(messages.len() == n, "built {} of {n}", messages.len());
    drop(messages);
    Ok(elapsed)
}

/// Raw tokio mpsc: the same messages from a producer task to a consumer task.
async fn raw_mpsc(n: usize, size: usize) -> anyhow::Result<Duration> {
    let messages = make_messages(n, size);
    let (tx, mut rx) = mpsc::channel::<Message>(MPSC_CAPACITY);
    let started = Instant::now();
    let consumer = tokio::spawn(async move {
        let mut received = 0usize;
        while let Some(msg) = rx.recv().await {
            drop(msg);
            received += 1;
        }
        received
    });
    let producer = tokio::spawn(async move {
        for msg in messages {
            if tx.send(msg).await.is_err() {
                break;
            }
        }
    });
    producer.await?;
    let received = consumer.await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(received == n, "received {received} of {n}");
    Ok(elapsed)
}

/// Runs `measure` `runs` times on `rt` and returns the median rate in messages per
/// second. Every run's rate goes to stderr, so the spread is visible.
fn median_rate<F, Fut>(
    label: &str,
    rt: &Runtime,
    runs: usize,
    n: usize,
    measure: F,
) -> anyhow::Result<f64>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Duration>>,
{
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        let elapsed = rt.block_on(measure())?;
        rates.push(n as f64 / elapsed.as_secs_f64().max(1e-9));
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let all: Vec<String> = rates.iter().map(|r| thousands(*r)).collect();
    eprintln!(
        "{label}: median {} msg/s (runs: {})",
        thousands(median),
        all.join(", ")
    );
    Ok(median)
}

fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

struct Row {
    figure: String,
    rate: f64,
    target: String,
    reference: String,
    ratio: String,
}

fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let n = settings.messages;
    let runs = settings.runs;
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "mq router_throughput: {} messages per measurement, median of {} run(s), {} CPU(s){}",
        thousands(n as f64),
        runs,
        cpus,
        if settings.smoke {
            " (MQ_BENCH_SMOKE: figures are meaningless)"
        } else {
            ""
        }
    );
    println!(
        "in-memory broker: {} partitions, router batch size {}, keys spread over {} keys",
        MemoryConfig::default().partitions,
        RouterConfig::default().batch_size,
        KEYS
    );

    let current = Flavor::CurrentThread.runtime()?;
    let multi = Flavor::MultiThread2.runtime()?;
    // (runtime, group members, lanes handled at once by each member)
    let router_cases = [
        (Flavor::CurrentThread, &current, 1usize, 1usize),
        (Flavor::MultiThread2, &multi, 1, 1),
        (Flavor::MultiThread2, &multi, 1, 2),
        (Flavor::MultiThread2, &multi, 2, 1),
    ];

    let mut rows = Vec::new();
    let mut best_router = 0.0f64;
    for size in SIZES {
        let mut floors = Vec::new();
        for (flavor, rt) in [
            (Flavor::CurrentThread, &current),
            (Flavor::MultiThread2, &multi),
        ] {
            if !settings.wants("mpsc") {
                floors.push((flavor.name(), f64::NAN));
                continue;
            }
            let label = format!("raw mpsc, {size} B, {}", flavor.name());
            let rate = median_rate(&label, rt, runs, n, || raw_mpsc(n, size))?;
            floors.push((flavor.name(), rate));
        }
        for (flavor, rt, members, concurrency) in router_cases {
            if !settings.wants("router") {
                continue;
            }
            let shape = if members == 1 {
                format!("concurrency {concurrency}")
            } else {
                format!("{members} group members, concurrency {concurrency} each")
            };
            let figure = format!("router subscribe, {size} B, {}, {shape}", flavor.name());
            let rate = median_rate(&figure, rt, runs, n, || {
                router_subscribe(n, size, members, concurrency)
            })?;
            best_router = best_router.max(rate);
            let floor = floors
                .iter()
                .find(|(name, _)| *name == flavor.name())
                .map_or(f64::NAN, |(_, r)| *r);
            rows.push(Row {
                figure,
                rate,
                target: format!(
                    ">= 1,000,000 ({})",
                    if rate >= TARGET_SUBSCRIBE {
                        "met"
                    } else {
                        "MISSED"
                    }
                ),
                reference: format!(
                    "raw mpsc {}: {} / Watermill GoChannel: 118,943",
                    flavor.name(),
                    thousands(floor)
                ),
                ratio: format!(
                    "{:.2}x mpsc / {:.1}x Watermill",
                    rate / floor,
                    rate / WATERMILL_GOCHANNEL_SUBSCRIBE
                ),
            });
        }
        if settings.wants("publish") {
            let figure = format!("MemoryBroker publish, {size} B, batches of {PUBLISH_BATCH}");
            let publish = median_rate(&figure, &current, runs, n, || broker_publish(n, size))?;
            let floor = floors.first().map_or(f64::NAN, |(_, r)| *r);
            rows.push(Row {
                figure,
                rate: publish,
                target: "-".into(),
                reference: format!("raw mpsc current_thread: {}", thousands(floor)),
                ratio: format!("{:.2}x mpsc", publish / floor),
            });
            let figure =
                format!("building messages (Message::new with UUID v7 id, key, payload), {size} B");
            let build = median_rate(&figure, &current, runs, n, || build_messages(n, size))?;
            rows.push(Row {
                figure,
                rate: build,
                target: "-".into(),
                reference: "-".into(),
                ratio: "-".into(),
            });
        }
        for (name, rate) in floors.into_iter().filter(|(_, r)| !r.is_nan()) {
            rows.push(Row {
                figure: format!("raw tokio mpsc (bounded {MPSC_CAPACITY}), {size} B, {name}"),
                rate,
                target: "-".into(),
                reference: "(the floor)".into(),
                ratio: "-".into(),
            });
        }
    }
    rows.push(Row {
        figure: "Watermill GoChannel subscribe (published figure, 16 vCPU)".into(),
        rate: WATERMILL_GOCHANNEL_SUBSCRIBE,
        target: "-".into(),
        reference: "external".into(),
        ratio: format!(
            "best router here: {:.1}x",
            best_router / WATERMILL_GOCHANNEL_SUBSCRIBE
        ),
    });

    println!();
    println!("| figure | msg/s | target | reference | ratio |");
    println!("|---|---:|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            row.figure,
            thousands(row.rate),
            row.target,
            row.reference,
            row.ratio
        );
    }
    Ok(())
}
