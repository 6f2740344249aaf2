//! A load generator for a running deployment (the all-in-one server, or the gateway in
//! front of the separate servers): it registers `users` people, spreads them over
//! `groups` activities (each activity's group chat), connects every one over WebSocket,
//! sends `rate` messages per second in all for `duration`, and measures every delivery:
//! latency from send to each member's receipt (a histogram: p50, p90, p99, p99.9), and
//! whether anything was lost, duplicated or out of order.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let report = loadgen::run(&loadgen::Config::smoke("http://127.0.0.1:8080")).await?;
//! assert_eq!(report.lost + report.out_of_order, 0);
//! println!("{report}");
//! # Ok(()) }
//! ```

mod client;
mod cpu;
mod micro;
mod report;
mod schedule;
mod setup;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use cpu::Watched;
pub use report::Report;

/// The most users (connections) one run opens.
pub const MAX_USERS: usize = 100_000;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The deployment's base URL.
    pub server: String,
    /// People (WebSocket connections).
    pub users: usize,
    /// Groups (activities) they are spread over, round robin.
    pub groups: usize,
    /// Messages per second, all senders together.
    pub rate: f64,
    /// How long to send.
    pub duration: Duration,
    /// Show a progress bar (on stderr).
    pub progress: bool,
    /// What the server speaks.
    pub protocol: Protocol,
    /// Processes whose CPU time over the send window the report gives (the servers
    /// under load; this process is always included, as `loadgen`).
    pub watch: Vec<Watched>,
}

/// The protocol of the server under load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// The product: accounts, activities, groups over HTTP; chat over `/ws` (JSON
    /// frames, seqs, `send_ok`).
    #[default]
    Product,
    /// The fan-out micro protocol of gorilla-hub (`/ws?user=U&group=G`; a text frame
    /// goes to every member of its group): no setup, no confirmation.
    Micro,
}

impl Config {
    /// A run of seconds: 20 users in 4 groups, 20 messages/s for 3 s.
    pub fn smoke(server: &str) -> Self {
        Self {
            server: server.trim_end_matches('/').to_owned(),
            users: 20,
            groups: 4,
            rate: 20.0,
            duration: Duration::from_secs(3),
            progress: false,
            protocol: Protocol::Product,
            watch: Vec::new(),
        }
    }
}

/// Runs the load; returns what it measured.
pub async fn run(config: &Config) -> anyhow::Result<Report> {
    anyhow::ensure!(
        config.users >= 1 && config.groups >= 1,
        "need users and groups"
    );
    anyhow::ensure!(config.groups <= config.users, "more groups than users");
    anyhow::ensure!(
        config.users <= MAX_USERS,
        "at most {MAX_USERS} users (each is a connection of this process)"
    );
    for (i, w) in config.watch.iter().enumerate() {
        anyhow::ensure!(
            cpu::cpu_seconds(w.pid).is_some(),
            "--watch {}={}: no such process (or its CPU time cannot be read)",
            w.name,
            w.pid
        );
        anyhow::ensure!(
            w.name != "loadgen",
            "--watch loadgen: the name is taken (the report always gives this process's CPU as loadgen)"
        );
        anyhow::ensure!(
            !config.watch[..i].iter().any(|o| o.name == w.name),
            "--watch {}: the name is used twice",
            w.name
        );
    }
    anyhow::ensure!(
        config.rate.is_finite() && config.rate > 0.0,
        "the rate must be a finite number of messages per second above 0"
    );
    let per_user = config.rate / config.users as f64;
    let stats = Arc::new(client::Stats::default());
    if config.protocol == Protocol::Micro {
        return run_micro(config, per_user, stats).await;
    }
    anyhow::ensure!(
        per_user <= 20.0,
        "{per_user:.1} messages/s per user is over the server's default per-user limit (20/s): add users"
    );
    let world = setup::prepare(config).await?;
    let mut clients = Vec::with_capacity(world.users.len());
    for user in &world.users {
        let members = world.members.get(&user.group).copied().unwrap_or(0) as u64;
        clients.push(
            client::Client::connect(&config.server, user, members, Arc::clone(&stats)).await?,
        );
    }
    let started = Instant::now();
    let senders: Vec<_> = clients
        .iter()
        .map(|c| c.start_sending(per_user, config.duration))
        .collect();
    let window = drive(config, &stats, senders, started).await;
    let latencies: Vec<_> = clients.iter().map(|c| &*c.latency).collect();
    let report = Report::collect(
        config,
        (world.users.len(), world.members.len()),
        &stats,
        &latencies,
        window,
    );
    drop(clients);
    Ok(report)
}

/// A micro-protocol run: user `i` in group `i % groups`, every frame owed to each
/// member of its group, the sender included.
async fn run_micro(
    config: &Config,
    per_user: f64,
    stats: Arc<client::Stats>,
) -> anyhow::Result<Report> {
    let members = |g: usize| (g..config.users).step_by(config.groups).count() as u64;
    let mut clients = Vec::with_capacity(config.users);
    for i in 0..config.users {
        let group = i % config.groups;
        clients.push(
            micro::MicroClient::connect(&config.server, i, group, config.users, Arc::clone(&stats))
                .await?,
        );
    }
    let started = Instant::now();
    let senders: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| c.start_sending(per_user, config.duration, members(i % config.groups)))
        .collect();
    let window = drive(config, &stats, senders, started).await;
    let latencies: Vec<_> = clients.iter().map(|c| &*c.latency).collect();
    let report = Report::collect(
        config,
        (config.users, config.groups),
        &stats,
        &latencies,
        window,
    );
    drop(clients);
    Ok(report)
}

/// What happened between the first send and the last delivery waited for.
pub(crate) struct Window {
    /// How long the senders sent.
    pub(crate) sent_for: Duration,
    /// Wall-clock seconds from the first send to the end of the wait.
    pub(crate) seconds: f64,
    /// CPU seconds of each watched process (and of this one) over that time.
    pub(crate) cpu: Vec<(String, f64)>,
}

/// Shows progress until the senders are done, then waits (at most 10 s, and not once
/// every connection is closed) for what is still owed; returns how long the senders
/// sent and the CPU used meanwhile.
async fn drive(
    config: &Config,
    stats: &client::Stats,
    senders: Vec<tokio::task::JoinHandle<()>>,
    started: Instant,
) -> Window {
    let mut watched = config.watch.clone();
    watched.push(Watched {
        name: "loadgen".into(),
        pid: std::process::id(),
    });
    let cpu = cpu::Snapshot::take(&watched);
    let bar = report::progress(config);
    while started.elapsed() < config.duration {
        tokio::time::sleep(Duration::from_millis(100)).await;
        report::tick(&bar, stats, started);
    }
    for s in senders {
        let _ = s.await;
    }
    let sent_for = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(10);
    let unconfirmed = || {
        stats.confirmed.load(std::sync::atomic::Ordering::Relaxed) + stats.refused_total()
            < stats.sent.load(std::sync::atomic::Ordering::Relaxed)
    };
    let all_closed =
        || stats.disconnects.load(std::sync::atomic::Ordering::Relaxed) >= config.users as u64;
    while Instant::now() < deadline
        && !all_closed()
        && (stats.delivered() < stats.expected() || unconfirmed())
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let (seconds, cpu) = cpu.since();
    Window {
        sent_for,
        seconds,
        cpu,
    }
}
