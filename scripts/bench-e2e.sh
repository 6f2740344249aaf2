#!/usr/bin/env bash
# End-to-end chat benchmark: starts a deployment from the release binaries and drives it
# with loadgen at a fixed offered load, then stops it. Shapes:
#   all-in-one       the zero-config server (SQLite, in-memory broker)
#   mariadb-redis    user, activity, two IM nodes and the gateway on MariaDB + Redis Streams
#   mariadb-kafka    the same on MariaDB + Kafka (tansu), presence in Redis
#
#   scripts/bench-e2e.sh [SHAPE...]            # default: all three
#   USERS=200 GROUP_COUNT=20 RATE=2000 DURATION=10 scripts/bench-e2e.sh mariadb-redis
#
# PARTITIONS: streams/partitions per topic (default 4); ROUTING: how the IM nodes get
# stored messages, presence (default) or broadcast (im.push_routing). Kafka: a fresh
# tansu broker per run unless MQ_TEST_KAFKA_BROKERS names one, with KAFKA_ENGINE memory
# (default) or sqlite; FETCH_WAIT_MS (default 10: tansu holds every fetch this long)
# and LINGER_MS (default 1) set broker.fetch_wait_ms and broker.linger_ms.
# LOADGEN_ARGS: extra loadgen flags (e.g. --json).
#
# Offered deliveries/s = RATE x members per group (USERS / GROUP_COUNT).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/social-im-target}"
USERS="${USERS:-200}" GROUP_COUNT="${GROUP_COUNT:-20}" RATE="${RATE:-2000}" DURATION="${DURATION:-10}"
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(all-in-one mariadb-redis mariadb-kafka)

# shellcheck source=scripts/services.sh
. scripts/services.sh
cleanup() {
  # stop_all is defined further down: an exit before that (a failed build, Ctrl-C)
  # still stops the shared services.
  if declare -F stop_all >/dev/null; then stop_all; fi
  services_stop
}
trap cleanup EXIT
kafka_given="${MQ_TEST_KAFKA_BROKERS:-}"
services_start_redis
services_start_mysql

cargo build -q --release -p bins --bins -p loadgen
bin="$CARGO_TARGET_DIR/release"
secret="bench-secret-bench-secret-bench-secret-01"

# Starts BINARY in the current environment (its pid in a file, since this runs in a
# command substitution); prints its HTTP URL once it listens.
start() { # name binary
  local out="$SERVICES_DIR/$1.out"
  "$2" >"$out" 2>"$SERVICES_DIR/$1.err" &
  echo $! >"$SERVICES_DIR/$1.pid"
  local i
  for i in $(seq 1 300); do
    if grep -q 'http://' "$out" 2>/dev/null; then break; fi
    sleep 0.1
  done
  grep -o 'http://[0-9.:]*' "$out" | head -1
}

# --watch NAME=PID for every process of the run and the shared servers: loadgen reports
# their CPU seconds over the send window (setup excluded).
watch_args() {
  local f name pid
  for f in "$SERVICES_DIR"/*.pid; do
    [ -e "$f" ] || continue
    echo "--watch $(basename "$f" .pid)=$(cat "$f")"
  done
  for name in mariadbd redis-server; do
    pid=$(pgrep -x "$name" | head -1 || true)
    [ -n "$pid" ] && echo "--watch $name=$pid"
  done
  if [ -n "$kafka_given" ]; then
    pid=$(pgrep -x tansu | head -1 || true)
    [ -n "$pid" ] && echo "--watch tansu=$pid"
  fi
  true
}

# A fresh tansu broker (engine $KAFKA_ENGINE) on a free port, stopped with the run;
# prints its address.
fresh_tansu() {
  if ! command -v tansu >/dev/null 2>&1; then
    echo "installing the tansu broker into ~/.cargo/bin (once per machine, about 8 minutes)" >&2
    cargo install tansu --locked --features dynostore,libsql >&2
  fi
  local port dir engine
  port="$(free_port)"
  dir="$SERVICES_DIR/tansu-$port"
  mkdir -p "$dir"
  case "${KAFKA_ENGINE:-memory}" in
    memory) engine="memory://tansu/" ;;
    sqlite) engine="sqlite://tansu.db" ;;
    *) echo "KAFKA_ENGINE must be memory or sqlite" >&2; return 2 ;;
  esac
  (cd "$dir" && exec tansu broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine "$engine" >"$dir/log" 2>&1) &
  echo $! >"$SERVICES_DIR/tansu.pid"
  wait_for_port 127.0.0.1 "$port" 30 >&2
  echo "127.0.0.1:$port"
}

stop_all() {
  # The servers first (SIGTERM: a graceful shutdown, 10 s at most, then SIGKILL, so
  # that nothing of one run is left to load the next), the broker last.
  local f i alive pids=()
  for f in "$SERVICES_DIR"/*.pid; do
    [ -e "$f" ] || continue
    [ "$(basename "$f")" = tansu.pid ] && continue
    pids+=("$(cat "$f")")
    rm -f "$f"
  done
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  for i in $(seq 1 100); do
    alive=0
    for f in "${pids[@]}"; do kill -0 "$f" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  if [ "${alive:-0}" = 1 ]; then
    echo "a server outlived 10 s after SIGTERM: killed" >&2
    kill -9 "${pids[@]}" 2>/dev/null || true
  fi
  if [ -e "$SERVICES_DIR/tansu.pid" ]; then
    kill "$(cat "$SERVICES_DIR/tansu.pid")" 2>/dev/null || true
    rm -f "$SERVICES_DIR/tansu.pid"
  fi
  sleep 1
}

three_servers() { # broker env...
  local db="bench_$(date +%s%N)"
  mariadb -uroot -h127.0.0.1 -e "CREATE DATABASE $db CHARACTER SET utf8mb4"
  export SOCIAL_IM_DATABASE__URL="$DATABASE_URL_MYSQL/$db" SOCIAL_IM_AUTH__JWT_SECRET="$secret"
  export SOCIAL_IM_IM__PRESENCE_REDIS_URL="$MQ_TEST_REDIS_URL" SOCIAL_IM_IM__PRESENCE_KEY_PREFIX="bench-$db:"
  export SOCIAL_IM_IM__PUSH_ROUTING="${ROUTING:-presence}"
  export SOCIAL_IM_IM__SENDS_PER_SECOND=1000 SOCIAL_IM_IM__SEND_BURST=1000
  export SOCIAL_IM_HTTP__LISTEN=127.0.0.1:0 SOCIAL_IM_GRPC__LISTEN=127.0.0.1:0 RUST_LOG=warn
  local users activities im1 im2 gw
  users=$(start users "$bin/user-server")
  activities=$(start activities "$bin/activity-server")
  local user_grpc
  user_grpc="http://$(grep -o 'gRPC on [0-9.:]*' "$SERVICES_DIR/users.out" | awk '{print $3}')"
  im1=$(SOCIAL_IM_IM__NODE_ID=im-1 SOCIAL_IM_SERVICES__USER_GRPC="$user_grpc" start im1 "$bin/im-server")
  im2=$(SOCIAL_IM_IM__NODE_ID=im-2 SOCIAL_IM_SERVICES__USER_GRPC="$user_grpc" start im2 "$bin/im-server")
  printf '[http]\nlisten = "127.0.0.1:0"\n[gateway]\nusers = "%s"\nactivities = "%s"\nim = ["%s", "%s"]\n' \
    "$users" "$activities" "$im1" "$im2" >"$SERVICES_DIR/gateway.toml"
  gw=$(SOCIAL_IM_CONFIG="$SERVICES_DIR/gateway.toml" start gateway "$bin/gateway")
  echo "$gw"
}

for shape in "${shapes[@]}"; do
  echo "== $shape: $USERS users, $GROUP_COUNT groups, $RATE msg/s for $DURATION s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  case "$shape" in
    all-in-one)
      dir="$SERVICES_DIR/aio"; mkdir -p "$dir"
      base=$(cd "$dir" && SOCIAL_IM_HTTP__LISTEN=127.0.0.1:0 SOCIAL_IM_GRPC__LISTEN=127.0.0.1:0 \
        SOCIAL_IM_IM__SENDS_PER_SECOND=1000 SOCIAL_IM_IM__SEND_BURST=1000 RUST_LOG=warn \
        start aio "$bin/social-im") ;;
    mariadb-redis)
      base=$(SOCIAL_IM_BROKER__KIND=redis SOCIAL_IM_BROKER__URL="$MQ_TEST_REDIS_URL" \
        SOCIAL_IM_BROKER__KEY_PREFIX="bench-$(date +%s%N):" SOCIAL_IM_BROKER__PARTITIONS="${PARTITIONS:-4}" three_servers) ;;
    mariadb-kafka)
      kafka="${kafka_given:-$(fresh_tansu)}"
      if [ -n "$kafka_given" ]; then
        echo "kafka: $kafka (given)"
      else
        echo "kafka: $kafka (a fresh tansu, ${KAFKA_ENGINE:-memory} engine)"
      fi
      base=$(SOCIAL_IM_BROKER__KIND=kafka SOCIAL_IM_BROKER__BROKERS="$kafka" \
        SOCIAL_IM_BROKER__TOPIC_PREFIX="bench-$(date +%s%N)." SOCIAL_IM_BROKER__PARTITIONS="${PARTITIONS:-4}" \
        SOCIAL_IM_BROKER__FETCH_WAIT_MS="${FETCH_WAIT_MS:-10}" SOCIAL_IM_BROKER__LINGER_MS="${LINGER_MS:-1}" three_servers) ;;
    *) echo "unknown shape $shape" >&2; exit 2 ;;
  esac
  # shellcheck disable=SC2046
  "$bin/loadgen" --server "$base" --users "$USERS" --groups "$GROUP_COUNT" --rate "$RATE" \
    --duration "$DURATION" $(watch_args) ${LOADGEN_ARGS:-} || true
  stop_all
done
