package onnxgraph

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// initializer reads a float initializer back from a generated graph.
func initializer(t *testing.T, m *Model, name string) []float32 {
	t.Helper()
	tensor := m.Graph.InitializerTensor(name)
	if tensor == nil {
		t.Fatalf("no initializer %q", name)
	}
	data, err := tensor.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func modelBytes(t testing.TB, m *Model, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refTinyText recomputes TinyText's math in float64 from its weights.
func refTinyText(tok, pos, proj []float32, width, projDim int, ids, mask [][]int64) (embeds [][]float64, hidden [][][]float64) {
	for b, row := range ids {
		h := make([][]float64, len(row))
		for j, id := range row {
			h[j] = make([]float64, width)
			for k := range width {
				h[j][k] = float64(tok[int(id)*width+k]) + float64(pos[j*width+k])
			}
		}
		eot := 0
		for j, id := range row {
			if id > row[eot] {
				eot = j
			}
		}
		pooled := slices.Clone(h[eot])
		mean := make([]float64, width)
		count := 0.0
		for j := 0; j <= eot; j++ {
			wj := 1.0
			if mask != nil {
				wj = float64(mask[b][j])
			}
			count += wj
			for k := range width {
				mean[k] += wj * h[j][k]
			}
		}
		count = math.Max(count, 1)
		for k := range width {
			pooled[k] += mean[k] / count
		}
		e := make([]float64, projDim)
		for k := range projDim {
			for i := range width {
				e[k] += pooled[i] * float64(proj[i*projDim+k])
			}
		}
		embeds = append(embeds, e)
		hidden = append(hidden, h)
	}
	return embeds, hidden
}

// tokenRows makes rows of BOS, random word ids, EOT, then padding up to length.
func tokenRows(r *rand.Rand, vocab int, words []int, length int, pad int64) (ids, mask [][]int64) {
	bos, eot := int64(vocab-2), int64(vocab-1)
	for _, n := range words {
		row := []int64{bos}
		for range n {
			row = append(row, r.Int64N(int64(vocab-2)))
		}
		row = append(row, eot)
		m := slices.Repeat([]int64{1}, len(row))
		for len(row) < length {
			row = append(row, pad)
			m = append(m, 0)
		}
		ids, mask = append(ids, row), append(mask, m)
	}
	return ids, mask
}

func flatten(rows [][]int64) []int64 { return slices.Concat(rows...) }

func TestTinyTextMatchesGo(t *testing.T) {
	const vocab, width, projDim = 600, 24, 40
	tests := []struct {
		name   string
		mask   bool
		fixed  bool
		words  []int
		length int
		pad    int64
		zeroed bool // zero the mask of the first real token to see the mask is used
	}{
		{name: "dynamic unpadded", words: []int{5}, length: 7},
		{name: "dynamic batch padded with EOT", words: []int{3, 9, 0}, length: 12, pad: vocab - 1},
		{name: "with mask padded with zeros", mask: true, words: []int{2, 7}, length: 10, pad: 0},
		{name: "mask changes the mean", mask: true, words: []int{4, 6}, length: 9, pad: vocab - 1, zeroed: true},
		{name: "fixed length 77", fixed: true, words: []int{10, 30, 75}, length: 77, pad: vocab - 1},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := TinyText(TinyTextOptions{VocabSize: vocab, Width: width, ProjDim: projDim,
				AttentionMask: tc.mask, FixedLength: tc.fixed, Seed: 7})
			b := modelBytes(t, m, err)
			inputs := []string{InputIDs}
			if tc.mask {
				inputs = append(inputs, AttentionMask)
			}
			s := newSession(t, b, inputs, []string{TextEmbeds, LastHiddenState}, 1)

			ids, mask := tokenRows(r, vocab, tc.words, tc.length, tc.pad)
			if tc.zeroed {
				for _, row := range mask {
					row[1] = 0
				}
			}
			shape := []int64{int64(len(ids)), int64(tc.length)}
			ins := []input{{name: InputIDs, shape: shape, i64: flatten(ids)}}
			refMask := [][]int64(nil)
			if tc.mask {
				ins = append(ins, input{name: AttentionMask, shape: shape, i64: flatten(mask)})
				refMask = mask
			}
			got := s.mustRun(t, ins...)

			wantEmb, wantHidden := refTinyText(initializer(t, m, TinyTokenEmbedding), initializer(t, m, TinyPositionEmbedding),
				initializer(t, m, TinyTextProjection), width, projDim, ids, refMask)
			checkShape(t, TextEmbeds, got[TextEmbeds].shape, len(ids), projDim)
			checkShape(t, LastHiddenState, got[LastHiddenState].shape, len(ids), tc.length, width)
			checkClose(t, TextEmbeds, got[TextEmbeds].data, slices.Concat(wantEmb...), 1e-4)
			var flatHidden [][]float64
			for _, h := range wantHidden {
				flatHidden = append(flatHidden, h...)
			}
			checkClose(t, LastHiddenState, got[LastHiddenState].data, slices.Concat(flatHidden...), 1e-5)
			for i, e := range wantEmb {
				if n := norm64(e); n < 3 || n > 20 {
					t.Errorf("row %d: |text_embeds| = %.2f, want CLIP-like 3..20", i, n)
				}
			}
		})
	}
}

func TestTinyTextPaddingTrimIsExact(t *testing.T) {
	const vocab = 520
	r := rand.New(rand.NewPCG(5, 6))
	for _, withMask := range []bool{false, true} {
		m, err := TinyText(TinyTextOptions{VocabSize: vocab, AttentionMask: withMask, Seed: 3})
		b := modelBytes(t, m, err)
		inputs := []string{InputIDs}
		if withMask {
			inputs = append(inputs, AttentionMask)
		}
		s := newSession(t, b, inputs, []string{TextEmbeds}, 1)
		run := func(ids, mask []int64) []float32 {
			shape := []int64{1, int64(len(ids))}
			ins := []input{{name: InputIDs, shape: shape, i64: ids}}
			if withMask {
				ins = append(ins, input{name: AttentionMask, shape: shape, i64: mask})
			}
			return s.mustRun(t, ins...)[TextEmbeds].data
		}
		for _, words := range []int{0, 1, 8, 40, 75} {
			ids, mask := tokenRows(r, vocab, []int{words}, 0, 0)
			padIDs, padMask := slices.Clone(ids[0]), slices.Clone(mask[0])
			for len(padIDs) < CLIPMaxPositions {
				padIDs, padMask = append(padIDs, vocab-1), append(padMask, 0)
			}
			trimmed, padded := run(ids[0], mask[0]), run(padIDs, padMask)
			if !slices.Equal(trimmed, padded) {
				t.Errorf("mask=%v, %d words: padded to 77 gives %v..., trimmed %v...",
					withMask, words, padded[:3], trimmed[:3])
			}
		}
	}
}

// refTinyVision recomputes TinyVision's math in float64 from its weights.
func refTinyVision(kernel, bias, pos, proj []float32, size, ps, width, projDim int, pixels []float32) []float64 {
	grid := size / ps
	batch := len(pixels) / (3 * size * size)
	var out []float64
	for b := range batch {
		img := pixels[b*3*size*size:]
		mean := make([]float64, width)
		for py := range grid {
			for px := range grid {
				n := py*grid + px
				for o := range width {
					acc := float64(bias[o])
					for c := range 3 {
						for y := range ps {
							for x := range ps {
								acc += float64(kernel[((o*3+c)*ps+y)*ps+x]) *
									float64(img[(c*size+py*ps+y)*size+px*ps+x])
							}
						}
					}
					mean[o] += math.Tanh(acc+float64(pos[n*width+o])) / float64(grid*grid)
				}
			}
		}
		for k := range projDim {
			e := 0.0
			for i := range width {
				e += mean[i] * float64(proj[i*projDim+k])
			}
			out = append(out, e)
		}
	}
	return out
}

// photoLike fills a normalised image with smooth gradients plus noise, the
// value range CLIP preprocessing produces.
func photoLike(r *rand.Rand, batch, size int) []float32 {
	px := make([]float32, batch*3*size*size)
	for b := range batch {
		fx, fy := r.Float64()*6, r.Float64()*6
		for c := range 3 {
			for y := range size {
				for x := range size {
					v := math.Sin(fx*float64(x)/float64(size)+float64(c)) * math.Cos(fy*float64(y)/float64(size))
					px[((b*3+c)*size+y)*size+x] = float32(1.5*v + 0.2*r.NormFloat64())
				}
			}
		}
	}
	return px
}

func TestTinyVisionMatchesGo(t *testing.T) {
	tests := []struct {
		name               string
		size, patch, batch int
	}{
		{"default 224/32 batch 1", 0, 0, 1},
		{"batch 3", 0, 0, 3},
		{"64/16", 64, 16, 2},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := TinyVisionOptions{ImageSize: tc.size, PatchSize: tc.patch, Seed: 11}
			m, err := TinyVision(opts)
			b := modelBytes(t, m, err)
			_ = opts.defaults()
			s := newSession(t, b, []string{PixelValues}, []string{ImageEmbeds, LastHiddenState}, 1)
			px := photoLike(r, tc.batch, opts.ImageSize)
			got := s.mustRun(t, input{name: PixelValues, shape: []int64{int64(tc.batch), 3, int64(opts.ImageSize), int64(opts.ImageSize)}, f32: px})
			grid := opts.ImageSize / opts.PatchSize
			checkShape(t, ImageEmbeds, got[ImageEmbeds].shape, tc.batch, opts.ProjDim)
			checkShape(t, LastHiddenState, got[LastHiddenState].shape, tc.batch, grid*grid, opts.Width)
			want := refTinyVision(initializer(t, m, TinyPatchWeight), initializer(t, m, TinyPatchBias),
				initializer(t, m, TinyPatchPosition), initializer(t, m, TinyVisualProjection),
				opts.ImageSize, opts.PatchSize, opts.Width, opts.ProjDim, px)
			checkClose(t, ImageEmbeds, got[ImageEmbeds].data, want, 1e-4)
			for i := range tc.batch {
				if n := norm64(want[i*opts.ProjDim : (i+1)*opts.ProjDim]); n < 2 || n > 30 {
					t.Errorf("image %d: |image_embeds| = %.2f, want CLIP-like 2..30", i, n)
				}
			}
		})
	}
}

func checkShape(t *testing.T, name string, got []int64, want ...int) {
	t.Helper()
	w := make([]int64, len(want))
	for i, v := range want {
		w[i] = int64(v)
	}
	if !slices.Equal(got, w) {
		t.Fatalf("%s shape = %v, want %v", name, got, w)
	}
}

// checkClose compares within tol, relative to max(1, |want|).
func checkClose(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*math.Max(1, math.Abs(want[i])) || math.IsNaN(d) {
			t.Fatalf("%s[%d] = %v, want %v (diff %g)", name, i, got[i], want[i], d)
		}
	}
}

func norm64(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func TestBrokenModels(t *testing.T) {
	good, err := TinyText(TinyTextOptions{VocabSize: 100})
	goodBytes := modelBytes(t, good, err)
	wrong, err := WrongInputName(TinyTextOptions{VocabSize: 100})
	wrongBytes := modelBytes(t, wrong, err)
	needORT(t)

	ins, _, err := ort.GetInputOutputInfoWithONNXData(wrongBytes)
	if err != nil {
		t.Fatalf("the renamed graph must still load: %v", err)
	}
	if len(ins) != 1 || ins[0].Name != "ids" {
		t.Errorf("renamed graph inputs %v, want only ids", ins)
	}
	// ONNX Runtime may accept the session and fail the run instead; either
	// way feeding input_ids must fail.
	opts, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	if s, err := ort.NewDynamicAdvancedSessionWithONNXData(wrongBytes, []string{InputIDs}, []string{TextEmbeds}, opts); err == nil {
		defer s.Destroy()
		sess := &session{s: s, outputs: []string{TextEmbeds}}
		if _, err := sess.run(input{name: InputIDs, shape: []int64{1, 2}, i64: []int64{5, 99}}); err == nil {
			t.Error("running the renamed graph with input_ids succeeded")
		} else {
			t.Logf("run error: %v", err)
		}
	} else {
		t.Logf("session error: %v", err)
	}
	truncated := Truncated(goodBytes)
	if len(truncated) != len(goodBytes)/2 {
		t.Fatalf("Truncated kept %d of %d bytes", len(truncated), len(goodBytes))
	}
	if _, _, err := ort.GetInputOutputInfoWithONNXData(truncated); err == nil {
		t.Error("ONNX Runtime loaded a truncated model")
	}
}
