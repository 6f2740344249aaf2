//! In-process fan-out: deliveries per second into session queues, no sockets.
//!
//! Sessions are registered with a `ConnectionManager` like real ones; each has a drainer
//! task standing in for its socket writer (waits for frames, takes the whole queue, counts
//! it). Two measurements per shape:
//!
//! - `fanout::push_to_users`: one encoded frame pushed to every member's sessions (the
//!   engine's fan-out step alone);
//! - `Engine::send`: the whole in-process path of a chat message: membership check,
//!   per-group sequencer, in-memory store, encode once, fan-out.
//!
//! `cargo bench -p im-core --bench fanout` (`MQ_BENCH_SMOKE=1` or `IM_BENCH_SMOKE=1` for a
//! run of a second or so). Target: >= 1,000,000 deliveries/s.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use im_core::membership::InMemoryMembership;
use im_core::protocol::{MessageBody, ServerFrame};
use im_core::store::InMemoryStore;
use im_core::{
    fanout, AuthError, Authenticator, ConnectionManager, Engine, EngineConfig, GroupId, OutFrame,
    Outbound, StoredMessage, UserId,
};
use tokio::sync::Notify;

#[derive(Debug)]
struct NoAuth;

#[async_trait::async_trait]
impl Authenticator for NoAuth {
    async fn authenticate(&self, _token: &str) -> Result<UserId, AuthError> {
        Err(AuthError::Invalid("benchmark".into()))
    }
}

#[derive(Clone, Copy, Debug)]
struct Shape {
    sessions: usize,
    group_size: usize,
    messages: usize,
}

fn smoke() -> bool {
    std::env::var_os("MQ_BENCH_SMOKE").is_some() || std::env::var_os("IM_BENCH_SMOKE").is_some()
}

fn shapes() -> Vec<Shape> {
    if smoke() {
        return vec![Shape {
            sessions: 1_000,
            group_size: 100,
            messages: 2_000,
        }];
    }
    vec![
        Shape {
            sessions: 2_000,
            group_size: 100,
            messages: 50_000,
        },
        Shape {
            sessions: 10_000,
            group_size: 500,
            messages: 10_000,
        },
    ]
}

/// Counts drained frames; wakes the producer once `expected` arrived.
struct Drained {
    frames: AtomicU64,
    expected: AtomicU64,
    done: Notify,
}

impl Drained {
    fn add(&self, n: u64) {
        let total = self.frames.fetch_add(n, Ordering::AcqRel) + n;
        if total >= self.expected.load(Ordering::Acquire) {
            self.done.notify_one();
        }
    }

    async fn wait(&self, expected: u64) {
        loop {
            let notified = self.done.notified();
            if self.frames.load(Ordering::Acquire) >= expected {
                return;
            }
            notified.await;
        }
    }
}

/// Registers `n` sessions (users `u0..`) with a drainer task each.
fn sessions(cm: &ConnectionManager, n: usize, drained: &Arc<Drained>) {
    for i in 0..n {
        let outbound = Arc::new(Outbound::new(64 << 20));
        cm.register(UserId::from(format!("u{i}")), outbound.clone());
        let drained = drained.clone();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            loop {
                outbound.ready().await;
                let d = outbound.drain(&mut batch);
                drained.add(batch.len() as u64);
                batch.clear();
                if d.closed.is_some() {
                    return;
                }
            }
        });
    }
}

fn groups(shape: Shape) -> Vec<(GroupId, Vec<UserId>)> {
    (0..shape.sessions / shape.group_size)
        .map(|g| {
            let members = (0..shape.group_size)
                .map(|m| UserId::from(format!("u{}", g * shape.group_size + m)))
                .collect();
            (GroupId::from(format!("g{g}")), members)
        })
        .collect()
}

fn frame(group: &GroupId, seq: u64) -> OutFrame {
    OutFrame::encode(&ServerFrame::Message(StoredMessage {
        group_id: group.clone(),
        seq,
        sender_id: "u0".into(),
        client_msg_id: format!("c{seq}").into(),
        body: MessageBody::text("hello, group"),
        sent_at: 0,
    }))
}

async fn bench_push(shape: Shape) -> (u64, Duration) {
    let cm = Arc::new(ConnectionManager::new());
    let drained = Arc::new(Drained {
        frames: AtomicU64::new(0),
        expected: AtomicU64::new(u64::MAX),
        done: Notify::new(),
    });
    sessions(&cm, shape.sessions, &drained);
    let groups = Arc::new(groups(shape));
    let expected = (shape.messages * shape.group_size) as u64;
    drained.expected.store(expected, Ordering::Release);
    let start = Instant::now();
    // Two producers (one per core), each owning half of the groups.
    let mut producers = Vec::new();
    for half in 0..2 {
        let (cm, groups) = (cm.clone(), groups.clone());
        producers.push(tokio::spawn(async move {
            let mut delivered = 0;
            for i in (half..shape.messages).step_by(2) {
                let (group, members) = &groups[i % groups.len()];
                let f = frame(group, i as u64);
                delivered += fanout::push_to_users(&cm, members.iter(), &f).delivered;
                if i % 64 == 0 {
                    tokio::task::yield_now().await; // let the drainers run
                }
            }
            delivered
        }));
    }
    let mut pushed = 0;
    for p in producers {
        pushed += p.await.unwrap();
    }
    drained.wait(expected).await;
    let took = start.elapsed();
    cm.kick_all(im_core::CloseReason::Shutdown);
    assert_eq!(pushed as u64, expected, "every push accepted");
    (expected, took)
}

async fn bench_engine(shape: Shape) -> (u64, Duration) {
    let membership = Arc::new(InMemoryMembership::new());
    let mut config = EngineConfig::default();
    config.rate_limit = None;
    let engine = Engine::new(
        config,
        Arc::new(InMemoryStore::new()),
        membership.clone(),
        Arc::new(NoAuth),
    );
    let drained = Arc::new(Drained {
        frames: AtomicU64::new(0),
        expected: AtomicU64::new(u64::MAX),
        done: Notify::new(),
    });
    sessions(engine.connections(), shape.sessions, &drained);
    let groups = Arc::new(groups(shape));
    for (g, members) in groups.iter() {
        for m in members {
            membership.add(g.clone(), m.clone());
        }
    }
    let expected = (shape.messages * shape.group_size) as u64;
    drained.expected.store(expected, Ordering::Release);
    let body = MessageBody::text("hello, group");
    let start = Instant::now();
    let mut producers = Vec::new();
    for half in 0..2 {
        let (engine, groups, body) = (engine.clone(), groups.clone(), body.clone());
        producers.push(tokio::spawn(async move {
            for i in (half..shape.messages).step_by(2) {
                let (group, members) = &groups[i % groups.len()];
                let sender = &members[i % members.len()];
                engine
                    .send(sender, group, format!("c{i}").into(), body.clone())
                    .await
                    .unwrap();
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for p in producers {
        p.await.unwrap();
    }
    drained.wait(expected).await;
    let took = start.elapsed();
    engine.shutdown();
    (expected, took)
}

fn rate(n: u64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("fanout: in-process deliveries into session queues (2 worker threads; target >= 1,000,000/s)");
    println!();
    println!("| sessions | group size | messages | path | deliveries | time | deliveries/s |");
    println!("|---:|---:|---:|---|---:|---:|---:|");
    for shape in shapes() {
        let (n, took) = rt.block_on(bench_push(shape));
        println!(
            "| {} | {} | {} | fanout::push_to_users | {} | {:.3} s | {:.0} |",
            shape.sessions,
            shape.group_size,
            shape.messages,
            n,
            took.as_secs_f64(),
            rate(n, took)
        );
        let (n, took) = rt.block_on(bench_engine(shape));
        println!(
            "| {} | {} | {} | Engine::send (sequencer + in-memory store + fan-out) | {} | {:.3} s | {:.0} |",
            shape.sessions,
            shape.group_size,
            shape.messages,
            n,
            took.as_secs_f64(),
            rate(n, took)
        );
    }
}
