#!/usr/bin/env bash
# Runs a real Ollama server for the integration tests (ollama/integration_test.go).
#
#   scripts/ollama.sh start   build if missing, start on 127.0.0.1:$MMRAG_OLLAMA_PORT,
#                             create the test models, print `export …` lines
#   scripts/ollama.sh stop    stop the server this script started
#   scripts/ollama.sh build   only build the binary
#   scripts/ollama.sh env     print the `export …` lines of the running server
#
# Typical use:  eval "$(scripts/ollama.sh start)"; go test ./ollama/; scripts/ollama.sh stop
#
# The server is built from the Go module proxy (CGO_ENABLED=1 go install
# github.com/ollama/ollama@v0.6.5, about 6 min on 2 cores; newer versions need
# a miniaudio.h that no package provides) into
# $MMRAG_HOME/tools/ollama-v$VERSION/bin, where a machine that is kept keeps it.
# The build runs under flock /tmp/heavy-build.lock so it never overlaps another
# heavy build on the same machine. Models come from the GGUF files of the Go
# module github.com/mutablelogic/go-llama@v0.0.11:
#   mmrag-stories  stories260K.gguf: a tiny story LLM (it writes stories, not
#                  answers: enough to prove the chat protocol)
#   mmrag-minilm   all-MiniLM-L6-v2-Q4_K_M.gguf: a real 384-d sentence embedder
set -euo pipefail
cd "$(dirname "$0")/.."

version=${OLLAMA_VERSION:-0.6.5}
home=${MMRAG_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/mmrag}
bindir=$home/tools/ollama-v$version/bin
bin=$bindir/ollama
port=${MMRAG_OLLAMA_PORT:-11500}
state=$home/ollama-run          # pid file, log, env file
models=$home/ollama-models      # OLLAMA_MODELS: kept so models are created once
llama_mod=github.com/mutablelogic/go-llama@v0.0.11
chat_model=mmrag-stories
embed_model=mmrag-minilm
host=127.0.0.1:$port

log() { echo "ollama.sh: $*" >&2; }

build() {
  if [[ -x $bin ]]; then
    return
  fi
  mkdir -p "$bindir"
  log "building ollama v$version into $bindir (about 6 min on 2 cores; waits for /tmp/heavy-build.lock)"
  local t0=$SECONDS
  # -buildvcs=false: the work tree's VCS stamp means nothing to a module build.
  (cd /tmp && flock /tmp/heavy-build.lock env CGO_ENABLED=1 GOBIN="$bindir" GOFLAGS=-buildvcs=false \
    go install -ldflags "-X github.com/ollama/ollama/version.Version=$version" "github.com/ollama/ollama@v$version")
  log "built $bin in $((SECONDS - t0)) s ($(du -h "$bin" | cut -f1))"
}

running() {
  [[ -f $state/pid ]] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

ready() {
  curl -fsS --max-time 2 "http://$host/api/version" >/dev/null 2>&1
}

envlines() {
  cat <<EOF
export OLLAMA_HOST=$host
export MMRAG_OLLAMA_URL=http://$host
export MMRAG_OLLAMA_CHAT_MODEL=$chat_model
export MMRAG_OLLAMA_EMBED_MODEL=$embed_model
EOF
}

create_models() {
  local dir
  dir=$(cd /tmp && go mod download -json "$llama_mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [[ ! -f $dir/testdata/stories260K.gguf || ! -f $dir/testdata/all-MiniLM-L6-v2-Q4_K_M.gguf ]]; then
    log "no GGUF files in $dir/testdata (go mod download $llama_mod failed?)"
    return 1
  fi
  local tmp
  tmp=$(mktemp -d)
  # stories260K has no chat template: Ollama's default ({{ .Prompt }}) feeds
  # it the last user message. num_ctx 512 keeps both models small in memory.
  cat >"$tmp/stories.Modelfile" <<EOF
FROM $dir/testdata/stories260K.gguf
PARAMETER num_ctx 512
EOF
  cat >"$tmp/minilm.Modelfile" <<EOF
FROM $dir/testdata/all-MiniLM-L6-v2-Q4_K_M.gguf
PARAMETER num_ctx 512
EOF
  local name out
  for name in "$chat_model:stories" "$embed_model:minilm"; do
    # create is idempotent and fast (the blobs stay in $models): run it
    # always so that a changed Modelfile takes effect.
    if ! out=$(OLLAMA_HOST=$host "$bin" create "${name%%:*}" -f "$tmp/${name#*:}.Modelfile" 2>&1); then
      log "ollama create ${name%%:*} failed:"
      echo "$out" | tail -5 >&2
      rm -rf "$tmp"
      return 1
    fi
  done
  rm -rf "$tmp"
  log "models $chat_model ($dir/testdata/stories260K.gguf) and $embed_model (all-MiniLM-L6-v2-Q4_K_M.gguf) ready"
}

start() {
  build
  mkdir -p "$state" "$models"
  if running && ready; then
    log "already running at $host (pid $(cat "$state/pid"))"
  else
    if ready; then
      log "port $port is taken by a server this script did not start: set MMRAG_OLLAMA_PORT"
      exit 1
    fi
    log "starting ollama serve at $host (models in $models, log $state/ollama.log)"
    # setsid: the server outlives this script and is stopped by `stop`.
    OLLAMA_HOST=$host OLLAMA_MODELS=$models OLLAMA_NOPRUNE=1 \
      setsid "$bin" serve >"$state/ollama.log" 2>&1 </dev/null &
    echo $! >"$state/pid"
    local i
    for ((i = 0; i < 120; i++)); do
      ready && break
      if ! running; then
        log "ollama serve exited; its log:"
        tail -20 "$state/ollama.log" >&2
        exit 1
      fi
      sleep 0.5
    done
    if ! ready; then
      log "ollama serve did not answer within 60 s; its log:"
      tail -20 "$state/ollama.log" >&2
      exit 1
    fi
  fi
  create_models
  envlines >"$state/env"
  log "ready: $(OLLAMA_HOST=$host "$bin" --version 2>&1 | tail -1); env in $state/env"
  envlines
}

stop() {
  if running; then
    local pid
    pid=$(cat "$state/pid")
    # The server leads its own process group (setsid): the group holds the
    # model runners it started too.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"; fi
    log "stopped ollama (pid $pid)"
  fi
  rm -f "$state/pid" "$state/env"
}

case ${1:-start} in
  start) start ;;
  stop) stop ;;
  build) build ;;
  env) running && ready && envlines || { log "not running"; exit 1; } ;;
  *) echo "usage: $0 [start|stop|build|env]" >&2; exit 2 ;;
esac
