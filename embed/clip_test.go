package embed_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"mmrag/embed"
	"mmrag/onnx/onnxgraph"
	"mmrag/onnx/onnxtest"
	"mmrag/store"
)

// tokenizerDir is the real CLIP vocabulary when ../shared has it; the tiny
// preset then tokenizes exactly as the real model would.
func tokenizerDir() string {
	dir := filepath.Join("..", "..", "shared", "fixtures", "clip-tokenizer")
	if _, err := os.Stat(filepath.Join(dir, "vocab.json")); err != nil {
		return ""
	}
	return dir
}

// modelFolder writes a tiny random CLIP folder and loads it.
func modelFolder(t testing.TB, o onnxgraph.FolderOptions) (string, *embed.CLIP) {
	t.Helper()
	onnxtest.Init(t)
	dir := t.TempDir()
	if o.TokenizerDir == "" {
		o.TokenizerDir = tokenizerDir()
	}
	if err := onnxgraph.WriteModelFolder(dir, o); err != nil {
		t.Fatal(err)
	}
	c, err := embed.Load(dir, embed.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return dir, c
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

var texts = []string{
	"a diagram of a neural network",
	"cat",
	"Multimodal embeddings map text and images into one shared vector space, so a caption and its picture land close together.",
	"What is CLIP?",
}

func testImage(w, h int, seed uint8) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x*7) + seed, uint8(y*3) ^ seed, uint8(x+y) * seed, 255})
		}
	}
	return img
}

func TestEmbedShapesAndNorms(t *testing.T) {
	_, c := modelFolder(t, onnxgraph.FolderOptions{Seed: 1})
	ctx := context.Background()
	if c.Dim() <= 0 {
		t.Fatalf("Dim() = %d", c.Dim())
	}
	tv, err := c.EmbedTexts(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	iv, err := c.EmbedImages(ctx, []image.Image{testImage(64, 48, 1), testImage(300, 500, 2), image.NewGray(image.Rect(0, 0, 10, 10))})
	if err != nil {
		t.Fatal(err)
	}
	for name, vs := range map[string][][]float32{"text": tv, "image": iv} {
		for i, v := range vs {
			if len(v) != c.Dim() {
				t.Errorf("%s %d: len %d, want %d", name, i, len(v), c.Dim())
			}
			if n := norm(v); math.Abs(n-1) > 1e-5 {
				t.Errorf("%s %d: norm %v, want 1", name, i, n)
			}
		}
	}
	if maxDiff(tv[0], tv[1]) < 1e-3 {
		t.Error("different texts gave the same vector")
	}
	raw, err := c.TextProjections(ctx, texts[:1])
	if err != nil {
		t.Fatal(err)
	}
	if n := norm(raw[0]); n < 2 {
		t.Errorf("raw projection norm %v: TextProjections must not normalise", n)
	}
	unit := append([]float32(nil), raw[0]...)
	store.Normalize(unit)
	if d := maxDiff(unit, tv[0]); d > 1e-6 {
		t.Errorf("EmbedTexts differs from normalised TextProjections by %v", d)
	}
}

// Trimming padding must be exact: a dynamic-length graph fed the batch's
// longest sequence gives what a fixed 77-token graph gives, and a text's
// vector does not depend on its batch.
func TestPaddingTrimIsExact(t *testing.T) {
	for _, mask := range []bool{false, true} {
		t.Run(fmt.Sprintf("attention_mask=%v", mask), func(t *testing.T) {
			_, dyn := modelFolder(t, onnxgraph.FolderOptions{Seed: 7, AttentionMask: mask})
			_, fixed := modelFolder(t, onnxgraph.FolderOptions{Seed: 7, AttentionMask: mask, FixedLength: true})
			ctx := context.Background()
			a, err := dyn.TextProjections(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			b, err := fixed.TextProjections(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range texts {
				single, err := dyn.TextProjections(ctx, texts[i:i+1])
				if err != nil {
					t.Fatal(err)
				}
				if d := maxDiff(a[i], b[i]); d > 1e-4 {
					t.Errorf("text %d: dynamic vs fixed length differ by %v", i, d)
				}
				if d := maxDiff(a[i], single[0]); d > 1e-4 {
					t.Errorf("text %d: batched vs alone differ by %v", i, d)
				}
			}
		})
	}
}

func TestLongTextTruncates(t *testing.T) {
	_, c := modelFolder(t, onnxgraph.FolderOptions{Seed: 3})
	ctx := context.Background()
	long := strings.Repeat("word ", 10000)
	ids := c.Tokenizer().Encode(long)
	if len(ids) != 77 || ids[76] != c.Tokenizer().EOT() {
		t.Fatalf("Encode kept %d ids ending in %d; want 77 ending in EOT", len(ids), ids[len(ids)-1])
	}
	a, err := c.TextProjections(ctx, []string{long})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.TokenProjections(ctx, [][]int64{ids})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(a[0], b[0]); d > 1e-5 {
		t.Errorf("10k-word text vs its 77-token window differ by %v", d)
	}
}

func TestConcurrentUse(t *testing.T) {
	_, c := modelFolder(t, onnxgraph.FolderOptions{Seed: 5})
	ctx := context.Background()
	wantT, err := c.EmbedTexts(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	img := testImage(120, 90, 9)
	wantI, err := c.EmbedImages(ctx, []image.Image{img})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if g%2 == 0 {
					got, err := c.EmbedTexts(ctx, texts)
					if err != nil {
						errs <- err
						return
					}
					for i := range got {
						if d := maxDiff(got[i], wantT[i]); d > 1e-5 {
							errs <- fmt.Errorf("goroutine %d text %d differs by %v", g, i, d)
							return
						}
					}
				} else {
					got, err := c.EmbedImages(ctx, []image.Image{img})
					if err != nil {
						errs <- err
						return
					}
					if d := maxDiff(got[0], wantI[0]); d > 1e-5 {
						errs <- fmt.Errorf("goroutine %d image differs by %v", g, d)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestImageBatching(t *testing.T) {
	onnxtest.Init(t)
	dir := t.TempDir()
	if err := onnxgraph.WriteModelFolder(dir, onnxgraph.FolderOptions{Seed: 11}); err != nil {
		t.Fatal(err)
	}
	c, err := embed.Load(dir, embed.Options{ImageBatch: 2, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	imgs := []image.Image{testImage(50, 50, 1), testImage(80, 40, 2), testImage(33, 99, 3), testImage(224, 224, 4), testImage(10, 300, 5)}
	all, err := c.EmbedImages(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(imgs) {
		t.Fatalf("got %d vectors for %d images", len(all), len(imgs))
	}
	for i, img := range imgs {
		one, err := c.EmbedImages(context.Background(), []image.Image{img})
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(one[0], all[i]); d > 1e-5 {
			t.Errorf("image %d: batched vs alone differ by %v", i, d)
		}
	}
}

func TestBadInput(t *testing.T) {
	onnxtest.Init(t)
	ctx := context.Background()
	good := t.TempDir()
	if err := onnxgraph.WriteModelFolder(good, onnxgraph.FolderOptions{Seed: 2}); err != nil {
		t.Fatal(err)
	}
	copyDir := func(t *testing.T) string {
		dst := t.TempDir()
		if err := os.CopyFS(dst, os.DirFS(good)); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	cases := []struct {
		name    string
		mutate  func(t *testing.T, dir string)
		embed   func(c *embed.CLIP) error // nil: Load itself must fail
		wantErr []string
	}{
		{
			name:    "missing config",
			mutate:  func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, embed.ConfigFile)) },
			wantErr: []string{embed.ConfigFile},
		},
		{
			name:    "missing vision graph",
			mutate:  func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, embed.VisionGraph)) },
			wantErr: []string{"missing", embed.VisionGraph},
		},
		{
			name: "unreadable text graph",
			mutate: func(t *testing.T, dir string) {
				p := filepath.Join(dir, embed.TextGraph)
				if err := os.Chmod(p, 0); err != nil {
					t.Fatal(err)
				}
				if f, err := os.Open(p); err == nil {
					f.Close()
					t.Skip("file modes do not stop this user (root): see the folder case and onnx's TestUnreadable")
				}
			},
			wantErr: []string{embed.TextGraph, "cannot read the file", "permission denied"},
		},
		{
			name: "folder as vision graph",
			mutate: func(t *testing.T, dir string) {
				p := filepath.Join(dir, embed.VisionGraph)
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: []string{embed.VisionGraph, "is a directory"},
		},
		{
			name: "missing tokenizer",
			mutate: func(t *testing.T, dir string) {
				os.Remove(filepath.Join(dir, "vocab.json"))
				os.Remove(filepath.Join(dir, "tokenizer.json"))
			},
			wantErr: []string{"vocab"},
		},
		{
			name: "corrupt text graph",
			mutate: func(t *testing.T, dir string) {
				p := filepath.Join(dir, embed.TextGraph)
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, onnxgraph.Truncated(b), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			embed: func(c *embed.CLIP) error {
				_, err := c.EmbedTexts(ctx, []string{"hello"})
				return err
			},
			wantErr: []string{"text_model.onnx"},
		},
		{
			name: "wrong input name",
			mutate: func(t *testing.T, dir string) {
				m, err := onnxgraph.WrongInputName(onnxgraph.TinyTextOptions{VocabSize: vocabSize(t, dir)})
				if err != nil {
					t.Fatal(err)
				}
				if err := m.WriteFile(filepath.Join(dir, embed.TextGraph)); err != nil {
					t.Fatal(err)
				}
			},
			embed: func(c *embed.CLIP) error {
				_, err := c.EmbedTexts(ctx, []string{"hello"})
				return err
			},
			wantErr: []string{`"ids"`, "input_ids"},
		},
		{
			name:    "empty text",
			embed:   func(c *embed.CLIP) error { _, err := c.EmbedTexts(ctx, []string{"fine", "  "}); return err },
			wantErr: []string{"empty text", "text 1"},
		},
		{
			name: "empty image",
			embed: func(c *embed.CLIP) error {
				_, err := c.EmbedImages(ctx, []image.Image{image.NewRGBA(image.Rect(0, 0, 0, 0))})
				return err
			},
			wantErr: []string{"empty image"},
		},
		{
			name: "cancelled context",
			embed: func(c *embed.CLIP) error {
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				_, err := c.EmbedTexts(cctx, []string{"hello"})
				if err != nil && !errors.Is(err, context.Canceled) {
					return fmt.Errorf("not context.Canceled: %w", err)
				}
				return err
			},
			wantErr: []string{"cancel"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := good
			if tc.mutate != nil {
				dir = copyDir(t)
				tc.mutate(t, dir)
			}
			c, err := embed.Load(dir, embed.Options{Threads: 1})
			if err == nil {
				defer c.Close()
				if tc.embed == nil {
					t.Fatal("Load succeeded, want an error")
				}
				err = tc.embed(c)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// vocabSize reads the folder's text vocabulary size from config.json so a
// replacement graph matches its tokenizer.
func vocabSize(t *testing.T, dir string) int {
	t.Helper()
	c, err := embed.Load(dir, embed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Tokenizer().VocabSize()
}

func TestQuantizedOption(t *testing.T) {
	onnxtest.Init(t)
	dir := t.TempDir()
	if err := onnxgraph.WriteModelFolder(dir, onnxgraph.FolderOptions{Seed: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := embed.Load(dir, embed.Options{Quantized: true}); err == nil || !strings.Contains(err.Error(), "quantized") {
		t.Fatalf("Load(Quantized) without quantized graphs: err = %v, want one naming the quantized file", err)
	}
	if err := onnxgraph.WriteModelFolder(dir, onnxgraph.FolderOptions{Seed: 4, Quantized: true}); err != nil {
		t.Fatal(err)
	}
	c, err := embed.Load(dir, embed.Options{Quantized: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.EmbedTexts(context.Background(), []string{"ok"}); err != nil {
		t.Fatal(err)
	}
}
