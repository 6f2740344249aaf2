//! Bad input gets a 4xx JSON error with a stable code, and changes nothing: no row, no
//! event.

// Tests may panic on what they did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Db, Env};

async fn bad_input_changes_nothing(db: Db) -> anyhow::Result<()> {
    let env = Env::start(db).await?;
    let (_, token) = env.user("organiser").await?;
    let mut created = env.watch("activity.created").await?;
    let mut registered = env.watch("user.registered").await?;
    let future = support::time_in(std::time::Duration::from_secs(3600));

    let bodies: Vec<(serde_json::Value, StatusCode, &str)> = vec![
        // Wrong types.
        (
            json!({"title": 5, "starts_at": future, "capacity": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"title": "x", "starts_at": future, "capacity": "three"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"title": "x", "starts_at": "tomorrow", "capacity": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"title": "x", "starts_at": future, "capacity": 3, "requires_approval": "yes"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        // Missing fields, unknown fields, not an object.
        (
            json!({"starts_at": future, "capacity": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"title": "x", "capacity": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"title": "x", "starts_at": future, "capacity": 3, "organiser_id": "me"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!([1, 2, 3]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        // Values out of range.
        (
            json!({"title": "", "starts_at": future, "capacity": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"title": "   ", "starts_at": future, "capacity": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"title": "x".repeat(101), "starts_at": future, "capacity": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"title": "bell\u{7}", "starts_at": future, "capacity": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"title": "x", "starts_at": future, "capacity": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"title": "x", "starts_at": future, "capacity": -5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"title": "x", "starts_at": future, "capacity": 1_000_000_000_000i64}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
    ];
    for (body, status, code) in bodies {
        let answer = env
            .post("/api/v1/activities", Some(&token), body.clone())
            .await?;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{body}: {answer:?}"
        );
        assert!(answer.body["error"]["message"].is_string(), "{answer:?}");
    }

    // Malformed JSON, wrong content type, a huge body.
    let malformed = env
        .raw(
            Method::POST,
            "/api/v1/activities",
            Some(&token),
            "application/json",
            b"{\"title\": ".to_vec(),
        )
        .await?;
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    let not_json = env
        .raw(
            Method::POST,
            "/api/v1/activities",
            Some(&token),
            "text/plain",
            b"title=x".to_vec(),
        )
        .await?;
    assert_eq!(
        (not_json.status, not_json.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let huge = format!("{{\"title\": \"{}\"}}", "x".repeat(200 * 1024));
    let too_large = env
        .raw(
            Method::POST,
            "/api/v1/activities",
            Some(&token),
            "application/json",
            huge.into_bytes(),
        )
        .await?;
    assert_eq!(
        (too_large.status, too_large.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
        "{too_large:?}"
    );
    let huge_register = format!(
        "{{\"username\": \"big\", \"password\": \"{}\"}}",
        "p".repeat(1024 * 1024)
    );
    let too_large = env
        .raw(
            Method::POST,
            "/api/v1/users/register",
            None,
            "application/json",
            huge_register.into_bytes(),
        )
        .await?;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Unknown paths and methods, bad query parameters.
    let nowhere = env.get("/api/v1/nowhere", None).await?;
    assert_eq!(
        (nowhere.status, nowhere.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let wrong_method = env
        .call(Method::PUT, "/api/v1/activities", Some(&token), None)
        .await?;
    assert_eq!(
        (wrong_method.status, wrong_method.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let bad_limit = env.get("/api/v1/activities?limit=abc", None).await?;
    assert_eq!(
        (bad_limit.status, bad_limit.code()),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
    let zero_limit = env.get("/api/v1/activities?limit=0", None).await?;
    assert_eq!(
        zero_limit.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{zero_limit:?}"
    );
    let bad_cursor = env
        .get("/api/v1/activities?cursor=%27%20OR%201%3D1", None)
        .await?;
    assert_eq!(
        bad_cursor.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{bad_cursor:?}"
    );

    // Register with bad bodies.
    for body in [
        json!({"username": "dora"}),
        json!({"username": 7, "password": "long enough 1"}),
        json!({}),
        // A sequence where an object belongs is not read positionally into the fields.
        json!(["arrayuser", "longpassword123", null]),
        json!("arrayuser"),
        json!(null),
    ] {
        let answer = env
            .post("/api/v1/users/register", None, body.clone())
            .await?;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            "{body}"
        );
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("Request"),
            "names an internal type: {message}"
        );
    }

    // Nothing was created and nothing announced.
    let list = env.get("/api/v1/activities", None).await?;
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(0),
        "{list:?}"
    );
    created
        .none_within(std::time::Duration::from_millis(300))
        .await?;
    assert_eq!(
        registered.next(1).await?.len(),
        1,
        "only the organiser registered"
    );
    registered
        .none_within(std::time::Duration::from_millis(300))
        .await?;

    // Unicode and SQL metacharacters are data, stored and returned verbatim; the
    // bidirectional override that makes text display as something else is refused.
    let spoof = env
        .post("/api/v1/activities", Some(&token), json!({"title": "Hike \u{202e}ekiH", "location": "x", "starts_at": future, "capacity": 3}))
        .await?;
    assert_eq!(
        (spoof.status, spoof.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        "{spoof:?}"
    );
    let tricky = "Robert'); DROP TABLE activities;-- 😀 \\ % _ \u{200f}";
    let made = env
        .post("/api/v1/activities", Some(&token), json!({"title": tricky, "location": "Café ☕ \"quoted\" 'x'", "starts_at": future, "capacity": 3}))
        .await?;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let id = made.body["activity_id"].as_str().unwrap();
    let read = env.get(&format!("/api/v1/activities/{id}"), None).await?;
    assert_eq!(read.body["title"], tricky);
    assert_eq!(read.body["location"], "Café ☕ \"quoted\" 'x'");
    env.finish().await
}
on_both_databases!(
    bad_input_sqlite_and_mariadb,
    super::bad_input_changes_nothing
);

/// A request that outlives `http.request_timeout_ms` gets 503 `timeout` as JSON, and
/// its work is abandoned: the registration it was hashing a password for never happens.
async fn slow_requests_time_out(db: Db) -> anyhow::Result<()> {
    let env = Env::start_with(db, |s| s.http.request_timeout_ms = 1).await?;
    let mut registered = env.watch("user.registered").await?;
    let slow = env
        .post(
            "/api/v1/users/register",
            None,
            json!({"username": "slowpoke", "password": "hashing takes a while"}),
        )
        .await?;
    assert_eq!(
        (slow.status, slow.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
        "{slow:?}"
    );
    registered
        .none_within(std::time::Duration::from_millis(300))
        .await?;
    env.finish().await
}
on_both_databases!(timeout_sqlite_and_mariadb, super::slow_requests_time_out);

/// A client that opens a connection and never finishes its request headers is cut off
/// after `http.header_read_timeout_ms`: it cannot hold sockets forever.
async fn unfinished_headers_are_cut_off(db: Db) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = Env::start_with(db, |s| s.http.header_read_timeout_ms = 300).await?;
    let mut half = tokio::net::TcpStream::connect(env.users.http).await?;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await?;
    let mut buf = Vec::new();
    let started = std::time::Instant::now();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        half.read_to_end(&mut buf),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the half-sent request was still open after 5 s"))??;
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    // A complete request on a new connection is answered as usual.
    let ok = env.get("/healthz", None).await?;
    assert_eq!(ok.status, StatusCode::OK);
    env.finish().await
}
on_both_databases!(
    header_timeout_sqlite_and_mariadb,
    super::unfinished_headers_are_cut_off
);

/// A request that declares a body over the limit is refused at once with a JSON 413,
/// without waiting for (or reading) the body it announced.
async fn declared_oversized_bodies_are_refused_at_once(db: Db) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = Env::start(db).await?;
    let mut conn = tokio::net::TcpStream::connect(env.users.http).await?;
    conn.write_all(
        b"POST /api/v1/users/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 10000000\r\nConnection: close\r\n\r\n{\"username\":",
    )
    .await?;
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(3),
        conn.read_to_end(&mut answer),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no answer within 3 s: the server waited for the body"))??;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"body_too_large\""), "{answer}");
    env.finish().await
}
on_both_databases!(
    declared_oversized_sqlite_and_mariadb,
    super::declared_oversized_bodies_are_refused_at_once
);
