//! Starting the real binaries as processes: the all-in-one server, or the three servers
//! (two IM nodes) behind the gateway, each on free ports, each telling us where it
//! listens on its first line of output.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{ensure, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The directory the workspace's binaries are built into (next to this test binary:
/// `<target>/debug/deps/<test>` -> `<target>/debug`).
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let deps = exe.parent().context("no parent")?;
    Ok(deps.parent().context("no target dir")?.to_path_buf())
}

/// A binary of the `bins` package; it must be built (`cargo build -p bins --bins`,
/// which `scripts/test.sh` and `cargo test --workspace` do).
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = bin_dir()?.join(name);
    ensure!(
        path.is_file(),
        "{} is not built: run `cargo build -p bins --bins`",
        path.display()
    );
    Ok(path)
}

/// A running server process.
#[derive(Debug)]
pub struct Process {
    /// Its name, for messages.
    pub name: String,
    /// Its HTTP base URL.
    pub http: String,
    /// Its gRPC URL (`http://host:port`), when it serves gRPC.
    pub grpc: Option<String>,
    /// The line it printed saying where it listens.
    pub line: String,
    child: Child,
}

impl Process {
    /// Starts `binary` in `dir` with `env` (plus free ports unless `env` sets them);
    /// waits for the line saying where it listens.
    pub async fn start(
        name: &str,
        binary: &Path,
        dir: &Path,
        env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SOCIAL_IM_HTTP__LISTEN", "127.0.0.1:0")
            .env("SOCIAL_IM_GRPC__LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .with_context(|| format!("{name}: no start line within 60 s"))??
            .with_context(|| format!("{name} exited before it listened"))?;
        let http = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .with_context(|| format!("{name}: no URL in {line:?}"))?
            .trim_end_matches(['/', ','])
            .to_owned();
        let words: Vec<&str> = line.split_whitespace().collect();
        let grpc = words
            .windows(3)
            .find(|w| w[0] == "gRPC" && w[1] == "on")
            .map(|w| format!("http://{}", w[2].trim_end_matches(',')));
        // Keep reading stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            name: name.to_owned(),
            http,
            grpc,
            line,
            child,
        })
    }

    /// The process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM, then waits (at most 30 s) for it to exit; returns how it exited.
    pub async fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().context("no pid")?;
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        ensure!(sent.success(), "kill -TERM {pid}");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .with_context(|| format!("{} still running 30 s after SIGTERM", self.name))?
            .map_err(Into::into)
    }

    /// SIGTERM, then checks it exits cleanly within 30 s.
    pub async fn stop(self) -> anyhow::Result<()> {
        let name = self.name.clone();
        let status = self.terminate().await?;
        ensure!(status.success(), "{name} exited with {status}");
        Ok(())
    }

    /// SIGKILL (no chance to clean up), then waits for it to be gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

/// A deployment: its processes and the one base URL clients use.
#[derive(Debug)]
pub struct Deployment {
    /// What clients use.
    pub base: String,
    /// Every process, the gateway last.
    pub processes: Vec<Process>,
}

impl Deployment {
    /// The all-in-one server with zero configuration in `dir`.
    pub async fn all_in_one(dir: &Path) -> anyhow::Result<Self> {
        let server = Process::start("social-im", &binary("social-im")?, dir, &[]).await?;
        Ok(Self {
            base: server.http.clone(),
            processes: vec![server],
        })
    }

    /// The user, activity and two IM servers on `database_url` and `broker` settings
    /// (`SOCIAL_IM_BROKER__*` pairs), behind the gateway.
    pub async fn three_servers(
        dir: &Path,
        database_url: &str,
        broker: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let mut env: Vec<(String, String)> = vec![
            ("SOCIAL_IM_DATABASE__URL".into(), database_url.into()),
            (
                "SOCIAL_IM_AUTH__JWT_SECRET".into(),
                "e2e-secret-e2e-secret-e2e-secret-0123".into(),
            ),
        ];
        env.extend_from_slice(broker);
        let mut processes = Vec::new();
        for (name, binary_name, node) in [
            ("user-server", "user-server", None),
            ("activity-server", "activity-server", None),
            ("im-server 1", "im-server", Some("im-1")),
            ("im-server 2", "im-server", Some("im-2")),
        ] {
            let mut env = env.clone();
            if let Some(node) = node {
                env.push(("SOCIAL_IM_IM__NODE_ID".into(), node.into()));
                // The IM nodes ask the user server for names over gRPC.
                let user_grpc = processes.first().and_then(|p: &Process| p.grpc.clone());
                env.push((
                    "SOCIAL_IM_SERVICES__USER_GRPC".into(),
                    user_grpc.unwrap_or_default(),
                ));
            }
            processes.push(Process::start(name, &binary(binary_name)?, dir, &env).await?);
        }
        let config = dir.join("gateway.toml");
        std::fs::write(
            &config,
            format!(
                "[http]\nlisten = \"127.0.0.1:0\"\n[gateway]\nusers = \"{}\"\nactivities = \"{}\"\nim = [\"{}\", \"{}\"]\n",
                processes[0].http, processes[1].http, processes[2].http, processes[3].http
            ),
        )?;
        let gateway = Process::start(
            "gateway",
            &binary("gateway")?,
            dir,
            &[("SOCIAL_IM_CONFIG".into(), config.display().to_string())],
        )
        .await?;
        let base = gateway.http.clone();
        processes.push(gateway);
        Ok(Self { base, processes })
    }

    /// Stops every process (gateway first) and checks each exits cleanly.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        while let Some(p) = self.processes.pop() {
            p.stop().await?;
        }
        Ok(())
    }
}
