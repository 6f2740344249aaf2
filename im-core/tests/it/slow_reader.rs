//! A reader that never reads is cut off; another member keeps low latency and loses nothing.

use std::time::Duration;

use futures::SinkExt;
use im_core::protocol::{ClientFrame, ServerFrame};
use im_core::CloseReason;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{test_config, tiny_buffer_connect, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_is_cut_off_while_others_keep_their_latency() {
    let mut config = test_config();
    config.connection.outbound_limit_bytes = 256 * 1024;
    let server = TestServer::start(config).await;
    server.join("g", &["sender", "fast", "slow"]);

    // The slow member authenticates and then never reads.
    let mut slow = tiny_buffer_connect(server.addr).await.unwrap();
    slow.send(Message::Text(
        ClientFrame::Auth {
            token: "ok:slow".into(),
        }
        .to_json()
        .into(),
    ))
    .await
    .unwrap();
    let mut fast = server.client("fast").await;
    let mut sender = server.client("sender").await;
    server.wait_sessions("slow", 1).await;
    server.wait_sessions("fast", 1).await;

    const N: usize = 2000;
    let body = "x".repeat(4000);
    let sent_at = std::sync::Arc::new(std::sync::Mutex::new(Vec::with_capacity(N)));
    let stamps = sent_at.clone();
    let send_task = tokio::spawn(async move {
        for i in 0..N {
            stamps.lock().unwrap().push(Instant::now());
            sender.send_msg("g", &format!("m{i}"), &body).await;
            if i % 5 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        // Drain the sender's own copies and acks.
        let mut acks = 0;
        while acks < N {
            if let ServerFrame::SendOk { .. } = sender.next().await.unwrap() {
                acks += 1;
            }
        }
    });

    let mut latencies = Vec::with_capacity(N);
    for expected in 1..=N as u64 {
        let (frame, at) = fast.next_timed().await.unwrap();
        let ServerFrame::Message(m) = frame else {
            panic!("unexpected {frame:?}")
        };
        assert_eq!(m.seq, expected, "fast member saw a gap or reorder");
        let sent = sent_at.lock().unwrap()[(m.seq - 1) as usize];
        latencies.push(at.duration_since(sent));
    }
    send_task.await.unwrap();

    // The slow reader was disconnected as a slow consumer ...
    server.wait_sessions("slow", 0).await;
    server
        .wait_close_reason(&CloseReason::SlowConsumer, 1)
        .await;
    // ... and the fast member kept its latency.
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    eprintln!(
        "fast member p50 {:?} p99 {:?}",
        latencies[latencies.len() / 2],
        p99
    );
    assert!(p99 < Duration::from_millis(250), "p99 {p99:?}");
    drop(slow);
}
