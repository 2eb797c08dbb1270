#!/usr/bin/env bash
# Make this machine ready to run and test the stack. Idempotent: every step checks first.
#  - PostgreSQL, Redis, RabbitMQ: install Debian's packages if absent (a fresh machine), start if
#    down; let the `postgres` role in over loopback when a fresh cluster refuses it (the databases
#    themselves are created by scripts/migrate.py); RabbitMQ's management API (nameko's test
#    fixtures create vhosts through it)
#  - ClickHouse: install Debian's clickhouse-server if absent, start if down
#  - wrk (benchmarks): install if absent
#  - chromium (the e2e test that renders /api/v1/docs in a headless browser): install if absent
#  - ops checks (make ops-check): deck (Kong config), docker-compose (compose config without an
#    engine), prometheus (promtool, and the server for make dashboards-check); kubectl comes from
#    the machine image or Debian when available
#  - RabbitMQ's Prometheus endpoint (:15692) for the backlog metrics and alerts
#  - test tools: pgbouncer (the rendered PgBouncer config against the local PostgreSQL) and luajit
#    (Kong's post-function Lua); ZooKeeper only with scripts/clickhouse_cluster.sh
# Needs root for apt-get and for starting system services (the CI and dev machines run as root).
#   bash scripts/provision.sh            everything
#   bash scripts/provision.sh python     only what `make venv` needs (python3-venv)
# PROVISION_DRY_RUN=1 prints the Debian packages it would install and stops (tests use it).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[provision] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

wait_for() { # name, seconds, command...
  local name=$1 seconds=$2; shift 2
  for _ in $(seq "$((seconds * 5))"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "$name did not come up within ${seconds}s"; return 1
}

APT_UPDATED=
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What a fresh Debian lacks, by the commands this script and the stack use.
missing_packages() {
  local -A wanted=(
    [pg_ctlcluster]=postgresql [pg_isready]=postgresql-client [psql]=postgresql-client
    [redis-server]=redis-server [redis-cli]=redis-tools
    [rabbitmq-server]=rabbitmq-server [curl]=curl [setpriv]=util-linux
  )
  local command packages=()
  for command in "${!wanted[@]}"; do
    command -v "$command" >/dev/null 2>&1 || packages+=("${wanted[$command]}")
  done
  if [ "${1:-}" = python ] || [ ${#packages[@]} -gt 0 ]; then
    python3 -c 'import ensurepip' >/dev/null 2>&1 || packages+=(python3-venv)
  fi
  [ ${#packages[@]} -eq 0 ] || printf '%s\n' "${packages[@]}" | sort -u
}

if [ "${1:-}" = python ]; then
  mapfile -t packages < <(python3 -c 'import ensurepip' >/dev/null 2>&1 || echo python3-venv)
  if [ -n "${PROVISION_DRY_RUN:-}" ]; then printf '%s\n' "${packages[@]}"; exit 0; fi
  [ ${#packages[@]} -eq 0 ] || apt_install "${packages[@]}"
  exit 0
fi
mapfile -t packages < <(missing_packages)
if [ -n "${PROVISION_DRY_RUN:-}" ]; then
  [ ${#packages[@]} -eq 0 ] || printf '%s\n' "${packages[@]}"
  exit 0
fi
if [ ${#packages[@]} -gt 0 ]; then
  apt_install "${packages[@]}"
fi

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }
if ! pg_up; then
  log "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  wait_for PostgreSQL 30 pg_up
fi
# config.yml's default DATABASE_URL is postgres@127.0.0.1 without a password; a fresh Debian
# cluster asks for one over TCP. Let that role in from loopback only (a development machine).
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
  cluster=$(ls /etc/postgresql | sort -V | tail -1)
  hba=/etc/postgresql/$cluster/main/pg_hba.conf
  log "letting the postgres role in over loopback ($hba)"
  as_root sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$cluster" main reload
  wait_for "PostgreSQL (postgres role)" 30 psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SELECT 1'
fi

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG; }
if ! redis_up; then
  log "starting Redis"
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 30 redis_up
fi

rabbit_up() { as_root rabbitmqctl -q status; }
if ! rabbit_up >/dev/null 2>&1; then
  log "starting RabbitMQ"
  as_root rabbitmq-server -detached
  wait_for RabbitMQ 90 rabbit_up
fi
as_root rabbitmqctl -q await_startup >/dev/null
if ! as_root rabbitmq-plugins list -e -m 2>/dev/null | grep -qx rabbitmq_management; then
  log "enabling the RabbitMQ management API (nameko's test fixtures create vhosts through it)"
  as_root rabbitmq-plugins enable rabbitmq_management >/dev/null
fi
wait_for "RabbitMQ management API" 60 curl -sf -u guest:guest http://127.0.0.1:15672/api/overview
if ! as_root rabbitmq-plugins list -e -m 2>/dev/null | grep -qx rabbitmq_prometheus; then
  log "enabling RabbitMQ's Prometheus endpoint (:15692, queue backlog metrics)"
  as_root rabbitmq-plugins enable rabbitmq_prometheus >/dev/null
fi

# ClickHouse: Debian ships 18.16; the analytics DDL stays compatible with it.
apt_install clickhouse-server clickhouse-client wrk
apt_install deck docker-compose prometheus
apt_install pgbouncer luajit
# Headless browser for the API docs e2e test (tests/e2e/test_api_docs.py); skipped when present.
apt_install chromium
clickhouse_up() { clickhouse-client --host 127.0.0.1 --query "SELECT 1"; }
if ! clickhouse_up >/dev/null 2>&1; then
  log "starting ClickHouse"
  bash scripts/clickhouse.sh start
fi

log "PostgreSQL, Redis, RabbitMQ and ClickHouse are up"
