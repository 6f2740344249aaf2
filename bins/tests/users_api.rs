//! The user API over HTTP, on SQLite and MariaDB: the happy path and each error.

// Tests may panic on what they did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Db, Env};

async fn happy_path(db: Db) -> anyhow::Result<()> {
    let env = Env::start(db).await?;
    let mut registered = env.watch("user.registered").await?;
    let reg = env
        .post(
            "/api/v1/users/register",
            None,
            json!({"username": "Alice_1", "password": "correct horse 1", "nickname": "Ålice 🌄"}),
        )
        .await?;
    assert_eq!(reg.status, StatusCode::CREATED, "{reg:?}");
    let user_id = reg.body["user_id"].as_str().unwrap().to_owned();

    let login = env
        .post(
            "/api/v1/users/login",
            None,
            json!({"username": "alice_1", "password": "correct horse 1"}),
        )
        .await?;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    assert_eq!(login.body["user_id"], user_id.as_str());
    assert!(login.body["expires_at"].is_string());
    let token = login.body["token"].as_str().unwrap().to_owned();

    let me = env.get("/api/v1/users/me", Some(&token)).await?;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_eq!(me.body["username"], "Alice_1");
    assert_eq!(me.body["nickname"], "Ålice 🌄");
    assert!(me.body.get("password_hash").is_none());

    let patched = env
        .call(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({"nickname": "Al"})),
        )
        .await?;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    assert_eq!(patched.body["nickname"], "Al");

    let other = env
        .get(&format!("/api/v1/users/{user_id}"), Some(&token))
        .await?;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body["nickname"], "Al");

    let events = registered.next(1).await?;
    assert_eq!(events[0].0, user_id, "key = user_id");
    assert_eq!(events[0].1["user_id"], user_id.as_str());
    assert_eq!(events[0].1["username"], "Alice_1");
    assert!(events[0].1["registered_at"].is_string());
    env.finish().await
}
on_both_databases!(happy_path_sqlite_and_mariadb, super::happy_path);

async fn errors(db: Db) -> anyhow::Result<()> {
    let env = Env::start(db).await?;
    let (_, token) = env.user("bob").await?;

    // Duplicate username, in another case.
    let dup = env
        .post(
            "/api/v1/users/register",
            None,
            json!({"username": "BOB", "password": "another pass 2"}),
        )
        .await?;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{dup:?}");
    assert_eq!(dup.code(), "username_taken");

    // Bad passwords and usernames.
    for (username, password, code) in [
        ("carol", "short", "weak_password"),
        ("carol", "", "weak_password"),
        ("", "long enough 123", "invalid_username"),
        ("x", "long enough 123", "invalid_username"),
        (
            "robert'); DROP TABLE users;--",
            "long enough 123",
            "invalid_username",
        ),
    ] {
        let bad = env
            .post(
                "/api/v1/users/register",
                None,
                json!({"username": username, "password": password}),
            )
            .await?;
        assert_eq!(
            bad.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{username:?}: {bad:?}"
        );
        assert_eq!(bad.code(), code, "{username:?}");
    }

    // Wrong password and unknown user look the same.
    for (username, password) in [("bob", "wrong password 1"), ("nobody", "correct horse 1")] {
        let bad = env
            .post(
                "/api/v1/users/login",
                None,
                json!({"username": username, "password": password}),
            )
            .await?;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(bad.code(), "invalid_credentials");
    }

    // Guessing is limited per account: after 10 attempts the answer is 429, even for
    // the right password; other accounts are not affected.
    let mut answers = Vec::new();
    for i in 0..12 {
        let guess = env
            .post(
                "/api/v1/users/login",
                None,
                json!({"username": "Carol", "password": format!("guess number {i}")}),
            )
            .await?;
        answers.push((guess.status, guess.code().to_owned()));
    }
    assert!(
        answers[..9]
            .iter()
            .all(|(s, _)| *s == StatusCode::UNAUTHORIZED),
        "{answers:?}"
    );
    assert_eq!(
        answers[11],
        (
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts".to_owned()
        )
    );
    let other = env
        .post(
            "/api/v1/users/login",
            None,
            json!({"username": "dave", "password": "wrong password 1"}),
        )
        .await?;
    assert_eq!(other.code(), "invalid_credentials");

    // Missing, malformed, tampered, foreign and expired tokens.
    let missing = env.get("/api/v1/users/me", None).await?;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.code(), "unauthorized");
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 5;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered)?;
    for bad in ["garbage", "a.b.c", tampered.as_str()] {
        let answer = env.get("/api/v1/users/me", Some(bad)).await?;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{bad}: {answer:?}");
        assert_eq!(answer.code(), "invalid_token", "{bad}");
    }
    let foreign = domain::auth::TokenIssuer::new(
        b"another-secret-another-secret-another-secret",
        "social-im",
        std::time::Duration::from_secs(60),
    )?
    .issue(&domain::UserId::new())?;
    let answer = env.get("/api/v1/users/me", Some(&foreign.token)).await?;
    assert_eq!(answer.code(), "invalid_token");
    let expired = domain::auth::TokenIssuer::new(
        support::SECRET,
        "social-im",
        std::time::Duration::from_secs(60),
    )?
    .with_clock(std::sync::Arc::new(domain::clock::ManualClock::new(
        domain::Timestamp::now().minus(std::time::Duration::from_secs(3600)),
    )))
    .issue(&domain::UserId::new())?;
    let answer = env.get("/api/v1/users/me", Some(&expired.token)).await?;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    assert_eq!(answer.code(), "token_expired");

    // Unknown user id.
    let unknown = env.get("/api/v1/users/not-an-id", Some(&token)).await?;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    env.finish().await
}
on_both_databases!(errors_sqlite_and_mariadb, super::errors);
