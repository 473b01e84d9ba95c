#!/usr/bin/env bash
# A throwaway Citus cluster on loopback: a coordinator and two workers, for trying the project on Citus
# (docs/citus.md). Needs PostgreSQL 15 with the Citus extension installed (built by hand, see the doc);
# nothing in the build or the test suite needs it.
#
#   test/support/citus-cluster.sh start [DIR] [FIRST_PORT]   # coordinator on FIRST_PORT, workers on +1, +2
#   test/support/citus-cluster.sh stop  [DIR]
#
# Defaults: DIR=/tmp/citus-cluster/nodes, FIRST_PORT=55430. Trust authentication on 127.0.0.1 only.
# As root the servers run as the `postgres` OS user.
set -euo pipefail

command=${1:?usage: citus-cluster.sh start|stop [DIR] [FIRST_PORT]}
dir=${2:-/tmp/citus-cluster/nodes}
first_port=${3:-55430}
bin=${PG_BIN:-$(pg_config --bindir)}
nodes=(coordinator worker1 worker2)

as_db_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$command" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  for i in "${!nodes[@]}"; do
    node=${nodes[$i]}
    port=$((first_port + i))
    if [ ! -d "$dir/$node" ]; then
      as_db_user "$bin/initdb" -D "$dir/$node" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
      cat >>"$dir/$node/postgresql.conf" <<CONF
shared_preload_libraries = 'citus'
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
max_connections = 300
max_prepared_transactions = 200
citus.max_client_connections = 250
CONF
    fi
    as_db_user "$bin/pg_ctl" -D "$dir/$node" -w -l "$dir/$node.log" start >/dev/null
  done
  # Citus keeps its metadata per database: the `postgres` database is the one the nodes are registered in.
  psql="psql -X -q -v ON_ERROR_STOP=1 -U postgres -h 127.0.0.1 -d postgres"
  for i in "${!nodes[@]}"; do $psql -p $((first_port + i)) -c 'CREATE EXTENSION IF NOT EXISTS citus'; done
  $psql -p "$first_port" -c "SELECT citus_set_coordinator_host('127.0.0.1', $first_port)" >/dev/null
  for i in 1 2; do
    $psql -p "$first_port" -c "SELECT citus_add_node('127.0.0.1', $((first_port + i)))" >/dev/null
  done
  $psql -p "$first_port" -c 'SELECT nodename, nodeport, noderole FROM pg_dist_node ORDER BY nodeport'
  ;;
stop)
  for node in "${nodes[@]}"; do
    [ -d "$dir/$node" ] && as_db_user "$bin/pg_ctl" -D "$dir/$node" -w -m fast stop >/dev/null || true
  done
  ;;
*)
  echo "usage: citus-cluster.sh start|stop [DIR] [FIRST_PORT]" >&2
  exit 64
  ;;
esac
