package onnxgraph

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// Small transformers exercise the same graph code as the true-shape ones.
var (
	smallText   = TextOptions{VocabSize: 300, Width: 32, Layers: 2, Heads: 4, MLP: 64, ProjDim: 16, Seed: 1}
	smallVision = VisionOptions{ImageSize: 32, PatchSize: 8, Width: 32, Layers: 2, Heads: 4, MLP: 64, ProjDim: 16, Seed: 2}
)

func TestCLIPTextIsCausalAndPoolsAtEOT(t *testing.T) {
	for _, withMask := range []bool{false, true} {
		opts := smallText
		opts.AttentionMask = withMask
		m, err := CLIPText(opts)
		inputs := []string{InputIDs}
		if withMask {
			inputs = append(inputs, AttentionMask)
		}
		s := newSession(t, modelBytes(t, m, err), inputs, []string{TextEmbeds, LastHiddenState}, 1)
		run := func(ids []int64, length int) map[string]output {
			mask := slices.Repeat([]int64{1}, len(ids))
			for len(ids) < length {
				ids, mask = append(ids, 299), append(mask, 0)
			}
			shape := []int64{1, int64(len(ids))}
			ins := []input{{name: InputIDs, shape: shape, i64: ids}}
			if withMask {
				ins = append(ins, input{name: AttentionMask, shape: shape, i64: mask})
			}
			return s.mustRun(t, ins...)
		}
		base := []int64{298, 10, 20, 30, 299}
		short := run(slices.Clone(base), 0)
		padded := run(slices.Clone(base), 77)
		checkShape(t, TextEmbeds, short[TextEmbeds].shape, 1, 16)
		checkShape(t, LastHiddenState, padded[LastHiddenState].shape, 1, 77, 32)
		checkClose(t, "padded text_embeds", padded[TextEmbeds].data, float64s(short[TextEmbeds].data), 1e-5)

		changed := slices.Clone(base)
		changed[2] = 21
		if diff := maxDiff(run(changed, 0)[TextEmbeds].data, short[TextEmbeds].data); diff < 1e-4 {
			t.Errorf("mask=%v: changing a token before EOT moved text_embeds by only %g", withMask, diff)
		}
		// The final LayerNorm (unit weight, zero bias) leaves each token
		// with mean 0 and variance 1 (a little under: epsilon 1e-5 against
		// the small variance random weights give).
		h := short[LastHiddenState].data
		for tok := range len(base) {
			mean, variance := moments(h[tok*32 : (tok+1)*32])
			if math.Abs(mean) > 1e-4 || math.Abs(variance-1) > 0.01 {
				t.Errorf("token %d: last_hidden_state mean %g variance %g, want 0 and 1", tok, mean, variance)
			}
		}
	}
}

func TestCLIPVisionBatchesIndependently(t *testing.T) {
	m, err := CLIPVision(smallVision)
	s := newSession(t, modelBytes(t, m, err), []string{PixelValues}, []string{ImageEmbeds, LastHiddenState}, 1)
	r := rand.New(rand.NewPCG(8, 9))
	px := photoLike(r, 2, 32)
	both := s.mustRun(t, input{name: PixelValues, shape: []int64{2, 3, 32, 32}, f32: px})
	checkShape(t, ImageEmbeds, both[ImageEmbeds].shape, 2, 16)
	checkShape(t, LastHiddenState, both[LastHiddenState].shape, 2, 17, 32)
	for i := range 2 {
		one := s.mustRun(t, input{name: PixelValues, shape: []int64{1, 3, 32, 32}, f32: px[i*3*32*32 : (i+1)*3*32*32]})
		checkClose(t, "image_embeds alone vs in batch", both[ImageEmbeds].data[i*16:(i+1)*16], float64s(one[ImageEmbeds].data), 1e-5)
	}
	if diff := maxDiff(both[ImageEmbeds].data[:16], both[ImageEmbeds].data[16:]); diff < 1e-4 {
		t.Errorf("two different images differ by only %g", diff)
	}
}

func TestOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"text heads", second(CLIPText(TextOptions{Width: 30, Heads: 4}))},
		{"text negative", second(CLIPText(TextOptions{Layers: -1}))},
		{"vision patch", second(CLIPVision(VisionOptions{ImageSize: 100, PatchSize: 16}))},
		{"tiny vision patch", second(TinyVision(TinyVisionOptions{ImageSize: 50}))},
		{"tiny text negative", second(TinyText(TinyTextOptions{Width: -3}))},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// trueShapes lists the true-shape models and their parameter counts
// computed from CLIP's architecture, independently of the generators.
type trueShape struct {
	name   string
	build  func() (*Model, error)
	params int64
	tokens int // vision sequence length
}

func trueShapes() []trueShape {
	layer := func(w, mlp int64) int64 { return 4*(w*w+w) + 4*w + (w*mlp + mlp) + (mlp*w + w) }
	text := 49408*512 + 77*512 + 12*layer(512, 2048) + 2*512 + 512*512
	vision := func(patch, tokens int64) int64 {
		return 768*3*patch*patch + 768 + tokens*768 + 2*768 + 12*layer(768, 3072) + 2*768 + 768*512
	}
	return []trueShape{
		{"text", func() (*Model, error) { return CLIPText(TextOptions{}) }, text, 0},
		{"vit-b-16", func() (*Model, error) { return CLIPVision(VisionOptions{}) }, vision(16, 197), 197},
		{"vit-b-32", func() (*Model, error) { return CLIPVision(VisionOptions{PatchSize: 32}) }, vision(32, 50), 50},
	}
}

func TestTrueShapeModels(t *testing.T) {
	if testing.Short() {
		t.Skip("true-shape CLIP graphs are hundreds of MB; skipped under -short")
	}
	needORT(t)
	for _, tc := range trueShapes() {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.build()
			b := modelBytes(t, m, err)
			// Weights plus constants (the 77x77 causal mask, shape vectors).
			if got := m.Graph.Params(); got < tc.params || got > tc.params+77*77+1000 {
				t.Errorf("%d parameters, want CLIP's %d", got, tc.params)
			}
			ins, outs, err := ort.GetInputOutputInfoWithONNXData(b)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "text" {
				checkInfo(t, ins, InputIDs, ort.TensorElementDataTypeInt64, -1, -1)
				checkInfo(t, outs, TextEmbeds, ort.TensorElementDataTypeFloat, -1, 512)
				checkInfo(t, outs, LastHiddenState, ort.TensorElementDataTypeFloat, -1, -1, 512)
				s := newSession(t, b, []string{InputIDs}, []string{TextEmbeds, LastHiddenState}, 0)
				ids := []int64{49406, 320, 1125, 539, 320, 2368, 49407}
				got := s.mustRun(t, input{name: InputIDs, shape: []int64{1, 7}, i64: ids})
				checkShape(t, TextEmbeds, got[TextEmbeds].shape, 1, 512)
				checkShape(t, LastHiddenState, got[LastHiddenState].shape, 1, 7, 512)
				checkFinite(t, got[TextEmbeds].data)
				return
			}
			tokens := tc.tokens
			checkInfo(t, ins, PixelValues, ort.TensorElementDataTypeFloat, -1, 3, 224, 224)
			checkInfo(t, outs, ImageEmbeds, ort.TensorElementDataTypeFloat, -1, 512)
			checkInfo(t, outs, LastHiddenState, ort.TensorElementDataTypeFloat, -1, int64(tokens), 768)
			s := newSession(t, b, []string{PixelValues}, []string{ImageEmbeds, LastHiddenState}, 0)
			px := photoLike(rand.New(rand.NewPCG(1, 1)), 1, 224)
			got := s.mustRun(t, input{name: PixelValues, shape: []int64{1, 3, 224, 224}, f32: px})
			checkShape(t, ImageEmbeds, got[ImageEmbeds].shape, 1, 512)
			checkShape(t, LastHiddenState, got[LastHiddenState].shape, 1, tokens, 768)
			checkFinite(t, got[ImageEmbeds].data)
		})
	}
}

func checkInfo(t *testing.T, infos []ort.InputOutputInfo, name string, typ ort.TensorElementDataType, dims ...int64) {
	t.Helper()
	for _, info := range infos {
		if info.Name != name {
			continue
		}
		if info.DataType != typ || !slices.Equal([]int64(info.Dimensions), dims) {
			t.Errorf("%s: ONNX Runtime sees %v %v, want %v %v", name, info.DataType, info.Dimensions, typ, dims)
		}
		return
	}
	t.Errorf("ONNX Runtime sees no %q among %v", name, infos)
}

func checkFinite(t *testing.T, v []float32) {
	t.Helper()
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t.Fatalf("value %d is %v", i, x)
		}
	}
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func moments(v []float32) (mean, variance float64) {
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(len(v))
	for _, x := range v {
		variance += (float64(x) - mean) * (float64(x) - mean)
	}
	return mean, variance / float64(len(v))
}
