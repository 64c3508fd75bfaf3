package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"time"
)

type killFigures struct {
	kills, attempts, early, healthy int
	equal                           bool
	docs, items                     int
}

// The kill corpus: killMD Markdown files, killHTML pages with a figure
// each, killPDF PDFs and killDOCX Word files — a few dozen in all.
const (
	killMD   = 26
	killHTML = 6
	killPDF  = 2
	killDOCX = 2
)

// writeKillCorpus writes every file at its version.
func writeKillCorpus(dir string, versions []int) error {
	for i, v := range versions {
		seed := uint64(i*1000 + v)
		var rel string
		var data []byte
		switch {
		case i < killMD:
			rel = fmt.Sprintf("notes/k%02d.md", i)
			b := fmt.Appendf(nil, "# Document %d, version %d\n\n", i, v)
			for j := range 6 {
				b = fmt.Appendf(b, "## Part %d\n\n%s\n\n", j, prose(seed*10+uint64(j), 40))
			}
			data = b
		case i < killMD+killHTML:
			rel = fmt.Sprintf("pages/p%02d.html", i)
			if _, err := writeFile(dir, fmt.Sprintf("pages/p%02d.png", i), pngImage(64, 48, uint64(i), false)); err != nil {
				return err
			}
			data = fmt.Appendf(nil, `<!doctype html><html><head><title>Page %d v%d</title></head><body><h1>Page %d</h1><p>%s</p>
<figure><img src="p%02d.png" alt="figure %d"><figcaption>Figure of page %d, version %d</figcaption></figure><h2>More</h2><p>%s</p></body></html>`,
				i, v, i, prose(seed, 30), i, i, i, v, prose(seed+1, 30))
		case i < killMD+killHTML+killPDF:
			rel = fmt.Sprintf("pdf/r%02d.pdf", i)
			data = pdfFile([]string{fmt.Sprintf("Report %d version %d", i, v), prose(seed, 2), prose(seed+1, 2), prose(seed+2, 2)})
		default:
			rel = fmt.Sprintf("docx/w%02d.docx", i)
			data = docxFile([]string{fmt.Sprintf("Letter %d version %d", i, v), prose(seed, 10), prose(seed+1, 10)})
		}
		if _, err := writeFile(dir, rel, data); err != nil {
			return err
		}
	}
	return nil
}

var doneLine = regexp.MustCompile(`(?m)^(added|updated|unchanged)\s`)

// searchResult is the part of `mmrag search --json` checked here.
type searchResult struct {
	Text []struct {
		DocID string `json:"doc_id"`
	} `json:"text"`
	Images []struct {
		DocID string `json:"doc_id"`
	} `json:"images"`
}

// storeHealth opens store with mmrag (stats), checks it directly, and
// searches it with mmrag; it returns the problems found and the state.
func storeHealth(ctx context.Context, e *env, store string) ([]string, *storeState) {
	var p []string
	r := e.run(time.Minute, store, "stats", "--json")
	if ok, why := r.ok(); !ok {
		p = append(p, "mmrag stats: "+why)
	}
	st, err := inspectStore(ctx, store)
	if err != nil {
		return append(p, "read the store: "+err.Error()), nil
	}
	p = append(p, st.healthy()...)
	r = e.run(time.Minute, store, "search", "contrastive learning figure", "--json", "--text-k", "50", "--image-k", "20", "--image-threshold", "0")
	if ok, why := r.ok(); !ok {
		return append(p, "mmrag search: "+why), st
	}
	var res searchResult
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		return append(p, "mmrag search --json: "+err.Error()), st
	}
	// The search ran after the inspection, with no writer in between.
	for _, h := range append(res.Text, res.Images...) {
		if _, ok := st.docs[h.DocID]; !ok {
			p = append(p, "search returned an item of missing document "+h.DocID)
		}
	}
	return p, st
}

func checkKill(ctx context.Context, s *suite, e *env) {
	const name = "kill"
	rng := rand.New(rand.NewPCG(uint64(e.o.seed), 1))
	corpus := e.path("kill", "corpus")
	store := e.path("kill", "kb")
	n := killMD + killHTML + killPDF + killDOCX
	versions := make([]int, n)
	if err := writeKillCorpus(corpus, versions); err != nil {
		s.fail(name, "write the corpus: %v", err)
		return
	}
	f := &s.kill
	var bad errs
	for f.kills < e.o.kills && f.attempts < 3*e.o.kills && ctx.Err() == nil {
		f.attempts++
		// Change about half the files, so that every run has work to do.
		var changed int
		if f.attempts > 1 {
			for i := range versions {
				if rng.IntN(2) == 0 {
					versions[i]++
					changed++
				}
			}
			if err := writeKillCorpus(corpus, versions); err != nil {
				s.fail(name, "write the corpus: %v", err)
				return
			}
		} else {
			changed = n
		}
		p, err := e.start(store, "ingest", corpus)
		if err != nil {
			s.fail(name, "start mmrag ingest: %v", err)
			return
		}
		// A random moment: after k files are done (stored, updated or
		// found unchanged: the walk is in name order, so any file may be
		// the one being written), or while it starts (k = 0), plus up to
		// 40 ms.
		k := rng.IntN(n)
		for !p.exited() && len(doneLine.FindAllStringIndex(p.errOut.String(), -1)) < k {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
		var when string
		if p.exited() {
			f.early++
			when = "finished before its kill"
		} else {
			p.kill()
			f.kills++
			when = fmt.Sprintf("killed after %d files done", len(doneLine.FindAllStringIndex(p.errOut.String(), -1)))
		}
		r := p.wait(time.Minute)
		if c := r.crashed(); c != "" {
			bad.add("run %d: %s", f.attempts, c)
		}
		probs, st := storeHealth(ctx, e, store)
		switch {
		case len(probs) > 0:
			bad.add("after run %d (%s): %s", f.attempts, when, errs(probs))
		case r.Killed:
			f.healthy++ // a run that finished is checked too, not counted
		}
		docs := 0
		if st != nil {
			docs = len(st.docs)
		}
		fmt.Printf("  run %2d: %-29s %.2fs, %d documents, store %s\n", f.attempts, when, r.Elapsed.Seconds(), docs, okStr(len(probs) == 0))
	}
	s.check(name+"/kills", f.kills >= e.o.kills, "%d SIGKILLs at random moments of %d ingests (%d ended before their kill)", f.kills, f.attempts, f.early)
	s.check(name+"/store after each kill", len(bad) == 0, "mmrag stats opens it, integrity_check ok, no orphan item, vector or blob, searches return only items of stored documents%s", problems(bad))

	// Resume, and compare with a clean run of the same files.
	r := e.run(5*time.Minute, store, "ingest", corpus)
	okResume, why := r.ok()
	s.check(name+"/resume", okResume, "the resumed ingest: %s %s", r, why)
	clean := e.path("kill", "clean-kb")
	r = e.run(5*time.Minute, clean, "ingest", corpus)
	okClean, why := r.ok()
	s.check(name+"/clean run", okClean, "a clean ingest into a fresh store: %s %s", r, why)
	if !okResume || !okClean {
		return
	}
	d1, i1, err1 := e.listing(store)
	d2, i2, err2 := e.listing(clean)
	if err1 != nil || err2 != nil {
		s.fail(name+"/resumed = clean", "list: %v %v", err1, err2)
		return
	}
	diff := diffListings(d1, i1, d2, i2)
	st1, err1 := inspectStore(ctx, store)
	st2, err2 := inspectStore(ctx, clean)
	if err1 != nil || err2 != nil {
		diff = append(diff, fmt.Sprintf("read the stores: %v %v", err1, err2))
	} else {
		v1, v2 := keys(st1.vectors), keys(st2.vectors)
		if !slices.Equal(v1, v2) {
			diff = append(diff, fmt.Sprintf("vectors of %d items vs %d", len(v1), len(v2)))
		}
		diff = append(diff, st1.healthy()...)
	}
	f.equal, f.docs, f.items = len(diff) == 0, len(d1), len(i1)
	s.check(name+"/resumed = clean", f.equal, "after the kills and a resumed ingest: %d documents, %d items, equal to a clean run (ls --json, ls --items --json, vectors)%s", len(d1), len(i1), problems(diff))
}

func keys[V any](m map[string]V) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	slices.Sort(k)
	return k
}

func okStr(ok bool) string {
	if ok {
		return "ok"
	}
	return "BROKEN"
}
