#!/usr/bin/env bash
# Starts the local PostgreSQL and Redis that the tests use, when they are not answering, and waits
# until both answer. Never stops or restarts a server that is up (others may be using it).
# Usage: scripts/services.sh   (SERVICES_TIMEOUT=60 seconds by default; SERVICES_REDIS_PORT=6379)
set -euo pipefail

timeout=${SERVICES_TIMEOUT:-60}
pg_host=127.0.0.1
pg_port=5432
redis_port=${SERVICES_REDIS_PORT:-6379}

fail() {
  printf 'services: %s\n' "$*" >&2
  exit 1
}

# pg_isready: 0 accepting, 1 rejecting (starting up or shutting down), 2 no response, 3 bad call.
pg_state() {
  local code=0
  pg_isready -q -h "$pg_host" -p "$pg_port" || code=$?
  echo "$code"
}

redis_up() {
  [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ]
}

command -v pg_isready >/dev/null || fail 'pg_isready not found: install PostgreSQL (apt-get install postgresql)'
command -v redis-cli >/dev/null || fail 'redis-cli not found: install Redis (apt-get install redis-server)'

if [ "$(pg_state)" = 2 ]; then
  [ -d /etc/postgresql ] || fail 'PostgreSQL is not answering and no cluster is configured (/etc/postgresql is missing)'
  for version in $(ls /etc/postgresql); do
    echo "services: starting PostgreSQL $version/main"
    # "already running" (e.g. still starting up) is not an error: the wait below decides.
    pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
      echo "services: pg_ctlcluster $version main start failed; waiting in case it is starting" >&2
  done
fi

if ! redis_up; then
  command -v redis-server >/dev/null || fail 'Redis is not answering and redis-server is not installed'
  echo "services: starting Redis on 127.0.0.1:$redis_port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no ||
    echo 'services: redis-server failed to start; waiting in case another one is starting' >&2
fi

deadline=$((SECONDS + timeout))
until [ "$(pg_state)" = 0 ] && redis_up; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    [ "$(pg_state)" = 0 ] ||
      fail "PostgreSQL is not accepting connections on $pg_host:$pg_port after ${timeout}s (see /var/log/postgresql/)"
    fail "Redis is not answering PING on 127.0.0.1:$redis_port after ${timeout}s"
  fi
  sleep 0.5
done
echo "services: PostgreSQL ($pg_host:$pg_port) and Redis (127.0.0.1:$redis_port) are up"
