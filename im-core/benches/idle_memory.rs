//! Idle memory per WebSocket connection.
//!
//! The server (an `Engine` with default settings and in-memory storage) runs in this
//! process; a child process (this same binary, re-executed) opens N connections and
//! authenticates each, then idles. The server's resident memory (VmRSS) is read before and
//! after; the difference over N is the cost of one idle, authenticated session.
//!
//! `cargo bench --bench idle_memory` (N = 19,000; `IM_BENCH_CONNECTIONS` to change;
//! `MQ_BENCH_SMOKE=1` or `IM_BENCH_SMOKE=1` for a tiny run). Target: <= 10 KiB per connection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures::{SinkExt, StreamExt};
use im_core::membership::InMemoryMembership;
use im_core::protocol::ClientFrame;
use im_core::store::InMemoryStore;
use im_core::{AuthError, Authenticator, Engine, EngineConfig, UserId};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

const CHILD_ENV: &str = "IM_BENCH_CHILD_ADDR";

#[derive(Debug)]
struct TokenIsUser;

#[async_trait::async_trait]
impl Authenticator for TokenIsUser {
    async fn authenticate(&self, token: &str) -> Result<UserId, AuthError> {
        Ok(UserId::from(token))
    }
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

fn connections() -> usize {
    if std::env::var_os("MQ_BENCH_SMOKE").is_some() || std::env::var_os("IM_BENCH_SMOKE").is_some()
    {
        return 200;
    }
    std::env::var("IM_BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(19_000)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list` compatibility
    }
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match std::env::var(CHILD_ENV) {
        Ok(addr) => rt.block_on(child(addr, connections())),
        Err(_) => rt.block_on(parent(connections())),
    }
}

async fn parent(n: usize) -> anyhow::Result<()> {
    let engine = Engine::new(
        EngineConfig::default(),
        Arc::new(InMemoryStore::new()),
        Arc::new(InMemoryMembership::new()),
        Arc::new(TokenIsUser),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let e = engine.clone();
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    let e = e.clone();
                    tokio::spawn(async move {
                        let _ = e.accept(tcp).await;
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_kib();

    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .env(CHILD_ENV, addr.to_string())
        .env("IM_BENCH_CONNECTIONS", n.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("spawn client process")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let started = Instant::now();
    match tokio::time::timeout(Duration::from_secs(300), lines.next_line()).await {
        Ok(Ok(Some(line))) if line.starts_with("READY") => {}
        other => bail!("client process failed: {other:?}"),
    }
    let connect_time = started.elapsed();
    // Let registration finish and the allocator settle.
    let deadline = Instant::now() + Duration::from_secs(30);
    while engine.connections().connection_count() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open = engine.connections().connection_count();
    let after = rss_kib();
    drop(child.stdin.take()); // child exits on stdin EOF
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;

    let per_conn = (after.saturating_sub(before)) as f64 / open.max(1) as f64;
    println!("idle_memory: im-core Engine, default EngineConfig, in-memory store");
    println!("  connections open (authenticated): {open} of {n}");
    println!("  connect + auth time: {:.2?}", connect_time);
    println!("  server RSS before: {before} KiB, after: {after} KiB");
    println!(
        "  per idle connection: {per_conn:.2} KiB  (target <= 10 KiB; gorilla-hub ~31 KB, OpenIM ~27 KB, Centrifugo ~30 KB)"
    );
    if open < n {
        bail!("only {open} of {n} connections were open");
    }
    Ok(())
}

async fn child(addr: String, n: usize) -> anyhow::Result<()> {
    let url = format!("ws://{addr}/ws");
    let mut opened = 0usize;
    let mut tasks = tokio::task::JoinSet::new();
    // Open in waves so the listen backlog is never overrun.
    for wave in (0..n).collect::<Vec<_>>().chunks(256) {
        let mut handshakes = tokio::task::JoinSet::new();
        for &i in wave {
            let url = url.clone();
            handshakes.spawn(async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
                let auth = ClientFrame::Auth {
                    token: format!("user{i}"),
                };
                ws.send(Message::Text(auth.to_json().into())).await?;
                match ws.next().await {
                    Some(Ok(Message::Text(t))) if t.as_str().contains("auth_ok") => Ok(ws),
                    other => bail!("no auth_ok: {other:?}"),
                }
            });
        }
        while let Some(result) = handshakes.join_next().await {
            let mut ws = result??;
            opened += 1;
            // Keep reading so pings are answered; otherwise idle.
            tasks.spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
        }
    }
    eprintln!("client: {opened} connections authenticated");
    println!("READY {opened}");
    // Idle until the parent closes stdin.
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 1];
    let _ = stdin.read(&mut buf).await;
    tasks.abort_all();
    Ok(())
}
