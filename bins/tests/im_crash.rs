//! The IM server killed mid-burst (SIGKILL: persister, pusher and gateway die at once)
//! and started again, on MariaDB and Redis Streams: clients resend what was not
//! confirmed, with the same client message ids, and the group ends with every message
//! exactly once, seqs 1..N without a gap, confirmed messages keeping their seq.

// Tests may panic on what they did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use domain::{TokenIssuer, UserId};
use e2e::deploy::Process;
use mq::backend::redis::{RedisBroker, RedisConfig};
use mq::{Message, Publisher};
use serde_json::{json, Value};
use support::ws::WsClient;

const SECRET: &str = "crash-test-secret-crash-test-secret-0123";
/// Messages per sender.
const EACH: usize = 150;
/// Sends in flight per client.
const WINDOW: usize = 16;

fn redis_url() -> String {
    std::env::var("MQ_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Starts `im-server` with `config`; returns it and its HTTP base URL.
async fn start(config: &Path) -> anyhow::Result<(Process, String)> {
    let dir = config.parent().context("config dir")?;
    let env = [("SOCIAL_IM_CONFIG".to_owned(), config.display().to_string())];
    let process = Process::start(
        "im-server",
        Path::new(env!("CARGO_BIN_EXE_im-server")),
        dir,
        &env,
    )
    .await?;
    let base = process.http.clone();
    Ok((process, base))
}

async fn get(base: &str, path: &str, token: &str) -> anyhow::Result<Value> {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await?;
    Ok(response.json().await?)
}

/// One sender: sends `cids` (window of `WINDOW`), records each confirmation, stops
/// when the connection drops. Returns the confirmed (cid -> seq).
async fn send_all(
    mut ws: WsClient,
    group: String,
    cids: Vec<String>,
    confirmed_total: Arc<AtomicUsize>,
) -> HashMap<String, u64> {
    let mut confirmed = HashMap::new();
    let mut queue: std::collections::VecDeque<String> = cids.into();
    let mut in_flight = 0;
    loop {
        while in_flight < WINDOW {
            let Some(cid) = queue.pop_front() else { break };
            let frame = json!({"type": "send", "group_id": group, "client_msg_id": cid, "body": format!("text of {cid}")});
            if ws.send(frame).await.is_err() {
                return confirmed;
            }
            in_flight += 1;
        }
        if in_flight == 0 {
            return confirmed;
        }
        let Ok(frame) = ws.next().await else {
            return confirmed;
        };
        match frame["type"].as_str() {
            Some("send_ok") => {
                in_flight -= 1;
                let cid = frame["client_msg_id"].as_str().unwrap().to_owned();
                confirmed.insert(cid, frame["seq"].as_u64().unwrap());
                confirmed_total.fetch_add(1, Ordering::SeqCst);
            }
            Some("error") => {
                // `unavailable` (not confirmed in time): send it again later.
                in_flight -= 1;
                if let Some(cid) = frame["ref"].as_str() {
                    queue.push_back(cid.to_owned());
                }
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_im_server_mid_burst_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    let name = format!("t_crash_{}", uuid::Uuid::now_v7().simple());
    support::admin(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")).await?;
    let prefix = format!("crash-{}:", uuid::Uuid::now_v7().simple());
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("im.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[http]
listen = "127.0.0.1:0"
[grpc]
listen = "127.0.0.1:0"
[database]
url = "{}/{name}"
[broker]
kind = "redis"
url = "{}"
key_prefix = "{prefix}"
lease_ttl_ms = 2000
[auth]
jwt_secret = "{SECRET}"
[im]
sends_per_second = 100000
send_burst = 100000
"#,
            support::mysql_base(),
            redis_url()
        ),
    )?;
    let (server, base) = start(&config).await?;

    // The activity service's events, as it would publish them.
    let mut redis_config = RedisConfig::new(redis_url());
    redis_config.key_prefix = prefix.clone();
    let bus = RedisBroker::connect(redis_config).await?;
    let tokens = TokenIssuer::new(SECRET, "social-im", Duration::from_secs(3600))?;
    let users: Vec<UserId> = (0..3).map(|_| UserId::new()).collect();
    let token: Vec<String> = users
        .iter()
        .map(|u| tokens.issue(u).unwrap().token)
        .collect();
    let activity = domain::ActivityId::new();
    let now = domain::Timestamp::now();
    let created = json!({"activity_id": activity, "creator_id": users[0], "title": "crash",
        "starts_at": now.plus(Duration::from_secs(86_400)), "capacity": 10,
        "requires_approval": false, "created_at": now});
    bus.publish(
        "activity.created",
        vec![Message::json(&created)?.with_key(activity.to_string())],
    )
    .await?;
    for user in &users[1..] {
        let joined = json!({"activity_id": activity, "user_id": user, "joined_at": now});
        bus.publish(
            "activity.member.joined",
            vec![Message::json(&joined)?.with_key(activity.to_string())],
        )
        .await?;
    }
    // Wait (bounded) for the group and its three members.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let group = loop {
        let mine = get(&base, "/api/v1/groups", &token[2]).await?;
        if let Some(g) = mine["items"][0]["group_id"].as_str() {
            let members = get(&base, &format!("/api/v1/groups/{g}/members"), &token[0]).await?;
            if members["items"].as_array().map(Vec::len) == Some(3) {
                break g.to_owned();
            }
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no group with 3 members"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let ws_url = base.replacen("http://", "ws://", 1) + "/ws";
    let all: Vec<Vec<String>> = (0..3)
        .map(|u| (0..EACH).map(|i| format!("u{u}-{i}")).collect())
        .collect();
    let confirmed_total = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for u in 0..3 {
        let ws = WsClient::connect(&ws_url, &token[u]).await?;
        tasks.push(tokio::spawn(send_all(
            ws,
            group.clone(),
            all[u].clone(),
            confirmed_total.clone(),
        )));
    }
    // Kill it mid-burst.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while confirmed_total.load(Ordering::SeqCst) < EACH {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the burst never got going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().await?;
    let mut before: Vec<HashMap<String, u64>> = Vec::new();
    for t in tasks {
        before.push(t.await?);
    }
    let confirmed_before: usize = before.iter().map(HashMap::len).sum();
    anyhow::ensure!(confirmed_before < 3 * EACH, "the kill came after the burst");

    // Start again; every client resends what it has no confirmation for.
    let (server, base) = start(&config).await?;
    let ws_url = base.replacen("http://", "ws://", 1) + "/ws";
    let at_restart = get(&base, &format!("/api/v1/groups/{group}"), &token[0]).await?;
    let stored_at_restart = at_restart["latest_seq"].as_u64().context("latest_seq")?;
    let mut tasks = Vec::new();
    let mut resent = 0;
    for u in 0..3 {
        let missing: Vec<String> = all[u]
            .iter()
            .filter(|c| !before[u].contains_key(*c))
            .cloned()
            .collect();
        resent += missing.len();
        let ws = WsClient::connect(&ws_url, &token[u]).await?;
        tasks.push(tokio::spawn(send_all(
            ws,
            group.clone(),
            missing,
            Arc::new(AtomicUsize::new(0)),
        )));
    }
    let mut after = Vec::new();
    for t in tasks {
        after.push(tokio::time::timeout(Duration::from_secs(90), t).await??);
    }

    // The group's history: every message once, seqs 1..N, confirmations kept.
    let mut history = Vec::new();
    let mut seq = 0;
    loop {
        let page = get(
            &base,
            &format!("/api/v1/groups/{group}/messages?after_seq={seq}&limit=500"),
            &token[0],
        )
        .await?;
        let messages = page["messages"].as_array().context("messages")?.clone();
        seq = messages
            .last()
            .map(|m| m["seq"].as_u64().unwrap())
            .unwrap_or(seq);
        history.extend(messages);
        if page["has_more"] != true {
            break;
        }
    }
    let seqs: Vec<u64> = history.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=3 * EACH as u64).collect::<Vec<_>>(),
        "contiguous, no gap"
    );
    let cids: HashSet<&str> = history
        .iter()
        .map(|m| m["client_msg_id"].as_str().unwrap())
        .collect();
    assert_eq!(cids.len(), 3 * EACH, "every message exactly once");
    let by_cid: BTreeMap<&str, u64> = history
        .iter()
        .map(|m| {
            (
                m["client_msg_id"].as_str().unwrap(),
                m["seq"].as_u64().unwrap(),
            )
        })
        .collect();
    for (u, confirmed) in before.iter().chain(after.iter()).enumerate() {
        for (cid, seq) in confirmed {
            assert_eq!(by_cid[cid.as_str()], *seq, "client {} cid {cid}", u % 3);
        }
    }
    println!(
        "killed after {confirmed_before} of {} confirmed (at least {stored_at_restart} stored by then, \
         so {} resends were retries of stored messages); {resent} resent after the restart; \
         {} messages stored, each once, seqs 1..{}",
        3 * EACH,
        stored_at_restart.saturating_sub(confirmed_before as u64),
        history.len(),
        history.len()
    );
    drop(server);
    support::admin(&format!("DROP DATABASE {name}")).await?;
    Ok(())
}
