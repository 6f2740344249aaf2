//! Message storage on SQLite and MariaDB: batch outcomes (stored, duplicate with its
//! original seq, seq taken) in one transaction, concurrent appenders, positions.

mod support;

use std::collections::HashSet;

use domain::{AppendOutcome, ChatMessage, ErrorKind, GroupId, Store, Timestamp};
use support::{Db, TestDb};

fn msg(group: &GroupId, seq: u64, sender: &str, client_id: &str) -> ChatMessage {
    ChatMessage {
        group_id: group.clone(),
        seq,
        sender_id: sender.to_owned(),
        client_msg_id: client_id.to_owned(),
        body: format!(r#"{{"text":"{client_id} \u00e9 ' ; --"}}"#),
        sent_at: Timestamp::from_unix_millis(1_700_000_000_000 + seq as i64),
    }
}

fn seqs(messages: &[ChatMessage]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

async fn batch_outcomes(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let store = &t.store;
    let g = GroupId::new();
    assert_eq!(store.latest_seq(&g).await?, 0);
    assert!(store.append_messages(&[]).await?.is_empty());

    let m1 = msg(&g, 1, "alice", "a-1");
    let m2 = msg(&g, 2, "bob", "b-1");
    let out = store.append_messages(&[m1.clone(), m2.clone()]).await?;
    assert_eq!(
        out,
        vec![
            AppendOutcome::Stored(m1.clone()),
            AppendOutcome::Stored(m2.clone())
        ]
    );

    // One batch: a retry of m1 under a new seq, a different message on a taken seq, a
    // new message, and a retry of that new message inside the same batch. The failed
    // INSERTs must not abort the transaction: m3 is stored after commit.
    let retry = msg(&g, 3, "alice", "a-1");
    let clash = msg(&g, 2, "alice", "a-2");
    let m3 = msg(&g, 3, "carol", "c-1");
    let m3_again = msg(&g, 4, "carol", "c-1");
    let out = store
        .append_messages(&[retry, clash, m3.clone(), m3_again])
        .await?;
    assert_eq!(
        out,
        vec![
            AppendOutcome::Duplicate(m1.clone()),
            AppendOutcome::SeqTaken,
            AppendOutcome::Stored(m3.clone()),
            AppendOutcome::Duplicate(m3.clone()),
        ]
    );
    // The same key in another group is another message.
    let other = GroupId::new();
    let elsewhere = msg(&other, 1, "alice", "a-1");
    assert_eq!(
        store
            .append_messages(std::slice::from_ref(&elsewhere))
            .await?,
        vec![AppendOutcome::Stored(elsewhere)]
    );

    let all = store.messages_after(&g, 0, 100).await?;
    assert_eq!(all, vec![m1, m2.clone(), m3.clone()]);
    assert_eq!(store.messages_after(&g, 1, 1).await?, vec![m2]);
    assert_eq!(store.messages_after(&g, 3, 10).await?, vec![]);
    assert_eq!(store.messages_after(&g, 0, 0).await?, vec![]);
    assert_eq!(store.messages_after(&g, u64::MAX, 10).await?, vec![]);
    assert_eq!(store.latest_seq(&g).await?, 3);
    assert_eq!(store.latest_seq(&other).await?, 1);

    // An invalid message fails the batch and stores nothing of it.
    for bad in [
        msg(&g, 9, "alice", ""),
        msg(&g, 9, "", "x"),
        msg(&g, 0, "alice", "x"),
        msg(&g, u64::MAX, "alice", "x"),
        msg(&g, 9, "alice", &"x".repeat(129)),
    ] {
        let err = store
            .append_messages(&[msg(&g, 4, "dave", "d-1"), bad])
            .await
            .err();
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::InvalidInput));
    }
    assert_eq!(store.latest_seq(&g).await?, 3);
    // The longest accepted ids round-trip.
    let long = msg(&g, 4, &"s".repeat(64), &"é".repeat(64));
    store.append_messages(std::slice::from_ref(&long)).await?;
    assert_eq!(store.messages_after(&g, 3, 1).await?, vec![long]);
    t.finish().await
}
on_both_databases!(batch_outcomes_on, batch_outcomes);

/// Runs stop at their first message not stored as given, so a run whose seqs were
/// assigned in order never leaves a gap; other runs of the same transaction go on.
async fn runs_stop_at_their_first_refusal(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let store = &t.store;
    let (g, h) = (GroupId::new(), GroupId::new());
    let m1 = msg(&g, 1, "alice", "a-1");
    store.append_messages(std::slice::from_ref(&m1)).await?;

    // g: a new message, then a retry of m1 (seq 3 assigned to it), then one more that
    // must not be written at seq 4. h: three new messages, unaffected by g's stop.
    let g_run = vec![
        msg(&g, 2, "bob", "b-1"),
        msg(&g, 3, "alice", "a-1"),
        msg(&g, 4, "carol", "c-1"),
    ];
    let h_run: Vec<ChatMessage> = (1..=3)
        .map(|s| msg(&h, s, "dave", &format!("d-{s}")))
        .collect();
    // a run whose first seq is taken stops at once
    let taken_run = vec![msg(&g, 1, "erin", "e-1"), msg(&g, 2, "erin", "e-2")];
    let out = store
        .append_message_runs(&[g_run.clone(), h_run.clone(), taken_run, Vec::new()])
        .await?;
    assert_eq!(
        out,
        vec![
            vec![
                AppendOutcome::Stored(g_run[0].clone()),
                AppendOutcome::Duplicate(m1.clone())
            ],
            h_run.iter().cloned().map(AppendOutcome::Stored).collect(),
            vec![AppendOutcome::SeqTaken],
            Vec::new(),
        ]
    );
    assert_eq!(seqs(&store.messages_after(&g, 0, 10).await?), vec![1, 2]);
    assert_eq!(seqs(&store.messages_after(&h, 0, 10).await?), vec![1, 2, 3]);

    // An invalid message anywhere fails the whole call and stores nothing.
    let bad = msg(&g, 0, "frank", "f-1");
    let err = store
        .append_message_runs(&[vec![msg(&g, 3, "frank", "f-2")], vec![bad]])
        .await;
    assert!(err.is_err());
    assert_eq!(store.latest_seq(&g).await?, 2);
    assert!(store.append_message_runs(&[]).await?.is_empty());
    t.finish().await
}

on_both_databases!(runs_stop_on, runs_stop_at_their_first_refusal);

/// One appender: `n` messages, each at latest + 1, retried on a taken seq (and on a
/// retryable storage error such as a MySQL deadlock).
async fn appender(store: Store, g: GroupId, who: String, n: usize) -> anyhow::Result<Retries> {
    let mut retries = Retries::default();
    for i in 0..n {
        let client_id = format!("{who}-{i}");
        loop {
            let next = store.latest_seq(&g).await? + 1;
            match store
                .append_messages(&[msg(&g, next, &who, &client_id)])
                .await
            {
                Ok(out) => match out.as_slice() {
                    [AppendOutcome::Stored(_) | AppendOutcome::Duplicate(_)] => break,
                    [AppendOutcome::SeqTaken] => retries.seq_taken += 1,
                    other => anyhow::bail!("unexpected outcome {other:?}"),
                },
                Err(e) if e.kind() == ErrorKind::Unavailable => retries.unavailable += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(retries)
}

/// How often an appender tried again.
#[derive(Debug, Default)]
struct Retries {
    seq_taken: usize,
    unavailable: usize,
}

async fn concurrent_appenders(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let g = GroupId::new();
    let (tasks, per_task) = (4, 25);
    let mut handles = Vec::new();
    for w in 0..tasks {
        handles.push(tokio::spawn(appender(
            t.store.clone(),
            g.clone(),
            format!("user-{w}"),
            per_task,
        )));
    }
    let (mut seq_taken, mut unavailable) = (0, 0);
    for h in handles {
        let r = h.await??;
        seq_taken += r.seq_taken;
        unavailable += r.unavailable;
    }
    eprintln!("{db:?}: {seq_taken} retries on a taken seq, {unavailable} on a storage error");
    let all = t.store.messages_after(&g, 0, 1000).await?;
    let total = tasks * per_task;
    assert_eq!(seqs(&all), (1..=total as u64).collect::<Vec<_>>());
    let keys: HashSet<_> = all
        .iter()
        .map(|m| (m.sender_id.clone(), m.client_msg_id.clone()))
        .collect();
    assert_eq!(keys.len(), total, "a message was stored twice");
    // Each sender's messages keep their order.
    for w in 0..tasks {
        let who = format!("user-{w}");
        let mine: Vec<_> = all
            .iter()
            .filter(|m| m.sender_id == who)
            .map(|m| m.client_msg_id.clone())
            .collect();
        let expected: Vec<_> = (0..per_task).map(|i| format!("{who}-{i}")).collect();
        assert_eq!(mine, expected);
    }
    t.finish().await
}
on_both_databases!(concurrent_appenders_on, concurrent_appenders);

async fn positions_never_go_backwards(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let store = &t.store;
    let g = GroupId::new();
    assert_eq!(store.read_position(&g, "alice").await?, 0);
    assert_eq!(store.delivered_position(&g, "alice").await?, 0);
    assert_eq!(store.set_read_position(&g, "alice", 5).await?, 5);
    assert_eq!(store.set_read_position(&g, "alice", 3).await?, 5);
    assert_eq!(store.set_read_position(&g, "alice", 5).await?, 5);
    assert_eq!(store.read_position(&g, "alice").await?, 5);
    assert_eq!(store.delivered_position(&g, "alice").await?, 0);
    assert_eq!(store.set_delivered_position(&g, "alice", 7).await?, 7);
    assert_eq!(store.set_delivered_position(&g, "alice", 1).await?, 7);
    assert_eq!(store.set_read_position(&g, "alice", 6).await?, 6);
    assert_eq!(store.read_position(&g, "alice").await?, 6);
    assert_eq!(store.delivered_position(&g, "alice").await?, 7);
    // Other users and groups are independent.
    assert_eq!(store.read_position(&g, "bob").await?, 0);
    assert_eq!(store.read_position(&GroupId::new(), "alice").await?, 0);
    let err = store.set_read_position(&g, "alice", u64::MAX).await.err();
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::InvalidInput));
    let err = store.set_read_position(&g, "", 1).await.err();
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::InvalidInput));

    // Concurrent moves end at the highest.
    let mut handles = Vec::new();
    for s in 1..=20u64 {
        let (store, g) = (store.clone(), g.clone());
        handles.push(tokio::spawn(async move {
            store.set_read_position(&g, "carol", s).await
        }));
    }
    for h in handles {
        h.await??;
    }
    assert_eq!(store.read_position(&g, "carol").await?, 20);
    t.finish().await
}
on_both_databases!(
    positions_never_go_backwards_on,
    positions_never_go_backwards
);
