package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mmrag"
	"mmrag/extract"
	"mmrag/extract/csv"
	"mmrag/extract/html"
	"mmrag/extract/markdown"
	"mmrag/extract/pdf"
	"mmrag/extract/text"
	"mmrag/sqlite"
)

// fakeEmbedder returns deterministic vectors derived from a hash of the
// input and records what it was asked to embed. It stands in for CLIP in
// tests of the code around the embedder (what gets embedded, how often).
type fakeEmbedder struct {
	dim int

	mu         sync.Mutex
	textCalls  int
	imageCalls int
	texts      []string // every text embedded, in order
	images     int      // images embedded
	failText   string   // EmbedTexts fails when a text contains it
	failImages bool     // EmbedImages always fails
	block      chan struct{}
	delay      time.Duration // slept per EmbedTexts call
}

func newFake() *fakeEmbedder { return &fakeEmbedder{dim: 16} }

func (f *fakeEmbedder) ModelID() string { return "fake" }
func (f *fakeEmbedder) Dim() int        { return f.dim }

func (f *fakeEmbedder) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.textCalls++
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if f.failText != "" && strings.Contains(t, f.failText) {
			return nil, errors.New("fake embedder refuses this text")
		}
		out[i] = hashVector([]byte("text\x00"+t), f.dim)
	}
	f.texts = append(f.texts, texts...)
	return out, nil
}

func (f *fakeEmbedder) EmbedImages(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imageCalls++
	if f.failImages {
		return nil, errors.New("fake embedder refuses images")
	}
	out := make([][]float32, len(imgs))
	for i, img := range imgs {
		b := img.Bounds()
		var buf bytes.Buffer
		binary.Write(&buf, binary.LittleEndian, [2]int32{int32(b.Dx()), int32(b.Dy())})
		for y := b.Min.Y; y < b.Max.Y; y += max(1, b.Dy()/8) {
			for x := b.Min.X; x < b.Max.X; x += max(1, b.Dx()/8) {
				r, g, bb, _ := img.At(x, y).RGBA()
				binary.Write(&buf, binary.LittleEndian, [3]uint32{r, g, bb})
			}
		}
		out[i] = hashVector(append([]byte("image\x00"), buf.Bytes()...), f.dim)
	}
	f.images += len(imgs)
	return out, nil
}

// counts returns texts and images embedded so far and resets them.
func (f *fakeEmbedder) take() (texts []string, images int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	texts, images = f.texts, f.images
	f.texts, f.images = nil, 0
	return texts, images
}

func hashVector(seed []byte, dim int) []float32 {
	v := make([]float32, dim)
	var norm float64
	for i := range v {
		h := sha256.Sum256(append(binary.LittleEndian.AppendUint32(nil, uint32(i)), seed...))
		x := float64(int32(binary.LittleEndian.Uint32(h[:4]))) / math.MaxInt32
		v[i] = float32(x)
		norm += x * x
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(norm))
	}
	return v
}

// imageExtractor is a stand-in for picture.Picture: the file is its one image.
type imageExtractor struct{}

func (imageExtractor) Extract(_ context.Context, src extract.Source) (*extract.Result, error) {
	return &extract.Result{Type: "image", Images: []extract.Image{{Data: src.Data, MIME: src.MIME, Src: filepath.Base(src.Path)}}}, nil
}

func testExtractors() map[string]extract.Extractor {
	return map[string]extract.Extractor{
		TypeHTML:     html.HTML{},
		TypeMarkdown: markdown.Markdown{},
		TypeText:     text.Text{},
		TypePDF:      pdf.PDF{NoOCR: true},
		TypeCSV:      csv.CSV{},
		TypeImage:    imageExtractor{},
	}
}

func openStore(t testing.TB, dir string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newPipeline returns a pipeline over a fresh store in a temp folder.
func newPipeline(t testing.TB, emb mmrag.Embedder) *Pipeline {
	t.Helper()
	return &Pipeline{Store: openStore(t, t.TempDir()), Embedder: emb, Extractors: testExtractors()}
}

// writeFiles writes name → content under dir, creating folders.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pngBytes encodes a w×h image whose colours depend on seed.
func pngBytes(t testing.TB, seed, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x*7 + seed*31), uint8(y*5 + seed*17), uint8(seed * 53), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sources lists the stored documents' sources relative to dir.
func sources(t testing.TB, s mmrag.Store, dir string) []string {
	t.Helper()
	docs, err := s.Documents(t.Context(), mmrag.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range docs {
		rel, err := filepath.Rel(dir, d.Source)
		if err != nil {
			rel = d.Source
		}
		out = append(out, filepath.ToSlash(rel))
	}
	slices.Sort(out)
	return out
}

// recordEvents collects the events of a pipeline.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) of(kind EventKind) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func extractHTMLWithFetch(f *Fetcher) extract.Extractor { return html.HTML{Fetch: f.Fetch} }
