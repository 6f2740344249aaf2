#!/usr/bin/env bash
# Sourced by scripts/test.sh: makes sure the servers the tests talk to are running and
# exports where they are. A variable that is already set is trusted as it is.
#   MQ_TEST_REDIS_URL      Redis (default: the local server on 6379, started if down)
#   MQ_TEST_KAFKA_BROKERS  a Kafka-protocol broker (default: a tansu broker started here)
#   DATABASE_URL_MYSQL     MariaDB/MySQL, without a database part (default: the local
#                          server on 3306 as root, started if down)
# Whatever this script starts is stopped by `services_stop` (test.sh traps EXIT).

SERVICES_DIR="$(mktemp -d "${TMPDIR:-/tmp}/social-im-services.XXXXXX")"
SERVICES_PIDS=()

wait_for_port() { # host port seconds
  local deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "nothing listens on $1:$2 after $3 s" >&2
      return 1
    fi
    sleep 0.2
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

services_start_redis() {
  if [ -n "${MQ_TEST_REDIS_URL:-}" ]; then return; fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "starting redis-server on 6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir "$SERVICES_DIR" --logfile "$SERVICES_DIR/redis.log"
    wait_for_port 127.0.0.1 6379 20
  fi
  export MQ_TEST_REDIS_URL="redis://127.0.0.1:6379"
}

services_start_mysql() {
  if [ -n "${DATABASE_URL_MYSQL:-}" ]; then return; fi
  if ! (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; then
    if [ -x /usr/sbin/mariadbd ]; then
      echo "starting mariadbd on 3306"
      start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
      wait_for_port 127.0.0.1 3306 60
    else
      echo "no MySQL/MariaDB on 127.0.0.1:3306 and no /usr/sbin/mariadbd: set DATABASE_URL_MYSQL" >&2
      return 1
    fi
  fi
  export DATABASE_URL_MYSQL="mysql://root@127.0.0.1:3306"
}

services_start_kafka() {
  if [ -n "${MQ_TEST_KAFKA_BROKERS:-}" ]; then return; fi
  if ! command -v tansu >/dev/null 2>&1; then
    echo "installing the tansu broker into ~/.cargo/bin (once per machine, about 8 minutes)"
    cargo install tansu --locked --features dynostore,libsql
  fi
  local port
  port="$(free_port)"
  mkdir -p "$SERVICES_DIR/tansu"
  # The sqlite engine: durable across restarts, and it serves fetches from any offset
  # (tansu 0.6's memory engine returns nothing for an offset inside a record batch).
  (cd "$SERVICES_DIR/tansu" && exec tansu broker \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "sqlite://tansu.db" >"$SERVICES_DIR/tansu.log" 2>&1) &
  SERVICES_PIDS+=($!)
  wait_for_port 127.0.0.1 "$port" 30
  echo "tansu broker on 127.0.0.1:$port (log: $SERVICES_DIR/tansu.log)"
  export MQ_TEST_KAFKA_BROKERS="127.0.0.1:$port"
}

services_stop() {
  for pid in "${SERVICES_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  rm -rf "$SERVICES_DIR"
}
