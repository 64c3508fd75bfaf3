package rag_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"mmrag"
	"mmrag/chunk"
	"mmrag/embed"
	"mmrag/extract"
	"mmrag/extract/markdown"
	"mmrag/generate"
	"mmrag/ingest"
	"mmrag/onnx/onnxgraph"
	"mmrag/onnx/onnxtest"
	"mmrag/rag"
	"mmrag/retrieve"
	"mmrag/sqlite"
)

// kb is a small knowledge base built through the real pipeline: Markdown
// files with figures, a tiny random CLIP run by ONNX Runtime, SQLite.
type kb struct {
	store *sqlite.Store
	clip  *embed.CLIP
}

var docs = map[string]string{
	"volcano.md": `# Volcanoes

## Eruptions

Magma rises through the crust and erupts as lava. Pyroclastic flows move faster than cars.

![Cross-section of a stratovolcano](strato.png)

## Monitoring

Seismometers record tremors before an eruption. Satellites measure ground deformation.

![](sensor.png)
`,
	"bread.md": `# Sourdough

## Starter

A sourdough starter is flour and water fermented by wild yeast and lactobacilli.

## Baking

Bake the loaf at 250 degrees in a covered pot for the first twenty minutes.
`,
}

func writePNG(t testing.TB, path string, seed uint8) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for y := range 200 {
		for x := range 300 {
			img.Set(x, y, color.RGBA{uint8(x) + seed, uint8(y) * seed, seed * 7, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tokenizerDir() string {
	dir := filepath.Join("..", "..", "shared", "fixtures", "clip-tokenizer")
	if _, err := os.Stat(filepath.Join(dir, "vocab.json")); err != nil {
		return ""
	}
	return dir
}

func newKB(t *testing.T) *kb {
	t.Helper()
	onnxtest.Init(t)
	ctx := context.Background()
	model := t.TempDir()
	if err := onnxgraph.WriteModelFolder(model, onnxgraph.FolderOptions{TokenizerDir: tokenizerDir()}); err != nil {
		t.Fatal(err)
	}
	clip, err := embed.Load(model, embed.Options{ID: "tiny", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clip.Close() })
	src := t.TempDir()
	for name, text := range docs {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writePNG(t, filepath.Join(src, "strato.png"), 3)
	writePNG(t, filepath.Join(src, "sensor.png"), 9)
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	p := &ingest.Pipeline{
		Store: store, Embedder: clip,
		Extractors: map[string]extract.Extractor{ingest.TypeMarkdown: markdown.Markdown{}},
		Chunk:      chunk.Options{Counter: clip.Tokenizer()},
	}
	rep, err := p.Add(ctx, []string{src}, ingest.WalkOptions{})
	if err != nil || rep.Failed > 0 {
		t.Fatalf("ingest: %v %v", err, rep.Errors)
	}
	return &kb{store: store, clip: clip}
}

func (k *kb) engine(gen generate.Generator) *rag.Engine {
	return &rag.Engine{
		Store:     k.store,
		Searcher:  &retrieve.Searcher{Store: k.store, CLIP: k.clip},
		Generator: gen,
		Model:     "fake",
		// Random CLIP weights rank figures arbitrarily; a low bar lets
		// them through so that their handling is exercised.
		Search: func() retrieve.Options {
			o := retrieve.DefaultOptions(retrieve.Hybrid)
			o.Images = retrieve.Params{K: 2, Threshold: 0, Temperature: 0.5}
			return o
		}(),
	}
}

// fakeGen records requests; it stands in for an LLM to check the code
// around it (the real Ollama server is exercised in ollama_test.go).
type fakeGen struct {
	mu     sync.Mutex
	caps   *generate.Capabilities
	reqs   []generate.Request
	tokens []string
	err    error
}

func (f *fakeGen) Generate(ctx context.Context, req generate.Request, onToken func(string) error) (generate.Response, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	var b strings.Builder
	for _, t := range f.tokens {
		b.WriteString(t)
		if onToken != nil {
			if err := onToken(t); err != nil {
				return generate.Response{}, err
			}
		}
	}
	if f.err != nil {
		return generate.Response{Text: b.String()}, f.err
	}
	return generate.Response{Text: b.String(), Model: "fake"}, nil
}

// describedGen is a fakeGen that reports capabilities.
type describedGen struct{ *fakeGen }

func (d describedGen) Capabilities(context.Context) (generate.Capabilities, error) {
	return *d.caps, nil
}

func TestAskExtractive(t *testing.T) {
	k := newKB(t)
	e := k.engine(nil)
	var order []string
	a, err := e.Ask(context.Background(), rag.Request{Question: "How do seismometers help before an eruption?"},
		func(a *rag.Answer) error { order = append(order, "sources"); return nil },
		func(s string) error { order = append(order, "token"); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if a.Model != rag.Extractive {
		t.Errorf("model %q, want extractive", a.Model)
	}
	if len(order) < 2 || order[0] != "sources" || order[1] != "token" {
		t.Errorf("callbacks in order %v; want sources before tokens", order)
	}
	if !strings.Contains(a.Text, "Seismometers record tremors") || !strings.Contains(a.Text, "[") {
		t.Errorf("extractive answer lacks the matching sentence with a citation:\n%s", a.Text)
	}
	if len(a.Citations) == 0 || a.Results == nil || len(a.Results.Text) == 0 {
		t.Fatalf("no sources: %+v", a)
	}
}

func TestAskImagesFollowCapabilities(t *testing.T) {
	k := newKB(t)
	ctx := context.Background()
	q := rag.Request{Question: "What does a stratovolcano look like inside?"}
	cases := []struct {
		name      string
		caps      *generate.Capabilities
		policy    rag.ImagePolicy
		wantSent  int
		wantNote  string
		wantWidth int // of the first picture sent; 0: not checked
	}{
		{name: "no vision", caps: &generate.Capabilities{Model: "m", Vision: false}, wantSent: 0, wantNote: "cannot see images"},
		{name: "unknown capabilities", caps: nil, wantSent: 2},
		{name: "one image, best", caps: &generate.Capabilities{Model: "m", Vision: true, MaxImages: 1}, wantSent: 1, wantNote: "best-ranked"},
		{name: "one image, grid", caps: &generate.Capabilities{Model: "m", Vision: true, MaxImages: 1}, policy: rag.GridImage, wantSent: 1, wantNote: "grid", wantWidth: 1120},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeGen{tokens: []string{"It ", "erupts [1]."}, caps: tc.caps}
			var gen generate.Generator = f
			if tc.caps != nil {
				gen = describedGen{f}
			}
			e := k.engine(gen)
			e.Policy = tc.policy
			a, err := e.Ask(ctx, q, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Results.Images) < 2 {
				t.Fatalf("want 2 figures retrieved, got %d", len(a.Results.Images))
			}
			if a.Text != "It erupts [1]." {
				t.Errorf("answer %q", a.Text)
			}
			last := f.reqs[0].Messages[len(f.reqs[0].Messages)-1]
			if len(last.Images) != tc.wantSent {
				t.Errorf("sent %d pictures, want %d (notes %q)", len(last.Images), tc.wantSent, a.Notes)
			}
			if tc.wantNote != "" && !strings.Contains(strings.Join(a.Notes, "\n"), tc.wantNote) {
				t.Errorf("notes %q lack %q", a.Notes, tc.wantNote)
			}
			if tc.wantWidth > 0 {
				img, _, err := image.Decode(bytes.NewReader(last.Images[0]))
				if err != nil {
					t.Fatal(err)
				}
				if w := img.Bounds().Dx(); w != tc.wantWidth {
					t.Errorf("grid is %d wide, want %d", w, tc.wantWidth)
				}
				if len(a.Sent) != 2 {
					t.Errorf("grid combines %v, want both figures", a.Sent)
				}
			}
		})
	}
}

func TestAskStrategies(t *testing.T) {
	k := newKB(t)
	ctx := context.Background()
	for _, s := range rag.Strategies() {
		t.Run(string(s), func(t *testing.T) {
			f := &fakeGen{tokens: []string{"ok"}}
			a, err := k.engine(f).Ask(ctx, rag.Request{Question: "pyroclastic flows and lava", Strategy: s}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			sent := len(f.reqs[0].Messages[len(f.reqs[0].Messages)-1].Images)
			switch s {
			case rag.TextOnly:
				if len(a.Results.Images) != 0 || sent != 0 {
					t.Errorf("text strategy retrieved %d figures, sent %d", len(a.Results.Images), sent)
				}
			case rag.TextImages:
				for _, im := range a.Results.Images {
					ok := false
					for _, tx := range a.Results.Text {
						if tx.Item.DocID == im.Item.DocID && slices.Equal(tx.Item.Section, im.Item.Section) {
							ok = true
						}
					}
					if !ok {
						t.Errorf("figure %s (%v) shares no section with a retrieved passage", im.Item.ID, im.Item.Section)
					}
				}
				if len(a.Results.Images) == 0 || sent != len(a.Results.Images) {
					t.Errorf("text+images: %d figures, %d sent", len(a.Results.Images), sent)
				}
			case rag.Multimodal:
				if len(a.Results.Images) == 0 || sent == 0 {
					t.Errorf("multimodal: %d figures, %d sent", len(a.Results.Images), sent)
				}
			}
		})
	}
}

func TestAskGeneratorFailures(t *testing.T) {
	k := newKB(t)
	ctx := context.Background()
	q := rag.Request{Question: "How long is bread baked covered?", Strategy: rag.TextOnly}

	t.Run("fails before any text", func(t *testing.T) {
		a, err := k.engine(&fakeGen{err: errors.New("connection refused")}).Ask(ctx, q, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.GenErr == nil || a.Model != rag.Extractive || !strings.Contains(a.Text, "250 degrees") {
			t.Errorf("want the extractive fallback: model %q, err %v, text %q", a.Model, a.GenErr, a.Text)
		}
		if len(a.Citations) == 0 {
			t.Error("sources lost")
		}
	})
	t.Run("drops mid-stream", func(t *testing.T) {
		a, err := k.engine(&fakeGen{tokens: []string{"Bake it ", "covered"}, err: errors.New("unexpected EOF")}).Ask(ctx, q, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.Text != "Bake it covered" || a.GenErr == nil || !strings.Contains(strings.Join(a.Notes, " "), "stopped early") {
			t.Errorf("partial answer %q, err %v, notes %q", a.Text, a.GenErr, a.Notes)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		e := k.engine(nil)
		for _, r := range []rag.Request{{Question: "  "}, {Question: "x", Strategy: "pictures"}} {
			if _, err := e.Ask(ctx, r, nil, nil); err == nil {
				t.Errorf("Ask(%+v) succeeded", r)
			}
		}
	})
}

func TestCaptioner(t *testing.T) {
	k := newKB(t)
	ctx := context.Background()
	before, err := k.store.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vision := &fakeGen{tokens: []string{"A seismometer   chart of ground tremors."}}
	c := &rag.Captioner{Store: k.store, Vision: vision, Model: "fake-vision", Embed: k.clip, Models: []string{k.clip.ModelID()}}
	var events []rag.CaptionEvent
	n, err := c.Run(ctx, nil, func(e rag.CaptionEvent) { events = append(events, e) })
	if err != nil {
		t.Fatal(err)
	}
	// Only sensor.png has neither caption nor alt text.
	if n != 1 || len(events) != 1 || len(vision.reqs) != 1 || len(vision.reqs[0].Messages[0].Images) != 1 {
		t.Fatalf("captioned %d (events %d, requests %d), want 1", n, len(events), len(vision.reqs))
	}
	after, err := k.store.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Items[mmrag.Text] != before.Items[mmrag.Text]+1 || after.Vectors[k.clip.ModelID()] != before.Vectors[k.clip.ModelID()]+1 {
		t.Errorf("items %v → %v, vectors %v → %v: want one caption item and its vector added", before.Items, after.Items, before.Vectors, after.Vectors)
	}
	fig, err := k.store.Item(ctx, events[0].ItemID)
	if err != nil {
		t.Fatal(err)
	}
	if fig.Caption != "A seismometer chart of ground tremors." || fig.Meta[mmrag.MetaCaptionBy] != "fake-vision" {
		t.Errorf("figure caption %q meta %v", fig.Caption, fig.Meta)
	}
	// The caption is now text the text-only strategy finds.
	a, err := k.engine(nil).Ask(ctx, rag.Request{Question: "seismometer chart of ground tremors", Strategy: rag.TextOnly}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range a.Results.Text {
		if r.Item.Kind == rag.KindCaption && r.Item.Meta[mmrag.MetaFigure] == fig.ID {
			found = true
		}
	}
	if !found {
		t.Error("the caption item was not retrieved by its words")
	}
	// Running again changes nothing: the figure has a caption now.
	if n, err := c.Run(ctx, nil, nil); err != nil || n != 0 {
		t.Errorf("second run captioned %d (err %v), want 0", n, err)
	}
}

func TestGrid(t *testing.T) {
	imgs := []image.Image{image.NewRGBA(image.Rect(0, 0, 100, 50)), image.NewRGBA(image.Rect(0, 0, 30, 90)), image.NewRGBA(image.Rect(0, 0, 10, 10))}
	g := rag.Grid(imgs, []int{1, 2, 3})
	if b := g.Bounds(); b.Dx() != 1120 || b.Dy() != 1120 {
		t.Errorf("grid of 3 is %v, want 1120×1120", b)
	}
	// The label's black border is drawn near each cell's corner.
	if r, _, _, _ := g.At(9, 9).RGBA(); r != 0 {
		t.Errorf("no label at the first cell's corner")
	}
}

// TestAskWithResults answers from results searched elsewhere (by an image
// or an item's vector) without searching again; the strategy still applies.
func TestAskWithResults(t *testing.T) {
	k := newKB(t)
	ctx := context.Background()
	e := k.engine(nil)
	res, err := e.Retrieve(ctx, rag.Request{Question: "How do seismometers help before an eruption?"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.Ask(ctx, rag.Request{Question: "What do the sources say about this picture?", Results: res}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Results != res || len(a.Citations) == 0 {
		t.Errorf("answer from %p with %d citations, want the given results %p", a.Results, len(a.Citations), res)
	}
	mm, err := e.Retrieve(ctx, rag.Request{Question: "pyroclastic flows and lava"})
	if err != nil {
		t.Fatal(err)
	}
	if len(mm.Images) == 0 {
		t.Skip("no figure retrieved")
	}
	a, err = e.Ask(ctx, rag.Request{Question: "lava", Strategy: rag.TextOnly, Results: mm}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Results.Images) != 0 {
		t.Errorf("text strategy kept %d figures of the given results", len(a.Results.Images))
	}
}
