package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

var fullRe = regexp.MustCompile(`(?i)no space left on device|disk is full|database or disk is full|SQLITE_FULL`)

var addedRe = regexp.MustCompile(`(?m)^(?:added|updated)\s+\S+\s+.*?\s{2}(/.*)$`)

func checkDiskFull(ctx context.Context, s *suite, e *env) {
	const name = "diskfull"
	mnt := e.path("diskfull", "mnt")
	os.MkdirAll(mnt, 0o755)
	size := e.o.tmpfsMB
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", size), "tmpfs", mnt).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs here (%v: %s); run as root (CI does) for the disk-full check", err, strings.TrimSpace(string(out)))
		s.skip(name, "%s", msg)
		s.diskfull = "skipped: " + msg
		return
	}
	defer func() {
		if err := exec.Command("umount", mnt).Run(); err != nil {
			time.Sleep(time.Second)
			if err := exec.Command("umount", mnt).Run(); err != nil {
				exec.Command("umount", "-l", mnt).Run()
			}
		}
	}()
	store := filepath.Join(mnt, "kb")

	// A: small, fits. B: small files first (they fit), then text and
	// pictures well over the space left.
	dirA, dirB := e.path("diskfull", "a"), e.path("diskfull", "b")
	for i := range 8 {
		writeFile(dirA, fmt.Sprintf("a%02d.md", i), []byte(fmt.Sprintf("# A %d\n\n%s", i, prose(uint64(5000+i), 20))))
	}
	for i := range 4 {
		writeFile(dirB, fmt.Sprintf("0-small-%02d.md", i), []byte(fmt.Sprintf("# B small %d\n\n%s", i, prose(uint64(6000+i), 10))))
	}
	for i := range 2 {
		writeFile(dirB, fmt.Sprintf("1-big-%02d.md", i), []byte(fmt.Sprintf("# B big %d\n\n%s", i, prose(uint64(7000+i), 3000))))
	}
	// Pictures of 1 MiB each (random bytes in a chunk decoders skip), in
	// all over twice the tmpfs.
	for i := range 2 * size {
		writeFile(dirB, fmt.Sprintf("2-picture-%02d.png", i), paddedPNG(64, 64, uint64(8000+i), 1<<20))
	}

	r := e.run(3*time.Minute, store, "ingest", dirA)
	if ok, why := r.ok(); !ok {
		s.fail(name+"/before", "ingest A into the %d MiB tmpfs: %s", size, why)
		return
	}
	dA, iA, err := e.listing(store)
	if err != nil {
		s.fail(name+"/before", "%v", err)
		return
	}

	r = e.run(3*time.Minute, store, "ingest", dirB)
	full := fullRe.FindString(r.Stderr + r.Stdout)
	s.check(name+"/clear error", r.Code != 0 && !r.TimedOut && full != "" && r.crashed() == "",
		"ingest B over the space left: %s, saying %q (%s)", r, full, or(r.crashed(), firstLine(lastErrLine(r.Stderr))))

	probs, st := storeHealth(ctx, e, store)
	s.check(name+"/store opens", len(probs) == 0, "on the full disk: mmrag stats, integrity_check, searches%s", problems(probs))
	var lost []string
	if st != nil {
		dNow, iNow, err := e.listing(store)
		if err != nil {
			lost = append(lost, err.Error())
		} else {
			lost = append(lost, missingFrom(dA, iA, dNow, iNow)...)
		}
		// Every document B reported stored is there.
		for _, m := range addedRe.FindAllStringSubmatch(r.Stderr, -1) {
			if !hasSource(st, m[1]) {
				lost = append(lost, "reported stored but missing: "+m[1])
			}
		}
	}
	committedB := len(addedRe.FindAllStringSubmatch(r.Stderr, -1))
	s.check(name+"/nothing lost", len(lost) == 0, "A's %d documents and %d items unchanged, and the %d documents of B reported stored are there%s", len(dA), len(iA), committedB, problems(lost))

	// Room again: the same ingest completes.
	if out, err := exec.Command("mount", "-o", fmt.Sprintf("remount,size=%dm", 16*size), mnt).CombinedOutput(); err != nil {
		s.skip(name+"/after", "cannot grow the tmpfs: %v %s", err, out)
		s.diskfull = fmt.Sprintf("%d MiB tmpfs: ingest %s with %q; %d of B's documents committed before; the store opened intact", size, r, full, committedB)
		return
	}
	r2 := e.run(3*time.Minute, store, "ingest", dirB)
	ok, why := r2.ok()
	probs, _ = storeHealth(ctx, e, store)
	s.check(name+"/after", ok && len(probs) == 0, "with room again the ingest of B completes: %s %s%s", r2, why, problems(probs))
	s.diskfull = fmt.Sprintf("%d MiB tmpfs: ingest %s saying %q; store opened intact with all of A and the %d documents of B committed before; with room again B completed (%s)",
		size, r.String(), full, committedB, r2.String())
}

// missingFrom lists documents and items of the first listing that the
// second lacks or holds changed.
func missingFrom(d1 []lsDoc, i1 []map[string]any, d2 []lsDoc, i2 []map[string]any) []string {
	var out []string
	docs := map[string]lsDoc{}
	for _, d := range d2 {
		docs[d.ID] = d
	}
	for _, d := range d1 {
		if o, ok := docs[d.ID]; !ok || o.Hash != d.Hash || o.TextItems != d.TextItems || o.ImageItems != d.ImageItems {
			out = append(out, "document lost or changed: "+d.Source)
		}
	}
	items := map[string]bool{}
	for _, it := range i2 {
		items[fmt.Sprint(it["id"])] = true
	}
	for _, it := range i1 {
		if !items[fmt.Sprint(it["id"])] {
			out = append(out, fmt.Sprintf("item lost: %v", it["id"]))
		}
	}
	return out
}

// lastErrLine is the last line of stderr that says something failed.
func lastErrLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if fullRe.MatchString(lines[i]) || strings.Contains(lines[i], "mmrag:") || strings.HasPrefix(lines[i], "failed") {
			return lines[i]
		}
	}
	if len(lines) > 0 {
		return lines[len(lines)-1]
	}
	return ""
}
