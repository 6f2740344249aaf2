//! The all-in-one binary as a user runs it: zero configuration (only the listen
//! addresses moved to free ports), every HTTP path on one base URL, a graceful stop on
//! SIGTERM, and data (and login tokens) surviving a restart.

// Tests may panic on what they did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use e2e::deploy::Process;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The running binary and its base URL.
struct Server {
    process: Process,
    base: String,
}

/// Starts `social-im` in `dir` with no settings but free ports; waits for the line
/// saying where it listens.
async fn start(dir: &Path) -> anyhow::Result<Server> {
    let process = Process::start(
        "social-im",
        Path::new(env!("CARGO_BIN_EXE_social-im")),
        dir,
        &[],
    )
    .await?;
    assert!(
        process.line.contains("sqlite://social-im.db"),
        "{}",
        process.line
    );
    assert!(process.line.contains("in-memory"), "{}", process.line);
    let base = process.http.clone();
    Ok(Server { process, base })
}

impl Server {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// SIGTERM, then the exit status.
    async fn stop(self) -> anyhow::Result<std::process::ExitStatus> {
        self.process.terminate().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_config_serves_everything_on_one_port_and_keeps_data_across_a_restart(
) -> anyhow::Result<()> {
    use reqwest::Method;
    let dir = tempfile::tempdir()?;
    let server = start(dir.path()).await?;

    let (status, health) = server.call(Method::GET, "/healthz", None, None).await?;
    assert_eq!((status, &health["status"]), (StatusCode::OK, &json!("ok")));
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/users/register",
            None,
            Some(json!({"username": "ada", "password": "analytical engine"})),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED);
    let (status, login) = server
        .call(
            Method::POST,
            "/api/v1/users/login",
            None,
            Some(json!({"username": "ada", "password": "analytical engine"})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{login}");
    let token = login["token"].as_str().unwrap().to_owned();
    let starts_at = domain::Timestamp::now()
        .plus(Duration::from_secs(86_400))
        .to_rfc3339();
    let (status, made) = server
        .call(
            Method::POST,
            "/api/v1/activities",
            Some(&token),
            Some(json!({"title": "Chess", "location": "Library", "starts_at": starts_at, "capacity": 4})),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["activity_id"].as_str().unwrap().to_owned();
    let (status, metrics) = server.call(Method::GET, "/metrics", None, None).await?;
    assert_eq!(status, StatusCode::OK, "{metrics}");
    let metrics = metrics.as_str().unwrap_or_default();
    assert!(
        metrics.contains(
            r#"http_requests_total{method="POST",route="/api/v1/activities",status="201"} 1"#
        ),
        "{metrics}"
    );

    let exit = server.stop().await?;
    assert!(exit.success(), "graceful stop: {exit:?}");
    assert!(
        dir.path().join("social-im.db").exists(),
        "the SQLite file is in the working directory"
    );

    // Same directory, same zero configuration: the data and the token are still good.
    let server = start(dir.path()).await?;
    let (status, me) = server
        .call(Method::GET, "/api/v1/users/me", Some(&token), None)
        .await?;
    assert_eq!(
        status,
        StatusCode::OK,
        "the generated secret was kept: {me}"
    );
    assert_eq!(me["username"], "ada");
    let (status, got) = server
        .call(Method::GET, &format!("/api/v1/activities/{id}"), None, None)
        .await?;
    assert_eq!((status, &got["title"]), (StatusCode::OK, &json!("Chess")));
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/users/register",
            None,
            Some(json!({"username": "ADA", "password": "another pass 1"})),
        )
        .await?;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the user survived the restart"
    );
    assert!(server.stop().await?.success());
    Ok(())
}

/// Resident memory of a process, from /proc (Linux), in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?)
}

/// A burst of failed logins (argon2 hashes of about 19 MiB each) does not make the
/// server hold memory for all of them at once: hashing runs a few at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_failed_logins_keeps_memory_bounded() -> anyhow::Result<()> {
    use reqwest::Method;
    let dir = tempfile::tempdir()?;
    let server = start(dir.path()).await?;
    let pid = server.process.pid().context("pid")?;
    let before = rss_kib(pid)?;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let base = server.base.clone();
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{base}/api/v1/users/login"))
                .json(&json!({"username": format!("nobody{i}"), "password": "wrong password"}))
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    for t in tasks {
        assert_eq!(t.await??, StatusCode::UNAUTHORIZED);
    }
    let after = rss_kib(pid)?;
    // Without the pool: 64 x 19 MiB (over 1 GiB, 3 GiB seen with 80). With it: about
    // 250 MiB here, whatever the concurrency (the allocator keeps some freed blocks).
    assert!(
        after.saturating_sub(before) < 512 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    let (status, _) = server.call(Method::GET, "/healthz", None, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(server.stop().await?.success());
    Ok(())
}
