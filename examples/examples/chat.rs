//! A terminal chat client for a running server (the all-in-one `social-im`, or a
//! deployment's gateway): logs in, joins the WebSocket, shows the group's recent
//! messages, then sends each line you type and prints what arrives (messages in seq
//! order, notifications).
//!
//! ```sh
//! cargo run -p examples --example chat -- ada 'analytical engine'            # first group
//! cargo run -p examples --example chat -- ada 'analytical engine' GROUP_ID   # that group
//! SERVER=http://127.0.0.1:8080 cargo run -p examples --example chat -- ...
//! ```
//!
//! Lines starting with `/` are commands: `/groups`, `/quit`.

use std::collections::HashMap;

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
    names: HashMap<String, String>,
}

impl Api {
    async fn login(base: &str, username: &str, password: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let answer: Value = http
            .post(format!("{base}/api/v1/users/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .context("is the server running? (cargo run --release --bin social-im)")?
            .json()
            .await?;
        let Some(token) = answer["token"].as_str() else {
            bail!("login failed: {}", answer["error"]["message"]);
        };
        Ok(Self {
            base: base.to_owned(),
            token: token.to_owned(),
            http,
            names: HashMap::new(),
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .json()
            .await?)
    }

    /// A user's name for display (looked up once).
    async fn name(&mut self, user_id: &str) -> String {
        if let Some(n) = self.names.get(user_id) {
            return n.clone();
        }
        let profile = self
            .get(&format!("/api/v1/users/{user_id}"))
            .await
            .unwrap_or(Value::Null);
        let name = profile["nickname"]
            .as_str()
            .or(profile["username"].as_str())
            .unwrap_or(user_id)
            .to_owned();
        self.names.insert(user_id.to_owned(), name.clone());
        name
    }
}

fn text_of(body: &Value) -> String {
    match body {
        Value::String(s) => s.clone(),
        other => other["text"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| other.to_string()),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(user), Some(password)) = (args.first(), args.get(1)) else {
        bail!("usage: chat USERNAME PASSWORD [GROUP_ID]   (SERVER=http://127.0.0.1:8080)");
    };
    let base = std::env::var("SERVER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let mut api = Api::login(&base, user, password).await?;
    let groups = api.get("/api/v1/groups").await?;
    let group = match args.get(2) {
        Some(g) => g.clone(),
        None => groups["items"][0]["group_id"]
            .as_str()
            .context("you are in no group yet: publish an activity or sign up to one")?
            .to_owned(),
    };

    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
    let (ws, _) = tokio_tungstenite::connect_async_with_config(&ws_url, None, true).await?;
    let (mut sink, mut stream) = ws.split();
    let auth = json!({"type": "auth", "token": api.token});
    sink.send(Message::Text(auth.to_string().into())).await?;
    // The last 20 messages, then everything live.
    let latest = api.get(&format!("/api/v1/groups/{group}")).await?;
    let after = latest["latest_seq"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(20);
    let sync = json!({"type": "sync", "group_id": group, "after_seq": after});
    sink.send(Message::Text(sync.to_string().into())).await?;
    println!("connected to group {group}; type a message and press Enter (/quit to leave)");

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut shown: u64 = after;
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                let line = line.trim();
                if line.is_empty() { continue; }
                if line == "/quit" { break; }
                if line == "/groups" {
                    for g in api.get("/api/v1/groups").await?["items"].as_array().into_iter().flatten() {
                        println!("  {} ({}, {} unread)", g["group_id"], g["status"], g["unread"]);
                    }
                    continue;
                }
                let frame = json!({"type": "send", "group_id": group,
                    "client_msg_id": uuid::Uuid::now_v7().to_string(), "body": line});
                sink.send(Message::Text(frame.to_string().into())).await?;
            }
            frame = stream.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    if frame.is_none() { println!("* disconnected"); break; }
                    continue;
                };
                let f: Value = serde_json::from_str(text.as_str())?;
                match f["type"].as_str() {
                    Some("message") if f["group_id"] == group.as_str() => {
                        let seq = f["seq"].as_u64().unwrap_or(0);
                        if seq <= shown { continue; }
                        shown = seq;
                        let who = api.name(f["sender_id"].as_str().unwrap_or("?")).await;
                        println!("[{seq}] {who}: {}", text_of(&f["body"]));
                    }
                    Some("sync_result") => {
                        for m in f["messages"].as_array().into_iter().flatten() {
                            let seq = m["seq"].as_u64().unwrap_or(0);
                            if seq <= shown { continue; }
                            shown = seq;
                            let who = api.name(m["sender_id"].as_str().unwrap_or("?")).await;
                            println!("[{seq}] {who}: {}", text_of(&m["body"]));
                        }
                    }
                    Some("notification") => println!("* {}: {}", f["kind"], f["payload"]),
                    Some("error") => println!("! {}: {}", f["code"], f["message"]),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}
