//! The servers under test, each a child process: the im-core relay (this benchmark's own
//! binary, re-executed with `--serve`) and gorilla-hub (built from
//! `../shared/peers/gorilla-hub` when missing).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Which server.
#[derive(Clone, Debug)]
pub enum Kind {
    /// The micro protocol on im-core's connection layer and fan-out.
    ImCore,
    /// The full JSON protocol: `Engine` with auth, sequencing, dedup, in-memory store.
    ImCoreEngine,
    Gorilla(PathBuf),
}

impl Kind {
    pub fn protocol(&self) -> crate::load::Protocol {
        match self {
            Kind::ImCoreEngine => crate::load::Protocol::Json,
            _ => crate::load::Protocol::Micro,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Kind::ImCore => "im-core",
            Kind::ImCoreEngine => "im-core Engine (JSON)",
            Kind::Gorilla(_) => "gorilla-hub",
        }
    }
}

/// A running server process.
pub struct Server {
    pub addr: String,
    child: Child,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Server {
    pub async fn start(kind: &Kind) -> anyhow::Result<Self> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let mut command = match kind {
            Kind::ImCore => {
                let mut c = Command::new(std::env::current_exe()?);
                c.arg("--serve").arg(&addr);
                c
            }
            Kind::ImCoreEngine => {
                let mut c = Command::new(std::env::current_exe()?);
                c.arg("--serve-engine").arg(&addr);
                c
            }
            Kind::Gorilla(path) => {
                let mut c = Command::new(path);
                c.arg("-addr").arg(&addr);
                c
            }
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", kind.name()))?;
        let server = Self { addr, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&server.addr).await.is_err() {
            if Instant::now() > deadline {
                bail!("{} did not listen on {}", kind.name(), server.addr);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(server)
    }

    /// Resident memory of the server process, KiB.
    pub fn rss_kib(&self) -> u64 {
        let Some(pid) = self.child.id() else { return 0 };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// CPU time (user + system) the server process has used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        self.child
            .id()
            .map_or(0.0, |pid| cpu_seconds(&format!("/proc/{pid}/stat")))
    }

    /// `GET /stats`.
    pub async fn stats(&self) -> anyhow::Result<Stats> {
        let mut tcp = TcpStream::connect(&self.addr).await?;
        let request = format!(
            "GET /stats HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        tcp.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut response)).await??;
        let text = String::from_utf8_lossy(&response);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        serde_json::from_str(body.trim()).with_context(|| format!("stats body {body:?}"))
    }

    /// Waits until the server counts `n` connections.
    pub async fn wait_connections(&self, n: u64) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let stats = self.stats().await?;
            if stats.connections == n {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("server has {} connections, not {n}", stats.connections);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The `/stats` counters both servers report.
#[derive(Debug, Default, Clone, Copy, serde::Deserialize)]
#[serde(default)]
pub struct Stats {
    pub connections: u64,
    pub frames_in: u64,
    pub deliveries: u64,
    pub dropped: u64,
}

/// gorilla-hub's binary: `GORILLA_HUB_BIN`, else `~/.cache/gorilla-hub`, built with the
/// peer's `build.sh` when missing. `None` (with the reason printed) when it cannot be had.
pub fn gorilla_hub() -> Option<PathBuf> {
    let path = std::env::var_os("GORILLA_HUB_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/gorilla-hub")
        });
    if path.is_file() {
        return Some(path);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = std::env::var_os("GORILLA_HUB_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../shared/peers/gorilla-hub"))
        .join("build.sh");
    if !script.is_file() {
        println!(
            "note: gorilla-hub comparison skipped: {} not found",
            script.display()
        );
        return None;
    }
    println!(
        "building gorilla-hub with {} (installs Go if missing)",
        script.display()
    );
    let status = std::process::Command::new("bash")
        .arg(&script)
        .arg(&path)
        .status();
    match status {
        Ok(s) if s.success() && path.is_file() => Some(path),
        other => {
            println!("note: gorilla-hub comparison skipped: could not build it (Go not installable?): {other:?}");
            None
        }
    }
}

/// User + system CPU seconds from a `/proc/.../stat` file (clock ticks of 1/100 s).
pub fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}
