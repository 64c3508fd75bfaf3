// Command annbench is the mmrag side of scripts/ann-bench.sh: it generates
// the CLIP-like data set with the Go port of gen.py's recipe (gen), computes
// exact ground truth (gt), and builds and queries mmrag's HNSW index (run),
// printing one JSON line per configuration in the format the hnswlib side
// prints. It is a tool, not part of make test.
//
//	annbench gen -n N -nq 1000 -out DIR
//	annbench gt -data DIR
//	annbench run -data DIR -m 16 -efc 200 -ef "32 64 128" -workers 2 [-rescore 20] [-ram]
//
// run reads base.npy a chunk at a time to build and rescores the -rescore
// best candidates of a search by reading their rows with pread (the
// float32 originals stay on disk, in the page cache, the index holds int8
// codes and links); -ram reads them into memory instead. Each ef's queries
// run once untimed before the timed pass. rss_mb is the resident set
// after the build and the queries (VmRSS), the build's input released.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"mmrag/hnsw"
	"mmrag/hnsw/clipdata"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: annbench gen|gt|run [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "gt":
		err = groundTruth(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: gen, gt or run", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "annbench:", err)
		os.Exit(1)
	}
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	n := fs.Int("n", 20000, "base vectors")
	nq := fs.Int("nq", 1000, "queries")
	out := fs.String("out", "data", "output folder")
	fs.Parse(args)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	base, queries := clipdata.Generate(clipdata.Seed, *n, *nq)
	if err := writeNpy(filepath.Join(*out, "base.npy"), "<f4", float32Bytes(base), *n, clipdata.Dim); err != nil {
		return err
	}
	return writeNpy(filepath.Join(*out, "queries.npy"), "<f4", float32Bytes(queries), *nq, clipdata.Dim)
}

func groundTruth(args []string) error {
	fs := flag.NewFlagSet("gt", flag.ExitOnError)
	dir := fs.String("data", "data", "data folder")
	k := fs.Int("k", 10, "neighbours per query")
	fs.Parse(args)
	base, dim, err := readFloat32s(filepath.Join(*dir, "base.npy"))
	if err != nil {
		return err
	}
	queries, qdim, err := readFloat32s(filepath.Join(*dir, "queries.npy"))
	if err != nil {
		return err
	}
	if qdim != dim {
		return fmt.Errorf("queries have %d dimensions, base %d", qdim, dim)
	}
	truth := clipdata.GroundTruth(base, queries, dim, *k, runtime.GOMAXPROCS(0))
	flat := make([]int32, 0, len(truth)**k)
	for _, t := range truth {
		for _, id := range t {
			flat = append(flat, int32(id))
		}
	}
	return writeNpy(filepath.Join(*dir, "gt.npy"), "<i4", int32Bytes(flat), len(truth), *k)
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	dir := fs.String("data", "data", "data folder (base.npy, queries.npy, gt.npy)")
	m := fs.Int("m", 16, "HNSW M")
	efc := fs.Int("efc", 200, "HNSW efConstruction")
	efs := fs.String("ef", "32 64 128", "search ef values, space-separated: one JSON line each")
	workers := fs.Int("workers", 2, "build goroutines")
	inRAM := fs.Bool("ram", false, "hold the float32 originals in memory instead of reading them from base.npy")
	rescore := fs.Int("rescore", 0, "candidates rescored with the originals (0: all ef)")
	fs.Parse(args)
	src, err := openOriginals(filepath.Join(*dir, "base.npy"), *inRAM)
	if err != nil {
		return err
	}
	defer src.Close()
	dim := src.dim
	queries, _, err := readFloat32s(filepath.Join(*dir, "queries.npy"))
	if err != nil {
		return err
	}
	gt, k, err := readInt32s(filepath.Join(*dir, "gt.npy"))
	if err != nil {
		return err
	}
	n, nq := src.rows, len(queries)/dim
	if len(gt)/k != nq || k < 10 {
		return fmt.Errorf("gt.npy has %d×%d entries for %d queries", len(gt)/k, k, nq)
	}
	truth := make([][]uint32, nq)
	for q := range truth {
		for _, id := range gt[q*k : q*k+10] {
			truth[q] = append(truth[q], uint32(id))
		}
	}

	idx, err := hnsw.New(dim, hnsw.Config{M: *m, EfConstruction: *efc, Workers: *workers, Seed: 1, Rescore: *rescore}, src.vector)
	if err != nil {
		return err
	}
	start := time.Now()
	// The build reads the originals a chunk at a time: only their int8
	// codes stay.
	for lo := 0; lo < n; lo += buildChunk {
		vs, err := src.chunk(lo, min(lo+buildChunk, n))
		if err != nil {
			return err
		}
		if _, err := idx.Add(vs); err != nil {
			return err
		}
	}
	build := time.Since(start).Seconds()
	debug.FreeOSMemory() // a GC that also returns the build's garbage to the OS

	for _, f := range strings.Fields(*efs) {
		ef, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("ef %q: %w", f, err)
		}
		// One untimed pass first: the rows it rescores are then in the
		// page cache, as on a server that has answered for a while
		// (hnswlib_bench.py makes the same pass).
		for q := range nq {
			if _, err := idx.Search(queries[q*dim:(q+1)*dim], 10, ef, nil); err != nil {
				return err
			}
		}
		got := make([][]uint32, nq)
		lat := make([]float64, nq)
		for q := range nq {
			qv := queries[q*dim : (q+1)*dim]
			t0 := time.Now()
			res, err := idx.Search(qv, 10, ef, nil)
			lat[q] = float64(time.Since(t0).Nanoseconds()) / 1e6
			if err != nil {
				return err
			}
			for _, r := range res {
				got[q] = append(got[q], r.ID)
			}
		}
		slices.Sort(lat)
		fmt.Printf(`{"engine": "mmrag", "n": %d, "params": "M=%d,efC=%d,ef=%d%s", "recall10": %s, "p50_ms": %s, "p99_ms": %s, "build_s": %s, "rss_mb": %d}`+"\n",
			n, *m, *efc, ef, rescoreParam(*rescore), num(clipdata.Recall(got, truth, 10), 4), num(pct(lat, 0.50), 3), num(pct(lat, 0.99), 3),
			strconv.FormatFloat(build, 'f', 1, 64), rssMB())
	}
	return nil
}

func rescoreParam(r int) string {
	if r <= 0 {
		return ""
	}
	return ",rescore=" + strconv.Itoa(r)
}

// num formats x rounded to dec decimals, without trailing zeros.
func num(x float64, dec int) string {
	p := math.Pow(10, float64(dec))
	return strconv.FormatFloat(math.Round(x*p)/p, 'f', -1, 64)
}

// pct is the p-quantile of sorted values (nearest rank).
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// rssMB is the process's resident set (VmRSS) in MiB, after the build
// and the queries: what serving the index holds, as the hnswlib side
// measures it.
func rssMB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb / 1024
		}
	}
	return -1
}
