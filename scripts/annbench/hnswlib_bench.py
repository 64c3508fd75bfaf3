#!/usr/bin/python3
"""hnswlib side of scripts/ann-bench.sh.

usage: hnswlib_bench.py DATA_DIR M EF_CONSTRUCTION "EF EF ..." [THREADS=2]
Builds hnswlib (inner product) over DATA_DIR/base.npy with THREADS threads,
then queries DATA_DIR/queries.npy one at a time on one thread (each ef's
queries once untimed, then timed), and prints one
JSON line per ef: recall@10 against DATA_DIR/gt.npy, p50/p99 latency, build
time and resident set after build and queries (input array released), in the format of scripts/annbench.
"""
import gc
import json
import sys
import time

import hnswlib
import numpy as np


def vm_rss_mb():
    """Resident set now (VmRSS) in MiB, as scripts/annbench reads it."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return -1


def main():
    data, m, efc, efs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [int(e) for e in sys.argv[4].split()]
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    base = np.load(f"{data}/base.npy")
    queries = np.load(f"{data}/queries.npy")
    gt = np.load(f"{data}/gt.npy")[:, :10]
    n, dim = base.shape
    index = hnswlib.Index(space="ip", dim=dim)
    index.init_index(max_elements=n, M=m, ef_construction=efc, random_seed=1)
    index.set_num_threads(threads)
    t0 = time.perf_counter()
    index.add_items(base, np.arange(n))
    build = time.perf_counter() - t0
    del base  # hnswlib holds its own copy; what it serves with is the index
    gc.collect()
    index.set_num_threads(1)
    for ef in efs:
        index.set_ef(ef)
        for q in queries:  # one untimed pass, as scripts/annbench makes
            index.knn_query(q[None, :], k=10)
        lat, hit = [], 0
        for i, q in enumerate(queries):
            t = time.perf_counter()
            labels, _ = index.knn_query(q[None, :], k=10)
            lat.append((time.perf_counter() - t) * 1000)
            hit += len(set(labels[0].tolist()) & set(gt[i].tolist()))
        lat.sort()
        p = lambda x: lat[max(0, min(len(lat) - 1, int(np.ceil(x * len(lat))) - 1))]
        rss = vm_rss_mb()
        print(json.dumps({"engine": "hnswlib", "n": n, "params": f"M={m},efC={efc},ef={ef}",
                          "recall10": round(hit / (10 * len(queries)), 4), "p50_ms": round(p(0.5), 3),
                          "p99_ms": round(p(0.99), 3), "build_s": round(build, 1), "rss_mb": rss}), flush=True)


if __name__ == "__main__":
    main()
