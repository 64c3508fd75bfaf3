package embed_test

import (
	"context"
	"fmt"
	"image"
	"os"
	"testing"

	"mmrag/embed"
	"mmrag/onnx/onnxgraph"
	"mmrag/onnx/onnxtest"
)

// benchModel loads $MMRAG_BENCH_MODEL (scripts/bench.sh points it at a
// true-shape ViT-B/16 folder, or a real downloaded model) or else a tiny
// random model, which only measures overhead.
func benchModel(b *testing.B) *embed.CLIP {
	b.Helper()
	onnxtest.Init(b)
	dir := os.Getenv("MMRAG_BENCH_MODEL")
	if dir == "" {
		dir = b.TempDir()
		if err := onnxgraph.WriteModelFolder(dir, onnxgraph.FolderOptions{TokenizerDir: tokenizerDir()}); err != nil {
			b.Fatal(err)
		}
	}
	c, err := embed.Load(dir, embed.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkEmbedTexts reports texts/s for a typical question (≈10 tokens)
// and a full chunk (77 tokens) at batch sizes 1 and 8.
func BenchmarkEmbedTexts(b *testing.B) {
	c := benchModel(b)
	ctx := context.Background()
	inputs := map[string]string{
		"question": "what is a multimodal embedding model?",
		"chunk":    "Multimodal embeddings represent text and images in one shared vector space. Contrastive training pulls a caption and its image together and pushes mismatched pairs apart, so that similarity search works across modalities; CLIP was trained this way on four hundred million pairs collected from the internet, and the result is a general model of both.",
	}
	for _, kind := range []string{"question", "chunk"} {
		for _, n := range []int{1, 8} {
			batch := make([]string, n)
			for i := range batch {
				batch[i] = fmt.Sprintf("%s %d", inputs[kind], i)
			}
			b.Run(fmt.Sprintf("%s/batch=%d", kind, n), func(b *testing.B) {
				if _, err := c.EmbedTexts(ctx, batch); err != nil { // load the graph outside the timer
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					if _, err := c.EmbedTexts(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "texts/s")
			})
		}
	}
}

// BenchmarkEmbedImages reports images/s, preprocessing included, for
// 640×480 images at batch sizes 1 and 8.
func BenchmarkEmbedImages(b *testing.B) {
	c := benchModel(b)
	ctx := context.Background()
	for _, n := range []int{1, 8} {
		imgs := make([]image.Image, n)
		for i := range imgs {
			imgs[i] = testImage(640, 480, uint8(i))
		}
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			if _, err := c.EmbedImages(ctx, imgs); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.EmbedImages(ctx, imgs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
