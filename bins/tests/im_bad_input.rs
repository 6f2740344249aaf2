//! Bad input to the IM service, over HTTP and WebSocket, on SQLite and MariaDB: every
//! kind gets a clear, typed error, and none changes anything (no message, no
//! notification, no membership change).

// Tests may panic on what they did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::ws::WsClient;
use support::{Db, Env, SECRET};

async fn bad_input(db: Db) -> anyhow::Result<()> {
    let env = Env::start_full(db).await?;
    let mut added = env.watch("group.member.added").await?;
    let (org, org_token) = env.user("organiser").await?;
    let (ann, ann_token) = env.user("ann").await?;
    let (_eve, eve_token) = env.user("eve").await?;
    let hike = env.activity(&org_token, "Hike", 5, false).await?;
    let hike_id = hike["activity_id"].as_str().unwrap().to_owned();
    env.post(
        &format!("/api/v1/activities/{hike_id}/signups"),
        Some(&ann_token),
        json!({}),
    )
    .await?;
    let adds = added.next(2).await?;
    let group = adds[0].1["group_id"].as_str().unwrap().to_owned();
    let g = |rest: &str| format!("/api/v1/groups/{group}{rest}");

    // HTTP: each kind of bad request, with its status and code.
    let cases: Vec<(Method, String, Option<&str>, StatusCode, &str)> = vec![
        (
            Method::GET,
            "/api/v1/groups".into(),
            None,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            Method::GET,
            "/api/v1/groups".into(),
            Some("not.a.jwt"),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            Method::GET,
            "/api/v1/groups/bad%20id!".into(),
            Some(&ann_token),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            Method::GET,
            "/api/v1/groups/no-such-group".into(),
            Some(&ann_token),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            g(""),
            Some(&eve_token),
            StatusCode::FORBIDDEN,
            "not_member",
        ),
        (
            Method::GET,
            g("/members"),
            Some(&eve_token),
            StatusCode::FORBIDDEN,
            "not_member",
        ),
        (
            Method::GET,
            g("/messages"),
            Some(&eve_token),
            StatusCode::FORBIDDEN,
            "not_member",
        ),
        (
            Method::GET,
            g("/messages?limit=0"),
            Some(&ann_token),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            Method::GET,
            g("/messages?limit=501"),
            Some(&ann_token),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            Method::GET,
            g("/messages?limit=lots"),
            Some(&ann_token),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            Method::GET,
            g("/messages?after_seq=-1"),
            Some(&ann_token),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            Method::GET,
            g("/messages?sort=desc"),
            Some(&ann_token),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            Method::GET,
            "/api/v1/notifications?limit=1000".into(),
            Some(&ann_token),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            Method::GET,
            "/api/v1/notifications?unread=maybe".into(),
            Some(&ann_token),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            Method::DELETE,
            g(&format!("/members/{org}")),
            Some(&ann_token),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Method::DELETE,
            g(&format!("/members/{org}")),
            Some(&org_token),
            StatusCode::CONFLICT,
            "owner_cannot_be_removed",
        ),
        (
            Method::DELETE,
            g("/members/not-a-user"),
            Some(&org_token),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            Method::DELETE,
            g(&format!("/members/{}", domain::UserId::new())),
            Some(&org_token),
            StatusCode::NOT_FOUND,
            "not_member",
        ),
        (
            Method::POST,
            g("/dissolve"),
            Some(&ann_token),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Method::GET,
            "/ws".into(),
            None,
            StatusCode::BAD_REQUEST,
            "not_a_websocket_upgrade",
        ),
    ];
    for (method, path, token, status, code) in cases {
        let answer = env.call(method.clone(), &path, token, None).await?;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{method} {path}: {answer:?}"
        );
    }
    // Bodies of mark-read: malformed, wrong types, too many ids, ids of the wrong shape.
    for body in [
        b"{not json".to_vec(),
        br#"{"ids": "all"}"#.to_vec(),
        br#"{"ids": [1, 2]}"#.to_vec(),
        br#"{"ids": [], "extra": true}"#.to_vec(),
        serde_json::to_vec(&json!({"ids": vec!["0193a2b4-0000-7000-8000-000000000000"; 501]}))?,
        br#"{"ids": ["'; DELETE FROM notifications;--"]}"#.to_vec(),
    ] {
        let answer = env
            .raw(
                Method::POST,
                "/api/v1/notifications/read",
                Some(&ann_token),
                "application/json",
                body.clone(),
            )
            .await?;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}: {answer:?}",
            String::from_utf8_lossy(&body)
        );
    }
    let unread = env
        .get("/api/v1/notifications/unread_count", Some(&ann_token))
        .await?;
    assert_eq!(
        unread.body["unread_count"], 2,
        "welcome and signup_accepted, still unread"
    );
    let members = env.get(&g("/members"), Some(&org_token)).await?;
    assert_eq!(members.body["items"].as_array().unwrap().len(), 2);

    // WebSocket: bad tokens close the connection; bad sends are refused, nothing stored.
    let url = env.ws_url();
    let expired = domain::auth::TokenIssuer::new(SECRET, "social-im", Duration::from_secs(60))?
        .with_clock(std::sync::Arc::new(domain::clock::ManualClock::new(
            domain::Timestamp::now().minus(Duration::from_secs(3600)),
        )))
        .issue(&domain::UserId::parse(&ann)?)?;
    let foreign = domain::auth::TokenIssuer::new(
        "another-secret-another-secret-another-1",
        "social-im",
        Duration::from_secs(60),
    )?
    .issue(&domain::UserId::parse(&ann)?)?;
    for token in [
        expired.token.as_str(),
        foreign.token.as_str(),
        "",
        "garbage",
    ] {
        let mut ws = WsClient::connect_raw(&url).await?;
        let code = ws.refused(json!({"type": "auth", "token": token})).await?;
        assert_eq!(code, "auth_failed", "{token:?}");
        assert!(ws.next().await.is_err(), "closed after auth_failed");
    }
    let mut ws = WsClient::connect(&url, &ann_token).await?;
    ws.drain().await?; // the notifications waiting on connect
    let send = |body: serde_json::Value, cid: &str| json!({"type": "send", "group_id": group, "client_msg_id": cid, "body": body});
    assert_eq!(ws.refused(send(json!(42), "c1")).await?, "invalid_field");
    assert_eq!(ws.refused(send(json!(["a"]), "c2")).await?, "invalid_field");
    assert_eq!(ws.refused(send(json!("   "), "c3")).await?, "invalid_field");
    // Zero-width characters alone show nothing: empty too.
    assert_eq!(
        ws.refused(send(json!("\u{200b}\u{feff} \u{200d}"), "c3z"))
            .await?,
        "invalid_field"
    );
    // Client message ids with control characters are refused before anything else.
    assert_eq!(
        ws.refused(send(json!("hi"), "bad\u{0}id")).await?,
        "invalid_field"
    );
    assert_eq!(
        ws.refused(send(json!({"text": 5}), "c4")).await?,
        "invalid_field"
    );
    assert_eq!(
        ws.refused(send(json!("é".repeat(4001)), "c5")).await?,
        "body_too_large"
    );
    let not_ours =
        json!({"type": "send", "group_id": "other group", "client_msg_id": "c6", "body": "hi"});
    assert_eq!(ws.refused(not_ours).await?, "not_member");
    let unknown =
        json!({"type": "send", "group_id": "no-such-group", "client_msg_id": "c7", "body": "hi"});
    assert_eq!(ws.refused(unknown).await?, "not_member");
    assert_eq!(
        ws.refused(json!({"type": "send", "group_id": group, "body": "no id"}))
            .await?,
        "invalid_field"
    );
    assert_eq!(ws.refused(json!({"type": "shout"})).await?, "unknown_type");
    let mut eve_ws = WsClient::connect(&url, &eve_token).await?;
    assert_eq!(
        eve_ws.refused(send(json!("let me in"), "e1")).await?,
        "not_member"
    );
    let sync = json!({"type": "sync", "group_id": group, "after_seq": 0});
    assert_eq!(eve_ws.refused(sync).await?, "not_member");
    // Unicode and SQL metacharacters are text like any other, stored verbatim.
    let tricky = "Robert'); DROP TABLE messages;-- 😀 \u{202e} \\ % _";
    assert_eq!(ws.say(&group, "c8", tricky).await?, 1);
    let history = env.get(&g("/messages"), Some(&org_token)).await?;
    assert_eq!(history.body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(history.body["messages"][0]["body"], tricky);
    // Asking past the end: nothing, and the real latest seq (not the asked one).
    let past = env
        .get(&g("/messages?after_seq=100"), Some(&org_token))
        .await?;
    assert_eq!(past.body["messages"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        (
            past.body["latest_seq"].as_u64(),
            past.body["has_more"].as_bool()
        ),
        (Some(1), Some(false))
    );
    // Control characters (but newlines and tabs) are refused.
    assert_eq!(
        ws.refused(send(json!("bell \u{7} and nul \u{0}"), "c9"))
            .await?,
        "invalid_field"
    );
    assert_eq!(ws.say(&group, "c10", "two\nlines\tand a tab").await?, 2);

    // The per-user rate (20/s, bursts of 40, over all devices): two sessions of Ann
    // together get at most the burst through; the rest is refused with `rate_limited`.
    let mut second = WsClient::connect(&url, &ann_token).await?;
    second.drain().await?;
    let started = std::time::Instant::now();
    for i in 0..30 {
        ws.send(send(json!(format!("fast {i}")), &format!("a{i}")))
            .await?;
        second
            .send(send(json!(format!("fast {i}")), &format!("b{i}")))
            .await?;
    }
    let (mut ok, mut limited) = (0, 0);
    for client in [&mut ws, &mut second] {
        let mut outcomes = 0;
        while outcomes < 30 {
            let f = client.next().await?;
            match f["type"].as_str() {
                Some("send_ok") => ok += 1,
                Some("error") if f["code"] == "rate_limited" => limited += 1,
                Some("error") => panic!("unexpected {f}"),
                _ => continue, // the pushed messages
            }
            outcomes += 1;
        }
    }
    // The bucket refills at 20/s while the test runs.
    let refilled = (20.0 * started.elapsed().as_secs_f64()).ceil() as usize;
    assert!(
        limited > 0 && ok <= 40 + refilled,
        "{ok} accepted, {limited} limited, {refilled} refilled"
    );
    let latest = env.get(&g(""), Some(&org_token)).await?;
    assert_eq!(
        latest.body["latest_seq"],
        2 + ok,
        "only the accepted were stored"
    );
    drop((ws, second, eve_ws));
    env.finish().await
}
on_both_databases!(bad_input_sqlite_and_mariadb, super::bad_input);
