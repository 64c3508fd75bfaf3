#!/usr/bin/env bash
# Benchmarks behind docs/PERFORMANCE.md. The embedder runs on a true-shape
# ViT-B/16 CLIP with random weights (same graph sizes and FLOPs as
# Xenova/clip-vit-base-patch16; the hub is unreachable on CI machines), or on
# the folder in $MMRAG_BENCH_MODEL when set (e.g. a downloaded real model).
set -euo pipefail
cd "$(dirname "$0")/.."
home="${MMRAG_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/mmrag}"
count="${BENCH_COUNT:-3}"
if [[ -z "${MMRAG_BENCH_MODEL:-}" ]]; then
  MMRAG_BENCH_MODEL="$home/bench/random-vit-b-16"
  if [[ ! -f "$MMRAG_BENCH_MODEL/config.json" ]]; then
    tok=""
    [[ -f ../shared/fixtures/clip-tokenizer/vocab.json ]] && tok="-tokenizer ../shared/fixtures/clip-tokenizer"
    echo "generating a true-shape random ViT-B/16 model in $MMRAG_BENCH_MODEL" >&2
    go run ./cmd/clipgen -preset vit-b-16 $tok -out "$MMRAG_BENCH_MODEL"
  fi
fi
export MMRAG_BENCH_MODEL MMRAG_REQUIRE_ORT=1
echo "# $(date -u +%FT%TZ) $(nproc) cores, model $MMRAG_BENCH_MODEL"
go test -run XXX -bench . -benchtime 2s -count "$count" ./embed/
# The text embedder on the real all-MiniLM-L6-v2 weights (converted from the
# GGUF of a Go module); with a server from scripts/ollama.sh, Ollama beside it.
go test -run XXX -bench Question -benchtime 73x -count 1 ./embed/sbert/
go test -run XXX -bench Passages -benchtime 3x -count 1 ./embed/sbert/
go test -run XXX -bench . -count "$count" ./tokenizer/... ./imageprep/
go test -run XXX -bench . -benchtime 10x -count 1 ./sqlite/
for pkg in ./chunk/ ./ingest/ ./refkb/ ./retrieve/; do
  [[ -d $pkg ]] && go test -run XXX -bench . -count "$count" "$pkg"
done
