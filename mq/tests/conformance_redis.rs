#![cfg(feature = "redis")]
//! The conformance suite on Redis Streams, against a real server
//! (`MQ_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use mq::backend::redis::{RedisBroker, RedisConfig};
use mq::conformance::{run_all, tests, Backend, Features};
use mq::{Error, Publisher, Subscriber};

const REDELIVERY_DELAY: Duration = Duration::from_millis(20);

fn config() -> RedisConfig {
    let mut cfg = RedisConfig::new(support::redis_url());
    cfg.redelivery_delay = REDELIVERY_DELAY;
    cfg.lease_ttl = Duration::from_secs(3);
    cfg.block = Duration::from_millis(200);
    cfg
}

/// Every `connect` makes a new client of the same server, as separate processes would.
struct Redis;

#[async_trait::async_trait]
impl Backend for Redis {
    async fn connect(&self) -> Result<(Arc<dyn Publisher>, Arc<dyn Subscriber>), Error> {
        let broker = RedisBroker::connect(config()).await?;
        Ok((Arc::new(broker.clone()), Arc::new(broker)))
    }
}

fn features() -> Features {
    Features::default()
        .with_redelivery_delay(REDELIVERY_DELAY)
        .with_partitions(config().partitions)
        .with_quiet_period(Duration::from_millis(300))
        .with_test_timeout(Duration::from_secs(90))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_against_a_real_server() {
    let report = run_all(&Redis, &features()).await;
    eprintln!("{report}");
    assert_eq!(report.results.len(), tests().len());
    assert!(report.passed(), "{report}");
}
