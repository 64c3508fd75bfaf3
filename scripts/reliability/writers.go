package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

type writersFigures struct {
	ran                  bool
	exitA, exitB         string
	elapsed              time.Duration
	locked, serverErrors int
	foundA, foundB       bool
}

// writeWriterCorpus writes n Markdown files carrying word, and two pages
// with a figure each.
func writeWriterCorpus(dir, word string, seed uint64, n int) error {
	for i := range n {
		b := fmt.Appendf(nil, "# %s %d\n\n", word, i)
		for j := range 5 {
			b = fmt.Appendf(b, "## Part %d\n\n%s %s\n\n", j, prose(seed+uint64(i*10+j), 40), word)
		}
		if _, err := writeFile(dir, fmt.Sprintf("%s-%02d.md", word, i), b); err != nil {
			return err
		}
	}
	for i := range 2 {
		if _, err := writeFile(dir, fmt.Sprintf("fig-%d.png", i), pngImage(64, 64, seed+uint64(100+i), false)); err != nil {
			return err
		}
		page := fmt.Sprintf(`<!doctype html><html><head><title>%s page %d</title></head><body><p>%s %s</p><img src="fig-%d.png" alt="%s figure"></body></html>`,
			word, i, prose(seed+uint64(200+i), 10), word, i, word)
		if _, err := writeFile(dir, fmt.Sprintf("page-%d.html", i), []byte(page)); err != nil {
			return err
		}
	}
	return nil
}

// writerFiles Markdown files per writer, plus two pages and two pictures.
const writerFiles = 36

var lockedRe = regexp.MustCompile(`(?i)database is locked|SQLITE_BUSY|database table is locked`)

func checkWriters(ctx context.Context, s *suite, e *env) {
	const name = "writers"
	dirA, dirB := e.path("writers", "a"), e.path("writers", "b")
	store := e.path("writers", "kb")
	if err := writeWriterCorpus(dirA, "zebracorn", 1000, writerFiles); err != nil {
		s.fail(name, "write: %v", err)
		return
	}
	if err := writeWriterCorpus(dirB, "quokkafish", 2000, writerFiles); err != nil {
		s.fail(name, "write: %v", err)
		return
	}
	srv, err := e.serve(ctx, store)
	if err != nil {
		s.fail(name+"/serve", "start the server: %v", err)
		return
	}
	defer srv.stop()
	f := &s.writers
	f.ran = true

	start := time.Now()
	pA, errA := e.start(store, "ingest", "--json", dirA)
	pB, errB := e.start(store, "ingest", "--json", dirB)
	if errA != nil || errB != nil {
		s.fail(name, "start the ingests: %v %v", errA, errB)
		return
	}
	// The server answers all the while.
	var serverErrs atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for _, req := range []struct {
				method, path string
				body         any
			}{{"POST", "/v1/search", map[string]any{"query": "zebracorn quokkafish"}}, {"GET", "/v1/documents", nil}} {
				code, b, err := srv.do(ctx, req.method, req.path, req.body, nil)
				if err != nil || code/100 != 2 {
					serverErrs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s %s: %d %v %s", req.method, req.path, code, err, firstLine(string(b))))
				}
			}
		}
	})
	rA, rB := pA.wait(4*time.Minute), pB.wait(4*time.Minute)
	close(stop)
	wg.Wait()
	f.elapsed = time.Since(start)
	f.exitA, f.exitB = rA.exitDesc(), rB.exitDesc()
	okA, whyA := rA.ok()
	okB, whyB := rB.ok()
	s.check(name+"/both ingests", okA && okB, "two ingests into one store at once, served meanwhile: A %s, B %s %s %s", rA, rB, whyA, whyB)
	for _, out := range []string{rA.Stderr, rB.Stderr, rA.Stdout, rB.Stdout, srv.p.errOut.String()} {
		f.locked += len(lockedRe.FindAllString(out, -1))
	}
	s.check(name+"/no lock errors", f.locked == 0, "%d 'database is locked' errors in the ingests' and the server's output", f.locked)
	fe, _ := firstErr.Load().(string)
	f.serverErrors = int(serverErrs.Load())
	s.check(name+"/server while writing", f.serverErrors == 0, "searches and listings during the writes: %d failed %s", f.serverErrors, fe)

	st, err := inspectStore(ctx, store)
	if err != nil {
		s.fail(name+"/stored", "read the store: %v", err)
		return
	}
	var inA, inB int
	for _, src := range st.docs {
		switch filepath.Dir(src) {
		case dirA:
			inA++
		case dirB:
			inB++
		}
	}
	want := writerFiles + 4
	s.check(name+"/stored", inA == want && inB == want && len(st.healthy()) == 0, "the store holds A's %d/%d and B's %d/%d documents, integrity %s%s", inA, want, inB, want, st.integrity, problems(st.healthy()))

	// The server finds what both wrote: by BM25 (read from SQLite) and by
	// vectors (the server's in-memory matrices must notice other
	// processes' commits), text and figures.
	var whyA2, whyB2 string
	deadline := time.Now().Add(15 * time.Second)
	for {
		f.foundA, whyA2 = serverFinds(ctx, srv, dirA, "zebracorn")
		f.foundB, whyB2 = serverFinds(ctx, srv, dirB, "quokkafish")
		if f.foundA && f.foundB || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.check(name+"/server finds both", f.foundA && f.foundB, "the server's /v1/search finds A's and B's documents (BM25, text vectors, figure vectors)%s%s",
		prefixIf(" — A:", whyA2), prefixIf(" — B:", whyB2))
	r := srv.stop()
	s.check(name+"/server exit", r.Code == 0 && r.crashed() == "", "the server stops cleanly on SIGTERM: %s %s", r, or(r.crashed(), ""))
}

// serverFinds says whether the server's /v1/search finds word in the
// documents under dir by BM25 (hybrid), by text vectors and by figure
// vectors, and if not, what is missing.
func serverFinds(ctx context.Context, srv *server, dir, word string) (bool, string) {
	k0, k5 := 0, 5
	thr := -1.0
	queries := []struct {
		what string
		body map[string]any
	}{
		{"hybrid text", map[string]any{"query": word, "source_prefix": dir + "/", "image_k": k0}},
		{"cosine text", map[string]any{"query": word, "source_prefix": dir + "/", "mode": "cosine", "text_k": k5, "text_threshold": thr, "image_k": k0}},
		{"cosine figures", map[string]any{"query": word + " figure", "source_prefix": dir + "/", "mode": "cosine", "text_k": k0, "image_k": k5, "image_threshold": thr}},
	}
	var missing string
	for _, q := range queries {
		var res struct {
			Text   []map[string]any `json:"text"`
			Images []map[string]any `json:"images"`
		}
		code, b, err := srv.do(ctx, "POST", "/v1/search", q.body, nil)
		if err == nil && code == 200 {
			err = jsonUnmarshal(b, &res)
		}
		if err != nil || code != 200 {
			missing += fmt.Sprintf(" %s: %d %v %s;", q.what, code, err, firstLine(string(b)))
			continue
		}
		if len(res.Text)+len(res.Images) == 0 {
			missing += " no " + q.what + ";"
		}
	}
	return missing == "", missing
}

func prefixIf(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}
