#!/usr/bin/env bash
# Start or stop the local ClickHouse server (Debian's clickhouse-server, not a system service here).
# `start` returns once it answers queries; `stop` once the process has exited. provision.sh starts
# it this way, and the durability test stops and starts it with the same commands.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
clickhouse_up() { clickhouse-client --host 127.0.0.1 --query "SELECT 1" >/dev/null 2>&1; }

case "${1:-}" in
  start)
    clickhouse_up && exit 0
    as_root mkdir -p /var/lib/clickhouse /var/log/clickhouse-server
    as_root chown -R clickhouse:clickhouse /var/lib/clickhouse /var/log/clickhouse-server 2>/dev/null || true
    as_root start-stop-daemon --start --oknodo --background --chuid clickhouse \
      --exec /usr/sbin/clickhouse-server -- --config-file=/etc/clickhouse-server/config.xml
    for _ in $(seq 300); do clickhouse_up && exit 0; sleep 0.2; done
    echo "ClickHouse did not come up within 60s" >&2; exit 1
    ;;
  stop)
    as_root start-stop-daemon --stop --oknodo --retry TERM/60/KILL/5 --exec /usr/sbin/clickhouse-server
    ;;
  *)
    echo "usage: $0 start|stop" >&2; exit 2
    ;;
esac
