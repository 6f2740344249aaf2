//! Per-group sequencing: contiguous, identical at every receiver; dedup; restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use im_core::protocol::ServerFrame;
use im_core::store::{InMemoryStore, MessageStore};
use im_core::{GroupId, StoredMessage};
use proptest::prelude::*;

use crate::helpers::{test_config, Client, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_client_msg_id_gets_original_seq_and_no_second_message() {
    let server = TestServer::start(test_config()).await;
    server.join("g", &["alice", "bob"]);
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    server.wait_sessions("bob", 1).await;

    let mut seen = Vec::new();
    assert_eq!(
        alice.send_and_confirm("g", "c1", "hello", &mut seen).await,
        1
    );
    assert_eq!(
        alice.send_and_confirm("g", "c2", "again", &mut seen).await,
        2
    );
    // Retry of c1 (e.g. the send_ok was lost): original seq, nothing new stored or pushed.
    assert_eq!(
        alice.send_and_confirm("g", "c1", "hello", &mut seen).await,
        1
    );
    // Same client_msg_id from another sender is a different message.
    assert_eq!(
        bob.send_and_confirm("g", "c1", "bob's", &mut Vec::new())
            .await,
        3
    );

    assert_eq!(server.store.message_count(&"g".into()), 3);
    let got = alice.collect_messages(&"g".into(), 1).await;
    assert_eq!(got[0].seq, 3);
    let seqs: Vec<_> = seen.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2], "the retry pushed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequencer_restart_from_store_continues_at_last_plus_one() {
    let store = Arc::new(InMemoryStore::new());
    {
        let server = TestServer::start_with_store(test_config(), store.clone()).await;
        server.join("g", &["alice"]);
        let mut alice = server.client("alice").await;
        for i in 1..=5 {
            let seq = alice
                .send_and_confirm("g", &format!("c{i}"), "x", &mut Vec::new())
                .await;
            assert_eq!(seq, i);
        }
        server.engine.shutdown();
    }
    // A new engine (as after a process restart) over the same store.
    let server = TestServer::start_with_store(test_config(), store.clone()).await;
    server.join("g", &["alice"]);
    let mut alice = server.client("alice").await;
    assert_eq!(
        alice
            .send_and_confirm("g", "c6", "x", &mut Vec::new())
            .await,
        6
    );
    // A retry of a message sent before the restart still maps to its seq.
    assert_eq!(
        alice
            .send_and_confirm("g", "c3", "x", &mut Vec::new())
            .await,
        3
    );
    assert_eq!(store.latest_seq(&"g".into()).await.unwrap(), 6);
}

/// One proptest case: users, their groups, how many messages each sends to each group.
#[derive(Debug, Clone)]
struct Scenario {
    /// membership[u] = bitmask of groups user u belongs to.
    membership: Vec<u8>,
    /// sends[u][g] = messages user u sends to group g (if a member).
    sends: Vec<Vec<u8>>,
    /// devices[u] = sessions of user u (1 or 2).
    devices: Vec<u8>,
}

const GROUPS: usize = 3;

fn scenario() -> impl Strategy<Value = Scenario> {
    (2usize..=4).prop_flat_map(|users| {
        (
            prop::collection::vec(1u8..(1 << GROUPS), users),
            prop::collection::vec(prop::collection::vec(0u8..6, GROUPS), users),
            prop::collection::vec(1u8..=2, users),
        )
            .prop_map(|(membership, sends, devices)| Scenario {
                membership,
                sends,
                devices,
            })
    })
}

async fn run_scenario(s: Scenario) {
    let server = TestServer::start(test_config()).await;
    let user = |u: usize| format!("u{u}");
    let group = |g: usize| format!("g{g}");
    let mut expected_total = [0usize; GROUPS];
    for (u, mask) in s.membership.iter().enumerate() {
        for (g, total) in expected_total.iter_mut().enumerate() {
            if mask & (1 << g) != 0 {
                server.join(&group(g), &[&user(u)]);
                *total += s.sends[u][g] as usize;
            }
        }
    }
    // Connect every device; the first device of each user sends.
    let mut clients: Vec<(usize, Client)> = Vec::new();
    for (u, devices) in s.devices.iter().enumerate() {
        for _ in 0..*devices {
            clients.push((u, server.client(&user(u)).await));
        }
        server.wait_sessions(&user(u), *devices as usize).await;
    }

    let mut tasks = Vec::new();
    let mut sent_first = vec![false; s.devices.len()];
    for (u, mut client) in clients {
        let is_sender = !std::mem::replace(&mut sent_first[u], true);
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut expect_ok = 0;
            if is_sender {
                // Interleave groups so groups progress concurrently.
                let max = s.sends[u].iter().copied().max().unwrap_or(0);
                for i in 0..max {
                    for g in 0..GROUPS {
                        if s.membership[u] & (1 << g) != 0 && i < s.sends[u][g] {
                            client
                                .send_msg(&format!("g{g}"), &format!("u{u}-g{g}-{i}"), "m")
                                .await;
                            expect_ok += 1;
                        }
                    }
                }
            }
            let mut per_group: BTreeMap<GroupId, Vec<StoredMessage>> = BTreeMap::new();
            let mut oks: HashMap<String, u64> = HashMap::new();
            let want: usize = (0..GROUPS)
                .filter(|g| s.membership[u] & (1 << g) != 0)
                .map(|g| expected_total[g])
                .sum();
            let mut got = 0;
            while got < want || oks.len() < expect_ok {
                match client.next().await.unwrap() {
                    ServerFrame::Message(m) => {
                        got += 1;
                        per_group.entry(m.group_id.clone()).or_default().push(m);
                    }
                    ServerFrame::SendOk {
                        client_msg_id, seq, ..
                    } => {
                        oks.insert(client_msg_id.to_string(), seq);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            (u, per_group, oks)
        }));
    }

    let mut reference: HashMap<GroupId, Vec<(String, String)>> = HashMap::new();
    let mut all_oks: HashMap<String, u64> = HashMap::new();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    for (_, _, oks) in &results {
        all_oks.extend(oks.iter().map(|(k, v)| (k.clone(), *v)));
    }
    for (u, per_group, _) in results {
        for (g, total) in expected_total.iter().enumerate() {
            if s.membership[u] & (1 << g) == 0 {
                continue;
            }
            let gid = GroupId::from(format!("g{g}"));
            let msgs = per_group.get(&gid).cloned().unwrap_or_default();
            let seqs: Vec<u64> = msgs.iter().map(|m| m.seq).collect();
            let contiguous: Vec<u64> = (1..=*total as u64).collect();
            assert_eq!(seqs, contiguous, "u{u} in {gid}: seqs not 1..={total}");
            let content: Vec<(String, String)> = msgs
                .iter()
                .map(|m| (m.sender_id.to_string(), m.client_msg_id.to_string()))
                .collect();
            for m in &msgs {
                assert_eq!(all_oks.get(m.client_msg_id.as_str()), Some(&m.seq));
            }
            match reference.get(&gid) {
                Some(r) => assert_eq!(r, &content, "u{u} saw a different order in {gid}"),
                None => {
                    reference.insert(gid, content);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_senders_yield_identical_contiguous_sequences_everywhere(s in scenario()) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run_scenario(s));
    }
}
