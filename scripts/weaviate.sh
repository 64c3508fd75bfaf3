#!/usr/bin/env bash
# Runs a real Weaviate server (one node or a cluster) for mmrag's Weaviate
# store and its tests (weaviate/weaviate_test.go).
#
#   scripts/weaviate.sh build          build weaviate-server if missing
#   scripts/weaviate.sh start [N]      start N nodes (default 1), wait until ready,
#                                      print `export …` lines
#   scripts/weaviate.sh stop           stop every node, remove the namespace
#   scripts/weaviate.sh status         one line per node
#   scripts/weaviate.sh env            the `export …` lines of the running nodes
#   scripts/weaviate.sh kill I         SIGKILL node I (fault tests)
#   scripts/weaviate.sh restart I      start node I again with its data, wait until ready
#   scripts/weaviate.sh exec CMD…      run CMD inside the namespace, environment set
#   scripts/weaviate.sh wipe           stop, then delete the nodes' data
#
# Typical use (root):
#   scripts/weaviate.sh start
#   go test -c -o /tmp/weaviate.test ./weaviate/
#   scripts/weaviate.sh exec sh -c 'cd weaviate && /tmp/weaviate.test -test.v'
#   scripts/weaviate.sh stop
#
# Weaviate's gRPC, cluster (gossip, data, Raft) and profiling ports bind every
# interface whatever its flags, so every node runs inside the network
# namespace $MMRAG_WEAVIATE_NETNS (default mmrag-wv), which has only a
# loopback interface: nothing is reachable from outside the machine, nor from
# the machine itself except through `ip netns exec` (the exec subcommand).
# Creating the namespace needs root.
#
# The binary is built from the Go module proxy (go install
# github.com/weaviate/weaviate/cmd/weaviate-server@v1.35.2, about 5 min on
# 2 cores) into $MMRAG_HOME/tools/weaviate-v$VERSION/bin, under
# flock /tmp/heavy-build.lock so that it never overlaps another heavy build.
# Node i (0-based) listens on REST 8080+i and gRPC 50051+i; its data lives in
# $MMRAG_HOME/weaviate-run/node-i. Clusters (N > 1) join through Raft on
# 127.0.0.1; collections choose their replication factor (mmrag:
# weaviate.Config.Replication).
set -euo pipefail
cd "$(dirname "$0")/.."

version=${WEAVIATE_VERSION:-1.35.2}
home=${MMRAG_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/mmrag}
bindir=$home/tools/weaviate-v$version/bin
bin=$bindir/weaviate-server
netns=${MMRAG_WEAVIATE_NETNS:-mmrag-wv}
state=$home/weaviate-run

log() { echo "weaviate.sh: $*" >&2; }

build() {
  if [[ -x $bin ]]; then
    return
  fi
  mkdir -p "$bindir"
  log "building weaviate-server v$version into $bindir (about 5 min on 2 cores; waits for /tmp/heavy-build.lock)"
  local t0=$SECONDS
  (cd /tmp && flock /tmp/heavy-build.lock env GOBIN="$bindir" GOFLAGS=-buildvcs=false \
    go install "github.com/weaviate/weaviate/cmd/weaviate-server@v$version")
  log "built $bin in $((SECONDS - t0)) s ($(du -h "$bin" | cut -f1))"
}

in_ns() { ip netns exec "$netns" "$@"; }

ensure_ns() {
  if ! ip netns list | grep -qw "^$netns"; then
    ip netns add "$netns"
  fi
  in_ns ip link set lo up
}

http_port() { echo $((8080 + $1)); }
grpc_port() { echo $((50051 + $1)); }
gossip_port() { echo $((7100 + 10 * $1)); }
raft_port() { echo $((8300 + 10 * $1)); }

nodes() { cat "$state/nodes" 2>/dev/null || echo 0; }

pid_of() { cat "$state/node-$1/pid" 2>/dev/null || true; }

alive() {
  local pid
  pid=$(pid_of "$1")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

ready() {
  in_ns curl -fsS --max-time 2 "http://127.0.0.1:$(http_port "$1")/v1/.well-known/ready" >/dev/null 2>&1
}

start_node() {
  local i=$1 n=$2 dir=$state/node-$1
  mkdir -p "$dir/data"
  local -a env=(
    PERSISTENCE_DATA_PATH="$dir/data"
    DEFAULT_VECTORIZER_MODULE=none
    ENABLE_MODULES=
    AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true
    DISABLE_TELEMETRY=true
    QUERY_MAXIMUM_RESULTS=10000
    LOG_LEVEL=warning
    CLUSTER_HOSTNAME="node-$i"
    GRPC_PORT="$(grpc_port "$i")"
    CLUSTER_GOSSIP_BIND_PORT="$(gossip_port "$i")"
    CLUSTER_DATA_BIND_PORT="$(($(gossip_port "$i") + 1))"
    RAFT_PORT="$(raft_port "$i")"
    RAFT_INTERNAL_RPC_PORT="$(($(raft_port "$i") + 1))"
    GO_PROFILING_PORT="$((6060 + i))"
    # The namespace has no private address to advertise: stay on loopback.
    CLUSTER_IN_LOCALHOST=true
    CLUSTER_BIND_ADDR=127.0.0.1
    CLUSTER_ADVERTISE_ADDR=127.0.0.1
    CLUSTER_ADVERTISE_PORT="$(gossip_port "$i")"
  )
  if ((n > 1)); then
    local join=() j
    for ((j = 0; j < n; j++)); do join+=("node-$j:$(raft_port "$j")"); done
    env+=(RAFT_BOOTSTRAP_EXPECT="$n" RAFT_JOIN="$(IFS=,; echo "${join[*]}")")
    if ((i > 0)); then
      env+=(CLUSTER_JOIN="127.0.0.1:$(gossip_port 0)")
    fi
  else
    env+=(RAFT_BOOTSTRAP_EXPECT=1 RAFT_JOIN="node-0:$(raft_port 0)")
  fi
  # The server writes its own pid file (sh execs it): $! would be the pid
  # of `ip netns exec`'s parent when that forks.
  rm -f "$dir/pid"
  ip netns exec "$netns" env "${env[@]}" sh -c 'echo $$ >"$0"; exec "$@"' "$dir/pid" \
    "$bin" --scheme http --host 127.0.0.1 --port "$(http_port "$i")" >>"$dir/log" 2>&1 </dev/null &
  local t0=$SECONDS
  until [[ -s $dir/pid ]]; do
    ((SECONDS - t0 < 10)) || { log "node $i did not start"; return 1; }
    sleep 0.1
  done
}

wait_ready() {
  local i=$1 t0=$SECONDS
  until ready "$i"; do
    if ! alive "$i"; then
      log "node $i exited; last lines of $state/node-$i/log:"
      tail -n 20 "$state/node-$i/log" >&2
      return 1
    fi
    if ((SECONDS - t0 > 120)); then
      log "node $i not ready after 120 s; see $state/node-$i/log"
      return 1
    fi
    sleep 0.5
  done
}

envlines() {
  local n urls=() grpcs=() i
  n=$(nodes)
  for ((i = 0; i < n; i++)); do
    urls+=("http://127.0.0.1:$(http_port "$i")")
    grpcs+=("$(grpc_port "$i")")
  done
  cat <<EOF
export MMRAG_WEAVIATE_NETNS=$netns
export MMRAG_WEAVIATE_URL=${urls[0]}
export MMRAG_WEAVIATE_GRPC_PORT=${grpcs[0]}
export MMRAG_WEAVIATE_NODES=$n
export MMRAG_WEAVIATE_URLS=$(IFS=,; echo "${urls[*]}")
export MMRAG_WEAVIATE_GRPC_PORTS=$(IFS=,; echo "${grpcs[*]}")
export MMRAG_WEAVIATE_SCRIPT=$PWD/scripts/weaviate.sh
EOF
}

stop_all() {
  local n i pid
  n=$(nodes)
  for ((i = 0; i < n; i++)); do
    pid=$(pid_of "$i")
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for ((i = 0; i < n; i++)); do
    pid=$(pid_of "$i")
    for _ in $(seq 50); do
      [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$state/node-$i/pid"
  done
  if ip netns list | grep -qw "^$netns"; then
    ip netns delete "$netns"
  fi
}

case ${1:-} in
build)
  build
  ;;
start)
  n=${2:-1}
  build
  if (($(nodes) > 0)) && alive 0; then
    log "already running ($(nodes) nodes); stop first"
    exit 1
  fi
  mkdir -p "$state"
  if [[ -f $state/nodes && $(nodes) != "$n" ]]; then
    # A cluster's Raft state does not fit another node count.
    log "node count changes from $(nodes) to $n: deleting the old nodes' data"
    rm -rf "$state"/node-*
  fi
  echo "$n" >"$state/nodes"
  ensure_ns
  for ((i = 0; i < n; i++)); do start_node "$i" "$n"; done
  for ((i = 0; i < n; i++)); do wait_ready "$i"; done
  log "$n node(s) ready in namespace $netns"
  envlines
  ;;
stop)
  stop_all
  ;;
wipe)
  stop_all
  rm -rf "$state"
  ;;
status)
  n=$(nodes)
  for ((i = 0; i < n; i++)); do
    s=down
    if alive "$i"; then s="running (pid $(pid_of "$i"))"; ready "$i" && s="$s, ready"; fi
    echo "node-$i http://127.0.0.1:$(http_port "$i") grpc $(grpc_port "$i"): $s"
  done
  ;;
env)
  envlines
  ;;
kill)
  i=${2:?node index}
  pid=$(pid_of "$i")
  [[ -n $pid ]] || { log "node $i has no pid"; exit 1; }
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$state/node-$i/pid"
  log "node $i killed"
  ;;
restart)
  i=${2:?node index}
  if alive "$i"; then log "node $i is running"; exit 1; fi
  start_node "$i" "$(nodes)"
  wait_ready "$i"
  log "node $i ready"
  ;;
exec)
  shift
  eval "$(envlines)"
  exec ip netns exec "$netns" "$@"
  ;;
*)
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
