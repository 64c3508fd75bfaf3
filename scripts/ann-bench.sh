#!/usr/bin/env bash
# Side-by-side approximate search benchmark (issue 12): mmrag's HNSW index
# (scripts/annbench) against hnswlib (Debian python3-hnswlib) on the same
# CLIP-like vectors, 2 threads for the builds, one query at a time (each
# ef's queries once untimed, then timed: a warm page cache). Prints
# one JSON line per configuration on stdout; progress goes to stderr.
#
# usage: scripts/ann-bench.sh N
#   ANN_NQ       queries (1000)
#   ANN_DATA     data folder (${TMPDIR:-/tmp}/mmrag-ann/N), reused when present
#   ANN_CONFIGS  "M,efConstruction" pairs ("16,200 32,200")
#   ANN_EF       search ef values ("32 64 128")
#   ANN_THREADS  build threads (2)
#   ANN_RESCORE  mmrag: candidates rescored with the float32 originals,
#                read from base.npy with pread (20, twice k; 0: all ef)
#   ANN_ENGINES  which to run ("mmrag hnswlib")
# The data comes from ../shared/bench/ann/gen.py (numpy) when that exists,
# else from the Go port of its recipe (hnsw/clipdata: same model, other
# random draws); the folder's "source" file says which.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:?usage: scripts/ann-bench.sh N}"
nq="${ANN_NQ:-1000}"
data="${ANN_DATA:-${TMPDIR:-/tmp}/mmrag-ann/$n}"
configs="${ANN_CONFIGS:-16,200 32,200}"
efs="${ANN_EF:-32 64 128}"
threads="${ANN_THREADS:-2}"
rescore="${ANN_RESCORE:-20}"
engines="${ANN_ENGINES:-mmrag hnswlib}"
py=/usr/bin/python3
gen=../shared/bench/ann/gen.py

mkdir -p "$data"
go build -o "$data/annbench" ./scripts/annbench
if [[ ! -f $data/base.npy || ! -f $data/queries.npy ]]; then
  if [[ -f $gen ]] && $py -c 'import numpy' 2>/dev/null; then
    echo "# generating $n vectors with $gen" >&2
    $py "$gen" "$n" "$nq" "$data" >/dev/null
    echo "gen.py" >"$data/source"
  else
    echo "# generating $n vectors with the Go port of gen.py's recipe" >&2
    "$data/annbench" gen -n "$n" -nq "$nq" -out "$data"
    echo "go-port" >"$data/source"
  fi
  rm -f "$data/gt.npy"
fi
echo "# data: $(cat "$data/source" 2>/dev/null || echo unknown), $data" >&2
if [[ ! -f $data/gt.npy ]]; then
  echo "# exact ground truth" >&2
  "$data/annbench" gt -data "$data"
fi

for c in $configs; do
  m="${c%,*}" efc="${c#*,}"
  for e in $engines; do
    case $e in
      mmrag)
        echo "# mmrag M=$m efC=$efc" >&2
        "$data/annbench" run -data "$data" -m "$m" -efc "$efc" -ef "$efs" -workers "$threads" -rescore "$rescore" ;;
      hnswlib)
        if $py -c 'import hnswlib' 2>/dev/null; then
          echo "# hnswlib M=$m efC=$efc" >&2
          $py scripts/annbench/hnswlib_bench.py "$data" "$m" "$efc" "$efs" "$threads"
        else
          echo "# hnswlib skipped: $py cannot import hnswlib (apt install python3-hnswlib)" >&2
        fi ;;
    esac
  done
done
