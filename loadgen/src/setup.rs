//! Setting up a run: people, activities (groups) and sign-ups, through the public API.

use std::time::Duration;

use anyhow::{ensure, Context};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};

use crate::Config;

/// One person of the run.
#[derive(Clone, Debug)]
pub(crate) struct User {
    /// Index in the run.
    pub(crate) index: usize,
    /// Login token.
    pub(crate) token: String,
    /// Their group.
    pub(crate) group: String,
}

/// The prepared run.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) users: Vec<User>,
    /// Members per group, by group id.
    pub(crate) members: std::collections::HashMap<String, usize>,
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    let mut request = http.post(&url).json(&body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    ensure!(status.is_success(), "POST {url}: {status} {body}");
    Ok(body)
}

async fn get(http: &reqwest::Client, url: String, token: &str) -> anyhow::Result<Value> {
    let response = http.get(&url).bearer_auth(token).send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    ensure!(status.is_success(), "GET {url}: {status} {body}");
    Ok(body)
}

/// Registers and logs everyone in (a few at a time: hashing is deliberately slow),
/// publishes one activity per group and signs the others up, and waits until every
/// group has all its members.
pub(crate) async fn prepare(config: &Config) -> anyhow::Result<World> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()?;
    let base = &config.server;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let run = &run[run.len() - 8..];
    let tokens: Vec<String> = stream::iter(0..config.users)
        .map(|i| {
            let http = http.clone();
            async move {
                let body =
                    json!({"username": format!("lg{run}u{i}"), "password": "load generator"});
                post(
                    &http,
                    format!("{base}/api/v1/users/register"),
                    None,
                    body.clone(),
                )
                .await?;
                let login = post(&http, format!("{base}/api/v1/users/login"), None, body).await?;
                login["token"].as_str().map(str::to_owned).context("token")
            }
        })
        .buffered(8)
        .try_collect()
        .await?;
    let mut users = Vec::with_capacity(config.users);
    let mut members = std::collections::HashMap::new();
    for g in 0..config.groups {
        let in_group: Vec<usize> = (g..config.users).step_by(config.groups).collect();
        let organiser = &tokens[in_group[0]];
        let activity = post(
            &http,
            format!("{base}/api/v1/activities"),
            Some(organiser),
            json!({"title": format!("load {run} {g}"), "location": "loopback",
                   "starts_at": "2035-01-01T00:00:00Z", "capacity": in_group.len() + 1}),
        )
        .await?;
        let activity_id = activity["activity_id"]
            .as_str()
            .context("activity_id")?
            .to_owned();
        stream::iter(in_group[1..].iter().copied())
            .map(|i| {
                let (http, token) = (http.clone(), tokens[i].clone());
                let url = format!("{base}/api/v1/activities/{activity_id}/signups");
                async move { post(&http, url, Some(&token), json!({})).await }
            })
            .buffered(8)
            .try_collect::<Vec<_>>()
            .await?;
        // The group exists once the IM service has handled the events.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let group = loop {
            let a = get(
                &http,
                format!("{base}/api/v1/activities/{activity_id}"),
                organiser,
            )
            .await?;
            if let Some(group) = a["group_id"].as_str() {
                let m = get(
                    &http,
                    format!("{base}/api/v1/groups/{group}/members"),
                    organiser,
                )
                .await?;
                if m["items"].as_array().map(Vec::len) == Some(in_group.len()) {
                    break group.to_owned();
                }
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "group {g} not ready after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        members.insert(group.clone(), in_group.len());
        for i in in_group {
            users.push(User {
                index: i,
                token: tokens[i].clone(),
                group: group.clone(),
            });
        }
    }
    users.sort_by_key(|u| u.index);
    Ok(World { users, members })
}
