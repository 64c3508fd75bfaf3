#!/usr/bin/env bash
# The quick start: fetch the CLIP model (once), build a knowledge base from
# the seed blog posts (or the folder given as $2) and query it.
# Offline with no cached model, it falls back to a generated random-weight
# model of the same shape and says so loudly: the pipeline runs, the
# rankings mean nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-Xenova/clip-vit-base-patch16}"
data="${2:-../shared/fixtures/seed-blog/local}"
bin=bin/mmrag
home="${MMRAG_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/mmrag}"

if ! $bin models pull "$model"; then
  if [[ -d "$model" ]]; then
    echo "using local model folder $model" >&2
  else
    fallback="$home/models/offline-random-vit-b-16"
    cat >&2 <<MSG

  ********************************************************************
  *  Could not download $model (offline?).
  *  Falling back to a RANDOM-WEIGHT model of the same shape:
  *  $fallback
  *  Everything runs, but search results are meaningless.
  *  Copy a real model folder here and pass it:  make run MODEL=/path
  ********************************************************************

MSG
    if [[ ! -f "$fallback/config.json" ]]; then
      tok=""
      [[ -f ../shared/fixtures/clip-tokenizer/vocab.json ]] && tok="-tokenizer ../shared/fixtures/clip-tokenizer"
      go run ./cmd/clipgen -preset vit-b-16 $tok -out "$fallback" >&2
    fi
    model="$fallback"
  fi
fi
export MMRAG_MODEL="$model"

img=../shared/fixtures/seed-blog/images/1.jpg
echo "== embed a text and an image"
if [[ -f $img ]]; then
  $bin embed --text "a photo of a cat" --image "$img"
else
  $bin embed --text "a photo of a cat" --text "a diagram of a neural network"
fi

if $bin help ingest >/dev/null 2>&1 && [[ -e $data ]]; then
  echo "== ingest $data"
  # Documents read only the local files under the folder named; the seed
  # posts' figures sit in ../images beside them, so their root is wider.
  roots=()
  [[ ${data%/} == */seed-blog/local ]] && roots=(--asset-root "$(dirname "${data%/}")")
  $bin ingest "${roots[@]}" "$data" || echo "(some files failed; see above)" >&2
  $bin stats
fi
if $bin help ask >/dev/null 2>&1 && [[ -e $data ]]; then
  echo "== ask"
  $bin ask "What is CLIP and how is it trained?"
fi
serve="$bin serve"
[[ $model != "${1:-Xenova/clip-vit-base-patch16}" ]] && serve="$bin --model $model serve"
echo "== done. Next: $serve   (then open http://127.0.0.1:8080)"
