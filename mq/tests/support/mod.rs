//! Shared by the integration tests that need real servers.
#![allow(dead_code, clippy::expect_used)]

use std::time::{SystemTime, UNIX_EPOCH};

/// The Redis server of the test run (`MQ_TEST_REDIS_URL`; scripts/test.sh sets it).
pub(crate) fn redis_url() -> String {
    std::env::var("MQ_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The Kafka-protocol broker of the test run (`MQ_TEST_KAFKA_BROKERS`; scripts/test.sh
/// starts a tansu broker and sets it).
pub(crate) fn kafka_brokers() -> String {
    std::env::var("MQ_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A name no other test run uses.
pub(crate) fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{nanos:x}-{}", std::process::id())
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub(crate) async fn wait_for_port(port: u16, within: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on port {port}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
