// Package ingest owns turning sources into stored documents: it expands
// targets (files, folders, globs, http(s) URLs) into files, detects their
// type, runs the matching extractor, chunks the text, embeds what is new and
// writes each document with one Store.PutDocument.
//
// Re-ingesting is incremental. A document is identified by its source (the
// absolute path or URL), so a source keeps its id across runs; one whose
// bytes, chunking settings and embedding model are unchanged is skipped
// without extracting anything. A changed one is extracted again and
// replaced whole, but the vectors of chunks and images whose content did not
// change are carried over, so only new content is embedded.
//
// It knows no concrete extractor, embedder or store: the caller passes them.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"mmrag"
	"mmrag/chunk"
	"mmrag/extract"
	"mmrag/imageprep"
)

// Pipeline ingests sources into Store. Set its fields, then call Add; a
// Pipeline may be reused but Add calls must not overlap.
type Pipeline struct {
	Store    mmrag.Store
	Embedder mmrag.Embedder // vectors for text chunks and images
	// Extractors by type key (see Detect): html, markdown, text, pdf, docx,
	// pptx, xlsx, csv, image, media. A type without an extractor is
	// unsupported.
	Extractors map[string]extract.Extractor
	Chunk      chunk.Options
	Fetch      FetchOptions // limits for URL targets
	// Fetcher downloads URL targets; nil means NewFetcher(Fetch). The same
	// Fetcher's Fetch method suits html.HTML.Fetch (mmrag/extract/html).
	Fetcher *Fetcher
	// Workers is how many files are read and extracted at once; 0 means 2.
	// Embedding runs in one stage that batches the chunks of every
	// document waiting for it.
	Workers int
	// TextBatch and ImageBatch bound the inputs of one Embedder call;
	// 0 means 64 and 8.
	TextBatch, ImageBatch int
	// ImageLimits bound the decoding of one image (pixels, bytes).
	ImageLimits imageprep.Limits
	// Limits bound what one file may become (text, chunks, images); a file
	// over one fails with a *LimitError and the others go on.
	Limits Limits
	// Progress, when set, is told what happens to each file. Calls are
	// serialised; it should return quickly.
	Progress func(Event)
}

// EventKind says what an Event reports.
type EventKind string

const (
	Started   EventKind = "started"   // extraction begins
	Extracted EventKind = "extracted" // read: TextBytes of text, Images images
	Chunked   EventKind = "chunked"   // Items items made; Total of them need a vector, Reused carried over
	Embedding EventKind = "embedding" // Done of Total vectors computed; Added or Updated follows once stored
	Unchanged EventKind = "unchanged" // same bytes, settings and model: nothing done
	Skipped   EventKind = "skipped"   // a walked file of no supported type
	Added     EventKind = "added"     // stored for the first time
	Updated   EventKind = "updated"   // replaced an earlier version
	Failed    EventKind = "failed"    // not stored; Err says why
	Warning   EventKind = "warning"   // a recoverable problem; Message says what
	Removed   EventKind = "removed"   // pruned: its file is gone
)

// Event is one step of one source.
type Event struct {
	Kind     EventKind
	Source   string // absolute path or URL
	Type     string // type key, when known
	Items    int    // Added, Updated: items stored
	Embedded int    // Added, Updated: vectors computed
	Reused   int    // Added, Updated: items whose vector was carried over
	Bytes    int64  // size of the source, when read
	Message  string // Warning, Skipped
	Err      error  // Failed
	Elapsed  time.Duration

	// Progress inside one file, between Started and Added/Updated.
	TextBytes int64 // Extracted: bytes of text
	Images    int   // Extracted: images found
	Done      int   // Embedding: vectors computed so far
	Total     int   // Chunked, Embedding: vectors to compute
}

// InFile reports whether the event is progress inside one file (Started,
// Extracted, Chunked, Embedding, Warning) rather than its outcome.
func (k EventKind) InFile() bool {
	switch k {
	case Started, Extracted, Chunked, Embedding, Warning:
		return true
	}
	return false
}

// Report sums up one Add.
type Report struct {
	Added, Updated, Unchanged, Skipped, Failed, Removed int
	Items                                               int   // items of the documents added or updated
	Embedded                                            int   // vectors computed
	Reused                                              int   // items whose vector was carried over from the previous version
	Bytes                                               int64 // bytes of the sources read
	Warnings                                            int
	WarningList                                         []FileWarning // the first MaxReportWarnings warnings, in order
	Errors                                              []FileError   // one per failed source, in the order they failed
	Elapsed                                             time.Duration
}

// Files counts the sources that were supported, whatever became of them.
func (r Report) Files() int { return r.Added + r.Updated + r.Unchanged + r.Failed }

// FileError is why one source was not stored.
type FileError struct {
	Source string
	Err    error
}

// Error is "source: reason". Extractors name the file in their errors too;
// that second name is dropped.
func (e FileError) Error() string {
	msg := e.Err.Error()
	for _, name := range []string{e.Source, filepath.Base(e.Source)} {
		if name != "" && name != "." && strings.HasPrefix(msg, name+": ") {
			msg = msg[len(name)+2:]
			break
		}
	}
	return e.Source + ": " + msg
}
func (e FileError) Unwrap() error { return e.Err }

// FileWarning is a recoverable problem of one source: the source was stored
// (or failed for another reason) all the same.
type FileWarning struct {
	Source  string
	Message string
}

// String is "source: message".
func (w FileWarning) String() string { return w.Source + ": " + w.Message }

// MaxReportWarnings caps Report.WarningList; Report.Warnings counts all.
const MaxReportWarnings = 1000

// ErrUnsupported is wrapped by the error of a file named directly whose
// type no extractor reads.
var ErrUnsupported = errors.New("unsupported file type")

// Meta keys the pipeline adds to Document.Meta (those of Item.Meta are
// mmrag's: mmrag.MetaText, mmrag.MetaSrc…).
const (
	MetaChunking = "ingest.chunking" // chunk settings the items were made with
	MetaMIME     = "ingest.mime"     // detected content type
	MetaURL      = "ingest.url"      // final URL after redirects
	MetaRoot     = "ingest.root"     // folder a local file was ingested under (its asset root)
)

func (p *Pipeline) workers() int {
	if p.Workers > 0 {
		return p.Workers
	}
	return 2
}

func (p *Pipeline) textBatch() int {
	if p.TextBatch > 0 {
		return p.TextBatch
	}
	return 64
}

func (p *Pipeline) imageBatch() int {
	if p.ImageBatch > 0 {
		return p.ImageBatch
	}
	return 8
}

// chunking names the chunk settings, so that a change of them re-chunks
// documents whose bytes did not change.
func (p *Pipeline) chunking() string {
	o := p.Chunk
	counter := "default"
	if o.Counter != nil {
		counter = fmt.Sprintf("%T", o.Counter)
	}
	return fmt.Sprintf("max=%d overlap=%d min=%d counter=%s", o.MaxTokens, o.Overlap, o.MinChars, counter)
}

// layouts names what an extractor's items carry beyond the chunk
// settings, per file type: a document stored before its extractor learnt
// it is extracted again on the next ingest although its bytes did not
// change (PDF passages gained their page regions).
var layouts = map[string]string{TypePDF: "regions"}

// chunkingOf is the chunking value stored with a document of type typ.
func chunkingOf(chunking, typ string) string {
	if l, ok := layouts[typ]; ok {
		return chunking + " layout=" + l
	}
	return chunking
}

// DocID is the id of the document ingested from source (an absolute path
// or a URL): the sha256 of the source, hex.
func DocID(source string) string {
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:])
}

// itemID derives an item's id from its document, modality, position and
// content, so that re-ingesting an unchanged document yields the same ids.
func itemID(docID string, m mmrag.Modality, pos int, content string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00", docID, m, pos)
	h.Write([]byte(content))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// normalizeURL drops the fragment, which names a place in the page and not
// another page, and lowercases scheme and host.
func normalizeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	u.Fragment, u.RawFragment = "", ""
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	return u.String()
}

// recorder collects the Report and forwards events to Progress.
type recorder struct {
	mu       sync.Mutex
	rep      Report
	progress func(Event)
}

func (r *recorder) event(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.Kind {
	case Unchanged:
		r.rep.Unchanged++
	case Skipped:
		r.rep.Skipped++
	case Added, Updated:
		if e.Kind == Added {
			r.rep.Added++
		} else {
			r.rep.Updated++
		}
		r.rep.Items += e.Items
		r.rep.Embedded += e.Embedded
		r.rep.Reused += e.Reused
	case Failed:
		r.rep.Failed++
		r.rep.Errors = append(r.rep.Errors, FileError{Source: e.Source, Err: e.Err})
	case Warning:
		r.rep.Warnings++
		if len(r.rep.WarningList) < MaxReportWarnings {
			r.rep.WarningList = append(r.rep.WarningList, FileWarning{Source: e.Source, Message: e.Message})
		}
	case Removed:
		r.rep.Removed++
	}
	if !e.Kind.InFile() {
		r.rep.Bytes += e.Bytes
	}
	if r.progress != nil {
		r.progress(e)
	}
}

func (r *recorder) fail(source string, err error) {
	r.event(Event{Kind: Failed, Source: source, Err: err})
}

func (r *recorder) warn(source, msg string) {
	r.event(Event{Kind: Warning, Source: source, Message: msg})
}

// Add ingests targets: files, folders (walked recursively; hidden entries
// and WalkOptions.Skip left out), globs ("docs/**/*.md", expanded here so
// that "**" works) and http(s) URLs.
//
// A source that cannot be read, extracted or stored is counted in
// Report.Failed and listed in Report.Errors; the others are stored all the
// same, and the error returned is nil. The error is non-nil only when
// nothing could be attempted (bad options) or ctx ended, in which case the
// documents stored before stay stored and the one being written is not
// (each is written in one transaction).
func (p *Pipeline) Add(ctx context.Context, targets []string, opts WalkOptions) (Report, error) {
	start := time.Now()
	switch {
	case p.Store == nil:
		return Report{}, errors.New("ingest: no store")
	case p.Embedder == nil:
		return Report{}, errors.New("ingest: no embedder")
	case len(p.Extractors) == 0:
		return Report{}, errors.New("ingest: no extractors")
	}
	w, err := newWalker(opts)
	if err != nil {
		return Report{}, fmt.Errorf("ingest: %w", err)
	}
	fetcher := p.Fetcher
	if fetcher == nil {
		fetcher = NewFetcher(p.Fetch)
	}
	rec := &recorder{progress: p.Progress}
	maxBytes := opts.MaxFileBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFileBytes
	}
	run := &run{p: p, rec: rec, fetcher: fetcher, maxBytes: maxBytes, model: p.Embedder.ModelID(), chunking: p.chunking()}

	jobs := make(chan job, p.workers())
	prepared := make(chan *work, p.workers())
	embedded := make(chan *work, p.workers())

	walked := make(chan struct{})
	go func() {
		defer close(walked)
		defer close(jobs)
		w.emit = func(j job) bool {
			select {
			case jobs <- j:
				return true
			case <-ctx.Done():
				return false
			}
		}
		w.fail = rec.fail
		w.warn = rec.warn
		for _, t := range targets {
			if ctx.Err() != nil {
				return
			}
			w.target(ctx, t)
		}
	}()

	var extractors sync.WaitGroup
	for range p.workers() {
		extractors.Go(func() {
			for j := range jobs {
				if ctx.Err() != nil {
					continue // drain
				}
				if wk := run.prepare(ctx, j); wk != nil {
					select {
					case prepared <- wk:
					case <-ctx.Done():
					}
				}
			}
		})
	}
	go func() {
		extractors.Wait()
		close(prepared)
	}()
	go func() {
		defer close(embedded)
		run.embedStage(ctx, prepared, embedded)
	}()
	for wk := range embedded {
		run.store(ctx, wk)
	}
	<-walked

	if opts.Prune && ctx.Err() == nil {
		run.prune(ctx, w.roots)
	}
	rec.mu.Lock()
	rep := rec.rep
	rec.mu.Unlock()
	rep.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("ingest: %w", err)
	}
	return rep, nil
}
