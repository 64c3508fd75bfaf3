package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"mmrag"
	"mmrag/extract"
	"mmrag/extract/pdf"
	"mmrag/ingest"
)

// Page images: a PDF page rendered to PNG at one fixed size, so that a
// client cannot make the server render a page once per size it names.
const (
	pageWidth  = 1600 // pixels at most
	pageHeight = 2400 // pixels at most (tall pages)
	// maxPageSource bounds the source file read to render a page.
	maxPageSource = 512 << 20
	// pageDiskBudget bounds the page images kept on disk; past it the
	// least recently served are removed, down to three quarters of it.
	pageDiskBudget = 256 << 20
	// pageDirName is the folder of the UploadDir the page images are
	// kept in; sweepUploads leaves dot folders alone.
	pageDirName = ".pages"
)

// Region is where a passage sits on its page, in fractions of the page's
// width and height from its top left corner: what the reader highlights
// over the page image (GET /v1/documents/{id}/pages/{n}).
type Region struct {
	X0 float64 `json:"x0"`
	Y0 float64 `json:"y0"`
	X1 float64 `json:"x1"`
	Y1 float64 `json:"y1"`
}

// itemRegion is the region ingest recorded for a paged item, or nil.
func itemRegion(it mmrag.Item) *Region {
	if it.Page <= 0 || it.Meta[mmrag.MetaRegion] == "" {
		return nil
	}
	r, err := mmrag.ParseRegion(it.Meta[mmrag.MetaRegion])
	if err != nil {
		return nil
	}
	return &Region{X0: r.X0, Y0: r.Y0, X1: r.X1, Y1: r.Y1}
}

// pageError is a refusal of a page image with its status and message.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

// handlePage serves page n of a PDF document as PNG: rendered from the
// document's recorded source (an upload or the file it was ingested
// from), never a path a client names, and cached in memory and on disk.
func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("page %q: want a page number from 1", r.PathValue("n")))
		return
	}
	doc, err := s.cfg.Store.Document(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if err := s.checkPage(doc, n); err != nil {
		s.failPage(w, r, err)
		return
	}
	etag := `"` + doc.Hash + "-p" + strconv.Itoa(n) + "-" + strconv.Itoa(pageWidth) + `"`
	if notModified(w, r, etag, 3600) {
		return
	}
	data, err := s.pageImage(r, doc, n)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	writeImage(w, r, "image/png", data)
}

// failPage answers a page refusal with its own status, a page the PDF
// does not have with 404, and anything else as failErr does.
func (s *Server) failPage(w http.ResponseWriter, r *http.Request, err error) {
	var pe *pageError
	switch {
	case errors.As(err, &pe):
		s.fail(w, r, pe.status, pe.msg)
	case errors.Is(err, pdf.ErrNoPage):
		s.fail(w, r, http.StatusNotFound, "document "+r.PathValue("id")+" has no page "+r.PathValue("n"))
	default:
		s.failErr(w, r, err)
	}
}

// checkPage refuses, before any file is read, documents that are not
// PDFs, pages past the count extraction recorded, and sources that are
// not local files.
func (s *Server) checkPage(doc mmrag.Document, n int) error {
	if doc.Type != ingest.TypePDF {
		return &pageError{http.StatusNotFound, "document " + doc.ID + " is a " + doc.Type + " document: only PDFs have page images"}
	}
	if pages, err := strconv.Atoi(doc.Meta["pages"]); err == nil && n > pages {
		return &pageError{http.StatusNotFound, fmt.Sprintf("document %s has no page %d: it has %d", doc.ID, n, pages)}
	}
	if !filepath.IsAbs(doc.Source) {
		return &pageError{http.StatusNotFound, "document " + doc.ID + " was ingested from a URL: its pages are not kept; ingest a downloaded copy to see them"}
	}
	return nil
}

// pageImage returns the PNG of page n, rendering it when no cache holds
// it: requests for one page share one render (single flight), renders
// share the thumbnail decoders' bound, and the result is kept in memory
// and on disk.
func (s *Server) pageImage(r *http.Request, doc mmrag.Document, n int) ([]byte, error) {
	key := "page/" + doc.ID + "/" + doc.Hash + "/" + strconv.Itoa(n) + "/" + strconv.Itoa(pageWidth)
	if t, ok := s.thumbs.get(key); ok {
		return t.data, nil
	}
	v, err, _ := s.thumbFlight.Do(key, func() (any, error) {
		return s.makePage(r, doc, n, key)
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// makePage renders one page for every request waiting on key: it does not
// stop when the first of them goes away.
func (s *Server) makePage(r *http.Request, doc mmrag.Document, n int, key string) ([]byte, error) {
	if t, ok := s.thumbs.get(key); ok { // made while this request waited
		return t.data, nil
	}
	file := s.pageFile(doc, n)
	if file != "" {
		if data, err := os.ReadFile(file); err == nil {
			now := time.Now()
			_ = os.Chtimes(file, now, now) // recently served: kept longest
			s.thumbs.put(key, thumb{data: data, mime: "image/png"})
			return data, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), thumbWait)
	defer cancel()
	// The bound covers reading the source too: it holds the whole file.
	select {
	case s.thumbSem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: too many pages being rendered; try again", ErrUnavailable)
	}
	img, err := s.renderPage(ctx, doc, n)
	<-s.thumbSem
	if err != nil {
		return nil, err
	}
	s.thumbs.put(key, thumb{data: img.PNG, mime: "image/png"})
	s.keepPage(r, file, img.PNG)
	return img.PNG, nil
}

// renderPage reads the document's source and renders page n.
func (s *Server) renderPage(ctx context.Context, doc mmrag.Document, n int) (pdf.PageImage, error) {
	src, err := s.readSource(doc)
	if err != nil {
		return pdf.PageImage{}, err
	}
	return pdf.RenderPage(ctx, src, n, pageWidth, pageHeight)
}

// readSource reads the document's recorded source, refusing one that is
// gone, not a regular file, too large, or changed since it was ingested.
// Refusals name the document, not its file.
func (s *Server) readSource(doc mmrag.Document) (extract.Source, error) {
	f, err := os.Open(doc.Source)
	if errors.Is(err, fs.ErrNotExist) {
		return extract.Source{}, &pageError{http.StatusGone, "the source file of document " + doc.ID + " is gone: upload or ingest it again to see its pages"}
	}
	if err != nil {
		return extract.Source{}, fmt.Errorf("open the source of document %s: %w", doc.ID, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return extract.Source{}, fmt.Errorf("stat the source of document %s: %w", doc.ID, err)
	}
	if !st.Mode().IsRegular() || st.Size() > maxPageSource {
		return extract.Source{}, &pageError{http.StatusNotFound, fmt.Sprintf("the source of document %s is not a regular file of at most %d MiB: its pages cannot be shown", doc.ID, maxPageSource>>20)}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPageSource))
	if err != nil {
		return extract.Source{}, fmt.Errorf("read the source of document %s: %w", doc.ID, err)
	}
	if sum := sha256.Sum256(data); doc.Hash != "" && hex.EncodeToString(sum[:]) != doc.Hash {
		return extract.Source{}, &pageError{http.StatusConflict, "the source file of document " + doc.ID + " changed since it was ingested: reingest it to see its pages"}
	}
	return extract.Source{Path: s.displaySource(doc.Source, doc.Meta[ingest.MetaRoot]), Data: data, MIME: "application/pdf"}, nil
}

// sha256Hex matches the document hashes page files are named after.
var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// pageFile is where page n of doc is kept on disk: named after the
// source's hash, so that a changed source never serves old pages; "" when
// the server keeps no files or the hash is not one.
func (s *Server) pageFile(doc mmrag.Document, n int) string {
	if s.cfg.UploadDir == "" || !sha256Hex.MatchString(doc.Hash) {
		return ""
	}
	return filepath.Join(s.cfg.UploadDir, pageDirName, fmt.Sprintf("%s-p%d-w%d.png", doc.Hash, n, pageWidth))
}

// pageWrites counts page files written, to prune the folder now and then.
var pageWrites atomic.Int64

// keepPage writes a page image to file (whole or not at all), pruning
// the folder every so often. Failures only cost a later render.
func (s *Server) keepPage(r *http.Request, file string, data []byte) {
	if file == "" {
		return
	}
	if err := writeBytesAtomic(file, data); err != nil {
		s.log.Warn("page image not kept on disk", "request_id", RequestID(r.Context()), "err", err)
		return
	}
	if pageWrites.Add(1)%32 == 0 {
		prunePages(filepath.Dir(file), pageDiskBudget)
	}
}

// prunePages removes the least recently served page images of dir while
// they take more than budget, down to three quarters of it.
func prunePages(dir string, budget int64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type file struct {
		path string
		size int64
		mod  time.Time
	}
	var files []file
	var total int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !strings.HasSuffix(e.Name(), ".png") {
			continue
		}
		files = append(files, file{filepath.Join(dir, e.Name()), info.Size(), info.ModTime()})
		total += info.Size()
	}
	if total <= budget {
		return
	}
	slices.SortFunc(files, func(a, b file) int { return a.mod.Compare(b.mod) })
	for _, f := range files {
		if total <= budget*3/4 {
			return
		}
		if os.Remove(f.path) == nil {
			total -= f.size
		}
	}
}
