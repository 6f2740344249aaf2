//! Where no server is named and a Docker engine answers (a contributor's laptop), the
//! tests start Redis and Kafka in containers with testcontainers, once per test binary.
//! CI and `scripts/test.sh` name their local servers, so this never runs there.

use std::sync::OnceLock;

use testcontainers_modules::kafka::apache;
use testcontainers_modules::redis::{Redis, REDIS_PORT};
use testcontainers_modules::testcontainers::runners::SyncRunner;
use testcontainers_modules::testcontainers::{Container, ImageExt};

/// Containers live as long as the test process (statics are never dropped; Docker
/// removes them with `--rm` semantics when the reaper runs, or `docker rm -f` by hand).
static REDIS: OnceLock<Option<(Container<Redis>, String)>> = OnceLock::new();
static KAFKA: OnceLock<Option<(Container<apache::Kafka>, String)>> = OnceLock::new();

fn docker_answers() -> bool {
    std::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Runs `start` on a plain thread: the blocking runner makes its own runtime, which
/// must not happen on a tokio worker.
fn on_thread<T: Send + 'static>(start: impl FnOnce() -> Option<T> + Send + 'static) -> Option<T> {
    std::thread::spawn(start).join().ok().flatten()
}

/// The URL of a Redis container, if Docker can run one.
pub(crate) fn redis_url() -> Option<String> {
    REDIS
        .get_or_init(|| {
            if !docker_answers() {
                return None;
            }
            on_thread(|| {
                let container = Redis::default().with_tag("7.2").start().ok()?;
                let port = container.get_host_port_ipv4(REDIS_PORT).ok()?;
                Some((container, format!("redis://127.0.0.1:{port}")))
            })
        })
        .as_ref()
        .map(|(_, url)| url.clone())
}

/// The bootstrap servers of a Kafka container, if Docker can run one.
pub(crate) fn kafka_brokers() -> Option<String> {
    KAFKA
        .get_or_init(|| {
            if !docker_answers() {
                return None;
            }
            on_thread(|| {
                let container = apache::Kafka::default().start().ok()?;
                let port = container.get_host_port_ipv4(apache::KAFKA_PORT).ok()?;
                Some((container, format!("127.0.0.1:{port}")))
            })
        })
        .as_ref()
        .map(|(_, brokers)| brokers.clone())
}
