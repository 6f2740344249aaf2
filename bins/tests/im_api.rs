//! The IM service end to end over HTTP and WebSocket, on SQLite and MariaDB (in-memory
//! broker): groups from activities, members and notifications from sign-ups, ordered
//! chat, offline catch-up, removal and dissolution.

// Tests may panic on what they did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::ws::{as_triple, WsClient};
use support::{Bus, Db, Env};

/// Waits (bounded) until the activity shows its group; returns the group id.
async fn group_of(env: &Env, activity: &str) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let a = env
            .get(&format!("/api/v1/activities/{activity}"), None)
            .await?;
        if let Some(g) = a.body["group_id"].as_str() {
            return Ok(g.to_owned());
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "no group: {a:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn kinds(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "notification")
        .map(|f| f["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn story(db: Db) -> anyhow::Result<()> {
    story_on(db, Bus::Memory).await
}

async fn story_on(db: Db, bus: Bus) -> anyhow::Result<()> {
    let env = Env::start_full_on(db, bus).await?;
    let mut group_created = env.watch("group.created").await?;
    let mut added = env.watch("group.member.added").await?;
    let mut removed = env.watch("group.member.removed").await?;
    let mut dissolved = env.watch("group.dissolved").await?;

    let (org, org_token) = env.user("organiser").await?;
    let (ann, ann_token) = env.user("ann").await?;
    let (ben, ben_token) = env.user("ben").await?;
    let (cid, cid_token) = env.user("cid").await?;
    let (dan, dan_token) = env.user("dan").await?;
    let (eve, eve_token) = env.user("eve").await?;
    let url = env.ws_url();

    // Ann is online from the start: her welcome and sign-up notifications arrive live.
    let mut ann_ws = WsClient::connect(&url, &ann_token).await?;

    let hike = env.activity(&org_token, "Hike", 10, false).await?;
    let hike_id = hike["activity_id"].as_str().unwrap().to_owned();
    let created = group_created.next(1).await?;
    let group = created[0].1["group_id"].as_str().unwrap().to_owned();
    assert_eq!(created[0].0, group, "group events are keyed by group");
    assert_eq!(created[0].1["activity_id"], hike_id.as_str());
    assert_eq!(created[0].1["owner_id"], org.as_str());
    assert_eq!(group_of(&env, &hike_id).await?, group);

    // Sign-ups: accepted at once, each added to the group and notified.
    for token in [&ann_token, &ben_token, &cid_token, &dan_token, &eve_token] {
        let s = env
            .post(
                &format!("/api/v1/activities/{hike_id}/signups"),
                Some(token),
                json!({}),
            )
            .await?;
        assert_eq!(s.status, StatusCode::CREATED, "{s:?}");
    }
    let adds = added.next(6).await?; // the owner and five members
    let mut added_users: Vec<String> = adds
        .iter()
        .map(|(_, e)| e["user_id"].as_str().unwrap().to_owned())
        .collect();
    added_users.sort();
    let mut expected = vec![
        org.clone(),
        ann.clone(),
        ben.clone(),
        cid.clone(),
        dan.clone(),
        eve.clone(),
    ];
    expected.sort();
    assert_eq!(added_users, expected);
    let members = env
        .get(&format!("/api/v1/groups/{group}/members"), Some(&org_token))
        .await?;
    assert_eq!(members.status, StatusCode::OK, "{members:?}");
    assert_eq!(members.body["items"].as_array().unwrap().len(), 6);
    assert_eq!(
        members.body["items"][0]["user_id"],
        org.as_str(),
        "owner first"
    );

    // Ann got "signup_accepted" live. Before it, "welcome" (registered just before she
    // connected, it may come both as unread-on-connect and live: the same id).
    let mut welcomes = Vec::new();
    let live = loop {
        let n = ann_ws.next_of("notification").await?;
        if n["kind"] != "welcome" {
            break n;
        }
        welcomes.push(n["id"].clone());
    };
    assert!(
        welcomes.windows(2).all(|w| w[0] == w[1]),
        "one welcome: {welcomes:?}"
    );
    assert_eq!(live["kind"], "signup_accepted");
    assert_eq!(live["payload"]["activity_id"], hike_id.as_str());

    // Everyone but Ben comes online; Ben was offline all along.
    let org_ws = WsClient::connect(&url, &org_token).await?;
    let cid_ws = WsClient::connect(&url, &cid_token).await?;
    let dan_ws = WsClient::connect(&url, &dan_token).await?;
    let eve_ws = WsClient::connect(&url, &eve_token).await?;

    // Five members send at once, 20 messages each.
    const EACH: usize = 20;
    let mut senders = Vec::new();
    for (name, mut ws) in [
        ("org", org_ws),
        ("ann", ann_ws),
        ("cid", cid_ws),
        ("dan", dan_ws),
        ("eve", eve_ws),
    ] {
        let group = group.clone();
        senders.push(tokio::spawn(async move {
            for i in 0..EACH {
                ws.say(&group, &format!("{name}-{i}"), &format!("{name} says {i}"))
                    .await?;
            }
            anyhow::Ok(ws)
        }));
    }
    let mut online = Vec::new();
    for s in senders {
        online.push(s.await??);
    }
    let total = 5 * EACH;
    let mut transcripts = Vec::new();
    for ws in &mut online {
        let got = ws.messages(&group, total).await?;
        let seqs: Vec<u64> = got.iter().map(|m| m.0).collect();
        assert_eq!(
            seqs,
            (1..=total as u64).collect::<Vec<_>>(),
            "contiguous, in order"
        );
        transcripts.push(got);
    }
    for t in &transcripts[1..] {
        assert_eq!(t, &transcripts[0], "every member sees the same sequence");
    }
    // Each sender's own messages are in the order it sent them.
    for name in ["org", "ann", "cid", "dan", "eve"] {
        let mine: Vec<&String> = transcripts[0]
            .iter()
            .filter(|m| m.2.starts_with(&format!("{name} says")))
            .map(|m| &m.2)
            .collect();
        let expected: Vec<String> = (0..EACH).map(|i| format!("{name} says {i}")).collect();
        assert_eq!(
            mine.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            expected
        );
    }
    // History over HTTP returns the same.
    let mut history = Vec::new();
    let mut after = 0;
    loop {
        let page = env
            .get(
                &format!("/api/v1/groups/{group}/messages?after_seq={after}&limit=30"),
                Some(&ben_token),
            )
            .await?;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let msgs = page.body["messages"].as_array().unwrap();
        history.extend(msgs.iter().map(as_triple));
        after = history.last().map(|m| m.0).unwrap_or(after);
        if !page.body["has_more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(history, transcripts[0]);

    // Ben comes back: his notifications arrive on connect, and a sync returns exactly
    // what he missed.
    let mut ben_ws = WsClient::connect(&url, &ben_token).await?;
    let waiting = ben_ws.drain().await?;
    let ben_kinds = kinds(&waiting);
    assert!(ben_kinds.contains(&"welcome".to_owned()), "{ben_kinds:?}");
    assert!(
        ben_kinds.contains(&"signup_accepted".to_owned()),
        "{ben_kinds:?}"
    );
    ben_ws.send(json!({"type": "latest"})).await?;
    let latest = ben_ws.next_of("latest_result").await?;
    assert_eq!(latest["groups"][0]["group_id"], group.as_str());
    assert_eq!(latest["groups"][0]["latest_seq"], total);
    ben_ws
        .send(json!({"type": "sync", "group_id": group, "after_seq": 0, "limit": 500}))
        .await?;
    let sync = ben_ws.next_of("sync_result").await?;
    let synced: Vec<_> = sync["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(as_triple)
        .collect();
    assert_eq!(synced, transcripts[0]);

    // A retried send (same client_msg_id) keeps its seq and stores nothing new.
    let first_seq = transcripts[0]
        .iter()
        .find(|m| m.2 == "org says 0")
        .unwrap()
        .0;
    let org_ws = &mut online[0];
    assert_eq!(org_ws.say(&group, "org-0", "org says 0").await?, first_seq);

    // Notifications over HTTP: list, unread count, mark read.
    let list = env
        .get("/api/v1/notifications?unread=true", Some(&ben_token))
        .await?;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    assert_eq!(list.body["unread_count"], 2);
    let first = list.body["items"][0]["id"].as_str().unwrap().to_owned();
    let marked = env
        .post(
            "/api/v1/notifications/read",
            Some(&ben_token),
            json!({"ids": [first]}),
        )
        .await?;
    assert_eq!(
        (
            marked.body["marked"].as_u64(),
            marked.body["unread_count"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let count = env
        .get("/api/v1/notifications/unread_count", Some(&ben_token))
        .await?;
    assert_eq!(count.body["unread_count"], 1);
    // Ann cannot mark Ben's: nothing changes.
    let theirs = env
        .post(
            "/api/v1/notifications/read",
            Some(&ann_token),
            json!({"ids": [list.body["items"][1]["id"]]}),
        )
        .await?;
    assert_eq!(theirs.body["marked"], 0);
    assert_eq!(
        env.get("/api/v1/notifications/unread_count", Some(&ben_token))
            .await?
            .body["unread_count"],
        1
    );

    // Only the owner removes; Cid is removed: notified, receives nothing after, cannot
    // send or read.
    let not_owner = env
        .call(
            Method::DELETE,
            &format!("/api/v1/groups/{group}/members/{cid}"),
            Some(&dan_token),
            None,
        )
        .await?;
    assert_eq!(
        (not_owner.status, not_owner.code()),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{not_owner:?}"
    );
    let kick = env
        .call(
            Method::DELETE,
            &format!("/api/v1/groups/{group}/members/{cid}"),
            Some(&org_token),
            None,
        )
        .await?;
    assert_eq!(kick.status, StatusCode::NO_CONTENT, "{kick:?}");
    let removal = removed.next(1).await?;
    assert_eq!(removal[0].1["user_id"], cid.as_str());
    assert_eq!(removal[0].1["by"], org.as_str());
    let cid_ws = &mut online[2];
    let note = cid_ws.next_of("notification").await?;
    assert_eq!(note["kind"], "removed_from_group");
    let seq = online[0].say(&group, "after-kick", "cid is gone").await?;
    assert_eq!(seq, total as u64 + 1);
    let dan_got = online[3].messages(&group, 1).await?;
    assert_eq!(dan_got[0].0, seq);
    let cid_ws = &mut online[2];
    let after_kick = cid_ws.drain().await?;
    assert!(
        after_kick.iter().all(|f| f["type"] != "message"),
        "a removed member received {after_kick:?}"
    );
    let refused = cid_ws
        .refused(
            json!({"type": "send", "group_id": group, "client_msg_id": "x", "body": "let me in"}),
        )
        .await?;
    assert_eq!(refused, "not_member");
    let cid_history = env
        .get(
            &format!("/api/v1/groups/{group}/messages"),
            Some(&cid_token),
        )
        .await?;
    assert_eq!(
        (cid_history.status, cid_history.code()),
        (StatusCode::FORBIDDEN, "not_member")
    );

    // The removal reaches the activity service (group.member.removed): Cid's sign-up
    // ends as removed, so leaving and signing up again cannot undo it.
    let signups_path = format!("/api/v1/activities/{hike_id}/signups");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let list = env.get(&signups_path, Some(&org_token)).await?;
        let status = list.body.as_array().and_then(|items| {
            items
                .iter()
                .find(|s| s["user_id"] == cid.as_str())
                .map(|s| s["status"].clone())
        });
        if status == Some(json!("removed")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sign-up was not ended: {status:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let leave = env
        .call(
            Method::DELETE,
            &format!("{signups_path}/me"),
            Some(&cid_token),
            None,
        )
        .await?;
    assert_eq!(leave.code(), "not_signed_up", "{leave:?}");
    let again = env.post(&signups_path, Some(&cid_token), json!({})).await?;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "removed_by_organiser"),
        "{again:?}"
    );
    // A retry of a message Cid sent before the removal still gets its original seq.
    let cid_first_seq = transcripts[0]
        .iter()
        .find(|m| m.2 == "cid says 0")
        .map(|m| m.0)
        .expect("cid's first message");
    let cid_ws = &mut online[2];
    assert_eq!(
        cid_ws.say(&group, "cid-0", "cid says 0").await?,
        cid_first_seq
    );

    // Cancelling the activity dissolves the group; members are told; no more messages.
    let cancel = env
        .post(
            &format!("/api/v1/activities/{hike_id}/cancel"),
            Some(&org_token),
            json!({"reason": "rain"}),
        )
        .await?;
    assert_eq!(cancel.status, StatusCode::OK, "{cancel:?}");
    let gone = dissolved.next(1).await?;
    assert_eq!(gone[0].1["group_id"], group.as_str());
    let dan_ws = &mut online[3];
    let note = dan_ws.next_of("notification").await?;
    assert_eq!(note["kind"], "activity_cancelled");
    let closed = dan_ws
        .refused(
            json!({"type": "send", "group_id": group, "client_msg_id": "late", "body": "hello?"}),
        )
        .await?;
    assert_eq!(closed, "group_closed");
    // ... but a retry of a message stored before gets its original seq.
    let dan_first_seq = transcripts[0]
        .iter()
        .find(|m| m.2 == "dan says 0")
        .map(|m| m.0)
        .expect("dan's first message");
    let dan_ws = &mut online[3];
    assert_eq!(
        dan_ws.say(&group, "dan-0", "dan says 0").await?,
        dan_first_seq
    );
    // History stays readable for members.
    let info = env
        .get(&format!("/api/v1/groups/{group}"), Some(&dan_token))
        .await?;
    assert_eq!(info.body["status"], "dissolved");
    assert_eq!(info.body["latest_seq"], total as u64 + 1);

    drop(online);
    drop(ben_ws);
    env.finish().await
}
on_both_databases!(story_sqlite_and_mariadb, super::story);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_mariadb_and_redis_streams() -> anyhow::Result<()> {
    story_on(Db::MariaDb, Bus::Redis).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_mariadb_and_kafka() -> anyhow::Result<()> {
    story_on(Db::MariaDb, Bus::Kafka).await
}
