//! Offline catch-up: reconnect + sync loses and duplicates nothing; read positions.

use std::collections::BTreeMap;

use im_core::protocol::{ClientFrame, ServerFrame};
use im_core::store::MessageStore;
use im_core::{GroupId, Seq, StoredMessage};

use crate::helpers::{test_config, Client, TestServer};

/// The client side of recovery: a timeline keyed by seq; live pushes and sync pages are
/// merged; sync continues from the highest contiguous seq until nothing is missing.
async fn catch_up(
    client: &mut Client,
    group: &GroupId,
    mut after: Seq,
    timeline: &mut BTreeMap<Seq, StoredMessage>,
    want_latest: Seq,
) {
    let mut syncs = 0;
    loop {
        client
            .send(&ClientFrame::Sync {
                group_id: group.clone(),
                after_seq: after,
                limit: Some(3),
            })
            .await;
        let page = loop {
            match client.next().await.unwrap() {
                ServerFrame::Message(m) => {
                    assert!(timeline.insert(m.seq, m).is_none(), "live push duplicated");
                }
                ServerFrame::SyncResult {
                    messages,
                    has_more,
                    latest_seq,
                    ..
                } => break (messages, has_more, latest_seq),
                other => panic!("unexpected {other:?}"),
            }
        };
        syncs += 1;
        let (messages, has_more, latest) = page;
        // A page is contiguous from after + 1.
        for (i, m) in messages.iter().enumerate() {
            assert_eq!(m.seq, after + 1 + i as u64, "sync page has a gap");
        }
        for m in messages {
            // Already seen live: same message, not a second copy in the timeline.
            if let Some(prev) = timeline.insert(m.seq, m.clone()) {
                assert_eq!(prev, m);
            }
        }
        after = contiguous_end(timeline, after);
        if !has_more && after >= latest && after >= want_latest {
            break;
        }
        if !has_more && after < want_latest {
            // The rest is still arriving live.
            match client.next().await.unwrap() {
                ServerFrame::Message(m) => {
                    timeline.insert(m.seq, m);
                }
                other => panic!("unexpected {other:?}"),
            }
            after = contiguous_end(timeline, after);
            if after >= want_latest {
                break;
            }
        }
        assert!(syncs < 100, "sync did not converge");
    }
}

fn contiguous_end(timeline: &BTreeMap<Seq, StoredMessage>, mut after: Seq) -> Seq {
    while timeline.contains_key(&(after + 1)) {
        after += 1;
    }
    after
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_and_sync_loses_and_duplicates_nothing() {
    let server = TestServer::start(test_config()).await;
    server.join("g", &["alice", "bob"]);
    let g = GroupId::from("g");
    let mut bob = server.client("bob").await;

    let mut alice = server.client("alice").await;
    server.wait_sessions("alice", 1).await;
    for i in 1..=5 {
        bob.send_and_confirm("g", &format!("b{i}"), "x", &mut Vec::new())
            .await;
    }
    let mut timeline: BTreeMap<Seq, StoredMessage> = BTreeMap::new();
    for m in alice.collect_messages(&g, 5).await {
        timeline.insert(m.seq, m);
    }
    drop(alice); // offline
    server.wait_sessions("alice", 0).await;

    for i in 6..=10 {
        bob.send_and_confirm("g", &format!("b{i}"), "x", &mut Vec::new())
            .await;
    }
    // Back online while bob keeps sending.
    let mut alice = server.client("alice").await;
    server.wait_sessions("alice", 1).await;
    let sender = tokio::spawn(async move {
        for i in 11..=30 {
            bob.send_and_confirm("g", &format!("b{i}"), "x", &mut Vec::new())
                .await;
        }
        bob
    });
    catch_up(&mut alice, &g, 5, &mut timeline, 30).await;
    let _bob = sender.await.unwrap();

    let seqs: Vec<Seq> = timeline.keys().copied().collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>());
    assert_eq!(server.store.message_count(&g), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_and_ack_positions_and_unread_counts() {
    let server = TestServer::start(test_config()).await;
    server.join("g", &["alice", "bob"]);
    let g = GroupId::from("g");
    let mut bob = server.client("bob").await;
    let mut alice = server.client("alice").await;
    for i in 1..=4 {
        bob.send_and_confirm("g", &format!("b{i}"), "x", &mut Vec::new())
            .await;
    }
    alice.collect_messages(&g, 4).await;
    alice
        .send(&ClientFrame::Ack {
            group_id: g.clone(),
            seq: 4,
        })
        .await;
    alice
        .send(&ClientFrame::Read {
            group_id: g.clone(),
            seq: 3,
        })
        .await;
    alice
        .send(&ClientFrame::Read {
            group_id: g.clone(),
            seq: 9,
        })
        .await;
    assert_eq!(
        alice.expect_error().await.0,
        im_core::protocol::ErrorCode::InvalidField
    );
    alice.expect_pong().await;
    let alice_id = "alice".into();
    assert_eq!(server.store.read_position(&g, &alice_id).await.unwrap(), 3);
    assert_eq!(
        server
            .store
            .delivered_position(&g, &alice_id)
            .await
            .unwrap(),
        4
    );
    assert_eq!(server.store.unread_count(&g, &alice_id).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_reports_seq_read_position_and_unread_per_group() {
    let server = TestServer::start(test_config()).await;
    server.join("g1", &["alice", "bob"]);
    server.join("g2", &["alice", "bob"]);
    server.join("g3", &["bob"]);
    let mut bob = server.client("bob").await;
    let mut alice = server.client("alice").await;
    for i in 1..=3 {
        bob.send_and_confirm("g1", &format!("a{i}"), "x", &mut Vec::new())
            .await;
    }
    bob.send_and_confirm("g2", "b1", "x", &mut Vec::new()).await;
    alice.collect_messages(&"g1".into(), 3).await;
    alice.collect_messages(&"g2".into(), 1).await;
    alice
        .send(&ClientFrame::Read {
            group_id: "g1".into(),
            seq: 2,
        })
        .await;

    // All of alice's groups (not g3), by group id.
    alice.send(&ClientFrame::Latest { group_ids: None }).await;
    let ServerFrame::LatestResult { groups } = alice.next().await.unwrap() else {
        panic!("expected latest_result")
    };
    let got: Vec<(String, Seq, Seq, u64)> = groups
        .iter()
        .map(|p| (p.group_id.to_string(), p.latest_seq, p.read_seq, p.unread))
        .collect();
    assert_eq!(
        got,
        vec![("g1".into(), 3, 2, 1), ("g2".into(), 1, 0, 1)],
        "{groups:?}"
    );

    // A listed group she is not in is refused; nothing else is reported.
    alice
        .send(&ClientFrame::Latest {
            group_ids: Some(vec!["g2".into(), "g3".into()]),
        })
        .await;
    assert_eq!(
        alice.expect_error().await.0,
        im_core::protocol::ErrorCode::NotMember
    );
    alice
        .send(&ClientFrame::Latest {
            group_ids: Some(vec!["g2".into()]),
        })
        .await;
    let ServerFrame::LatestResult { groups } = alice.next().await.unwrap() else {
        panic!("expected latest_result")
    };
    assert_eq!(groups.len(), 1);
    assert_eq!((groups[0].latest_seq, groups[0].unread), (1, 1));
}
