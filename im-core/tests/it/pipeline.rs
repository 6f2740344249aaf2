//! The application's hooks: a send pipeline in place of the in-process sequencer,
//! ordered delivery of messages stored elsewhere, and the session-start hook.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use im_core::pipeline::{SendPipeline, SessionHook};
use im_core::protocol::{ErrorCode, MessageBody, ServerFrame};
use im_core::sequencer::{Draft, Sequencer};
use im_core::store::{Appended, InMemoryStore, MessageStore};
use im_core::{Engine, EngineError, GroupId, Notification, SessionHandle, StoredMessage};

use crate::helpers::{test_config, TestServer};

fn stored(group: &str, seq: u64) -> StoredMessage {
    StoredMessage {
        group_id: group.into(),
        seq,
        sender_id: "alice".into(),
        client_msg_id: format!("c{seq}").into(),
        body: MessageBody::text(&format!("m{seq}")),
        sent_at: 0,
    }
}

#[tokio::test]
async fn delivered_messages_reach_sessions_in_seq_order_once_with_gaps_filled() {
    let store = Arc::new(InMemoryStore::new());
    for seq in 1..=6 {
        store.append(stored("g", seq)).await.unwrap();
    }
    let server = TestServer::start_with_store(test_config(), store).await;
    server.join("g", &["bob"]);
    let mut bob = server.client("bob").await;
    server.wait_sessions("bob", 1).await;
    let engine = &server.engine;
    // As a broker might hand them over: a gap (2, 3 missing), late arrivals, a redelivery.
    for seq in [1, 4, 2, 3, 4, 6, 5] {
        engine.deliver_stored(&stored("g", seq)).await;
    }
    let got = bob.collect_messages(&GroupId::from("g"), 6).await;
    let seqs: Vec<u64> = got.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    // Nothing else is queued: a ping's pong is the next frame.
    bob.expect_pong().await;
}

#[tokio::test]
async fn a_delivered_batch_of_interleaved_groups_keeps_each_group_in_order() {
    let store = Arc::new(InMemoryStore::new());
    for seq in 1..=4 {
        store.append(stored("g", seq)).await.unwrap();
        store.append(stored("h", seq)).await.unwrap();
    }
    let server = TestServer::start_with_store(test_config(), store).await;
    server.join("g", &["bob"]);
    server.join("h", &["bob"]);
    let mut bob = server.client("bob").await;
    server.wait_sessions("bob", 1).await;
    let engine = &server.engine;
    // One batch: groups interleaved, g with a gap (2 missing) and a redelivery.
    let batch: Vec<_> = [("g", 1), ("h", 1), ("g", 3), ("h", 2), ("g", 1), ("g", 4)]
        .iter()
        .map(|(g, s)| stored(g, *s))
        .collect();
    engine.deliver_stored_batch(&batch).await;
    engine
        .deliver_stored_batch(&[stored("h", 4), stored("h", 3)])
        .await;
    let mut got: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for _ in 0..8 {
        match bob.next().await {
            Ok(ServerFrame::Message(m)) => {
                got.entry(m.group_id.to_string()).or_default().push(m.seq)
            }
            other => panic!("expected a message, got {other:?}"),
        }
    }
    assert_eq!(got["g"], vec![1, 2, 3, 4]);
    assert_eq!(got["h"], vec![1, 2, 3, 4]);
    bob.expect_pong().await;
}

/// Sequences on a "remote" sequencer over the same store, then hands the stored message
/// back to the engine from another task, as a broker round trip would. Refuses group
/// `closed`.
struct RemoteSequencer {
    sequencer: Sequencer,
    engine: OnceLock<Engine>,
}

#[async_trait]
impl SendPipeline for RemoteSequencer {
    async fn submit(&self, draft: Draft) -> Result<Appended, EngineError> {
        if draft.group_id.as_str() == "closed" {
            return Err(EngineError::Rejected {
                code: ErrorCode::GroupClosed,
                reason: "the group was dissolved".into(),
            });
        }
        let appended = self.sequencer.append(draft, |_| async {}).await?;
        if let (Appended::Stored(m), Some(engine)) = (&appended, self.engine.get()) {
            let (engine, m) = (engine.clone(), m.clone());
            tokio::spawn(async move { engine.deliver_stored(&m).await });
        }
        Ok(appended)
    }
}

#[tokio::test]
async fn a_pipeline_takes_the_sends_and_its_refusals_reach_the_client() {
    let store = Arc::new(InMemoryStore::new());
    let pipeline = Arc::new(RemoteSequencer {
        sequencer: Sequencer::new(store.clone()),
        engine: OnceLock::new(),
    });
    let p = pipeline.clone();
    let server = TestServer::start_custom(test_config(), store.clone(), store.clone(), |b| {
        b.pipeline(p)
    })
    .await;
    let _ = pipeline.engine.set(server.engine.clone());
    server.join("g", &["alice", "bob"]);
    server.join("closed", &["alice"]);
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    server.wait_sessions("bob", 1).await;

    let mut seen = Vec::new();
    assert_eq!(alice.send_and_confirm("g", "c1", "hi", &mut seen).await, 1);
    assert_eq!(
        alice.send_and_confirm("g", "c2", "again", &mut seen).await,
        2
    );
    // A retry of c1 maps to seq 1 and pushes nothing new.
    assert_eq!(alice.send_and_confirm("g", "c1", "hi", &mut seen).await, 1);
    let bob_got = bob.collect_messages(&GroupId::from("g"), 2).await;
    assert_eq!(
        bob_got.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(store.latest_seq(&"g".into()).await.unwrap(), 2);

    alice.send_msg("closed", "c3", "anyone?").await;
    loop {
        match alice.next().await.unwrap() {
            ServerFrame::Message(_) => continue,
            ServerFrame::Error {
                code, reference, ..
            } => {
                assert_eq!(code, ErrorCode::GroupClosed);
                assert_eq!(reference.as_deref(), Some("c3"));
                break;
            }
            other => panic!("expected group_closed, got {other:?}"),
        }
    }
    assert_eq!(store.latest_seq(&"closed".into()).await.unwrap(), 0);
    bob.expect_pong().await;
}

/// Pushes a "missed while offline" notification to every new session; counts the
/// sessions that ended.
#[derive(Default)]
struct Welcome {
    ended: std::sync::atomic::AtomicUsize,
    notify: tokio::sync::Notify,
}

#[async_trait]
impl SessionHook for Welcome {
    async fn on_session_started(&self, session: &SessionHandle) {
        let n = Notification::new("welcome_back", serde_json::json!({"user": session.user()}));
        let frame = im_core::OutFrame::encode(&ServerFrame::Notification(n));
        let _ = session.outbound().push(frame);
    }

    async fn on_session_ended(&self, _session: &SessionHandle) {
        self.ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

#[tokio::test]
async fn the_session_hook_runs_before_the_first_request() {
    let store = Arc::new(InMemoryStore::new());
    let hook = Arc::new(Welcome::default());
    let h = hook.clone();
    let server =
        TestServer::start_custom(test_config(), store.clone(), store, |b| b.session_hook(h)).await;
    let mut carol = server.client("carol").await;
    match carol.next().await.unwrap() {
        ServerFrame::Notification(n) => {
            assert_eq!(n.kind, "welcome_back");
            assert_eq!(n.payload["user"], "carol");
        }
        other => panic!("expected the notification, got {other:?}"),
    }
    carol.expect_pong().await;
    assert_eq!(hook.ended.load(std::sync::atomic::Ordering::SeqCst), 0);
    drop(carol);
    let ended = async {
        loop {
            let notified = hook.notify.notified();
            if hook.ended.load(std::sync::atomic::Ordering::SeqCst) == 1 {
                return;
            }
            notified.await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), ended)
        .await
        .expect("on_session_ended ran once the client went away");
    assert_eq!(server.engine.connections().connection_count(), 0);
}

/// A pipeline that decides membership itself (as one that reads the group's status
/// anyway would): `guest` may send to `g` although the engine's membership does not
/// list them; `mallory` may not.
struct OwnMembership {
    sequencer: Sequencer,
}

#[async_trait]
impl SendPipeline for OwnMembership {
    async fn submit(&self, draft: Draft) -> Result<Appended, EngineError> {
        if draft.sender_id.as_str() == "mallory" {
            return Err(EngineError::NotMember);
        }
        Ok(self.sequencer.append(draft, |_| async {}).await?)
    }

    fn checks_membership(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn a_pipeline_that_checks_membership_replaces_the_engines_check() {
    let store = Arc::new(InMemoryStore::new());
    let pipeline = Arc::new(OwnMembership {
        sequencer: Sequencer::new(store.clone()),
    });
    let server = TestServer::start_custom(test_config(), store.clone(), store.clone(), |b| {
        b.pipeline(pipeline)
    })
    .await;
    server.join("g", &["alice"]);
    let mut guest = server.client("guest").await;
    let mut seen = Vec::new();
    assert_eq!(guest.send_and_confirm("g", "c1", "hi", &mut seen).await, 1);

    let mut mallory = server.client("mallory").await;
    mallory.send_msg("g", "c2", "let me in").await;
    let (code, reference) = mallory.expect_error().await;
    assert_eq!(code, ErrorCode::NotMember);
    assert_eq!(reference.as_deref(), Some("c2"));
    assert_eq!(store.latest_seq(&"g".into()).await.unwrap(), 1);
}

#[tokio::test]
async fn without_the_flag_the_engine_refuses_non_members_before_the_pipeline() {
    let store = Arc::new(InMemoryStore::new());
    let pipeline = Arc::new(RemoteSequencer {
        sequencer: Sequencer::new(store.clone()),
        engine: OnceLock::new(),
    });
    let server = TestServer::start_custom(test_config(), store.clone(), store.clone(), |b| {
        b.pipeline(pipeline)
    })
    .await;
    server.join("g", &["alice"]);
    let mut guest = server.client("guest").await;
    guest.send_msg("g", "c1", "hi").await;
    let (code, _) = guest.expect_error().await;
    assert_eq!(code, ErrorCode::NotMember);
    assert_eq!(store.latest_seq(&"g".into()).await.unwrap(), 0);
}
