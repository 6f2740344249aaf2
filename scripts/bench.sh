#!/usr/bin/env bash
# Every benchmark of the workspace, in the release (bench) profile, one after another.
# Each prints a Markdown table of its figures next to its targets and references;
# docs/benchmarks.md records the latest run and how to read it.
#
#   scripts/bench.sh                      # full run
#   MQ_BENCH_SMOKE=1 scripts/bench.sh     # tiny sizes: checks that everything runs
#
# The broker benchmarks talk to the Redis server in MQ_TEST_REDIS_URL and the Kafka broker
# in MQ_TEST_KAFKA_BROKERS; unset, they are started like scripts/test.sh does (see
# scripts/services.sh) and stopped at the end.
#
# Benchmarks are noisy on a busy machine: run them when nothing else is compiling.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/social-im-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# shellcheck source=scripts/services.sh
. scripts/services.sh
trap services_stop EXIT
services_start_redis
services_start_kafka

cpu="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)"
mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null || true)"
echo "== machine: $(nproc 2>/dev/null || echo '?') CPUs (${cpu:-unknown CPU}), ${mem:-? memory}"
echo "== date: $(date -u '+%Y-%m-%d %H:%M UTC'), load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

echo "== mq: router_throughput (in-memory router, broker publish, raw mpsc reference)"
cargo bench -q -p mq --bench router_throughput

echo "== mq: brokers (Redis Streams and Kafka publish/subscribe, raw client references)"
echo "== redis: $MQ_TEST_REDIS_URL ($(redis-cli -u "$MQ_TEST_REDIS_URL" info server 2>/dev/null | tr -d '\r' | grep -m1 '^redis_version:' || echo 'version unknown'))  kafka: $MQ_TEST_KAFKA_BROKERS"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
cargo bench -q -p mq --bench brokers --features redis,kafka

echo "== im-core: idle_memory (Engine, JSON protocol: idle authenticated WebSocket connections)"
cargo bench -q -p im-core --bench idle_memory

echo "== im-core: fanout (in-process deliveries into session queues)"
cargo bench -q -p im-core --bench fanout

echo "== im-core: loopback_fanout (loopback WebSockets, beside gorilla-hub; builds it if missing)"
cargo bench -q -p im-core --bench loopback_fanout

echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
