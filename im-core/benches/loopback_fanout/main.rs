//! Group fan-out over real loopback WebSockets: im-core beside gorilla-hub (the original
//! Go system's connection manager), same micro protocol, same load generator, same run.
//!
//! Three servers, each a child process: im-core speaking the micro protocol (`relay.rs`),
//! im-core's `Engine` with its full JSON protocol (`engine.rs`: auth, sequencing, dedup,
//! in-memory store), and gorilla-hub. For each it measures
//! 1. idle memory: the server's RSS growth per connection for `IDLE` open connections;
//! 2. bursts: `conns` connections in groups of `group`; every connection sends `per_conn`
//!    frames at once; each frame goes to every member of its group (sender included).
//!    Deliveries/s = deliveries received / (last receive - first send); latency =
//!    receive - send per delivery; dropped = deliveries that never arrived.
//!
//! The load generator (this process, 2 threads) shares the machine's cores with the server.
//!
//! `cargo bench -p im-core --bench loopback_fanout`; `MQ_BENCH_SMOKE=1` (or
//! `IM_BENCH_SMOKE=1`) for a run of seconds; `IM_BENCH_IDLE=N` to change the idle count
//! (19,000 by default: these machines allow 20,000 open files per process);
//! `GORILLA_HUB_BIN` to point at a built gorilla-hub; `IM_BENCH_NO_ENGINE=1` to leave out
//! the full-protocol run; `IM_BENCH_ONLY=relay,engine,gorilla` (a subset) and
//! `IM_BENCH_SHAPE=N` (only the N-th shape, from 0) to narrow a run, e.g. to profile it.
//! `-- --serve ADDR` runs only the im-core relay server,
//! `-- --serve-engine ADDR` only the full-protocol one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod client;
mod engine;
mod load;
mod relay;
mod server;

use std::time::Duration;

use load::{Burst, Clients, Recorder};
use server::{Kind, Server, Stats};

#[derive(Clone, Copy, Debug)]
struct Shape {
    conns: usize,
    group: usize,
    per_conn: usize,
    /// One frame per connection every this many ms; `None`: all at once (a burst).
    period_ms: Option<u64>,
}

impl Shape {
    const fn burst(conns: usize, group: usize, per_conn: usize) -> Self {
        Self {
            conns,
            group,
            per_conn,
            period_ms: None,
        }
    }

    const fn steady(conns: usize, group: usize, per_conn: usize, period_ms: u64) -> Self {
        Self {
            conns,
            group,
            per_conn,
            period_ms: Some(period_ms),
        }
    }

    fn load(&self) -> String {
        match self.period_ms {
            None => "burst".into(),
            Some(ms) => {
                let rate = (self.conns * self.group) as f64 * 1000.0 / ms as f64;
                format!("steady {rate:.0}/s")
            }
        }
    }
}

fn smoke() -> bool {
    std::env::var_os("MQ_BENCH_SMOKE").is_some() || std::env::var_os("IM_BENCH_SMOKE").is_some()
}

fn idle_count() -> usize {
    if smoke() {
        return 500;
    }
    std::env::var("IM_BENCH_IDLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(19_000)
}

fn shapes() -> Vec<Shape> {
    let all = all_shapes();
    match std::env::var("IM_BENCH_SHAPE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(i) => all.into_iter().skip(i).take(1).collect(),
        None => all,
    }
}

fn all_shapes() -> Vec<Shape> {
    if smoke() {
        return vec![Shape::burst(200, 50, 2), Shape::steady(200, 50, 3, 100)];
    }
    vec![
        Shape::burst(2_000, 100, 10),
        Shape::burst(1_000, 500, 4),
        Shape::burst(2_000, 500, 2),
        // 200,000 deliveries/s for 5 s, under both servers' capacity: latency, not queueing.
        Shape::steady(2_000, 100, 5, 1_000),
    ]
}

/// Lets this process hold as many sockets as the hard limit allows.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

struct Idle {
    conns: usize,
    rss_before: u64,
    rss_after: u64,
}

impl Idle {
    fn per_conn_kib(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / self.conns.max(1) as f64
    }
}

async fn idle(kind: &Kind, n: usize) -> anyhow::Result<Idle> {
    let server = Server::start(kind).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = server.rss_kib();
    let recorder = Recorder::new();
    let clients = Clients::open(&server.addr, n, 100, &recorder, 512, kind.protocol()).await?;
    server.wait_connections(n as u64).await?;
    tokio::time::sleep(Duration::from_secs(2)).await; // let the allocator settle
    let rss_after = server.rss_kib();
    clients.close().await;
    server.stop().await;
    Ok(Idle {
        conns: n,
        rss_before,
        rss_after,
    })
}

async fn bursts(kind: &Kind) -> anyhow::Result<Vec<(Shape, Burst, Stats, (f64, f64))>> {
    let mut results = Vec::new();
    for shape in shapes() {
        let server = Server::start(kind).await?;
        let recorder = Recorder::new();
        let buffer = 64 * 1024;
        let (conns, group, protocol) = (shape.conns, shape.group, kind.protocol());
        let clients =
            Clients::open(&server.addr, conns, group, &recorder, buffer, protocol).await?;
        server.wait_connections(shape.conns as u64).await?;
        let quiet = Duration::from_secs(if smoke() { 1 } else { 3 });
        let _warm_up = load::burst(&clients, &recorder, 0, 1, None, quiet).await;
        let before = server.stats().await?;
        let cpu_before = (server.cpu_seconds(), server::cpu_seconds("/proc/self/stat"));
        let burst = load::burst(
            &clients,
            &recorder,
            1,
            shape.per_conn,
            shape.period_ms.map(Duration::from_millis),
            quiet,
        )
        .await;
        let cpu_after = (server.cpu_seconds(), server::cpu_seconds("/proc/self/stat"));
        let after = server.stats().await?;
        let stats = Stats {
            connections: after.connections,
            frames_in: after.frames_in - before.frames_in,
            deliveries: after.deliveries - before.deliveries,
            dropped: after.dropped - before.dropped,
        };
        let cpu = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
        results.push((shape, burst, stats, cpu));
        clients.close().await;
        server.stop().await;
    }
    Ok(results)
}

fn ms(us: u32) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

async fn run() -> anyhow::Result<()> {
    raise_fd_limit();
    // IM_BENCH_ONLY=relay,engine,gorilla (any of them) narrows the run, e.g. to profile.
    let only = std::env::var("IM_BENCH_ONLY").unwrap_or_else(|_| "relay,engine,gorilla".into());
    let wanted = |name: &str| only.split(',').any(|w| w.trim() == name);
    let mut kinds = Vec::new();
    if wanted("relay") {
        kinds.push(Kind::ImCore);
    }
    if wanted("engine") && std::env::var_os("IM_BENCH_NO_ENGINE").is_none() {
        kinds.push(Kind::ImCoreEngine);
    }
    if wanted("gorilla") {
        if let Some(path) = server::gorilla_hub() {
            kinds.push(Kind::Gorilla(path));
        }
    }
    let n = idle_count();
    println!("loopback_fanout: group fan-out over loopback WebSockets, load generator in this process (2 threads)");
    println!(
        "payload {} bytes per frame; burst: every connection sends its frames at once; steady: one frame per connection per period, spread evenly",
        load::PAYLOAD
    );
    println!();
    println!("| server | idle connections | RSS before | RSS after | per idle connection |");
    println!("|---|---:|---:|---:|---:|");
    let mut idles = Vec::new();
    for kind in &kinds {
        let r = idle(kind, n).await?;
        println!(
            "| {} | {} | {} KiB | {} KiB | {:.2} KiB |",
            kind.name(),
            r.conns,
            r.rss_before,
            r.rss_after,
            r.per_conn_kib()
        );
        idles.push(r.per_conn_kib());
    }
    println!();
    println!("| server | connections | group size | load | frames sent | deliveries expected | received | dropped | time | deliveries/s | p50 | p99 | max | server: deliveries, dropped | CPU s: server, load generator |");
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
    let mut all = Vec::new();
    for kind in &kinds {
        for (shape, b, s, cpu) in bursts(kind).await? {
            let counted = match kind {
                Kind::ImCoreEngine => "n/a".to_owned(),
                _ => format!("{}, {}", s.deliveries, s.dropped),
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.3} s | {:.0} | {} | {} | {} | {} | {:.2}, {:.2} |",
                kind.name(),
                shape.conns,
                shape.group,
                shape.load(),
                shape.conns * shape.per_conn,
                b.expected,
                b.received,
                b.expected - b.received.min(b.expected),
                b.seconds,
                b.rate(),
                ms(b.p50_us),
                ms(b.p99_us),
                ms(b.max_us),
                counted,
                cpu.0,
                cpu.1
            );
            all.push((kind.name(), shape, b));
        }
    }
    let gorilla = kinds.iter().position(|k| matches!(k, Kind::Gorilla(_)));
    if let Some(g) = gorilla {
        let theirs: Vec<_> = all
            .iter()
            .filter(|(k, _, _)| *k == kinds[g].name())
            .collect();
        println!();
        println!("| server | shape | deliveries/s vs gorilla-hub | p99 vs gorilla-hub | dropped, gorilla-hub's |");
        println!("|---|---|---:|---|---|");
        for kind in kinds.iter().filter(|k| !matches!(k, Kind::Gorilla(_))) {
            let ours = all.iter().filter(|(k, _, _)| *k == kind.name());
            for ((_, shape, a), (_, _, b)) in ours.zip(theirs.iter()) {
                println!(
                    "| {} | {} conns, groups of {}, {} | {:.2}x | {} vs {} | {}, {} |",
                    kind.name(),
                    shape.conns,
                    shape.group,
                    shape.load(),
                    a.rate() / b.rate().max(1e-9),
                    ms(a.p99_us),
                    ms(b.p99_us),
                    a.expected - a.received.min(a.expected),
                    b.expected - b.received.min(b.expected)
                );
            }
        }
        for (kind, idle) in kinds
            .iter()
            .zip(&idles)
            .filter(|(k, _)| !matches!(k, Kind::Gorilla(_)))
        {
            println!(
                "| {} | idle memory per connection | {:.2} KiB = {:.2} of gorilla-hub's {:.2} KiB | | |",
                kind.name(),
                idle,
                idle / idles[g].max(1e-9),
                idles[g]
            );
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if let Some(i) = args.iter().position(|a| a == "--serve-engine") {
        raise_fd_limit();
        let addr = args
            .get(i + 1)
            .cloned()
            .unwrap_or_else(|| "127.0.0.1:9201".into());
        return rt.block_on(engine::serve(&addr));
    }
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        raise_fd_limit();
        let addr = args
            .get(i + 1)
            .cloned()
            .unwrap_or_else(|| "127.0.0.1:9200".into());
        return rt.block_on(relay::serve(&addr));
    }
    rt.block_on(run())
}
