#!/usr/bin/env bash
# The quick start: fetch the CLIP model (once), build a knowledge base from
# the demo corpus examples/docs (or the folder given as $2, e.g. the seed
# blog posts ../shared/fixtures/seed-blog/local) and ask it a question.
# Offline with no cached model, it falls back to a generated random-weight
# model of the same shape and says so loudly: the pipeline runs, the
# rankings mean nothing. Its tokenizer is CLIP's own when ../shared has it,
# else a byte-level BPE trained on Go's documentation that counts English
# like CLIP (within 10-20 %), so chunks keep their size.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-Xenova/clip-vit-base-patch16}"
data="${2:-examples/docs}"
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
    # An earlier fallback with a toy vocabulary (a few merges) is remade.
    if [[ ! -f "$fallback/config.json" || $(wc -l <"$fallback/merges.txt" 2>/dev/null || echo 0) -lt 1000 ]]; then
      if [[ -f ../shared/fixtures/clip-tokenizer/vocab.json ]]; then
        tok=(-tokenizer ../shared/fixtures/clip-tokenizer)
      else
        echo "no CLIP vocabulary at hand: training a stand-in BPE on $(go env GOROOT)/src (about a minute)" >&2
        tok=(-words-from "$(go env GOROOT)/src")
      fi
      rm -rf "$fallback"
      go run ./cmd/clipgen -preset vit-b-16 "${tok[@]}" -out "$fallback" >&2
    fi
    model="$fallback"
  fi
fi
export MMRAG_MODEL="$model"
# The in-process text embedder (text–text search beside CLIP). Offline
# without it, ingest says so once and search is CLIP-only.
$bin models pull onnx:Xenova/all-MiniLM-L6-v2 >&2 || echo "(text embedder not fetched: text search uses CLIP only)" >&2

echo "== embed a text and an image"
$bin embed --text "a diagram of a software pipeline" --image examples/docs/figures/pipeline.png

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
  question="What are the steps of the mmrag pipeline?"
  [[ $data == *seed-blog* ]] && question="What is CLIP and how is it trained?"
  $bin ask "$question"
fi
serve="$bin serve"
[[ $model != "${1:-Xenova/clip-vit-base-patch16}" ]] && serve="$bin --model $model serve"
echo "== done. Next: $serve   (then open http://127.0.0.1:8080)"
