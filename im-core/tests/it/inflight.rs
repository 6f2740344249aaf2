//! A request in flight does not hold up what is pushed to the same session.

use std::sync::Arc;

use async_trait::async_trait;
use im_core::protocol::{ClientFrame, ServerFrame};
use im_core::store::{Appended, InMemoryStore, MessageStore, StoreError};
use im_core::{GroupId, Seq, StoredMessage, UserId};
use tokio::sync::Semaphore;

use crate::helpers::{test_config, TestServer};

/// Forwards to an `InMemoryStore`; `messages_after` (a `sync`) waits for a permit.
struct GatedSync {
    inner: Arc<InMemoryStore>,
    gate: Arc<Semaphore>,
}

#[async_trait]
impl MessageStore for GatedSync {
    async fn append(&self, message: StoredMessage) -> Result<Appended, StoreError> {
        self.inner.append(message).await
    }
    async fn messages_after(
        &self,
        group: &GroupId,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.gate.acquire().await.unwrap().forget();
        self.inner.messages_after(group, after, limit).await
    }
    async fn latest_seq(&self, group: &GroupId) -> Result<Seq, StoreError> {
        self.inner.latest_seq(group).await
    }
    async fn set_read_position(&self, g: &GroupId, u: &UserId, s: Seq) -> Result<Seq, StoreError> {
        self.inner.set_read_position(g, u, s).await
    }
    async fn read_position(&self, g: &GroupId, u: &UserId) -> Result<Seq, StoreError> {
        self.inner.read_position(g, u).await
    }
    async fn set_delivered_position(
        &self,
        g: &GroupId,
        u: &UserId,
        s: Seq,
    ) -> Result<Seq, StoreError> {
        self.inner.set_delivered_position(g, u, s).await
    }
    async fn delivered_position(&self, g: &GroupId, u: &UserId) -> Result<Seq, StoreError> {
        self.inner.delivered_position(g, u).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_reach_a_session_whose_request_is_still_in_flight() {
    let store = Arc::new(InMemoryStore::new());
    let gate = Arc::new(Semaphore::new(0));
    let gated = Arc::new(GatedSync {
        inner: store.clone(),
        gate: gate.clone(),
    });
    let server = TestServer::start_with_stores(test_config(), store, gated).await;
    server.join("g", &["alice", "bob"]);
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    server.wait_sessions("alice", 1).await;

    // Alice's sync hangs in the store ...
    alice
        .send(&ClientFrame::Sync {
            group_id: "g".into(),
            after_seq: 0,
            limit: None,
        })
        .await;
    // ... while bob's message is stored and pushed: alice gets it meanwhile.
    assert_eq!(
        bob.send_and_confirm("g", "b1", "hi", &mut Vec::new()).await,
        1
    );
    match alice.next().await.unwrap() {
        ServerFrame::Message(m) => assert_eq!(m.seq, 1),
        other => panic!("expected the push before the sync result, got {other:?}"),
    }
    // Frames after the sync wait their turn: the ping is answered after the sync.
    alice.send(&ClientFrame::Ping).await;
    gate.add_permits(1);
    match alice.next().await.unwrap() {
        ServerFrame::SyncResult { messages, .. } => assert_eq!(messages.len(), 1),
        other => panic!("expected sync_result, got {other:?}"),
    }
    assert!(matches!(alice.next().await.unwrap(), ServerFrame::Pong));
}
