// Command reliability is mmrag's reliability suite (issue #13). It drives
// the real bin/mmrag binary against the real embedded store, with a tiny
// random-weight CLIP model it generates itself (package onnxgraph, as the
// cmd/mmrag tests do: nothing comes from the network), through six checks:
//
//	hostile   one ingest of a corpus of hostile files generated here: image
//	          and zip bombs, truncated files, a CSV with one huge field,
//	          deeply nested HTML, symlink loops and links out of the corpus,
//	          odd file names, figure paths climbing out of the folder, empty
//	          files, a FIFO
//	kill      kill -9 at random moments of an ingest, again and again; the
//	          store must open, pass PRAGMA integrity_check and hold no item
//	          without its document, and a resumed ingest must end equal to a
//	          clean one
//	writers   two ingests into one store while `mmrag serve` serves it
//	diskfull  a store on a small tmpfs filled during an ingest
//	load      concurrent clients on /v1/search and /v1/ask of `mmrag serve`
//	attacks   DNS rebinding (Host allow-list) and path traversal
//
// Run it with `make reliability`, or after `make build`:
//
//	go run ./scripts/reliability [-load 60s] [-kills 20] [-only hostile,kill]
//
// It prints one line per check, a summary with the figures, and last
// "reliability: N passed, M failed"; the exit status is 1 when a check
// failed. docs/RELIABILITY.md has the figures of a run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bin        string
	only       string
	keep       bool
	seed       int64
	kills      int
	load       time.Duration
	warmup     time.Duration
	clients    int
	csvMB      int
	bombMB     int
	htmlDepth  int
	maxRSSMB   int64
	tmpfsMB    int
	batchLimit time.Duration
}

// checks in the order they run; "load" and "attacks" share one server.
var allChecks = []string{"hostile", "kill", "writers", "diskfull", "load", "attacks"}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/mmrag", "the mmrag binary (make build)")
	flag.StringVar(&o.only, "only", "", "run only these checks, comma-separated: "+strings.Join(allChecks, ","))
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder (printed) instead of removing it")
	flag.Int64Var(&o.seed, "seed", 0, "seed of the random kill moments (0: from the clock; printed)")
	flag.IntVar(&o.kills, "kills", 20, "SIGKILLs during ingests (kill check)")
	flag.DurationVar(&o.load, "load", 60*time.Second, "measured duration of the load check, after the warm-up")
	flag.DurationVar(&o.warmup, "warmup", 0, "warm-up before the load is measured (0: a sixth of -load, 2–10 s)")
	flag.IntVar(&o.clients, "clients", 20, "concurrent clients of the load check")
	flag.IntVar(&o.csvMB, "csv-field-mb", 100, "size of the one huge CSV field, MB")
	flag.IntVar(&o.bombMB, "bomb-mb", 1024, "uncompressed size of the zip bombs, MiB")
	flag.IntVar(&o.htmlDepth, "html-depth", 100000, "nesting depth of the deeply nested HTML page")
	flag.Int64Var(&o.maxRSSMB, "max-ingest-rss", 1024, "largest peak RSS allowed to the hostile ingest, MiB")
	flag.IntVar(&o.tmpfsMB, "tmpfs-mb", 8, "size of the tmpfs the disk-full check fills, MiB")
	flag.DurationVar(&o.batchLimit, "batch-timeout", 180*time.Second, "longest the hostile batch may take")
	flag.Parse()
	if o.seed == 0 {
		o.seed = time.Now().UnixNano() % 1_000_000
	}
	want := allChecks
	if o.only != "" {
		want = strings.Split(o.only, ",")
		for _, c := range want {
			if !slices.Contains(allChecks, c) {
				fmt.Fprintf(os.Stderr, "reliability: unknown check %q (want %s)\n", c, strings.Join(allChecks, ","))
				os.Exit(2)
			}
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &suite{start: time.Now()}
	code := run(ctx, s, &o, want)
	os.Exit(code)
}

func run(ctx context.Context, s *suite, o *options, want []string) int {
	e, err := newEnv(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		fmt.Println("reliability: 0 passed, 1 failed")
		return 1
	}
	defer e.cleanup()
	fmt.Printf("reliability: %s, work folder %s, seed %d, %d CPUs\n", e.bin, e.work, o.seed, numCPU())

	var srv *server // shared by load and attacks
	defer func() {
		if srv != nil {
			srv.stop()
		}
	}()
	for _, name := range allChecks {
		if !slices.Contains(want, name) {
			continue
		}
		if ctx.Err() != nil {
			s.fail(name, "interrupted")
			break
		}
		start := time.Now()
		fmt.Printf("== %s\n", name)
		switch name {
		case "hostile":
			checkHostile(ctx, s, e)
		case "kill":
			checkKill(ctx, s, e)
		case "writers":
			checkWriters(ctx, s, e)
		case "diskfull":
			checkDiskFull(ctx, s, e)
		case "load":
			srv = checkLoad(ctx, s, e)
		case "attacks":
			if srv == nil {
				srv = loadServer(ctx, s, e)
			}
			if srv != nil {
				checkAttacks(ctx, s, e, srv)
			}
		}
		s.took = append(s.took, fmt.Sprintf("%s %.0fs", name, time.Since(start).Seconds()))
	}
	if srv != nil {
		srv.stop()
		srv = nil
	}
	s.summary(e)
	if s.failed > 0 {
		return 1
	}
	return 0
}
