//! Connection manager through the engine: many devices, kick, notifications, shutdown.

use im_core::protocol::ServerFrame;
use im_core::{CloseReason, Notification};

use crate::helpers::{test_config, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_notifications_reach_every_device() {
    let server = TestServer::start(test_config()).await;
    server.join("g", &["alice", "bob"]);
    let mut phone = server.client("alice").await;
    let mut laptop = server.client("alice").await;
    let mut bob = server.client("bob").await;
    server.wait_sessions("alice", 2).await;
    server.wait_sessions("bob", 1).await;
    assert_eq!(server.engine.connections().connection_count(), 3);
    assert_eq!(server.engine.connections().user_count(), 2);

    bob.send_and_confirm("g", "b1", "hi", &mut Vec::new()).await;
    for device in [&mut phone, &mut laptop] {
        assert_eq!(device.collect_messages(&"g".into(), 1).await[0].seq, 1);
    }

    let n = Notification::new("group.member.added", serde_json::json!({"group_id": "g"}));
    let report = server.engine.notify_user(&"alice".into(), &n);
    assert_eq!(report.delivered, 2);
    for device in [&mut phone, &mut laptop] {
        match device.next().await.unwrap() {
            ServerFrame::Notification(got) => assert_eq!(got, n),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_one_device_then_all() {
    let server = TestServer::start(test_config()).await;
    let mut phone = server.client("alice").await;
    let mut laptop = server.client("alice").await;
    server.wait_sessions("alice", 2).await;
    let sessions = server.engine.connections().sessions_of(&"alice".into());

    assert!(server.engine.connections().kick_session(
        &"alice".into(),
        sessions[0].id(),
        CloseReason::Kicked("logged out".into()),
    ));
    // Whichever device that was gets a kicked frame; the other still answers.
    server.wait_sessions("alice", 1).await;
    let left = server.engine.connections().sessions_of(&"alice".into());
    assert_eq!(left[0].id(), sessions[1].id());
    let mut kicked = 0;
    for device in [&mut phone, &mut laptop] {
        device.send(&im_core::protocol::ClientFrame::Ping).await;
        match device.next().await {
            Ok(ServerFrame::Pong) => {}
            Ok(ServerFrame::Kicked { reason }) => {
                assert_eq!(reason, "kicked: logged out");
                kicked += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kicked, 1);

    assert_eq!(server.engine.kick_user(&"alice".into(), "banned"), 1);
    server.wait_sessions("alice", 0).await;
    assert_eq!(server.engine.connections().connection_count(), 0);
    server
        .wait_close_reason(&CloseReason::Kicked("logged out".into()), 1)
        .await;
    server
        .wait_close_reason(&CloseReason::Kicked("banned".into()), 1)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kicked_client_sees_reason_and_close_code() {
    let server = TestServer::start(test_config()).await;
    let mut c = server.client("alice").await;
    server.wait_sessions("alice", 1).await;
    server.engine.kick_user(&"alice".into(), "banned");
    match c.next().await.unwrap() {
        ServerFrame::Kicked { reason } => assert_eq!(reason, "kicked: banned"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(c.closed().await.map(|c| c.0), Some(4010));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_everyone_with_1001() {
    let server = TestServer::start(test_config()).await;
    let mut a = server.client("alice").await;
    let mut b = server.client("bob").await;
    server.wait_sessions("bob", 1).await;
    server.wait_sessions("alice", 1).await;
    assert_eq!(server.engine.shutdown(), 2);
    for c in [&mut a, &mut b] {
        assert_eq!(c.closed().await.map(|c| c.0), Some(1001));
    }
}
