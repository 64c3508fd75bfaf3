package onnxgraph

import (
	"math/rand/v2"
	"testing"
)

// benchThreads matches the 2-core machines the project targets.
const benchThreads = 2

func benchText(b *testing.B, tokens int) {
	m, err := CLIPText(TextOptions{})
	s := newSession(b, modelBytes(b, m, err), []string{InputIDs}, []string{TextEmbeds}, benchThreads)
	ids := make([]int64, tokens)
	ids[0], ids[tokens-1] = 49406, 49407
	for i := 1; i < tokens-1; i++ {
		ids[i] = int64(300 + i)
	}
	in := input{name: InputIDs, shape: []int64{1, int64(tokens)}, i64: ids}
	s.mustRun(b, in) // warm-up outside the timing
	for b.Loop() {
		s.mustRun(b, in)
	}
}

func benchVision(b *testing.B, patch int) {
	m, err := CLIPVision(VisionOptions{PatchSize: patch})
	s := newSession(b, modelBytes(b, m, err), []string{PixelValues}, []string{ImageEmbeds}, benchThreads)
	in := input{name: PixelValues, shape: []int64{1, 3, 224, 224}, f32: photoLike(rand.New(rand.NewPCG(1, 2)), 1, 224)}
	s.mustRun(b, in)
	for b.Loop() {
		s.mustRun(b, in)
	}
}

// BenchmarkCLIPTextShortQuery times a 10-token query through the
// true-shape text tower at batch 1.
func BenchmarkCLIPTextShortQuery(b *testing.B) { benchText(b, 10) }

// BenchmarkCLIPTextFull times a full 77-token sequence.
func BenchmarkCLIPTextFull(b *testing.B) { benchText(b, 77) }

// BenchmarkCLIPVisionB16 times one 224x224 image through ViT-B/16.
func BenchmarkCLIPVisionB16(b *testing.B) { benchVision(b, 16) }

// BenchmarkCLIPVisionB32 times one 224x224 image through ViT-B/32.
func BenchmarkCLIPVisionB32(b *testing.B) { benchVision(b, 32) }
