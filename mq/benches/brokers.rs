//! Publish and subscribe throughput of the Redis Streams and Kafka backends, each figure
//! beside the raw client's rate on the same server, measured in the same run.
//!
//! Run with `cargo bench -p mq --bench brokers --features redis,kafka` (or
//! `scripts/bench.sh`, which also starts the servers when none is given). Prints one
//! Markdown table per backend: the figure, its rate, the target from the product brief,
//! the reference and the ratio.
//!
//! Environment:
//! - `MQ_TEST_REDIS_URL`: the Redis server (default `redis://127.0.0.1:6379`);
//! - `MQ_TEST_KAFKA_BROKERS`: the Kafka-protocol broker (default `127.0.0.1:9092`);
//! - `MQ_BENCH_SMOKE=1`: tiny sizes, one run, one shape per figure (CI checks that it
//!   works, not how fast);
//! - `MQ_BENCH_MESSAGES=N`: messages per Redis measurement (default 200,000);
//! - `MQ_BENCH_KAFKA_MESSAGES=N`: messages per Kafka publish measurement (default 50,000);
//! - `MQ_BENCH_KAFKA_SUBSCRIBE_MESSAGES=N`: messages per Kafka subscribe measurement
//!   (default 1,000: tansu 0.6's sqlite engine serves fetches more and more slowly as a
//!   partition grows, and stalls for minutes past a few thousand records);
//! - `MQ_BENCH_RUNS=R`: runs per figure, the median is reported (default 3);
//! - `MQ_BENCH_ONLY=redis|kafka|redis-publish|redis-subscribe|kafka-publish|kafka-subscribe`:
//!   measure only those figures;
//! - `MQ_BENCH_PERF_CTL=FIFO`: write `enable` / `disable` to this `perf record --control`
//!   FIFO around each timed section of an `mq` figure (not around the raw references).
//!
//! What is measured (all on a 2-worker tokio runtime, messages with a UUID v7 id, one of
//! 1,024 keys and a payload of 16, 64 or 256 bytes, built before the timed section):
//! - **Redis publish**: `RedisBroker::publish` of batches of 1,000 by 1 or 4 concurrent
//!   tasks sharing one broker (one multiplexed connection), against the raw `redis`
//!   crate doing the same: one pipeline of 1,000 `XADD`s with the same fields (`id`,
//!   `key`, `payload`) to the same streams, from 1 or 4 tasks sharing one multiplexed
//!   connection; and `redis-benchmark` (C, `-P 1000`, same entry) when installed.
//! - **Redis subscribe**: messages pre-published (untimed), then a `Router` with an
//!   ack-only handler, timed from its start until the handler has seen them all; against
//!   a raw consumer that pipelines the `XACK`s of the previous reply with the next
//!   `XREADGROUP ... COUNT 256` over all the streams.
//! - **Kafka publish**: `KafkaBroker::publish` of batches of 1,000 against a raw rdkafka
//!   `FutureProducer` with the same settings (idempotent, `acks=all`, `murmur2_random`,
//!   `linger.ms` 5) enqueuing each batch of 1,000 with `send_result` and then awaiting
//!   its deliveries; a fresh 4-partition topic each.
//! - **Kafka subscribe** (64 B only, measured first while the broker is nearly empty):
//!   messages pre-published, then a `Router` (ack-only handler) in a new consumer group,
//!   timed from the first handled message to the last (joining the group is printed
//!   apart), against a raw `StreamConsumer` with the same settings storing each offset.
//!   A failure of these figures is reported in the table, not fatal.
//!
//! Every Redis key the benchmark creates is under a unique prefix and deleted after the
//! measurement. Every Kafka topic has a unique name (`mqbench-...`) and is left in place:
//! tansu 0.6 (sqlite engine) answers a `DeleteTopics` of one topic by emptying every
//! topic of the broker, which would break whatever else uses it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context as _};
use bytes::Bytes;
use mq::backend::kafka::{KafkaBroker, KafkaConfig};
use mq::backend::partition_for_key;
use mq::backend::redis::{RedisBroker, RedisConfig, TrimPolicy};
use mq::{consumer_fn, Message, Publisher, Router, RouterConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use redis::aio::MultiplexedConnection;
use redis::Value;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

const TOPIC: &str = "bench";
const SIZES: [usize; 3] = [16, 64, 256];
const PUBLISH_BATCH: usize = 1_000;
const KEYS: usize = 1_024;
/// Streams per topic for the Redis publish figures (the backend's default).
const REDIS_PUBLISH_PARTITIONS: u32 = 4;
const KAFKA_PARTITIONS: i32 = 4;
const TARGET_REDIS_SUBSCRIBE: f64 = 100_000.0;
const TARGET_PUBLISH_RATIO: f64 = 0.8;
const WATERMILL_REDIS_SUBSCRIBE: f64 = 11_213.0;
const WATERMILL_REDIS_PUBLISH: f64 = 61_642.0;
const WATERMILL_KAFKA_PUBLISH: f64 = 44_090.0;

struct Settings {
    redis_url: String,
    kafka_brokers: String,
    redis_messages: usize,
    kafka_messages: usize,
    kafka_subscribe_messages: usize,
    runs: usize,
    smoke: bool,
    only: Option<String>,
    run_id: String,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let smoke = std::env::var("MQ_BENCH_SMOKE").is_ok_and(|v| v == "1");
        let number = |name: &str, default: usize| -> anyhow::Result<usize> {
            match std::env::var(name) {
                Ok(v) => Ok(v
                    .replace(['_', ','], "")
                    .parse()
                    .with_context(|| format!("{name}={v}"))?),
                Err(_) => Ok(default),
            }
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Ok(Self {
            redis_url: std::env::var("MQ_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            kafka_brokers: std::env::var("MQ_TEST_KAFKA_BROKERS")
                .unwrap_or_else(|_| "127.0.0.1:9092".into()),
            redis_messages: if smoke {
                2_000
            } else {
                number("MQ_BENCH_MESSAGES", 200_000)?.max(1)
            },
            kafka_messages: if smoke {
                300
            } else {
                number("MQ_BENCH_KAFKA_MESSAGES", 50_000)?.max(2)
            },
            kafka_subscribe_messages: if smoke {
                300
            } else {
                number("MQ_BENCH_KAFKA_SUBSCRIBE_MESSAGES", 1_000)?.max(2)
            },
            runs: if smoke {
                1
            } else {
                number("MQ_BENCH_RUNS", 3)?.max(1)
            },
            smoke,
            only: std::env::var("MQ_BENCH_ONLY")
                .ok()
                .filter(|v| !v.is_empty()),
            run_id: format!("{:x}{:x}", nanos % (1 << 48), std::process::id()),
        })
    }

    /// True unless `MQ_BENCH_ONLY` names other figures (`redis` selects every
    /// `redis-*` figure).
    fn wants(&self, kind: &str) -> bool {
        self.only
            .as_deref()
            .is_none_or(|only| kind == only || kind.starts_with(&format!("{only}-")))
    }

    fn sizes(&self) -> &'static [usize] {
        if self.smoke {
            &SIZES[1..2]
        } else {
            &SIZES
        }
    }

    fn publishers(&self) -> &'static [usize] {
        if self.smoke {
            &[1]
        } else {
            &[1, 4]
        }
    }

    /// (streams per topic, router concurrency) of the Redis subscribe figures.
    fn redis_shapes(&self) -> &'static [(u32, usize)] {
        if self.smoke {
            &[(4, 1)]
        } else {
            &[(4, 1), (4, 4), (8, 1), (8, 4)]
        }
    }

    fn kafka_concurrency(&self) -> &'static [usize] {
        if self.smoke {
            &[1]
        } else {
            &[1, 4]
        }
    }

    /// A name no other run or measurement uses.
    fn unique(&self, what: &str) -> String {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        format!(
            "{what}-{}-{}",
            self.run_id,
            SEQ.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// Fresh messages, built the way an application builds them.
fn make_messages(n: usize, size: usize) -> Vec<Message> {
    (0..n)
        .map(|i| Message::new(Bytes::from(vec![b'x'; size])).with_key(format!("key-{}", i % KEYS)))
        .collect()
}

/// `messages` cut into batches of `PUBLISH_BATCH`, dealt round robin to `publishers`.
fn deal(messages: Vec<Message>, publishers: usize) -> Vec<Vec<Vec<Message>>> {
    let mut out: Vec<Vec<Vec<Message>>> = (0..publishers.max(1)).map(|_| Vec::new()).collect();
    let mut messages = messages.into_iter();
    let mut i = 0;
    loop {
        let batch: Vec<Message> = messages.by_ref().take(PUBLISH_BATCH).collect();
        if batch.is_empty() {
            return out;
        }
        let slot = i % out.len();
        out[slot].push(batch);
        i += 1;
    }
}

fn perf_control(command: &str) {
    if let Ok(fifo) = std::env::var("MQ_BENCH_PERF_CTL") {
        if let Err(err) = std::fs::write(&fifo, format!("{command}\n")) {
            eprintln!("MQ_BENCH_PERF_CTL={fifo}: {err}");
        }
    }
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Counts handled messages; remembers when the first and the last were handled.
struct Progress {
    handled: AtomicUsize,
    goal: usize,
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
    done: Notify,
}

impl Progress {
    fn new(goal: usize) -> Arc<Self> {
        Arc::new(Self {
            handled: AtomicUsize::new(0),
            goal,
            first: Mutex::new(None),
            last: Mutex::new(None),
            done: Notify::new(),
        })
    }

    fn hit(&self) {
        let count = self.handled.fetch_add(1, Ordering::Relaxed) + 1;
        if count == 1 {
            if let Ok(mut first) = self.first.lock() {
                *first = Some(Instant::now());
            }
        }
        if count == self.goal {
            if let Ok(mut last) = self.last.lock() {
                *last = Some(Instant::now());
            }
            self.done.notify_one();
        }
    }

    fn first(&self) -> Option<Instant> {
        self.first.lock().ok().and_then(|g| *g)
    }

    fn last(&self) -> Option<Instant> {
        self.last.lock().ok().and_then(|g| *g)
    }
}

/// One timed section: its rate and, where measured, the CPU time the benchmark process
/// spent per message (user + system, all its threads; the servers are other processes).
#[derive(Clone, Copy)]
struct Sample {
    rate: f64,
    cpu_us: Option<f64>,
    /// The Redis server's CPU time per message (`INFO cpu`), for Redis figures.
    server_us: Option<f64>,
}

/// CPU time of this process in clock ticks: `utime + stime` of `/proc/self/stat`
/// (`USER_HZ`, 100 per second on Linux).
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command name: state is field 3, utime 14, stime 15.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Wall-clock and CPU time since a timed section started.
struct Clock {
    wall: Instant,
    cpu: Option<u64>,
}

impl Clock {
    fn start() -> Self {
        Self {
            cpu: cpu_ticks(),
            wall: Instant::now(),
        }
    }

    /// Microseconds of CPU per message so far.
    fn cpu_per(&self, n: usize) -> Option<f64> {
        let (start, now) = self.cpu.zip(cpu_ticks())?;
        Some(now.saturating_sub(start) as f64 * 10_000.0 / n.max(1) as f64)
    }

    fn stop(&self, n: usize) -> Sample {
        let elapsed = self.wall.elapsed();
        Sample {
            rate: rate(n, elapsed),
            cpu_us: self.cpu_per(n),
            server_us: None,
        }
    }
}

type Measure<'a> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<Sample>> + 'a>> + 'a>;

/// A labelled measurement for [`interleaved`].
fn case<'a, F, Fut>(label: String, measure: F) -> (String, Measure<'a>)
where
    F: Fn() -> Fut + 'a,
    Fut: Future<Output = anyhow::Result<Sample>> + 'a,
{
    (label, Box::new(move || Box::pin(measure())))
}

/// Runs every case once per run, one after the other (so that a machine getting busier
/// or quieter affects them alike), and returns each case's median. Every run goes to
/// stderr, so the spread is visible.
fn interleaved(
    rt: &Runtime,
    runs: usize,
    cases: Vec<(String, Measure<'_>)>,
) -> anyhow::Result<Vec<Sample>> {
    let mut samples: Vec<Vec<Sample>> = cases.iter().map(|_| Vec::with_capacity(runs)).collect();
    for _ in 0..runs.max(1) {
        for ((label, measure), out) in cases.iter().zip(samples.iter_mut()) {
            out.push(rt.block_on(measure()).with_context(|| label.clone())?);
        }
    }
    let mut medians = Vec::with_capacity(cases.len());
    for ((label, _), mut runs) in cases.iter().zip(samples) {
        runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        let rate = runs[runs.len() / 2].rate;
        let median_of = |f: fn(&Sample) -> Option<f64>| {
            let mut values: Vec<f64> = runs.iter().filter_map(f).collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied()
        };
        let cpu_us = median_of(|r| r.cpu_us);
        let server_us = median_of(|r| r.server_us);
        let all: Vec<String> = runs.iter().map(|r| thousands(r.rate)).collect();
        eprintln!(
            "{label}: median {} msg/s (runs: {}){}{}",
            thousands(rate),
            all.join(", "),
            cpu_us
                .map(|c| format!("; client CPU {c:.2} us/msg"))
                .unwrap_or_default(),
            server_us
                .map(|c| format!("; Redis server CPU {c:.2} us/msg"))
                .unwrap_or_default()
        );
        medians.push(Sample {
            rate,
            cpu_us,
            server_us,
        });
    }
    Ok(medians)
}

/// "client CPU" or "client / server CPU" in microseconds per message.
fn cpu_text(sample: Sample) -> String {
    let us = |v: Option<f64>| v.map_or_else(|| "?".into(), |c| format!("{c:.2}"));
    match sample.server_us {
        Some(_) => format!("{}/{}", us(sample.cpu_us), us(sample.server_us)),
        None => us(sample.cpu_us),
    }
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

fn print_table(title: &str, rows: &[Row]) {
    println!();
    println!("{title}");
    println!();
    println!("| figure | msg/s | target | reference (same run) | ratio |");
    println!("|---|---:|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            row.figure,
            thousands(row.rate),
            row.target,
            row.reference,
            row.ratio
        );
    }
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

// ---------------------------------------------------------------------------------
// Redis

fn stream_key(prefix: &str, lane: u32) -> String {
    format!("{prefix}{TOPIC}:{lane}")
}

fn redis_config(url: &str, prefix: &str, partitions: u32) -> RedisConfig {
    let mut config = RedisConfig::new(url);
    config.key_prefix = prefix.to_owned();
    config.partitions = partitions;
    // The subscribe figures read one pre-published topic with several groups in turn.
    config.trim = TrimPolicy::Never;
    config
}

async fn redis_conn(url: &str) -> anyhow::Result<MultiplexedConnection> {
    Ok(redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?)
}

/// CPU seconds the Redis server has used (`used_cpu_user + used_cpu_sys` of `INFO cpu`).
async fn redis_server_cpu(conn: &mut MultiplexedConnection) -> Option<f64> {
    let info: String = redis::cmd("INFO").arg("cpu").query_async(conn).await.ok()?;
    let field = |name: &str| -> Option<f64> {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
    };
    Some(field("used_cpu_user")? + field("used_cpu_sys")?)
}

/// The server's CPU microseconds per message between two `redis_server_cpu` readings.
fn server_per(before: Option<f64>, after: Option<f64>, n: usize) -> Option<f64> {
    let (before, after) = before.zip(after)?;
    Some((after - before).max(0.0) * 1e6 / n.max(1) as f64)
}

/// Entries in the topic's streams.
async fn redis_entries(
    conn: &mut MultiplexedConnection,
    prefix: &str,
    partitions: u32,
) -> anyhow::Result<usize> {
    let mut total = 0;
    for lane in 0..partitions {
        let len: usize = redis::cmd("XLEN")
            .arg(stream_key(prefix, lane))
            .query_async(conn)
            .await?;
        total += len;
    }
    Ok(total)
}

/// Entries delivered to `group` and not acknowledged, over the topic's streams.
async fn redis_pending(
    conn: &mut MultiplexedConnection,
    prefix: &str,
    partitions: u32,
    group: &str,
) -> anyhow::Result<usize> {
    let mut total = 0;
    for lane in 0..partitions {
        let reply: Value = redis::cmd("XPENDING")
            .arg(stream_key(prefix, lane))
            .arg(group)
            .query_async(conn)
            .await?;
        if let Value::Array(items) = reply {
            if let Some(Value::Int(n)) = items.first() {
                total += usize::try_from(*n).unwrap_or(0);
            }
        }
    }
    Ok(total)
}

/// Deletes every key under `prefix`.
async fn redis_cleanup(conn: &mut MultiplexedConnection, prefix: &str) -> anyhow::Result<()> {
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, mut found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1_000)
            .query_async(conn)
            .await?;
        keys.append(&mut found);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for chunk in keys.chunks(500) {
        let _: usize = redis::cmd("DEL").arg(chunk).query_async(conn).await?;
    }
    Ok(())
}

/// `RedisBroker::publish` of `n` messages in batches, from `publishers` tasks.
async fn redis_mq_publish(
    s: &Settings,
    n: usize,
    size: usize,
    publishers: usize,
) -> anyhow::Result<Sample> {
    let prefix = format!("{}:", s.unique("mqbench"));
    let mut conn = redis_conn(&s.redis_url).await?;
    let broker = RedisBroker::connect(redis_config(
        &s.redis_url,
        &prefix,
        REDIS_PUBLISH_PARTITIONS,
    ))
    .await?;
    let work = deal(make_messages(n, size), publishers);
    perf_control("enable");
    let server_before = redis_server_cpu(&mut conn).await;
    let clock = Clock::start();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|batches| {
            let broker = broker.clone();
            tokio::spawn(async move {
                for batch in batches {
                    broker.publish(TOPIC, batch).await?;
                }
                Ok::<(), mq::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let mut sample = clock.stop(n);
    sample.server_us = server_per(server_before, redis_server_cpu(&mut conn).await, n);
    perf_control("disable");
    let kept = redis_entries(&mut conn, &prefix, REDIS_PUBLISH_PARTITIONS).await?;
    redis_cleanup(&mut conn, &prefix).await?;
    ensure!(kept == n, "{kept} entries of {n}");
    Ok(sample)
}

/// The raw client: one pipeline of `XADD`s per batch, same fields, same streams.
async fn redis_raw_publish(
    s: &Settings,
    n: usize,
    size: usize,
    publishers: usize,
) -> anyhow::Result<Sample> {
    let prefix = format!("{}:", s.unique("mqbench"));
    let mut conn = redis_conn(&s.redis_url).await?;
    let streams: Arc<[String]> = (0..REDIS_PUBLISH_PARTITIONS)
        .map(|lane| stream_key(&prefix, lane))
        .collect();
    let work = deal(make_messages(n, size), publishers);
    let server_before = redis_server_cpu(&mut conn).await;
    let clock = Clock::start();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|batches| {
            let mut conn = conn.clone();
            let streams = Arc::clone(&streams);
            tokio::spawn(async move {
                for batch in batches {
                    let mut pipe = redis::pipe();
                    for msg in &batch {
                        let key = msg.key().unwrap_or_default();
                        let lane = partition_for_key(key, REDIS_PUBLISH_PARTITIONS) as usize;
                        pipe.cmd("XADD")
                            .arg(&streams[lane])
                            .arg("*")
                            .arg("id")
                            .arg(msg.id())
                            .arg("key")
                            .arg(key)
                            .arg("payload")
                            .arg(msg.payload().as_ref())
                            .ignore();
                    }
                    pipe.query_async::<()>(&mut conn).await?;
                }
                Ok::<(), redis::RedisError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let mut sample = clock.stop(n);
    sample.server_us = server_per(server_before, redis_server_cpu(&mut conn).await, n);
    let kept = redis_entries(&mut conn, &prefix, REDIS_PUBLISH_PARTITIONS).await?;
    redis_cleanup(&mut conn, &prefix).await?;
    ensure!(kept == n, "{kept} entries of {n}");
    Ok(sample)
}

/// Host and port of a plain `redis://host:port[/db]` URL (`None` with credentials or TLS).
fn redis_host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("redis://")?;
    let authority = rest.split('/').next()?;
    if authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().ok()?),
        None => (authority.to_owned(), 6379),
    };
    Some((host, port))
}

/// Whether `redis-benchmark` can be run against the server (installed, plain URL).
fn redis_benchmark_available(url: &str) -> bool {
    redis_host_port(url).is_some()
        && std::process::Command::new("redis-benchmark")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// `redis-benchmark` sending the same entry (`-P 1000`, `clients` connections, keys
/// spread over the topic's streams by `-r`); the rate is the one it reports.
async fn redis_benchmark_xadd(
    s: &Settings,
    n: usize,
    size: usize,
    clients: usize,
) -> anyhow::Result<Sample> {
    let Some((host, port)) = redis_host_port(&s.redis_url) else {
        bail!("redis-benchmark needs a plain redis://host:port URL");
    };
    let prefix = format!("{}:", s.unique("mqbench"));
    let id = uuid::Uuid::now_v7().to_string();
    let mut conn = redis_conn(&s.redis_url).await?;
    let server_before = redis_server_cpu(&mut conn).await;
    let output = tokio::process::Command::new("redis-benchmark")
        .args(["-h", &host, "-p", &port.to_string()])
        .args(["-n", &n.to_string(), "-P", &PUBLISH_BATCH.to_string()])
        .args(["-c", &clients.to_string()])
        .args(["-r", &REDIS_PUBLISH_PARTITIONS.to_string(), "--csv"])
        .arg("XADD")
        .arg(format!("{prefix}rb:__rand_int__"))
        .args(["*", "id", &id, "key", "key-1", "payload", &"x".repeat(size)])
        .output()
        .await;
    let server_after = redis_server_cpu(&mut conn).await;
    let output = output?;
    redis_cleanup(&mut conn, &prefix).await?;
    ensure!(
        output.status.success(),
        "redis-benchmark: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // CSV: a header line, then `"XADD ...","rps",...`.
    let text = String::from_utf8_lossy(&output.stdout);
    let rps = text
        .lines()
        .filter(|l| l.starts_with("\"XADD"))
        .find_map(|l| {
            l.split("\",\"")
                .nth(1)
                .and_then(|v| v.trim_matches('"').parse::<f64>().ok())
        });
    match rps {
        Some(rate) => Ok(Sample {
            rate,
            cpu_us: None,
            server_us: server_per(server_before, server_after, n),
        }),
        None => bail!("unexpected redis-benchmark output: {text}"),
    }
}

/// Publishes `n` messages into a fresh topic of `partitions` streams (untimed).
async fn redis_prepare(
    s: &Settings,
    prefix: &str,
    partitions: u32,
    n: usize,
    size: usize,
) -> anyhow::Result<()> {
    let broker = RedisBroker::connect(redis_config(&s.redis_url, prefix, partitions)).await?;
    for batches in deal(make_messages(n, size), 1) {
        for batch in batches {
            broker.publish(TOPIC, batch).await?;
        }
    }
    let mut conn = redis_conn(&s.redis_url).await?;
    let kept = redis_entries(&mut conn, prefix, partitions).await?;
    ensure!(kept == n, "{kept} entries of {n}");
    Ok(())
}

/// A `Router` with an ack-only handler consuming the `n` pre-published messages in a
/// new group; timed from the router's start to the last message handled.
async fn redis_router_subscribe(
    s: &Settings,
    prefix: &str,
    partitions: u32,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Sample> {
    let group = s.unique("g");
    let broker = RedisBroker::connect(redis_config(&s.redis_url, prefix, partitions)).await?;
    let progress = Progress::new(n);
    let mut router = Router::new(RouterConfig::default());
    let counter = Arc::clone(&progress);
    router
        .consumer(
            "ack-only",
            TOPIC,
            broker,
            consumer_fn(move |_m: Message| {
                counter.hit();
                async { Ok(()) }
            }),
        )
        .group(&group)
        .concurrency(concurrency);
    let handle = router.handle();
    let mut conn = redis_conn(&s.redis_url).await?;
    let server_before = redis_server_cpu(&mut conn).await;
    perf_control("enable");
    let clock = Clock::start();
    let running = tokio::spawn(router.run());
    tokio::time::timeout(Duration::from_secs(300), progress.done.notified())
        .await
        .context("timed out waiting for the router")?;
    let sample = Sample {
        rate: rate(n, progress.last().unwrap_or_else(Instant::now) - clock.wall),
        cpu_us: clock.cpu_per(n),
        server_us: server_per(server_before, redis_server_cpu(&mut conn).await, n),
    };
    perf_control("disable");
    handle.shutdown();
    running.await??;
    let handled = progress.handled.load(Ordering::SeqCst);
    ensure!(handled >= n, "handled {handled} of {n}");
    let pending = redis_pending(&mut conn, prefix, partitions, &group).await?;
    ensure!(pending == 0, "{pending} entries left unacknowledged");
    Ok(sample)
}

/// The raw consumer: one round trip per reply, carrying the `XACK`s of the previous
/// reply (one per stream) and the next `XREADGROUP ... COUNT 256` over every stream.
async fn redis_raw_subscribe(
    s: &Settings,
    prefix: &str,
    partitions: u32,
    n: usize,
) -> anyhow::Result<Sample> {
    let group = s.unique("g");
    let mut conn = redis_conn(&s.redis_url).await?;
    let streams: Vec<String> = (0..partitions).map(|l| stream_key(prefix, l)).collect();
    for stream in &streams {
        let _: Value = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(&group)
            .arg("0")
            .query_async(&mut conn)
            .await?;
    }
    let batch = RouterConfig::default().batch_size;
    let server_before = redis_server_cpu(&mut conn).await;
    let clock = Clock::start();
    let mut acks: Vec<Vec<Vec<u8>>> = vec![Vec::new(); streams.len()];
    let mut got = 0usize;
    let mut payload_bytes = 0usize;
    while got < n {
        let mut pipe = redis::pipe();
        for (lane, ids) in acks.iter().enumerate() {
            if !ids.is_empty() {
                pipe.cmd("XACK")
                    .arg(&streams[lane])
                    .arg(&group)
                    .arg(ids)
                    .ignore();
            }
        }
        pipe.cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&group)
            .arg("raw")
            .arg("COUNT")
            .arg(batch)
            .arg("STREAMS")
            .arg(&streams)
            .arg(vec![">"; streams.len()]);
        let (reply,): (Value,) = pipe.query_async(&mut conn).await?;
        acks.iter_mut().for_each(Vec::clear);
        let before = got;
        for (stream, entries) in read_reply(reply) {
            let Some(lane) = streams.iter().position(|s| s.as_bytes() == stream) else {
                bail!("reply for an unknown stream");
            };
            for (id, fields) in entries {
                payload_bytes += fields;
                acks[lane].push(id);
                got += 1;
            }
        }
        ensure!(got > before, "the streams ran dry after {got} of {n}");
    }
    let mut pipe = redis::pipe();
    for (lane, ids) in acks.iter().enumerate() {
        if !ids.is_empty() {
            pipe.cmd("XACK")
                .arg(&streams[lane])
                .arg(&group)
                .arg(ids)
                .ignore();
        }
    }
    pipe.query_async::<()>(&mut conn).await?;
    let mut sample = clock.stop(n);
    sample.server_us = server_per(server_before, redis_server_cpu(&mut conn).await, n);
    ensure!(payload_bytes > 0, "no fields read");
    let pending = redis_pending(&mut conn, prefix, partitions, &group).await?;
    ensure!(pending == 0, "{pending} entries left unacknowledged");
    Ok(sample)
}

fn bulk(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        Value::SimpleString(s) => s.into_bytes(),
        _ => Vec::new(),
    }
}

/// An entry of a raw read: its id and the bytes of its field values.
type RawEntry = (Vec<u8>, usize);

/// `[[stream, [[id, [field, value, ...]], ...]], ...]` (or a RESP3 map) as
/// `(stream, [(id, bytes of the field values)])`.
fn read_reply(v: Value) -> Vec<(Vec<u8>, Vec<RawEntry>)> {
    let streams: Vec<(Value, Value)> = match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::Array(mut kv) if kv.len() == 2 => {
                    let entries = kv.pop()?;
                    let key = kv.pop()?;
                    Some((key, entries))
                }
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs,
        _ => Vec::new(),
    };
    streams
        .into_iter()
        .map(|(key, entries)| {
            let entries = match entries {
                Value::Array(list) => list
                    .into_iter()
                    .filter_map(|entry| match entry {
                        Value::Array(mut pair) if pair.len() == 2 => {
                            let fields = match pair.pop()? {
                                Value::Array(f) => f.into_iter().map(|x| bulk(x).len()).sum(),
                                _ => 0,
                            };
                            Some((bulk(pair.pop()?), fields))
                        }
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (bulk(key), entries)
        })
        .collect()
}

fn redis_figures(s: &Settings, rt: &Runtime) -> anyhow::Result<Vec<Row>> {
    let n = s.redis_messages;
    let runs = s.runs;
    let mut rows = Vec::new();
    if s.wants("redis-publish") {
        let with_redis_benchmark = redis_benchmark_available(&s.redis_url);
        for &size in s.sizes() {
            for &publishers in s.publishers() {
                let shape = format!(
                    "{size} B, batches of {PUBLISH_BATCH}, {publishers} publisher{}",
                    if publishers == 1 { "" } else { "s" }
                );
                let figure = format!("RedisBroker::publish, {shape}");
                let mut cases = vec![
                    case(format!("raw XADD pipeline, {shape}"), move || {
                        redis_raw_publish(s, n, size, publishers)
                    }),
                    case(figure.clone(), move || {
                        redis_mq_publish(s, n, size, publishers)
                    }),
                ];
                if with_redis_benchmark {
                    cases.push(case(
                        format!(
                            "redis-benchmark XADD -P {PUBLISH_BATCH} -c {publishers}, {size} B"
                        ),
                        move || redis_benchmark_xadd(s, n, size, publishers),
                    ));
                }
                let medians = interleaved(rt, runs, cases)?;
                let (raw, ours) = (medians[0], medians[1]);
                let ratio = ours.rate / raw.rate;
                rows.push(Row {
                    figure,
                    rate: ours.rate,
                    target: format!(">= 80% of raw ({})", met(ratio >= TARGET_PUBLISH_RATIO)),
                    reference: format!("raw pipelined XADD (redis crate): {}", thousands(raw.rate)),
                    ratio: format!(
                        "{ratio:.2}x raw ({} vs {} us CPU/msg); {:.1}x Watermill",
                        cpu_text(ours),
                        cpu_text(raw),
                        ours.rate / WATERMILL_REDIS_PUBLISH
                    ),
                });
                if let Some(bench) = medians.get(2) {
                    rows.push(Row {
                        figure: format!(
                            "redis-benchmark XADD, {size} B, -P {PUBLISH_BATCH} -c {publishers}"
                        ),
                        rate: bench.rate,
                        target: "-".into(),
                        reference: "(C client, one stream per -r key)".into(),
                        ratio: format!("mq publish: {:.2}x of it", ours.rate / bench.rate),
                    });
                }
            }
        }
    }
    if s.wants("redis-subscribe") {
        for &size in s.sizes() {
            let mut partitions_done: Vec<u32> = Vec::new();
            for &(partitions, _) in s.redis_shapes() {
                if partitions_done.contains(&partitions) {
                    continue;
                }
                partitions_done.push(partitions);
                let prefix = format!("{}:", s.unique("mqbench"));
                let outcome = (|| -> anyhow::Result<()> {
                    rt.block_on(redis_prepare(s, &prefix, partitions, n, size))?;
                    let prefix = prefix.as_str();
                    let concurrencies: Vec<usize> = s
                        .redis_shapes()
                        .iter()
                        .filter(|(p, _)| *p == partitions)
                        .map(|(_, c)| *c)
                        .collect();
                    let mut cases = vec![case(
                        format!("raw XREADGROUP + XACK, {size} B, {partitions} streams"),
                        move || redis_raw_subscribe(s, prefix, partitions, n),
                    )];
                    for &concurrency in &concurrencies {
                        cases.push(case(
                            format!(
                                "router subscribe, {size} B, {partitions} streams, concurrency {concurrency}"
                            ),
                            move || redis_router_subscribe(s, prefix, partitions, n, concurrency),
                        ));
                    }
                    let labels: Vec<String> = cases.iter().map(|(l, _)| l.clone()).collect();
                    let medians = interleaved(rt, runs, cases)?;
                    let raw = medians[0];
                    for (figure, ours) in labels.into_iter().zip(medians).skip(1) {
                        rows.push(Row {
                            figure,
                            rate: ours.rate,
                            target: format!(
                                ">= 100,000 ({})",
                                met(ours.rate >= TARGET_REDIS_SUBSCRIBE)
                            ),
                            reference: format!(
                                "raw XREADGROUP COUNT {} + XACK: {} / Watermill: 11,213",
                                RouterConfig::default().batch_size,
                                thousands(raw.rate)
                            ),
                            ratio: format!(
                                "{:.2}x raw ({} vs {} us CPU/msg); {:.1}x Watermill",
                                ours.rate / raw.rate,
                                cpu_text(ours),
                                cpu_text(raw),
                                ours.rate / WATERMILL_REDIS_SUBSCRIBE
                            ),
                        });
                    }
                    Ok(())
                })();
                let cleaned = rt.block_on(async {
                    let mut conn = redis_conn(&s.redis_url).await?;
                    redis_cleanup(&mut conn, &prefix).await
                });
                outcome?;
                cleaned?;
            }
        }
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------
// Kafka

/// The producer settings `KafkaBroker` uses, for the raw reference.
fn raw_producer(s: &Settings) -> anyhow::Result<FutureProducer> {
    let defaults = KafkaConfig::new(&s.kafka_brokers);
    Ok(ClientConfig::new()
        .set("bootstrap.servers", &s.kafka_brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", defaults.linger.as_millis().to_string())
        .set("message.timeout.ms", "30000")
        .set("message.max.bytes", defaults.max_message_bytes.to_string())
        .create()?)
}

/// The consumer settings `KafkaBroker` uses, for the raw reference.
fn raw_consumer(s: &Settings, group: &str) -> anyhow::Result<StreamConsumer> {
    let defaults = KafkaConfig::new(&s.kafka_brokers);
    Ok(ClientConfig::new()
        .set("bootstrap.servers", &s.kafka_brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "true")
        .set(
            "auto.commit.interval.ms",
            defaults.commit_interval.as_millis().to_string(),
        )
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set(
            "session.timeout.ms",
            defaults.session_timeout.as_millis().to_string(),
        )
        .set(
            "fetch.max.bytes",
            (defaults.max_message_bytes.max(1_048_576) * 2).to_string(),
        )
        .create()?)
}

struct Kafka {
    broker: KafkaBroker,
    producer: FutureProducer,
}

impl Kafka {
    async fn new_topic(&self, s: &Settings) -> anyhow::Result<String> {
        let topic = s.unique("mqbench");
        self.broker.create_topic(&topic, KAFKA_PARTITIONS).await?;
        Ok(topic)
    }

    /// Gets both producers their connections, metadata and idempotent producer ids
    /// before anything is timed.
    async fn warm_up(&self, s: &Settings) -> anyhow::Result<()> {
        let topic = self.new_topic(s).await?;
        self.broker.publish(&topic, make_messages(10, 16)).await?;
        for msg in make_messages(10, 16) {
            let record = FutureRecord::<[u8], [u8]>::to(&topic)
                .payload(msg.payload().as_ref())
                .key(msg.key().unwrap_or_default().as_bytes());
            if let Err((err, _)) = self.producer.send(record, Duration::from_secs(30)).await {
                bail!("warming up the raw producer: {err}");
            }
        }
        Ok(())
    }

    /// Records in `topic` (sum of the partitions' high watermarks).
    async fn records(&self, topic: &str) -> anyhow::Result<usize> {
        let producer = self.producer.clone();
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer as _;
            let mut total = 0i64;
            for p in 0..KAFKA_PARTITIONS {
                let (low, high) =
                    producer
                        .client()
                        .fetch_watermarks(&topic, p, Duration::from_secs(10))?;
                total += high - low;
            }
            Ok(usize::try_from(total).unwrap_or(0))
        })
        .await?
    }
}

async fn kafka_mq_publish(
    k: &Kafka,
    s: &Settings,
    n: usize,
    size: usize,
) -> anyhow::Result<Sample> {
    let topic = k.new_topic(s).await?;
    let batches = deal(make_messages(n, size), 1).into_iter().flatten();
    perf_control("enable");
    let clock = Clock::start();
    for batch in batches {
        k.broker.publish(&topic, batch).await?;
    }
    let sample = clock.stop(n);
    perf_control("disable");
    let kept = k.records(&topic).await?;
    ensure!(kept == n, "{kept} records of {n}");
    Ok(sample)
}

/// The raw producer: each batch enqueued with `send_result` (same key, payload and
/// `mq-id` header), then its deliveries awaited.
async fn kafka_raw_publish(
    k: &Kafka,
    s: &Settings,
    n: usize,
    size: usize,
) -> anyhow::Result<Sample> {
    let topic = k.new_topic(s).await?;
    let batches = deal(make_messages(n, size), 1).into_iter().flatten();
    let clock = Clock::start();
    for batch in batches {
        let mut pending: Vec<DeliveryFuture> = Vec::with_capacity(batch.len());
        for msg in &batch {
            let headers = OwnedHeaders::new_with_capacity(1).insert(Header {
                key: "mq-id",
                value: Some(msg.id().as_bytes()),
            });
            let mut record = FutureRecord::<[u8], [u8]>::to(&topic)
                .payload(msg.payload().as_ref())
                .headers(headers);
            if let Some(key) = msg.key() {
                record = record.key(key.as_bytes());
            }
            match k.producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((err, _)) => bail!("enqueueing: {err}"),
            }
        }
        for delivery in pending {
            if let Err((err, _)) = delivery.await? {
                bail!("delivery: {err}");
            }
        }
    }
    let sample = clock.stop(n);
    let kept = k.records(&topic).await?;
    ensure!(kept == n, "{kept} records of {n}");
    Ok(sample)
}

/// A `Router` with an ack-only handler in a new group; the rate is taken from the first
/// message handled to the last (the group join before is printed apart).
async fn kafka_router_subscribe(
    k: &Kafka,
    s: &Settings,
    topic: &str,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Sample> {
    let progress = Progress::new(n);
    let mut router = Router::new(RouterConfig::default());
    let counter = Arc::clone(&progress);
    router
        .consumer(
            "ack-only",
            topic,
            k.broker.clone(),
            consumer_fn(move |_m: Message| {
                counter.hit();
                async { Ok(()) }
            }),
        )
        .group(s.unique("g"))
        .concurrency(concurrency);
    let handle = router.handle();
    let started = Instant::now();
    let running = tokio::spawn(router.run());
    let waited = tokio::time::timeout(Duration::from_secs(120), progress.done.notified()).await;
    handle.shutdown();
    running.await??;
    let handled = progress.handled.load(Ordering::SeqCst);
    ensure!(
        waited.is_ok() && handled >= n,
        "the router handled {handled} of {n} in 120 s"
    );
    let (Some(first), Some(last)) = (progress.first(), progress.last()) else {
        bail!("no timestamps");
    };
    eprintln!(
        "  router, concurrency {concurrency}: first message {:.2} s after the start",
        (first - started).as_secs_f64()
    );
    Ok(Sample {
        rate: rate(n - 1, last - first),
        cpu_us: None,
        server_us: None,
    })
}

/// The raw consumer: `recv` and `store_offset_from_message` for every record.
async fn kafka_raw_subscribe(s: &Settings, topic: &str, n: usize) -> anyhow::Result<Sample> {
    let consumer = raw_consumer(s, &s.unique("g"))?;
    consumer.subscribe(&[topic])?;
    let started = Instant::now();
    let mut first = None;
    let mut got = 0usize;
    while got < n {
        let record = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .with_context(|| format!("no record for 60 s after {got} of {n}"))??;
        consumer.store_offset_from_message(&record)?;
        got += 1;
        if first.is_none() {
            first = Some(Instant::now());
        }
    }
    let last = Instant::now();
    let first = first.unwrap_or(started);
    eprintln!(
        "  raw consumer: first message {:.2} s after subscribing",
        (first - started).as_secs_f64()
    );
    tokio::task::spawn_blocking(move || drop(consumer)).await?;
    Ok(Sample {
        rate: rate(n - 1, last - first),
        cpu_us: None,
        server_us: None,
    })
}

fn kafka_figures(s: &Settings, rt: &Runtime, k: &Kafka) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    // Subscribe first, while the broker's storage is nearly empty: tansu 0.6's sqlite
    // engine serves fetches more and more slowly as it fills (see docs/benchmarks.md).
    if s.wants("kafka-subscribe") {
        match kafka_subscribe_figures(s, rt, k) {
            Ok(mut more) => rows.append(&mut more),
            Err(err) => {
                // Reported, not fatal: the broker, not the client, is what fails here.
                eprintln!("kafka subscribe figures failed: {err:#}");
                rows.push(Row {
                    figure: "router subscribe (Kafka)".into(),
                    rate: f64::NAN,
                    target: "- (reported)".into(),
                    reference: "-".into(),
                    ratio: format!("FAILED: {err:#}"),
                });
            }
        }
    }
    if s.wants("kafka-publish") {
        let n = s.kafka_messages;
        for &size in s.sizes() {
            let shape = format!("{size} B, batches of {PUBLISH_BATCH}, 1 publisher");
            let figure = format!("KafkaBroker::publish, {shape}");
            let medians = interleaved(
                rt,
                s.runs,
                vec![
                    case(format!("raw rdkafka FutureProducer, {shape}"), move || {
                        kafka_raw_publish(k, s, n, size)
                    }),
                    case(figure.clone(), move || kafka_mq_publish(k, s, n, size)),
                ],
            )?;
            let (raw, ours) = (medians[0], medians[1]);
            let ratio = ours.rate / raw.rate;
            rows.push(Row {
                figure,
                rate: ours.rate,
                target: format!(">= 80% of raw ({})", met(ratio >= TARGET_PUBLISH_RATIO)),
                reference: format!(
                    "raw FutureProducer (idempotent, acks=all): {}",
                    thousands(raw.rate)
                ),
                ratio: format!(
                    "{ratio:.2}x raw ({} vs {} us CPU/msg); {:.2}x Watermill",
                    cpu_text(ours),
                    cpu_text(raw),
                    ours.rate / WATERMILL_KAFKA_PUBLISH
                ),
            });
        }
    }
    Ok(rows)
}

fn kafka_subscribe_figures(s: &Settings, rt: &Runtime, k: &Kafka) -> anyhow::Result<Vec<Row>> {
    let n = s.kafka_subscribe_messages;
    let mut rows = Vec::new();
    // One payload size, and few messages (see above).
    for &size in &SIZES[1..2] {
        let topic = rt.block_on(async {
            let topic = k.new_topic(s).await?;
            for batch in deal(make_messages(n, size), 1).into_iter().flatten() {
                k.broker.publish(&topic, batch).await?;
            }
            anyhow::Ok(topic)
        })?;
        let topic = topic.as_str();
        let mut cases = vec![case(
            format!("raw rdkafka StreamConsumer, {size} B"),
            move || kafka_raw_subscribe(s, topic, n),
        )];
        for &concurrency in s.kafka_concurrency() {
            cases.push(case(
                format!(
                    "router subscribe, {size} B, {KAFKA_PARTITIONS} partitions, concurrency {concurrency}"
                ),
                move || kafka_router_subscribe(k, s, topic, n, concurrency),
            ));
        }
        let labels: Vec<String> = cases.iter().map(|(l, _)| l.clone()).collect();
        let medians = interleaved(rt, s.runs, cases)?;
        let raw = medians[0];
        for (figure, ours) in labels.into_iter().zip(medians).skip(1) {
            rows.push(Row {
                figure: format!("{figure}, {} messages", thousands(n as f64)),
                rate: ours.rate,
                target: "- (reported)".into(),
                reference: format!("raw StreamConsumer: {}", thousands(raw.rate)),
                ratio: format!("{:.2}x raw", ours.rate / raw.rate),
            });
        }
    }
    Ok(rows)
}

fn main() -> anyhow::Result<()> {
    let s = Settings::from_env()?;
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "mq brokers: {} messages per Redis measurement, {} per Kafka publish and {} per Kafka subscribe measurement, median of {} run(s), {} CPU(s){}",
        thousands(s.redis_messages as f64),
        thousands(s.kafka_messages as f64),
        thousands(s.kafka_subscribe_messages as f64),
        s.runs,
        cpus,
        if s.smoke {
            " (MQ_BENCH_SMOKE: figures are meaningless)"
        } else {
            ""
        }
    );
    println!(
        "redis: {}  kafka: {}  router batch size {}",
        s.redis_url,
        s.kafka_brokers,
        RouterConfig::default().batch_size
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    if s.wants("redis") || s.wants("redis-publish") || s.wants("redis-subscribe") {
        let rows = redis_figures(&s, &rt)?;
        print_table(
            "Redis Streams (targets: publish >= 80% of the raw client, subscribe >= 100,000 msg/s)",
            &rows,
        );
    }
    if s.wants("kafka") || s.wants("kafka-publish") || s.wants("kafka-subscribe") {
        let k = rt.block_on(async {
            anyhow::Ok(Kafka {
                broker: KafkaBroker::connect(KafkaConfig::new(&s.kafka_brokers))?,
                producer: raw_producer(&s)?,
            })
        })?;
        let rows = rt
            .block_on(k.warm_up(&s))
            .and_then(|()| kafka_figures(&s, &rt, &k));
        print_table(
            "Kafka (target: publish >= 80% of the raw client; subscribe reported)",
            &rows?,
        );
    }
    Ok(())
}
