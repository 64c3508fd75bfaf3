package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

type loadFigures struct {
	clients                          int
	duration, warmup                 time.Duration
	requests, search, ask, errors    int64
	rps, p50, p99, searchP50, askP50 float64
	rssStart, rssPeak, rssEnd, hwm   int64
	growth                           float64
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// loadServer serves a store of the kill corpus: the clean store of the
// kill check when it ran, else one ingested here.
func loadServer(ctx context.Context, s *suite, e *env) *server {
	store := filepath.Join(e.work, "kill", "clean-kb")
	if _, err := os.Stat(filepath.Join(store, "mmrag.db")); err != nil {
		store = e.path("load", "kb")
		corpus := e.path("load", "corpus")
		if err := writeKillCorpus(corpus, make([]int, killMD+killHTML+killPDF+killDOCX)); err != nil {
			s.fail("load", "write the corpus: %v", err)
			return nil
		}
		if r := e.run(5*time.Minute, store, "ingest", corpus); r.Code != 0 {
			s.fail("load", "ingest the corpus: %s", r)
			return nil
		}
	}
	srv, err := e.serve(ctx, store)
	if err != nil {
		s.fail("load/serve", "%v", err)
		return nil
	}
	return srv
}

var loadQuestions = []string{
	"contrastive learning",
	"How are text and image embeddings aligned?",
	"figure of page",
	"cosine similarity ranks the figures",
	"What does retrieval augmented generation feed the language model?",
	"encoder patches tokens",
	"Which version of the report?",
	"captions and pictures close together",
}

func checkLoad(ctx context.Context, s *suite, e *env) *server {
	const name = "load"
	srv := loadServer(ctx, s, e)
	if srv == nil {
		return nil
	}
	f := &s.load
	f.clients, f.duration = e.o.clients, e.o.load
	f.warmup = e.o.warmup
	if f.warmup <= 0 {
		f.warmup = min(10*time.Second, max(2*time.Second, f.duration/6))
	}

	var measuring atomic.Bool
	var nErr, nSearch, nAsk atomic.Int64
	var firstErr atomic.Value
	latSearch := make([][]time.Duration, f.clients)
	latAsk := make([][]time.Duration, f.clients)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range f.clients {
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				q := loadQuestions[(c+j)%len(loadQuestions)]
				ask := (c+j)%2 == 1
				path, body := "/v1/search", map[string]any{"query": q}
				if ask {
					path, body = "/v1/ask", map[string]any{"question": q}
				}
				t := time.Now()
				code, b, err := srv.do(ctx, "POST", path, body, nil)
				d := time.Since(t)
				if err == nil && code/100 == 2 {
					var v map[string]any
					err = json.Unmarshal(b, &v)
				}
				if err != nil || code/100 != 2 {
					if ctx.Err() != nil {
						return
					}
					nErr.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("POST %s: %d %v %s", path, code, err, firstLine(string(b))))
					continue
				}
				if measuring.Load() {
					if ask {
						latAsk[c] = append(latAsk[c], d)
						nAsk.Add(1)
					} else {
						latSearch[c] = append(latSearch[c], d)
						nSearch.Add(1)
					}
				}
			}
		})
	}
	rss := func() int64 {
		m, err := procStatus(srv.pid())
		if err != nil {
			return 0
		}
		return m["VmRSS"]
	}
	sleepCtx(ctx, f.warmup)
	f.rssStart = rss()
	measuring.Store(true)
	start := time.Now()
	f.rssPeak = f.rssStart
	for time.Since(start) < f.duration && ctx.Err() == nil {
		sleepCtx(ctx, min(250*time.Millisecond, f.duration-time.Since(start)))
		f.rssPeak = max(f.rssPeak, rss())
	}
	f.rssEnd = rss()
	f.rssPeak = max(f.rssPeak, f.rssEnd)
	measuring.Store(false)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if m, err := procStatus(srv.pid()); err == nil {
		f.hwm = m["VmHWM"]
	}

	var searches, asks []time.Duration
	for c := range latSearch {
		searches = append(searches, latSearch[c]...)
		asks = append(asks, latAsk[c]...)
	}
	all := slices.Concat(searches, asks)
	f.requests, f.search, f.ask, f.errors = int64(len(all)), nSearch.Load(), nAsk.Load(), nErr.Load()
	f.rps = float64(len(all)) / elapsed.Seconds()
	f.p50, f.p99 = percentile(all, 0.50), percentile(all, 0.99)
	f.searchP50, f.askP50 = percentile(searches, 0.50), percentile(asks, 0.50)
	if f.rssStart > 0 {
		f.growth = float64(f.rssEnd-f.rssStart) / float64(f.rssStart)
	}
	fe, _ := firstErr.Load().(string)
	fmt.Printf("  %d requests in %.0fs (%.1f/s), p50 %.1f ms (search %.1f, ask %.1f), p99 %.1f ms; RSS %s → %s (peak %s)\n",
		f.requests, elapsed.Seconds(), f.rps, f.p50, f.searchP50, f.askP50, f.p99, mib(f.rssStart), mib(f.rssEnd), mib(f.rssPeak))
	s.check(name+"/errors", f.errors == 0 && f.requests > 0, "%d clients on /v1/search and /v1/ask for %.0fs: %d requests, %d errors %s",
		f.clients, elapsed.Seconds(), f.requests, f.errors, fe)
	s.check(name+"/memory", f.rssStart > 0 && f.growth < 0.10, "server RSS from the end of the warm-up to the end: %s → %s (%+.1f%%, limit +10%%)",
		mib(f.rssStart), mib(f.rssEnd), f.growth*100)
	if srv.p.exited() {
		s.fail(name+"/server", "the server ended during the load: %s: %s", srv.p.res, tail(srv.p.res.Stderr, 300))
		return nil
	}
	return srv
}

// percentile is the p-quantile of d in milliseconds (d is sorted here).
func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
