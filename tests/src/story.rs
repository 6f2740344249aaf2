//! The platform's core story, played against a running deployment through its one base
//! URL, as real clients would: HTTP for the API, WebSocket for chat and notifications.
//! Every step checks what it expects and says what happened. Used by the end-to-end
//! tests (`tests/story_test.rs`) and the demo (`cargo run -p examples --example demo`).

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for anything the story expects.
const WAIT: Duration = Duration::from_secs(20);

/// What the story saw, for the caller to check or print.
#[derive(Debug, Default)]
pub struct Report {
    /// Messages the chat exchanged (and every member saw in the same order).
    pub messages: u64,
    /// Messages the offline member caught up on when it came back.
    pub caught_up: u64,
    /// Notifications received over WebSocket, by kind, in order.
    pub notifications: Vec<String>,
}

/// One person: a login and, when online, a WebSocket.
struct Person {
    name: String,
    id: String,
    token: String,
    ws: Option<(SplitSink<Ws, Message>, SplitStream<Ws>)>,
    /// Frames read while waiting for something else.
    pending: Vec<Value>,
}

struct Api {
    base: String,
    http: reqwest::Client,
    run: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{path}: is the server running?"))?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        let (status, body) = self
            .call(reqwest::Method::GET, path, Some(token), None)
            .await?;
        ensure!(status == 200, "GET {path}: {status} {body}");
        Ok(body)
    }

    /// Registers and logs in `name` (unique per run).
    async fn person(&self, name: &str) -> anyhow::Result<Person> {
        let username = format!("{name}_{}", self.run);
        let password = format!("correct horse {name}");
        let (status, body) = self
            .post(
                "/api/v1/users/register",
                None,
                json!({"username": username, "password": password, "nickname": name}),
            )
            .await?;
        ensure!(status == 201, "register {name}: {status} {body}");
        let (status, login) = self
            .post(
                "/api/v1/users/login",
                None,
                json!({"username": username, "password": password}),
            )
            .await?;
        ensure!(status == 200, "login {name}: {status} {login}");
        Ok(Person {
            name: name.to_owned(),
            id: login["user_id"].as_str().context("user_id")?.to_owned(),
            token: login["token"].as_str().context("token")?.to_owned(),
            ws: None,
            pending: Vec::new(),
        })
    }

    /// Waits until the activity shows its group.
    async fn group_of(&self, activity: &str, token: &str) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let a = self
                .get(&format!("/api/v1/activities/{activity}"), token)
                .await?;
            if let Some(g) = a["group_id"].as_str() {
                return Ok(g.to_owned());
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "activity {activity} never got a group"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `group` has exactly `n` members.
    async fn members(&self, group: &str, token: &str, n: usize) -> anyhow::Result<Vec<String>> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let m = self
                .get(&format!("/api/v1/groups/{group}/members"), token)
                .await?;
            let ids: Vec<String> = m["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["user_id"].as_str().map(str::to_owned))
                .collect();
            if ids.len() == n {
                return Ok(ids);
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "group {group} has {} members, expected {n}",
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Person {
    async fn connect(&mut self, base: &str) -> anyhow::Result<()> {
        let url = format!("{}/ws", base.replacen("http", "ws", 1));
        let (ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .context("WebSocket")?;
        let (mut sink, stream) = ws.split();
        sink.send(Message::Text(
            json!({"type": "auth", "token": self.token})
                .to_string()
                .into(),
        ))
        .await?;
        self.ws = Some((sink, stream));
        self.pending.clear();
        let ok = self.next().await?;
        ensure!(
            ok["type"] == "auth_ok",
            "{}: expected auth_ok, got {ok}",
            self.name
        );
        Ok(())
    }

    fn disconnect(&mut self) {
        self.ws = None;
        self.pending.clear();
    }

    async fn send(&mut self, frame: Value) -> anyhow::Result<()> {
        let (sink, _) = self.ws.as_mut().context("not connected")?;
        sink.send(Message::Text(frame.to_string().into())).await?;
        Ok(())
    }

    async fn next(&mut self) -> anyhow::Result<Value> {
        let (_, stream) = self.ws.as_mut().context("not connected")?;
        loop {
            match tokio::time::timeout(WAIT, stream.next()).await {
                Err(_) => bail!("{}: nothing arrived within {WAIT:?}", self.name),
                Ok(None) => bail!("{}: connection closed", self.name),
                Ok(Some(Err(e))) => bail!("{}: {e}", self.name),
                Ok(Some(Ok(Message::Text(t)))) => return Ok(serde_json::from_str(t.as_str())?),
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// The next frame matching `want`, keeping the others for later.
    async fn wait_for(
        &mut self,
        what: &str,
        want: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        if let Some(i) = self.pending.iter().position(&want) {
            return Ok(self.pending.remove(i));
        }
        loop {
            let frame = self
                .next()
                .await
                .with_context(|| format!("waiting for {what}"))?;
            if want(&frame) {
                return Ok(frame);
            }
            self.pending.push(frame);
        }
    }

    async fn notification(&mut self, kind: &str) -> anyhow::Result<Value> {
        let k = kind.to_owned();
        self.wait_for(kind, move |f| {
            f["type"] == "notification" && f["kind"] == k.as_str()
        })
        .await
    }

    async fn say(&mut self, group: &str, text: &str) -> anyhow::Result<u64> {
        let cid = uuid::Uuid::now_v7().to_string();
        self.send(json!({"type": "send", "group_id": group, "client_msg_id": cid, "body": text}))
            .await?;
        let c = cid.clone();
        let ok = self
            .wait_for("send_ok", move |f| {
                (f["type"] == "send_ok" && f["client_msg_id"] == c.as_str())
                    || (f["type"] == "error" && f["ref"] == c.as_str())
            })
            .await?;
        ensure!(ok["type"] == "send_ok", "{}: send refused: {ok}", self.name);
        ok["seq"].as_u64().context("seq")
    }

    /// The group's pushed messages with seqs in `range`, in arrival order, as (seq, text).
    async fn messages(&mut self, group: &str, n: usize) -> anyhow::Result<Vec<(u64, String)>> {
        let mut got = Vec::new();
        while got.len() < n {
            let g = group.to_owned();
            let m = self
                .wait_for("a message", move |f| {
                    f["type"] == "message" && f["group_id"] == g.as_str()
                })
                .await?;
            got.push((
                m["seq"].as_u64().unwrap_or(0),
                m["body"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        Ok(got)
    }

    /// Asks for everything after `seq` (one page of up to 500).
    async fn sync(&mut self, group: &str, after: u64) -> anyhow::Result<Vec<(u64, String)>> {
        self.send(json!({"type": "sync", "group_id": group, "after_seq": after, "limit": 500}))
            .await?;
        let r = self
            .wait_for("sync_result", |f| f["type"] == "sync_result")
            .await?;
        Ok(r["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["seq"].as_u64().unwrap_or(0),
                    m["body"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }
}

/// Plays the story against `base` (e.g. `http://127.0.0.1:8080`), telling `say` what
/// happens. Fails at the first step that does not go as the platform promises.
pub async fn play(base: &str, say: &mut (dyn FnMut(String) + Send)) -> anyhow::Result<Report> {
    let api = Api {
        base: base.trim_end_matches('/').to_owned(),
        http: reqwest::Client::new(),
        run: uuid::Uuid::now_v7().simple().to_string()[20..].to_owned(),
    };
    let mut report = Report::default();
    let base = api.base.clone();

    let mut org = api.person("olga").await?;
    let mut ann = api.person("ann").await?;
    let mut ben = api.person("ben").await?;
    let mut cid = api.person("cid").await?;
    say("registered and logged in: olga (organiser), ann, ben, cid".into());
    org.connect(&base).await?;
    ann.connect(&base).await?;
    cid.connect(&base).await?;
    say("olga, ann and cid are online; ben is offline".into());

    let activity = |title: &str, approval: bool| {
        json!({"title": title, "description": "bring water",
        "location": "North trailhead", "starts_at": "2031-06-01T09:00:00Z", "capacity": 10, "requires_approval": approval})
    };
    let (status, hike) = api
        .post(
            "/api/v1/activities",
            Some(&org.token),
            activity("Sunday hike", false),
        )
        .await?;
    ensure!(status == 201, "create activity: {status} {hike}");
    let hike_id = hike["activity_id"]
        .as_str()
        .context("activity_id")?
        .to_owned();
    let (status, games) = api
        .post(
            "/api/v1/activities",
            Some(&org.token),
            activity("Board games", true),
        )
        .await?;
    ensure!(status == 201, "create activity: {status} {games}");
    let games_id = games["activity_id"]
        .as_str()
        .context("activity_id")?
        .to_owned();
    let hike_group = api.group_of(&hike_id, &org.token).await?;
    let games_group = api.group_of(&games_id, &org.token).await?;
    say("olga published \"Sunday hike\" (open) and \"Board games\" (approval needed); each got its group chat".into());

    // Open sign-ups: accepted at once, added, notified live.
    for p in [&mut ann, &mut ben] {
        let (status, s) = api
            .post(
                &format!("/api/v1/activities/{hike_id}/signups"),
                Some(&p.token),
                json!({}),
            )
            .await?;
        ensure!(
            status == 201 && s["status"] == "accepted",
            "{} signs up: {status} {s}",
            p.name
        );
    }
    api.members(&hike_group, &org.token, 3).await?;
    // The member list carries the names (the IM service asks the user service).
    let listed = api
        .get(&format!("/api/v1/groups/{hike_group}/members"), &org.token)
        .await?;
    let nicknames: Vec<&str> = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["nickname"].as_str())
        .collect();
    ensure!(
        nicknames == ["olga", "ann", "ben"],
        "member names: {listed}"
    );
    ann.notification("signup_accepted").await?;
    report.notifications.push("signup_accepted".into());
    say(
        "ann and ben signed up to the hike: accepted, added to its group; ann was notified live"
            .into(),
    );

    // With approval: pending, then approved (ben, offline) or rejected (cid, online).
    for p in [&ben, &cid] {
        let (status, s) = api
            .post(
                &format!("/api/v1/activities/{games_id}/signups"),
                Some(&p.token),
                json!({}),
            )
            .await?;
        ensure!(
            status == 201 && s["status"] == "pending",
            "{} signs up: {status} {s}",
            p.name
        );
    }
    let (status, _) = api
        .post(
            &format!("/api/v1/activities/{games_id}/signups/{}/approve", ben.id),
            Some(&org.token),
            json!({}),
        )
        .await?;
    ensure!(status == 200, "approve: {status}");
    let (status, _) = api
        .post(
            &format!("/api/v1/activities/{games_id}/signups/{}/reject", cid.id),
            Some(&org.token),
            json!({}),
        )
        .await?;
    ensure!(status == 200, "reject: {status}");
    api.members(&games_group, &org.token, 2).await?;
    cid.notification("signup_rejected").await?;
    report.notifications.push("signup_rejected".into());
    say("ben and cid asked to join the board games; olga approved ben (added) and rejected cid (told live)".into());

    // Chat in the hike's group: olga and ann talk while ben is away.
    let mut seqs = Vec::new();
    for (who, text) in [
        ("olga", "Meet at 9 at the trailhead"),
        ("ann", "I'll bring sandwiches"),
        ("olga", "Great, see you!"),
    ] {
        let p = if who == "olga" { &mut org } else { &mut ann };
        seqs.push(p.say(&hike_group, text).await?);
    }
    ensure!(seqs == vec![1, 2, 3], "seqs {seqs:?}");
    let olga_saw = org.messages(&hike_group, 3).await?;
    let ann_saw = ann.messages(&hike_group, 3).await?;
    ensure!(
        olga_saw == ann_saw,
        "olga and ann saw different orders: {olga_saw:?} {ann_saw:?}"
    );
    report.messages = 3;
    say(format!(
        "olga and ann chatted in the hike's group: {} messages, seq 1..3, the same order for both",
        olga_saw.len()
    ));

    // Ben comes back: his notifications arrive, and he catches up exactly.
    ben.connect(&base).await?;
    ben.notification("signup_accepted").await?;
    ben.send(json!({"type": "latest"})).await?;
    let latest = ben
        .wait_for("latest_result", |f| f["type"] == "latest_result")
        .await?;
    let hike_latest = latest["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["group_id"] == hike_group.as_str())
        .context("hike group in latest")?;
    ensure!(
        hike_latest["latest_seq"] == 3 && hike_latest["unread"] == 3,
        "latest: {hike_latest}"
    );
    let missed = ben.sync(&hike_group, 0).await?;
    ensure!(
        missed == olga_saw,
        "ben caught up {missed:?}, expected {olga_saw:?}"
    );
    report.caught_up = missed.len() as u64;
    let history = api
        .get(
            &format!("/api/v1/groups/{hike_group}/messages?after_seq=0"),
            &ben.token,
        )
        .await?;
    ensure!(
        history["messages"].as_array().map(Vec::len) == Some(3),
        "history: {history}"
    );
    say(format!("ben came online: his notifications arrived, and he caught up on the {} messages he missed, in order", missed.len()));
    let seq = ben
        .say(&hike_group, "Sorry, was offline. Count me in!")
        .await?;
    ensure!(seq == 4, "ben's message got seq {seq}");
    for p in [&mut org, &mut ann] {
        let got = p.messages(&hike_group, 1).await?;
        ensure!(got[0].0 == 4, "{} got {got:?}", p.name);
    }
    report.messages += 1;
    say("ben's reply (seq 4) reached olga and ann".into());

    // Olga removes ann: notified, receives nothing more, cannot send.
    let (status, body) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/groups/{hike_group}/members/{}", ann.id),
            Some(&org.token),
            None,
        )
        .await?;
    ensure!(status == 204, "remove ann: {status} {body}");
    ann.notification("removed_from_group").await?;
    report.notifications.push("removed_from_group".into());
    let seq = org.say(&hike_group, "Ann had to drop out").await?;
    ben.messages(&hike_group, 1).await?;
    ann.send(json!({"type": "ping"})).await?;
    let before_pong = {
        let mut frames = Vec::new();
        loop {
            let f = ann.next().await?;
            if f["type"] == "pong" {
                break frames;
            }
            frames.push(f);
        }
    };
    ensure!(
        ann.pending
            .iter()
            .chain(before_pong.iter())
            .all(|f| !(f["type"] == "message" && f["seq"] == seq)),
        "ann still received the group's messages"
    );
    ann.send(
        json!({"type": "send", "group_id": hike_group, "client_msg_id": "x", "body": "hello?"}),
    )
    .await?;
    let refused = ann.wait_for("an error", |f| f["type"] == "error").await?;
    ensure!(refused["code"] == "not_member", "ann's send: {refused}");
    report.messages += 1;
    say(
        "olga removed ann from the hike's group: ann was told, gets nothing more, and cannot send"
            .into(),
    );

    // Olga cancels the hike: the group is dissolved, members told, no more messages.
    let (status, body) = api
        .post(
            &format!("/api/v1/activities/{hike_id}/cancel"),
            Some(&org.token),
            json!({"reason": "storm forecast"}),
        )
        .await?;
    ensure!(status == 200, "cancel: {status} {body}");
    ben.notification("activity_cancelled").await?;
    report.notifications.push("activity_cancelled".into());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let g = api
            .get(&format!("/api/v1/groups/{hike_group}"), &org.token)
            .await?;
        if g["status"] == "dissolved" {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the group was not dissolved: {g}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ben.send(json!({"type": "send", "group_id": hike_group, "client_msg_id": "late", "body": "still on?"})).await?;
    let refused = ben.wait_for("an error", |f| f["type"] == "error").await?;
    ensure!(refused["code"] == "group_closed", "ben's send: {refused}");
    say("olga cancelled the hike: its group was dissolved, ben was told, and the group takes no more messages".into());

    for p in [&mut org, &mut ann, &mut ben, &mut cid] {
        p.disconnect();
    }
    Ok(report)
}
