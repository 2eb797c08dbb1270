#!/usr/bin/env bash
# A throwaway two-shard ClickHouse cluster on this machine, to test the cluster layout of the
# analytics schema (tests/integration/test_clickhouse_cluster.py): Debian's ZooKeeper (package
# `zookeeper`, installed if missing) and two clickhouse-server processes of the local package,
# shard 01 on port 19000 and shard 02 on 29000, cluster name `analytics_cluster`. State lives in
# CLUSTER_DIR (default .state/clickhouse-cluster); nothing touches the local server on 9000.
#   bash scripts/clickhouse_cluster.sh start    (prints the test's environment)
#   bash scripts/clickhouse_cluster.sh stop     (stops the three processes, deletes the state)
set -euo pipefail

DIR="$(realpath -m "${CLUSTER_DIR:-.state/clickhouse-cluster}")"
ZK_PORT="${CLUSTER_ZK_PORT:-12181}"
PORTS=(19000 29000)
up() { clickhouse-client --host 127.0.0.1 --port "$1" --query "SELECT 1" >/dev/null 2>&1; }

server_config() {  # shard number, tcp port
  local shard="$1" port="$2" home="$DIR/ch$1"
  cat <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$home/server.log</log><errorlog>$home/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$port</tcp_port>
  <http_port>$((port - 878))</http_port>
  <interserver_http_port>$((port + 9))</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <max_concurrent_queries>20</max_concurrent_queries>
  <mark_cache_size>53687091</mark_cache_size>
  <path>$home/data/</path>
  <tmp_path>$home/tmp/</tmp_path>
  <user_files_path>$home/user_files/</user_files_path>
  <users_config>/etc/clickhouse-server/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <remote_servers>
    <analytics_cluster>
$(for p in "${PORTS[@]}"; do echo "      <shard><internal_replication>true</internal_replication><replica><host>127.0.0.1</host><port>$p</port></replica></shard>"; done)
    </analytics_cluster>
  </remote_servers>
  <zookeeper><node><host>127.0.0.1</host><port>$ZK_PORT</port></node></zookeeper>
  <macros><shard>0$shard</shard><replica>ch$shard</replica></macros>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
</yandex>
XML
}

start() {
  if [ ! -x /usr/share/zookeeper/bin/zkServer.sh ]; then
    apt-get install -y --no-install-recommends zookeeper >/dev/null
  fi
  mkdir -p "$DIR/zk/data"
  printf 'tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n' \
    "$DIR/zk/data" "$ZK_PORT" > "$DIR/zk/zoo.cfg"
  if [ ! -f "$DIR/zk/pid" ] || ! kill -0 "$(cat "$DIR/zk/pid")" 2>/dev/null; then
    ZOOCFGDIR="$DIR/zk" ZOO_LOG_DIR="$DIR/zk" nohup /usr/share/zookeeper/bin/zkServer.sh \
      start-foreground "$DIR/zk/zoo.cfg" >"$DIR/zk/out.log" 2>&1 &
    echo $! > "$DIR/zk/pid"
  fi
  for shard in 1 2; do
    local port="${PORTS[$((shard - 1))]}" home="$DIR/ch$shard"
    up "$port" && continue
    mkdir -p "$home/data" "$home/tmp" "$home/user_files"
    server_config "$shard" "$port" > "$home/config.xml"
    nohup clickhouse-server --config-file="$home/config.xml" >"$home/out.log" 2>&1 &
    echo $! > "$home/pid"
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 300); do up "$port" && break; sleep 0.2; done
    up "$port" || { echo "ClickHouse on $port did not come up (see $DIR)" >&2; exit 1; }
  done
  for _ in $(seq 150); do
    clickhouse-client --port "${PORTS[0]}" -q "SELECT count() FROM system.zookeeper WHERE path = '/'" \
      >/dev/null 2>&1 && break
    sleep 0.2
  done
  echo "TEST_CLICKHOUSE_CLUSTER=analytics_cluster"
  echo "TEST_CLICKHOUSE_CLUSTER_URLS=clickhouse://default@127.0.0.1:${PORTS[0]}/analytics_cluster_test,clickhouse://default@127.0.0.1:${PORTS[1]}/analytics_cluster_test"
}

stop() {
  for pidfile in "$DIR"/ch*/pid "$DIR"/zk/pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true  # a server may hang on shutdown waiting for ZooKeeper
    rm -f "$pidfile"
  done
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
