//! Membership is enforced on send and sync; a removed member stops receiving at once.

use im_core::protocol::{ClientFrame, ErrorCode, ServerFrame};

use crate::helpers::{test_config, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_member_send_and_sync_are_refused() {
    let server = TestServer::start(test_config()).await;
    server.join("g", &["alice"]);
    let mut mallory = server.client("mallory").await;

    mallory.send_msg("g", "m1", "let me in").await;
    assert_eq!(
        mallory.expect_error().await,
        (ErrorCode::NotMember, Some("m1".into()))
    );
    mallory
        .send(&ClientFrame::Sync {
            group_id: "g".into(),
            after_seq: 0,
            limit: None,
        })
        .await;
    assert_eq!(
        mallory.expect_error().await,
        (ErrorCode::NotMember, Some("g".into()))
    );
    mallory
        .send(&ClientFrame::Read {
            group_id: "g".into(),
            seq: 0,
        })
        .await;
    assert_eq!(mallory.expect_error().await.0, ErrorCode::NotMember);
    assert_eq!(server.store.message_count(&"g".into()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_member_stops_receiving_at_once() {
    let server = TestServer::start(test_config()).await;
    server.join("g", &["alice", "bob"]);
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    server.wait_sessions("bob", 1).await;

    let mut seen = Vec::new();
    alice.send_and_confirm("g", "a1", "one", &mut seen).await;
    assert_eq!(bob.collect_messages(&"g".into(), 1).await[0].seq, 1);

    server.membership.remove(&"g".into(), &"bob".into());
    alice.send_and_confirm("g", "a2", "two", &mut seen).await;
    // Bob gets no push; his next frame is the pong.
    bob.send(&ClientFrame::Ping).await;
    assert!(matches!(bob.next().await.unwrap(), ServerFrame::Pong));
    bob.send_msg("g", "b1", "hello?").await;
    assert_eq!(bob.expect_error().await.0, ErrorCode::NotMember);
}
