//! Bad input gets a clear error and changes nothing; the connection (or the others) keep working.

use im_core::protocol::{ClientFrame, ErrorCode, ServerFrame};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{test_config, Client, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_unknown_binary_and_bad_fields_get_errors_and_connection_survives() {
    let server = TestServer::start(test_config()).await;
    server.join("g", &["alice"]);
    let mut c = server.client("alice").await;

    c.send_raw(Message::Text("{not json".into())).await;
    assert_eq!(c.expect_error().await.0, ErrorCode::MalformedJson);

    c.send_raw(Message::Text(r#"{"type":"dance"}"#.into()))
        .await;
    assert_eq!(c.expect_error().await.0, ErrorCode::UnknownType);

    c.send_raw(Message::Text(r#"{"no_type":1}"#.into())).await;
    assert_eq!(c.expect_error().await.0, ErrorCode::UnknownType);

    c.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(c.expect_error().await.0, ErrorCode::BinaryNotSupported);

    c.send_raw(Message::Text(r#"{"type":"send","group_id":"g"}"#.into()))
        .await;
    assert_eq!(c.expect_error().await.0, ErrorCode::InvalidField);

    c.send_raw(Message::Text(
        r#"{"type":"sync","group_id":"g","after_seq":-1}"#.into(),
    ))
    .await;
    assert_eq!(c.expect_error().await.0, ErrorCode::InvalidField);

    c.send_raw(Message::Text(
        r#"{"type":"send","group_id":"","client_msg_id":"c","body":"x"}"#.into(),
    ))
    .await;
    assert_eq!(
        c.expect_error().await,
        (ErrorCode::InvalidField, Some("c".into()))
    );

    // Unicode and SQL-looking text is just data.
    let text = "'; DROP TABLE messages; -- \u{1F600} \u{202E} \0";
    let mut seen = Vec::new();
    let seq = c.send_and_confirm("g", "weird", text, &mut seen).await;
    assert_eq!(seq, 1);

    c.send(&ClientFrame::Auth {
        token: "ok:alice".into(),
    })
    .await;
    assert_eq!(c.expect_error().await.0, ErrorCode::AlreadyAuthenticated);

    // Nothing above was stored except the one valid message.
    assert_eq!(server.store.message_count(&"g".into()), 1);
    c.expect_pong().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_limit_is_refused_but_connection_stays() {
    let mut config = test_config();
    config.max_body_bytes = 100;
    let server = TestServer::start(config).await;
    server.join("g", &["alice"]);
    let mut c = server.client("alice").await;
    c.send_msg("g", "big", &"x".repeat(200)).await;
    assert_eq!(
        c.expect_error().await,
        (ErrorCode::BodyTooLarge, Some("big".into()))
    );
    assert_eq!(server.store.message_count(&"g".into()), 0);
    c.expect_pong().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_gets_error_and_clean_close_others_unaffected() {
    let mut config = test_config();
    config.connection.max_frame_bytes = 1024;
    let server = TestServer::start(config).await;
    server.join("g", &["alice", "bob"]);
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    server.wait_sessions("bob", 1).await;

    alice.send_raw(Message::Text("x".repeat(4096).into())).await;
    assert_eq!(alice.expect_error().await.0, ErrorCode::FrameTooLarge);
    let close = alice.closed().await.expect("close frame");
    assert_eq!(close.0, 1009);

    let mut seen = Vec::new();
    assert_eq!(
        bob.send_and_confirm("g", "b1", "still here", &mut seen)
            .await,
        1
    );
    bob.expect_pong().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_before_auth_are_refused_and_bad_token_closes() {
    let server = TestServer::start(test_config()).await;
    let mut c = Client::new(server.raw().await);
    c.send(&ClientFrame::Ping).await;
    assert_eq!(
        c.expect_error().await,
        (ErrorCode::NotAuthenticated, Some("ping".into()))
    );
    c.send_raw(Message::Text("][".into())).await;
    assert_eq!(c.expect_error().await.0, ErrorCode::MalformedJson);
    c.send(&ClientFrame::Auth {
        token: "forged".into(),
    })
    .await;
    assert_eq!(c.expect_error().await.0, ErrorCode::AuthFailed);
    assert_eq!(c.closed().await.map(|c| c.0), Some(4001));

    // A good client afterwards is fine.
    let mut ok = server.client("carol").await;
    ok.expect_pong().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_auth_within_deadline_closes() {
    let mut config = test_config();
    config.auth_timeout = std::time::Duration::from_millis(200);
    let server = TestServer::start(config).await;
    let mut c = Client::new(server.raw().await);
    assert!(matches!(
        c.next().await.unwrap(),
        ServerFrame::Error {
            code: ErrorCode::NotAuthenticated,
            ..
        }
    ));
    assert_eq!(c.closed().await.map(|c| c.0), Some(4002));
}
