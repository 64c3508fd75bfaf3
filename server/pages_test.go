package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"

	"mmrag"
	"mmrag/extract"
	"mmrag/extract/pdf"
	"mmrag/ingest"
)

const (
	pageTestPara1 = "The page image shows this paragraph in the upper left, where the reader draws its highlight over the rendered page."
	pageTestPara2 = "On the second page a paragraph sits low and to the right."
)

// pageTestPDF writes a two-page Letter PDF: a heading and a paragraph in
// the upper left of page 1, a paragraph in the lower right of page 2.
func pageTestPDF(t testing.TB) []byte {
	t.Helper()
	f := fpdf.New("P", "pt", "Letter", "")
	f.SetAutoPageBreak(false, 0)
	f.AddPage()
	f.SetFont("Helvetica", "B", 20)
	f.SetXY(72, 72)
	f.CellFormat(0, 24, "Page images", "", 1, "L", false, 0, "")
	f.SetFont("Helvetica", "", 12)
	f.SetXY(72, 130)
	f.MultiCell(240, 15, pageTestPara1, "", "L", false)
	f.AddPage()
	f.SetFont("Helvetica", "", 12)
	f.SetXY(330, 500)
	f.MultiCell(200, 15, pageTestPara2, "", "L", false)
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// unitEmbedder gives every text and image the same unit vector: enough
// for ingest to store items.
type unitEmbedder struct{}

func (unitEmbedder) ModelID() string { return "unit" }
func (unitEmbedder) Dim() int        { return 4 }
func (unitEmbedder) EmbedTexts(_ context.Context, texts []string) ([][]float32, error) {
	return unitVectors(len(texts)), nil
}
func (unitEmbedder) EmbedImages(_ context.Context, imgs []image.Image) ([][]float32, error) {
	return unitVectors(len(imgs)), nil
}

func unitVectors(n int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = []float32{1, 0, 0, 0}
	}
	return out
}

// ingestPDF writes data to path and ingests it with the real PDF
// extractor, chunker and ingest pipeline; it returns the document.
func (ts *testServer) ingestPDF(t *testing.T, path string, data []byte) mmrag.Document {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p := &ingest.Pipeline{Store: ts.store, Embedder: unitEmbedder{},
		Extractors: map[string]extract.Extractor{ingest.TypePDF: pdf.PDF{NoOCR: true}}}
	rep, err := p.Add(t.Context(), []string{path}, ingest.WalkOptions{})
	if err != nil || rep.Failed > 0 {
		t.Fatalf("ingest %s: %+v, %v", path, rep, err)
	}
	docs, err := ts.store.Documents(t.Context(), mmrag.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if filepath.Base(d.Source) == filepath.Base(path) && d.Type == "pdf" {
			return d
		}
	}
	t.Fatalf("%s not stored", path)
	return mmrag.Document{}
}

type pageTestDocument struct {
	Passages []PassageView `json:"passages"`
}

// pageTestPassage finds the passage holding text.
func pageTestPassage(t *testing.T, ts *testServer, docID, text string) PassageView {
	t.Helper()
	var d pageTestDocument
	decodeRes(t, ts.do(t, "GET", "/v1/documents/"+docID, nil), http.StatusOK, &d)
	for _, p := range d.Passages {
		if strings.Contains(p.Text, text) {
			return p
		}
	}
	t.Fatalf("no passage holds %q", text)
	return PassageView{}
}

// The passages of a PDF carry their page and region, and the page image
// shows ink inside the region and none far from the text.
func TestPageImageAndPassageRegion(t *testing.T) {
	ts := newTestServer(t, nil)
	doc := ts.ingestPDF(t, filepath.Join(ts.dir, "docs", "report.pdf"), pageTestPDF(t))

	p1 := pageTestPassage(t, ts, doc.ID, pageTestPara1[:30])
	p2 := pageTestPassage(t, ts, doc.ID, pageTestPara2[:30])
	for _, tt := range []struct {
		p    PassageView
		page int
		// where the paragraph was drawn: upper left, lower right
		inside func(*Region) bool
	}{
		{p1, 1, func(r *Region) bool { return r.X0 < 0.2 && r.X1 < 0.6 && r.Y0 > 0.1 && r.Y1 < 0.4 }},
		{p2, 2, func(r *Region) bool { return r.X0 > 0.5 && r.Y0 > 0.6 && r.Y1 < 0.8 }},
	} {
		r := tt.p.Region
		if tt.p.Page != tt.page || r == nil {
			t.Fatalf("passage %q: page %d region %v, want page %d with a region", tt.p.Text[:30], tt.p.Page, r, tt.page)
		}
		if r.X0 < 0 || r.Y0 < 0 || r.X1 > 1 || r.Y1 > 1 || r.X0 >= r.X1 || r.Y0 >= r.Y1 || !tt.inside(r) {
			t.Errorf("passage %q: region %+v outside where it was drawn", tt.p.Text[:30], *r)
		}
	}

	res := ts.do(t, "GET", "/v1/documents/"+doc.ID+"/pages/1", nil)
	body := readAll(t, res)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("page 1: %d %s: %.200s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("page 1 is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != pageWidth || b.Dy() < pageWidth*792/612-1 || b.Dy() > pageWidth*792/612+1 {
		t.Errorf("page 1 is %d×%d, want %d wide with Letter's aspect", b.Dx(), b.Dy(), pageWidth)
	}
	if in, out := pageTestInk(img, *p1.Region), pageTestInk(img, *p2.Region); in < 0.02 || out != 0 {
		t.Errorf("page 1: ink %.3f inside its passage's region (want some), %.3f in page 2's passage region (want none)", in, out)
	}

	// The page is kept on disk under the document's hash, and an ETag
	// the client sends back answers 304.
	if _, err := os.Stat(ts.pageFile(doc, 1)); err != nil {
		t.Errorf("page not kept on disk: %v", err)
	}
	etag := res.Header.Get("ETag")
	if res := ts.do(t, "GET", "/v1/documents/"+doc.ID+"/pages/1", nil, "If-None-Match", etag); etag == "" || res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %q: status %d, want 304", etag, res.StatusCode)
	}
}

// pageTestInk is the share of dark pixels of img inside r.
func pageTestInk(img image.Image, r Region) float64 {
	b := img.Bounds()
	dark, all := 0, 0
	for y := b.Min.Y + int(r.Y0*float64(b.Dy())); y < b.Min.Y+int(r.Y1*float64(b.Dy())); y++ {
		for x := b.Min.X + int(r.X0*float64(b.Dx())); x < b.Min.X+int(r.X1*float64(b.Dx())); x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if (cr+cg+cb)/3 < 0x8000 {
				dark++
			}
			all++
		}
	}
	if all == 0 {
		return 0
	}
	return float64(dark) / float64(all)
}

// Pages that cannot be shown are refused in JSON with a status and a
// message that says why, naming no server path.
func TestPageRefusals(t *testing.T) {
	ts := newTestServer(t, nil)
	data := pageTestPDF(t)
	doc := ts.ingestPDF(t, filepath.Join(ts.dir, "docs", "report.pdf"), data)
	gone := ts.ingestPDF(t, filepath.Join(ts.cfg.UploadDir, "0123", "gone.pdf"), data)
	if err := os.Remove(gone.Source); err != nil {
		t.Fatal(err)
	}
	changed := ts.ingestPDF(t, filepath.Join(ts.dir, "docs", "changed.pdf"), data)
	if err := os.WriteFile(changed.Source, append(data, "\n% edited\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if j := ts.upload(t, [2]string{"notes.txt", sampleText}); j.State != JobDone {
		t.Fatalf("upload: %+v", j)
	}
	var list struct {
		Documents []DocumentView `json:"documents"`
	}
	decodeRes(t, ts.do(t, "GET", "/v1/documents", nil), http.StatusOK, &list)
	text := ""
	for _, d := range list.Documents {
		if d.Type != "pdf" {
			text = d.ID
		}
	}
	if text == "" {
		t.Fatal("the text document is not listed")
	}
	url := func(id, n string) string { return "/v1/documents/" + id + "/pages/" + n }
	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{url("nope", "1"), http.StatusNotFound, "not found"},
		{url(doc.ID, "3"), http.StatusNotFound, "has no page 3: it has 2"},
		{url(doc.ID, "0"), http.StatusBadRequest, "want a page number"},
		{url(doc.ID, "x"), http.StatusBadRequest, "want a page number"},
		{url(text, "1"), http.StatusNotFound, "only PDFs have page images"},
		{url(gone.ID, "1"), http.StatusGone, "is gone: upload or ingest it again"},
		{url(changed.ID, "1"), http.StatusConflict, "changed since it was ingested"},
	} {
		res := ts.do(t, "GET", tt.path, nil)
		body := string(readAll(t, res))
		res.Body = io.NopCloser(strings.NewReader(body))
		wantError(t, res, tt.status, tt.want)
		if strings.Contains(body, ts.dir) {
			t.Errorf("%s: answer names a server path: %s", tt.path, body)
		}
	}
}

func TestPageRegionOfItems(t *testing.T) {
	for _, tt := range []struct {
		name string
		it   mmrag.Item
		want *Region
	}{
		{"recorded", mmrag.Item{Page: 2, Meta: map[string]string{mmrag.MetaRegion: "0.1000 0.2000 0.3000 0.4000"}}, &Region{0.1, 0.2, 0.3, 0.4}},
		{"no page", mmrag.Item{Meta: map[string]string{mmrag.MetaRegion: "0.1000 0.2000 0.3000 0.4000"}}, nil},
		{"none", mmrag.Item{Page: 1}, nil},
		{"malformed", mmrag.Item{Page: 1, Meta: map[string]string{mmrag.MetaRegion: "0.1 2 0.3 0.4"}}, nil},
	} {
		got := itemRegion(tt.it)
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("%s: region %v, want %v", tt.name, got, tt.want)
		}
	}
	// The JSON names the corners as the API documents them.
	b, err := json.Marshal(ItemView{ID: "i", Region: &Region{0.1, 0.2, 0.3, 0.4}})
	if err != nil || !strings.Contains(string(b), `"region":{"x0":0.1,"y0":0.2,"x1":0.3,"y1":0.4}`) {
		t.Errorf("item JSON %s, %v", b, err)
	}
}

// Requests for one page at once share its render and get the same bytes;
// a server started later on the same folders serves rendered pages from
// disk, even once the source is gone, and refuses the others.
func TestPageCache(t *testing.T) {
	ts := newTestServer(t, nil)
	doc := ts.ingestPDF(t, filepath.Join(ts.cfg.UploadDir, "abcd", "report.pdf"), pageTestPDF(t))
	path := "/v1/documents/" + doc.ID + "/pages/2"
	const n = 4
	bodies := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := http.Get(ts.URL + path)
			if err != nil {
				errs[i] = err
				return
			}
			defer res.Body.Close()
			bodies[i], errs[i] = io.ReadAll(res.Body)
			if err == nil && res.StatusCode != http.StatusOK {
				errs[i] = fmt.Errorf("status %d: %s", res.StatusCode, bodies[i])
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Equal(bodies[i], bodies[0]) || len(bodies[0]) == 0 {
			t.Fatalf("request %d: %v, %d bytes (first: %d)", i, errs[i], len(bodies[i]), len(bodies[0]))
		}
	}

	if err := os.Remove(doc.Source); err != nil {
		t.Fatal(err)
	}
	later := newTestServer(t, func(c *Config) { c.Store, c.UploadDir = ts.store, ts.cfg.UploadDir })
	res := later.do(t, "GET", path, nil)
	if body := readAll(t, res); res.StatusCode != http.StatusOK || !bytes.Equal(body, bodies[0]) {
		t.Errorf("page 2 from disk: status %d, %d bytes, want the %d rendered", res.StatusCode, len(body), len(bodies[0]))
	}
	wantError(t, later.do(t, "GET", "/v1/documents/"+doc.ID+"/pages/1", nil), http.StatusGone, "is gone")
}

func TestPrunePages(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for i, name := range []string{"a.png", "b.png", "c.png", "d.png"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, 100), 0o644); err != nil {
			t.Fatal(err)
		}
		mod := old.Add(time.Duration(i) * time.Minute) // a oldest, d newest
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	prunePages(dir, 400) // at the budget: nothing to do
	prunePages(dir, 399) // over: down to 299 bytes, oldest first
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if strings.Join(left, " ") != "c.png d.png" {
		t.Errorf("left %q, want the two most recently served", left)
	}
}
