#![cfg(any(feature = "redis", feature = "kafka"))]
//! The server restarts under load: a dedicated Redis (with persistence) or Kafka-protocol
//! broker (tansu, sqlite engine) is killed with SIGKILL while a publisher and a router
//! consumer are busy, then started again on the same port and data. Publishing and
//! consuming resume by themselves, and every message whose publish returned `Ok` is
//! handled at least once.
//!
//! The servers are started here (not the shared ones of the test run); `redis-server`
//! and `tansu` must be on `PATH` (scripts/test.sh installs tansu).

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mq::{consumer_fn, Message, Publisher, Router, RouterConfig, Subscriber};
use tokio::sync::watch;
use tokio::time::Instant;

use support::ServerProcess;

/// Messages published in all.
const MESSAGES: u32 = 3_000;
/// Keys they are spread over.
const KEYS: u32 = 16;
/// Messages per publish.
const BATCH: u32 = 10;
/// The server is killed once this many are published (and some consumed)...
const KILL_AFTER_PUBLISHED: u32 = MESSAGES / 3;
/// ...and this many handled.
const KILL_AFTER_HANDLED: usize = MESSAGES as usize / 10;

/// What the consumer handled: how many times each message, and how many distinct ones.
struct Handled {
    counts: Mutex<HashMap<u32, u32>>,
    distinct: watch::Sender<usize>,
}

impl Handled {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            counts: Mutex::default(),
            distinct: watch::channel(0).0,
        })
    }

    fn record(&self, n: u32) {
        let distinct = {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            *counts.entry(n).or_default() += 1;
            counts.len()
        };
        self.distinct.send_replace(distinct);
    }

    fn snapshot(&self) -> HashMap<u32, u32> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What the publisher did.
#[derive(Debug, Default)]
struct Published {
    /// Messages whose publish returned `Ok`, in order: `0..acknowledged`.
    acknowledged: u32,
    /// Publishes that returned an error and were retried.
    retries: u32,
    first_error: Option<String>,
}

/// How the scenario went.
struct Outcome {
    published: Published,
    handled: HashMap<u32, u32>,
    acknowledged_at_kill: u32,
    handled_at_kill: usize,
    handled_at_restart: usize,
    down_for: Duration,
    publishing_resumed_after: Option<Duration>,
    consuming_resumed_after: Option<Duration>,
    all_handled_after_restart: Duration,
    total: Duration,
}

impl Outcome {
    fn duplicates(&self) -> u32 {
        self.handled.values().map(|c| c - 1).sum()
    }

    fn report(&self, kind: &str) {
        eprintln!(
            "{kind}: {MESSAGES} messages in publishes of {BATCH}; killed the server after \
             {} acknowledged and {} handled ({} acknowledged but not handled yet); \
             down for {:?} ({} handled by then); publishing resumed {:?} and consuming \
             {:?} after the restart; all {} handled {:?} after the restart ({:?} in all); \
             {} publish retries (first error: {}); {} duplicate deliveries \
             ({} messages handled more than once)",
            self.acknowledged_at_kill,
            self.handled_at_kill,
            (self.acknowledged_at_kill as usize).saturating_sub(self.handled_at_kill),
            self.down_for,
            self.handled_at_restart,
            self.publishing_resumed_after,
            self.consuming_resumed_after,
            self.handled.len(),
            self.all_handled_after_restart,
            self.total,
            self.published.retries,
            self.published.first_error.as_deref().unwrap_or("none"),
            self.duplicates(),
            self.handled.values().filter(|&&c| c > 1).count(),
        );
    }
}

/// Timing of one scenario.
struct Timing {
    /// Pause between publishes (the load is steady, so that it overlaps the restart).
    pace: Duration,
    /// How long the server stays down.
    down_for: Duration,
    /// Upper bound of each wait.
    within: Duration,
    /// Whether the router must report the handler in `failing_handlers` while the
    /// server is down (Redis reports failed reads; librdkafka retries inside).
    reports_outage: bool,
}

fn message(n: u32) -> Message {
    Message::new(n.to_string()).with_key(format!("key-{}", n % KEYS))
}

/// Publishes `MESSAGES` one batch at a time, each retried until it returns `Ok`, and
/// tells how many are acknowledged after each batch.
async fn publish_all(
    publisher: Arc<dyn Publisher>,
    topic: String,
    pace: Duration,
    within: Duration,
    acknowledged: watch::Sender<u32>,
) -> anyhow::Result<Published> {
    let deadline = Instant::now() + within;
    let mut out = Published::default();
    let mut tick = tokio::time::interval(pace);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut start = 0;
    while start < MESSAGES {
        let end = (start + BATCH).min(MESSAGES);
        let batch: Vec<Message> = (start..end).map(message).collect();
        tick.tick().await;
        loop {
            match publisher.publish(&topic, batch.clone()).await {
                Ok(()) => break,
                Err(err) => {
                    out.retries += 1;
                    if out.first_error.is_none() {
                        out.first_error = Some(err.to_string());
                    }
                    anyhow::ensure!(
                        Instant::now() < deadline,
                        "publishing messages {start}..{end} still fails after {within:?}: {err}"
                    );
                    // A pause between attempts, not to spin while the server is down.
                    tick.tick().await;
                }
            }
        }
        start = end;
        out.acknowledged = end;
        acknowledged.send_replace(end);
    }
    Ok(out)
}

/// Waits until `rx`'s value satisfies `ok`, at most `within`.
async fn wait_until<T>(
    rx: &mut watch::Receiver<T>,
    within: Duration,
    what: &str,
    ok: impl FnMut(&T) -> bool,
) -> anyhow::Result<()> {
    match tokio::time::timeout(within, rx.wait_for(ok)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => anyhow::bail!("{what}: the sender is gone"),
        Err(_) => anyhow::bail!("{what}: not within {within:?}"),
    }
}

/// The scenario: a router consumes `topic` while a task publishes to it; once a third is
/// published and some handled, the server is killed, kept down for a moment and started
/// again; then every acknowledged message must be handled.
async fn restart_under_load(
    server: &mut ServerProcess,
    port: u16,
    publisher: Arc<dyn Publisher>,
    subscriber: Arc<dyn Subscriber>,
    timing: Timing,
) -> anyhow::Result<Outcome> {
    let began = Instant::now();
    let topic = support::unique("restart");
    let handled = Handled::new();
    let mut router = Router::new(RouterConfig {
        fetch_error_backoff: Duration::from_millis(200),
        ..RouterConfig::default()
    });
    let recorder = Arc::clone(&handled);
    router
        .consumer(
            "restart-consumer",
            topic.clone(),
            subscriber,
            consumer_fn(move |msg: Message| {
                let recorder = Arc::clone(&recorder);
                async move {
                    let n = String::from_utf8_lossy(msg.payload())
                        .parse()
                        .map_err(mq::HandlerError::permanent)?;
                    recorder.record(n);
                    Ok(())
                }
            }),
        )
        .group(support::unique("restart-group"))
        .concurrency(4);
    let router_handle = router.handle();
    let running = tokio::spawn(router.run());
    tokio::time::timeout(timing.within, router_handle.running())
        .await
        .map_err(|_| anyhow::anyhow!("the router did not start within {:?}", timing.within))?;

    let (acknowledged_tx, mut acknowledged) = watch::channel(0u32);
    let publishing = tokio::spawn(publish_all(
        publisher,
        topic,
        timing.pace,
        timing.within,
        acknowledged_tx,
    ));
    let mut distinct = handled.distinct.subscribe();

    wait_until(
        &mut acknowledged,
        timing.within,
        "a third published",
        |&n| n >= KILL_AFTER_PUBLISHED,
    )
    .await?;
    wait_until(&mut distinct, timing.within, "some handled", |&n| {
        n >= KILL_AFTER_HANDLED
    })
    .await?;
    server.check_alive()?;
    server.kill()?;
    let acknowledged_at_kill = *acknowledged.borrow();
    let handled_at_kill = *distinct.borrow();
    let killed = Instant::now();
    if timing.reports_outage {
        let reported = tokio::time::timeout(timing.within, async {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                if let Some(failure) = router_handle.failing_handlers().into_iter().next() {
                    return failure;
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("the router never reported the outage"))?;
        assert_eq!(reported.handler, "restart-consumer");
        eprintln!(
            "outage reported after {:?}: {} ({} failures)",
            killed.elapsed(),
            reported.error,
            reported.failures
        );
    }
    // The server stays down for a moment: part of the scenario, not a synchronisation.
    tokio::time::sleep(timing.down_for.saturating_sub(killed.elapsed())).await;
    let handled_at_restart = *distinct.borrow();
    let acknowledged_at_restart = *acknowledged.borrow();
    server.restart()?;
    let restarted = Instant::now();
    let down_for = restarted - killed;
    support::wait_for_port(port, Duration::from_secs(30)).await;

    let mut acknowledged_resumed = acknowledged.clone();
    let publishing_resumed = tokio::spawn(async move {
        acknowledged_resumed
            .wait_for(|&n| n > acknowledged_at_restart || n == MESSAGES)
            .await
            .ok()
            .map(|_| restarted.elapsed())
    });
    let mut distinct_resumed = distinct.clone();
    let consuming_resumed = tokio::spawn(async move {
        distinct_resumed
            .wait_for(|&n| n > handled_at_restart || n == MESSAGES as usize)
            .await
            .ok()
            .map(|_| restarted.elapsed())
    });

    let published = tokio::time::timeout(timing.within, publishing)
        .await
        .map_err(|_| anyhow::anyhow!("publishing did not finish within {:?}", timing.within))???;
    assert_eq!(published.acknowledged, MESSAGES);
    let all = wait_until(&mut distinct, timing.within, "all handled", |&n| {
        n >= published.acknowledged as usize
    })
    .await;
    let all_handled_after_restart = restarted.elapsed();
    let handled_now = handled.snapshot();
    if let Err(err) = all {
        let missing: Vec<u32> = (0..published.acknowledged)
            .filter(|n| !handled_now.contains_key(n))
            .collect();
        anyhow::bail!(
            "{err}: {} of {} acknowledged messages never handled (first 20: {:?})",
            missing.len(),
            published.acknowledged,
            &missing[..missing.len().min(20)]
        );
    }

    assert!(
        router_handle.failing_handlers().is_empty(),
        "the router still reports a failing handler after recovering: {:?}",
        router_handle.failing_handlers()
    );
    router_handle.shutdown();
    tokio::time::timeout(Duration::from_secs(40), running)
        .await
        .map_err(|_| anyhow::anyhow!("the router did not stop"))???;
    let outcome = Outcome {
        published,
        handled: handled.snapshot(),
        acknowledged_at_kill,
        handled_at_kill,
        handled_at_restart,
        down_for,
        publishing_resumed_after: publishing_resumed.await.ok().flatten(),
        consuming_resumed_after: consuming_resumed.await.ok().flatten(),
        all_handled_after_restart,
        total: began.elapsed(),
    };
    assert!(
        (outcome.acknowledged_at_kill as usize) < MESSAGES as usize
            && outcome.handled_at_kill < MESSAGES as usize,
        "the server was killed too late to prove anything"
    );
    for n in 0..outcome.published.acknowledged {
        assert!(
            outcome.handled.contains_key(&n),
            "acknowledged message {n} was never handled"
        );
    }
    Ok(outcome)
}

fn require(binary: &str, hint: &str) -> std::path::PathBuf {
    support::find_binary(binary)
        .unwrap_or_else(|| panic!("`{binary}` is not on PATH; this test starts its own. {hint}"))
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_under_load_loses_nothing_acknowledged() -> anyhow::Result<()> {
    use mq::backend::redis::{RedisBroker, RedisConfig};

    let redis_server = require(
        "redis-server",
        "Install Redis (e.g. apt-get install redis-server).",
    );
    let dir = support::TempDir::new("mq-redis-restart")?;
    let port = support::free_port();
    let data = dir.path().to_path_buf();
    let mut server = ServerProcess::start("redis-server", data.join("redis.log"), move || {
        let mut cmd = std::process::Command::new(&redis_server);
        cmd.args(["--bind", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&data);
        cmd
    })?;
    support::wait_for_port(port, Duration::from_secs(20)).await;

    let mut cfg = RedisConfig::new(format!("redis://127.0.0.1:{port}"));
    cfg.block = Duration::from_millis(200);
    cfg.command_timeout = Duration::from_secs(2);
    let broker = RedisBroker::connect(cfg).await?;
    let outcome = restart_under_load(
        &mut server,
        port,
        Arc::new(broker.clone()),
        Arc::new(broker),
        Timing {
            pace: Duration::from_millis(5),
            down_for: Duration::from_millis(1_500),
            within: Duration::from_secs(60),
            reports_outage: true,
        },
    )
    .await?;
    outcome.report("redis");
    Ok(())
}

#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_restart_under_load_loses_nothing_acknowledged() -> anyhow::Result<()> {
    use mq::backend::kafka::{KafkaBroker, KafkaConfig};

    let tansu = require(
        "tansu",
        "Install it with `cargo install tansu --locked --features dynostore,libsql` \
         (scripts/test.sh does).",
    );
    let dir = support::TempDir::new("mq-tansu-restart")?;
    let port = support::free_port();
    let data = dir.path().to_path_buf();
    let url = format!("tcp://127.0.0.1:{port}");
    let mut server = ServerProcess::start("tansu", data.join("tansu.log"), move || {
        let mut cmd = std::process::Command::new(&tansu);
        // The sqlite path is relative to the working directory.
        cmd.current_dir(&data)
            .arg("broker")
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"]);
        cmd
    })?;
    support::wait_for_port(port, Duration::from_secs(30)).await;

    let mut cfg = KafkaConfig::new(format!("127.0.0.1:{port}"));
    cfg.session_timeout = Duration::from_secs(6);
    cfg.commit_interval = Duration::from_millis(200);
    let broker = KafkaBroker::connect(cfg)?;
    let outcome = restart_under_load(
        &mut server,
        port,
        Arc::new(broker.clone()),
        Arc::new(broker.clone()),
        Timing {
            pace: Duration::from_millis(5),
            down_for: Duration::from_millis(1_500),
            within: Duration::from_secs(90),
            reports_outage: false,
        },
    )
    .await?;
    outcome.report("kafka");
    broker.close().await?;
    Ok(())
}
