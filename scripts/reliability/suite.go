package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// suite counts the checks and keeps the figures the summary prints.
type suite struct {
	start                   time.Time
	passed, failed, skipped int
	failures                []string
	took                    []string

	// figures
	hostile  hostileFigures
	kill     killFigures
	writers  writersFigures
	diskfull string
	load     loadFigures
	attacks  attackFigures
}

// check records one check: ok, or failed with the reason.
func (s *suite) check(name string, ok bool, format string, args ...any) bool {
	msg := fmt.Sprintf(format, args...)
	if ok {
		s.passed++
		fmt.Printf("  ok    %s: %s\n", name, msg)
		return true
	}
	s.failed++
	s.failures = append(s.failures, name+": "+firstLine(msg))
	fmt.Printf("  FAIL  %s: %s\n", name, msg)
	return false
}

func (s *suite) fail(name, format string, args ...any) { s.check(name, false, format, args...) }

// skip records a check that could not run here, with why.
func (s *suite) skip(name, format string, args ...any) {
	s.skipped++
	fmt.Printf("  SKIP  %s: %s\n", name, fmt.Sprintf(format, args...))
}

// errs collects the problems of one check over many cases.
type errs []string

func (e *errs) add(format string, args ...any) { *e = append(*e, fmt.Sprintf(format, args...)) }

// String lists the first few problems.
func (e errs) String() string {
	const show = 6
	if len(e) <= show {
		return strings.Join(e, "; ")
	}
	return strings.Join(e[:show], "; ") + fmt.Sprintf("; … %d more", len(e)-show)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func numCPU() int { return runtime.NumCPU() }

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// summary prints the figures, the failures and the final count line CI
// parses.
func (s *suite) summary(e *env) {
	fmt.Println()
	fmt.Println("== summary")
	h := s.hostile
	if h.files > 0 {
		fmt.Printf("hostile   %d files tried in one batch (%d must fail, %d must be stored): %d failed with their name, %d stored; %.1fs, peak RSS %s, exit %s\n",
			h.files, h.mustFail, h.mustStore, h.failedNamed, h.stored, h.elapsed.Seconds(), mib(h.maxRSS), h.exit)
	}
	k := s.kill
	if k.attempts > 0 {
		fmt.Printf("kill      %d SIGKILLs survived of %d ingests started (%d finished before their kill); store opened, integrity ok and no orphan after each: %d/%d; resumed = clean: %v (%d documents, %d items)\n",
			k.kills, k.attempts, k.early, k.healthy, k.kills, k.equal, k.docs, k.items)
	}
	w := s.writers
	if w.ran {
		fmt.Printf("writers   2 ingests + serve on one store: exits %s/%s in %.1fs, %d 'locked' errors, %d server errors while writing, found by the server: A %v, B %v\n",
			w.exitA, w.exitB, w.elapsed.Seconds(), w.locked, w.serverErrors, w.foundA, w.foundB)
	}
	if s.diskfull != "" {
		fmt.Printf("diskfull  %s\n", s.diskfull)
	}
	l := s.load
	if l.requests > 0 {
		fmt.Printf("load      %d clients for %.0fs (after %.0fs warm-up): %d requests (%d search, %d ask), %d errors, %.1f req/s, p50 %.1f ms (search %.1f, ask %.1f), p99 %.1f ms\n",
			l.clients, l.duration.Seconds(), l.warmup.Seconds(), l.requests, l.search, l.ask, l.errors, l.rps, l.p50, l.searchP50, l.askP50, l.p99)
		fmt.Printf("          server RSS start %s, peak %s, end %s (growth %+.1f%%), memory peak (VmHWM) %s\n",
			mib(l.rssStart), mib(l.rssPeak), mib(l.rssEnd), l.growth*100, mib(l.hwm))
	}
	a := s.attacks
	if a.ran {
		fmt.Printf("attacks   rebinding: %d hostile Host requests refused of %d, %d loopback Host requests accepted of %d; traversal: %d encoded paths refused of %d, %d images served none from outside\n",
			a.rebindRefused, a.rebindTried, a.localOK, a.localTried, a.encRefused, a.encTried, a.images)
	}
	fmt.Printf("time      %s; total %.0fs\n", strings.Join(s.took, ", "), time.Since(s.start).Seconds())
	if s.skipped > 0 {
		fmt.Printf("skipped   %d\n", s.skipped)
	}
	if len(s.failures) > 0 {
		fmt.Println("failed:")
		for _, f := range s.failures {
			fmt.Println("  " + f)
		}
	}
	fmt.Printf("reliability: %d passed, %d failed\n", s.passed, s.failed)
}
