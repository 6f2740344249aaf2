//! Shared by the integration tests that need real servers.
#![allow(dead_code, clippy::expect_used)]

mod containers;

use std::time::{SystemTime, UNIX_EPOCH};

/// The Redis server of the test run: `MQ_TEST_REDIS_URL` (scripts/test.sh sets it);
/// else a container when a Docker engine answers; else the local default port.
pub(crate) fn redis_url() -> String {
    std::env::var("MQ_TEST_REDIS_URL")
        .ok()
        .or_else(containers::redis_url)
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

/// The Kafka-protocol broker of the test run: `MQ_TEST_KAFKA_BROKERS` (scripts/test.sh
/// starts a tansu broker and sets it); else a container when a Docker engine answers;
/// else the local default port.
pub(crate) fn kafka_brokers() -> String {
    std::env::var("MQ_TEST_KAFKA_BROKERS")
        .ok()
        .or_else(containers::kafka_brokers)
        .unwrap_or_else(|| "127.0.0.1:9092".into())
}

/// A name no other test run uses.
pub(crate) fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{nanos:x}-{}", std::process::id())
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub(crate) async fn wait_for_port(port: u16, within: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on port {port}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The path of `name` on `PATH` (or in `$CARGO_HOME/bin`, where `cargo install` puts
/// it), if any.
pub(crate) fn find_binary(name: &str) -> Option<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        dirs.push(std::path::PathBuf::from(cargo_home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(std::path::PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// A directory under the system temp dir, removed (with its content) on drop.
pub(crate) struct TempDir(std::path::PathBuf);

impl TempDir {
    pub(crate) fn new(prefix: &str) -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(unique(prefix));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server process the test starts, kills (SIGKILL) and starts again with the same
/// command line; killed on drop.
pub(crate) struct ServerProcess {
    name: String,
    make: Box<dyn Fn() -> std::process::Command + Send + Sync>,
    child: Option<std::process::Child>,
}

impl ServerProcess {
    /// Starts the server `make` describes (stdout and stderr are appended to `log`).
    pub(crate) fn start(
        name: &str,
        log: std::path::PathBuf,
        make: impl Fn() -> std::process::Command + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let make = move || {
            let mut cmd = make();
            cmd.stdin(std::process::Stdio::null());
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .and_then(|f| Ok((f.try_clone()?, f)))
            {
                Ok((out, err)) => {
                    cmd.stdout(out).stderr(err);
                }
                Err(_) => {
                    cmd.stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null());
                }
            }
            cmd
        };
        let mut server = Self {
            name: name.to_owned(),
            make: Box::new(make),
            child: None,
        };
        server.restart()?;
        Ok(server)
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and reaps it.
    pub(crate) fn kill(&mut self) -> std::io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the server again (after [`Self::kill`]).
    pub(crate) fn restart(&mut self) -> std::io::Result<()> {
        assert!(self.child.is_none(), "{} is still running", self.name);
        self.child = Some((self.make)().spawn()?);
        Ok(())
    }

    /// Fails if the server exited by itself.
    pub(crate) fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("{} exited by itself: {status}", self.name);
            }
        }
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
