//! Heartbeat: a silent peer is dropped within the bound; a live one stays.

use std::time::Duration;

use futures::SinkExt;
use im_core::protocol::ClientFrame;
use im_core::CloseReason;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{test_config, TestServer};

fn fast_heartbeat() -> im_core::EngineConfig {
    let mut config = test_config();
    config.connection.ping_interval = Duration::from_millis(100);
    config.connection.idle_timeout = Duration::from_millis(400);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_stops_answering_pings_is_dropped_within_bound() {
    let server = TestServer::start(fast_heartbeat()).await;
    // A raw client: authenticates, then never reads again (its pings go unanswered,
    // like a peer that vanished behind a NAT).
    let mut ws = server.raw().await;
    ws.send(Message::Text(
        ClientFrame::Auth {
            token: "ok:ghost".into(),
        }
        .to_json()
        .into(),
    ))
    .await
    .unwrap();
    server.wait_sessions("ghost", 1).await;
    let start = Instant::now();
    server.wait_sessions("ghost", 0).await;
    let took = start.elapsed();
    // Bound: idle_timeout (400 ms) + scheduling slack.
    assert!(
        took <= Duration::from_millis(1000),
        "dropped after {took:?}"
    );
    server
        .wait_close_reason(&CloseReason::HeartbeatTimeout, 1)
        .await;
    drop(ws);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_answers_pings_stays_connected() {
    let server = TestServer::start(fast_heartbeat()).await;
    let mut alive = server.client("alive").await; // its reader task answers pings
    server.wait_sessions("alive", 1).await;
    // 8 pings at ~100 ms span about twice the 400 ms read deadline.
    let start = Instant::now();
    alive.wait_pings(8).await;
    assert!(start.elapsed() > Duration::from_millis(400));
    assert!(server.close_reasons().is_empty());
    assert_eq!(
        server
            .engine
            .connections()
            .sessions_of(&"alive".into())
            .len(),
        1
    );
    alive.expect_pong().await;
}
