package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// expect is what must become of a file of the hostile corpus.
type expect int

const (
	mustStore expect = iota // a good file: stored
	mustFail                // an error that names the file
	notStored               // never stored; skipped or failed
	either                  // stored, or an error that names it
)

func (x expect) String() string {
	return [...]string{"must be stored", "must fail with its name", "must not be stored", "stored or failed"}[x]
}

// entry is one file of the hostile corpus.
type entry struct {
	rel  string // path under the corpus folder
	want expect
}

type hostileFigures struct {
	files, mustFail, mustStore, failedNamed, stored int
	elapsed                                         time.Duration
	maxRSS                                          int64
	exit                                            string
}

// outside is a folder beside the corpus holding what must never reach the
// store: a picture and a text with a marker.
type outside struct {
	dir, png, md, marker string
	pngHash              string
}

func makeOutside(dir string) (*outside, error) {
	o := &outside{dir: dir, marker: "RELIABILITY-SECRET-7f3a9c"}
	data := pngImage(64, 64, 4242, true)
	var err error
	if o.png, err = writeFile(dir, "secret.png", data); err != nil {
		return nil, err
	}
	o.pngHash = sha256Hex(data)
	o.md, err = writeFile(dir, "secret.md", []byte("# Secret\n\n"+o.marker+" must never be stored.\n"))
	return o, err
}

// leaked lists what of outside (or /etc/passwd) the store holds.
func (o *outside) leaked(st *storeState, within string) []string {
	var p []string
	for _, src := range st.docs {
		if !strings.HasPrefix(src, within+string(filepath.Separator)) {
			p = append(p, "document from outside: "+src)
		}
	}
	if st.blobs[o.pngHash] {
		p = append(p, "the picture outside the corpus ("+o.png+") is stored as a blob")
	}
	passwd, _ := os.ReadFile("/etc/passwd")
	for id, it := range st.items {
		if strings.Contains(it.text, o.marker) {
			p = append(p, "item "+id+" holds the text of "+o.md)
		}
		if strings.Contains(it.text, "root:x:0:0") || len(passwd) > 0 && it.blob == sha256Hex(passwd) {
			p = append(p, "item "+id+" holds /etc/passwd")
		}
	}
	return p
}

// buildHostile writes the corpus under dir and returns its entries and
// the extra paths to name on the command line.
func buildHostile(e *env, dir string, out *outside) (entries []entry, direct []string, err error) {
	add := func(rel string, want expect, data []byte) {
		if err != nil {
			return
		}
		_, err = writeFile(dir, rel, data)
		entries = append(entries, entry{rel, want})
	}
	o := e.o
	// Good files: each must be stored, whatever else is in the batch.
	add("good/notes.md", mustStore, []byte("# Notes\n\nGoodfile marker okapi.\n\n"+prose(1, 30)))
	add("good/plain.txt", mustStore, []byte(prose(2, 20)))
	figure := pngImage(96, 64, 3, false)
	add("good/figure.png", mustStore, figure)
	add("good/page.html", mustStore, []byte(`<!doctype html><html><head><title>Good page</title></head><body><h1>Good page</h1><p>`+prose(4, 10)+
		`</p><figure><img src="figure.png" alt="a gradient"><figcaption>A gradient figure</figcaption></figure></body></html>`))
	pdf := pdfFile([]string{"Reliability report", prose(5, 3), prose(6, 3)})
	add("good/report.pdf", mustStore, pdf)
	docx := docxFile([]string{"Letter", prose(7, 4), prose(8, 4)})
	add("good/letter.docx", mustStore, docx)
	add("good/table.csv", mustStore, []byte("name,value,comment\nalpha,1,"+prose(9, 1)+"\nbeta,2,"+prose(10, 1)+"\n"))
	photo := jpegImage(80, 60, 11)
	add("good/photo.jpg", mustStore, photo)

	// Bombs: a PNG and a JPEG declaring huge pictures, Office files
	// whose member inflates to o.bombMB MiB (the DOCX's headers say so,
	// the XLSX's lie).
	add("bombs/huge-50000x50000.png", mustFail, pngHeaderOnly(50000, 50000))
	add("bombs/huge-65500x65500.jpg", mustFail, jpegDims(photo, 65500, 65500))
	m := bombMember(docxHead+"<w:p><w:r><w:t>", "</w:t></w:r></w:p>"+docxTail, o.bombMB)
	add("bombs/bomb.docx", mustFail, zipBomb(docxTypes, docxRels, "word/document.xml", m, m.size))
	add("bombs/bomb.xlsx", mustFail, zipBomb(xlsxTypes, xlsxRels, "xl/workbook.xml", m, 4096))

	// Truncated files.
	add("truncated/report.pdf", mustFail, pdf[:len(pdf)*3/10])
	add("truncated/letter.docx", mustFail, docx[:len(docx)/2])
	add("truncated/figure.png", mustFail, figure[:len(figure)/2])
	add("truncated/photo.jpg", mustFail, photo[:len(photo)/2])

	// One CSV field of o.csvMB MB, and a page nested o.htmlDepth deep.
	if err == nil {
		err = writeHugeCSV(filepath.Join(dir, "big/huge-field.csv"), int64(o.csvMB)*1_000_000)
		entries = append(entries, entry{"big/huge-field.csv", either})
	}
	add("nested/deep.html", either, []byte("<!doctype html><html><body>"+strings.Repeat("<div>", o.htmlDepth)+"deep"+strings.Repeat("</div>", o.htmlDepth)+"</body></html>"))

	// Odd names: terminal escapes, a newline, a carriage return, 255
	// bytes, invalid UTF-8. Good content: they must be stored.
	for i, name := range []string{
		"esc-\x1b[31mred\x1b[0m-\x1b]0;pwned\x07.md",
		"new\nline.md",
		"cr-\rFAKE.md",
		strings.Repeat("n", 252) + ".md",
		"bad-\xff\xfe-utf8.md",
	} {
		add("names/"+name, mustStore, []byte(prose(uint64(20+i), 8)))
	}

	// Figures that climb out of the page's folder, or leave it by an
	// absolute path or a file:// URL; one legitimate figure beside.
	secretRel := strings.Repeat("../", 30) + strings.TrimPrefix(out.png, "/")
	add("traversal/ok.png", mustStore, pngImage(48, 48, 31, false))
	add("traversal/page.html", mustStore, []byte(`<!doctype html><html><head><title>Traversal</title></head><body><p>`+prose(32, 4)+`</p>
<img src="ok.png" alt="the legitimate figure">
<img src="../../../../../../../../etc/passwd" alt="passwd">
<img src="`+secretRel+`" alt="climbing to the secret">
<img src="../../outside/secret.png" alt="next door">
<img src="file://`+out.png+`" alt="file url">
<img src="`+out.png+`" alt="absolute">
<img src="%2e%2e/%2e%2e/outside/secret.png" alt="encoded">
<img src="..%2f..%2foutside%2fsecret.png" alt="encoded slash">
</body></html>`))
	add("traversal/notes.md", mustStore, []byte("# Notes with figures\n\n"+prose(33, 4)+"\n\n![up](../../outside/secret.png)\n\n![abs]("+out.png+")\n\n![passwd](../../../../../../../../etc/passwd)\n\n![file](file://"+out.png+")\n"))

	// Empty files: a PDF, a picture or a DOCX with no bytes is broken;
	// empty text may be stored empty.
	add("empty/empty.pdf", mustFail, nil)
	add("empty/empty.png", mustFail, nil)
	add("empty/empty.docx", mustFail, nil)
	add("empty/empty.md", either, nil)
	add("empty/empty.html", either, nil)
	if err != nil {
		return nil, nil, err
	}

	// Links: loops, and links out of the corpus (not followed by default:
	// never stored). The self-loop is also named on the command line.
	links := filepath.Join(dir, "links")
	os.MkdirAll(links, 0o755)
	for _, l := range [][2]string{
		{".", "loop"}, {"self", "self"}, {"b", "a"}, {"a", "b"},
		{"/etc/passwd", "passwd.md"}, {out.png, "secret.png"}, {"../../outside/secret.md", "up.md"},
		{filepath.Join(links, ".."), "corpus-again"},
	} {
		if err := os.Symlink(l[0], filepath.Join(links, l[1])); err != nil {
			return nil, nil, err
		}
		want := notStored
		if l[1] == "self" {
			want = mustFail
		}
		entries = append(entries, entry{"links/" + l[1], want})
	}
	direct = append(direct, filepath.Join(links, "self"))

	// A FIFO: reading it would block forever. Named on the command line
	// it must fail; met in the walk it must not hang it.
	fifo := filepath.Join(dir, "fifo", "pipe.md")
	os.MkdirAll(filepath.Dir(fifo), 0o755)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		return nil, nil, fmt.Errorf("mkfifo: %w", err)
	}
	entries = append(entries, entry{"fifo/pipe.md", mustFail})
	direct = append(direct, fifo)
	return entries, direct, nil
}

// jpegDims patches the frame header of a baseline JPEG to declare w×h.
func jpegDims(j []byte, w, h uint16) []byte {
	out := slices.Clone(j)
	for i := 2; i+9 < len(out); {
		if out[i] != 0xFF {
			break
		}
		marker := out[i+1]
		n := int(out[i+2])<<8 | int(out[i+3])
		if marker == 0xC0 || marker == 0xC2 {
			out[i+5], out[i+6] = byte(h>>8), byte(h)
			out[i+7], out[i+8] = byte(w>>8), byte(w)
			return out
		}
		i += 2 + n
	}
	return out
}

// writeHugeCSV writes a CSV whose second row holds one field of size bytes.
func writeHugeCSV(path string, size int64) error {
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	f.WriteString("id,text\n1,\"")
	line := []byte(strings.Repeat("lorem ipsum dolor sit amet ", 40))
	for written := int64(0); written < size; written += int64(len(line)) {
		if _, err := f.Write(line); err != nil {
			return err
		}
	}
	_, err = f.WriteString("\"\n2,short\n")
	return err
}

// ingestReport is `mmrag ingest --json`.
type ingestReport struct {
	Added, Updated, Unchanged, Skipped, Failed, Items int
	Errors                                            []struct{ Source, Error string }
}

func checkHostile(ctx context.Context, s *suite, e *env) {
	const name = "hostile"
	root := e.path("hostile")
	out, err := makeOutside(filepath.Join(root, "outside"))
	if err != nil {
		s.fail(name, "write the files outside the corpus: %v", err)
		return
	}
	corpus := filepath.Join(root, "corpus")
	start := time.Now()
	entries, direct, err := buildHostile(e, corpus, out)
	if err != nil {
		s.fail(name, "build the corpus: %v", err)
		return
	}
	fmt.Printf("  corpus: %d hostile and good files written in %.1fs\n", len(entries), time.Since(start).Seconds())
	store := filepath.Join(root, "kb")
	args := append([]string{"ingest", "--json", corpus}, direct...)
	r := e.run(e.o.batchLimit, store, args...)
	f := &s.hostile
	f.files, f.elapsed, f.maxRSS, f.exit = len(entries), r.Elapsed, r.MaxRSS, r.exitDesc()

	s.check(name+"/finishes", !r.TimedOut && r.Err == nil, "one ingest of the whole batch: %s", r)
	s.check(name+"/no crash", r.crashed() == "" && (r.Code == 0 || r.Code == 1), "%s (stderr: %s)", or(r.crashed(), r.String()), tail(r.Stderr, 300))
	s.check(name+"/memory", r.MaxRSS>>10 < e.o.maxRSSMB, "peak RSS of the ingest %s (limit %d MiB)", mib(r.MaxRSS), e.o.maxRSSMB)

	var rep ingestReport
	if err := json.Unmarshal([]byte(lastLine(r.Stdout)), &rep); err != nil {
		s.fail(name+"/report", "ingest --json printed no report: %v: %s", err, tail(r.Stdout, 200))
	}
	st, err := inspectStore(ctx, store)
	if err != nil {
		s.fail(name+"/store", "read the store: %v", err)
		return
	}
	failedFor := func(abs string) string {
		for _, er := range rep.Errors {
			if er.Source == abs {
				return er.Error
			}
		}
		return ""
	}
	var bad errs
	for _, en := range entries {
		abs := filepath.Join(corpus, en.rel)
		en.judge(hasSource(st, abs), failedFor(abs), f, &bad)
	}
	s.check(name+"/outcomes", len(bad) == 0, "%d files: %d stored, %d failed with their name, as expected%s", len(entries), f.stored, f.failedNamed, problems(bad))

	leaks := out.leaked(st, corpus)
	pageImgs, okHash, pageLeaks := traversalPageFigures(st, corpus)
	leaks = append(leaks, pageLeaks...)
	slices.Sort(leaks)
	leaks = slices.Compact(leaks)
	s.check(name+"/nothing from outside", len(leaks) == 0, "documents all under the corpus, no blob or text of /etc/passwd or of the folder beside%s", problems(leaks))
	s.check(name+"/legitimate figure", slices.Contains(pageImgs, okHash), "traversal/page.html keeps its figure ok.png (%d figures stored)", len(pageImgs))
	s.check(name+"/store intact", len(st.healthy()) == 0, "integrity_check %s, no orphans%s", st.integrity, problems(st.healthy()))

	// What reaches the terminal: the progress lines, and `mmrag ls`.
	ls := e.run(time.Minute, store, "ls")
	unsafe := controlBytes(r.Stderr, "ingest progress")
	unsafe = append(unsafe, controlBytes(ls.Stdout, "mmrag ls")...)
	for _, out := range []string{r.Stderr, ls.Stdout} {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "line.md") || strings.HasPrefix(l, "FAKE.md") {
				unsafe = append(unsafe, fmt.Sprintf("a file name's line break starts the output line %q", l))
			}
		}
	}
	s.check(name+"/terminal-safe output", len(unsafe) == 0, "no control characters from file names in ingest's progress or ls%s", problems(unsafe))

	followLoops(ctx, s, e, filepath.Join(root, "loops"))
}

// judge checks what became of the entry, stored or failed with the error
// naming it, against what must, counting into f and adding to bad.
func (en entry) judge(stored bool, failed string, f *hostileFigures, bad *errs) {
	switch en.want {
	case mustStore:
		f.mustStore++
		if !stored {
			bad.add("%q %s but was not (error: %s)", en.rel, en.want, or(failed, "none"))
		}
	case mustFail:
		f.mustFail++
		if stored {
			bad.add("%q %s but was stored", en.rel, en.want)
		} else if failed == "" {
			bad.add("%q %s: no error names it", en.rel, en.want)
		}
	case notStored:
		if stored {
			bad.add("%q %s but was stored", en.rel, en.want)
		}
	case either:
		if !stored && failed == "" {
			bad.add("%q %s: neither (silently dropped)", en.rel, en.want)
		}
	}
	if stored {
		f.stored++
	}
	if failed != "" {
		f.failedNamed++
	}
	if en.want == either || en.want == mustFail && failed != "" {
		fmt.Printf("  %-28q %s\n", en.rel, or(firstLine(failed), "stored"))
	}
}

// traversalPageFigures returns the figures stored of the corpus's
// traversal page, the hash of its one legitimate figure (ok.png) and a
// leak for each other: the page keeps that figure and nothing else.
func traversalPageFigures(st *storeState, corpus string) (pageImgs []string, okHash string, leaks []string) {
	pageSrc := filepath.Join(corpus, "traversal/page.html")
	if b, err := os.ReadFile(filepath.Join(corpus, "traversal/ok.png")); err == nil {
		okHash = sha256Hex(b)
	}
	for _, it := range st.items {
		if st.docs[it.doc] == pageSrc && it.modality == "image" {
			pageImgs = append(pageImgs, it.blob)
			if it.blob != okHash {
				leaks = append(leaks, "traversal/page.html has a figure that is not ok.png: "+it.blob)
			}
		}
	}
	return pageImgs, okHash, leaks
}

// followLoops ingests, following symbolic links, a folder whose links
// loop back into it or onto themselves: the walk must end, with the one
// real file stored once.
func followLoops(ctx context.Context, s *suite, e *env, dir string) {
	const name = "hostile/symlink loops followed"
	good, err := writeFile(dir, "good.md", []byte("# Good\n\n"+prose(90, 10)))
	if err == nil {
		os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755)
		for _, l := range [][2]string{{".", "loop"}, {"self", "self"}, {"b", "a"}, {"a", "b"}, {"../..", "sub/deeper/back"}, {dir, "sub/abs"}} {
			if err = os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
				break
			}
		}
	}
	if err != nil {
		s.fail(name, "%v", err)
		return
	}
	store := filepath.Join(filepath.Dir(dir), "kb-loops")
	r := e.run(time.Minute, store, "ingest", "--follow-symlinks", "--json", dir)
	st, err := inspectStore(ctx, store)
	var srcs []string
	if err == nil {
		srcs = st.sources()
	}
	s.check(name, !r.TimedOut && r.crashed() == "" && r.Code <= 1 && len(srcs) == 1 && srcs[0] == good,
		"ingest --follow-symlinks of a folder with loops: %s, stored %q %v", r, srcs, err)
}

// controlBytes lists control characters other than newline and tab in
// text meant for a terminal.
func controlBytes(text, where string) []string {
	var p []string
	for i, r := range text {
		if r == '\n' || r == '\t' {
			continue
		}
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f {
			lo, hi := max(0, i-30), min(len(text), i+30)
			p = append(p, fmt.Sprintf("%s: %U in %q", where, r, text[lo:hi]))
			if len(p) >= 3 {
				break
			}
		}
	}
	return p
}

func problems(p []string) string {
	if len(p) == 0 {
		return ""
	}
	return ": " + errs(p).String()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
