#!/usr/bin/env bash
# Every benchmark, one command: the mq router and broker benchmarks, the im-core
# benchmarks (idle memory, in-process fan-out, loopback fan-out beside gorilla-hub), the
# fan-out micro protocol driven by loadgen against gorilla-hub and against im-core's
# relay server at the same offered load, and chat end to end (all-in-one; MariaDB +
# Redis Streams; MariaDB + Kafka). Writes the figures into docs/benchmarks.md between
# the "bench.sh" markers: one summary table (figure, target, reference measured in the
# same run, ratio), the machine, the date, then each benchmark's own tables.
#
#   scripts/bench.sh              # full size (about 20-30 minutes on 2 cores)
#   BENCH_SMOKE=1 scripts/bench.sh  # small sizes: checks that it all runs
#
# Either way the first run on a machine compiles the bench and release profiles
# (15-25 minutes on 2 cores, silently: cargo runs with -q); later runs reuse them.
#
# Not run by CI at full size (CI runs the smoke sizes of each part in scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/social-im-target}"
export CARGO_TERM_COLOR=never
out="${BENCH_OUT:-$(mktemp -d /tmp/social-im-bench.XXXXXX)}"
mkdir -p "$out"
smoke="${BENCH_SMOKE:-}"
if [ -n "$smoke" ]; then
  export MQ_BENCH_SMOKE=1 IM_BENCH_SMOKE=1
  e2e=(USERS=40 GROUP_COUNT=4 RATE=200 DURATION=3)
  micro_users=200 micro_groups=4 micro_rate=200 micro_duration=3
else
  e2e=(USERS=200 GROUP_COUNT=20 RATE=2000 DURATION=10)
  micro_users=1000 micro_groups=20 micro_rate=1000 micro_duration=10
fi
echo "results in $out"

# Kafka runs of the end-to-end part get a fresh broker each unless one is named here.
kafka_given="${MQ_TEST_KAFKA_BROKERS:-}"
# shellcheck source=scripts/services.sh
. scripts/services.sh
trap services_stop EXIT
services_start_redis
services_start_mysql
services_start_kafka

# gorilla-hub, the peer of the im-core loopback and micro-protocol parts: built once.
gorilla="${GORILLA_HUB_BIN:-$HOME/.cache/gorilla-hub}"
gorilla_build="${GORILLA_HUB_SRC:-../shared/peers/gorilla-hub}/build.sh"
if [ ! -x "$gorilla" ]; then
  if [ -x "$gorilla_build" ]; then
    "$gorilla_build" "$gorilla" || echo "gorilla-hub failed to build (no Go toolchain?)"
  else
    echo "gorilla-hub: no $gorilla and no $gorilla_build (set GORILLA_HUB_BIN or GORILLA_HUB_SRC)"
  fi
fi
export GORILLA_HUB_BIN="$gorilla"

echo "== mq: router throughput"
cargo bench -q -p mq --bench router_throughput | tee "$out/mq-router.md"
echo "== mq: brokers (Redis Streams, Kafka) beside the raw clients"
cargo bench -q -p mq --bench brokers --features redis,kafka | tee "$out/mq-brokers.md"
echo "== im-core: idle memory"
cargo bench -q -p im-core --bench idle_memory | tee "$out/im-idle.md"
echo "== im-core: in-process fan-out"
cargo bench -q -p im-core --bench fanout | tee "$out/im-fanout.md"
echo "== im-core: loopback fan-out beside gorilla-hub"
cargo bench -q -p im-core --bench loopback_fanout | tee "$out/im-loopback.md"

echo "== fan-out micro protocol under loadgen: gorilla-hub and im-core's relay"
cargo build -q --release -p loadgen
loadgen="$CARGO_TARGET_DIR/release/loadgen"
micro() { # name command...
  local name=$1 port
  shift
  port=$(free_port)
  "$@" "127.0.0.1:$port" >"$out/$name.server.log" 2>&1 &
  local pid=$!
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  "$loadgen" --protocol micro --server "http://127.0.0.1:$port" --users "$micro_users" \
    --groups "$micro_groups" --rate "$micro_rate" --duration "$micro_duration" --json \
    >"$out/$name.json" || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  cat "$out/$name.json"
}
if [ -x "$gorilla" ]; then
  micro micro-gorilla sh -c "ulimit -n 20000 2>/dev/null; exec \"$gorilla\" -addr \"\$0\""
else
  echo "gorilla-hub not built: its micro-protocol row is left out"
fi
relay_bin=$(cargo bench -q -p im-core --bench loopback_fanout --no-run --message-format=json 2>/dev/null |
  jq -r 'select(.executable != null and .target.name == "loopback_fanout") | .executable' | tail -1)
micro micro-relay sh -c "ulimit -n 20000 2>/dev/null; exec \"$relay_bin\" --serve \"\$0\""

echo "== chat end to end"
# name  shape  environment (see scripts/bench-e2e.sh)
e2e_runs=(
  "all-in-one|all-in-one|"
  "mariadb-redis-broadcast|mariadb-redis|ROUTING=broadcast PARTITIONS=16"
  "mariadb-redis-presence|mariadb-redis|ROUTING=presence PARTITIONS=16"
  "mariadb-kafka-broadcast|mariadb-kafka|ROUTING=broadcast PARTITIONS=4 KAFKA_ENGINE=memory"
  "mariadb-kafka-sqlite|mariadb-kafka|ROUTING=broadcast PARTITIONS=4 KAFKA_ENGINE=sqlite"
)
for run in "${e2e_runs[@]}"; do
  IFS='|' read -r name shape vars <<<"$run"
  # shellcheck disable=SC2086
  env "${e2e[@]}" $vars MQ_TEST_KAFKA_BROKERS="$kafka_given" LOADGEN_ARGS=--json \
    scripts/bench-e2e.sh "$shape" | tee "$out/e2e-$name.log"
  grep '^{' "$out/e2e-$name.log" | tail -1 >"$out/e2e-$name.json" || true
done

python3 scripts/bench_report.py "$out" docs/benchmarks.md ${smoke:+--smoke}
echo "docs/benchmarks.md updated from $out"
