package onnxgraph

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

// bertRef computes BertModel's last_hidden_state for one unpadded sequence
// in plain Go, from the PyTorch-layout weights: the reference the ONNX
// graph is checked against.
type bertRef struct {
	cfg BERTConfig
	w   BERTWeights
	t   testing.TB
}

func (r bertRef) get(name string) []float32 {
	v, err := r.w(name)
	if err != nil {
		r.t.Fatal(err)
	}
	return v
}

// linear is x·Wᵀ + b for x [n, in], W [out, in].
func (r bertRef) linear(x [][]float64, name string) [][]float64 {
	w, b := r.get(name+".weight"), r.get(name+".bias")
	out := len(b)
	in := len(w) / out
	y := make([][]float64, len(x))
	for i, row := range x {
		y[i] = make([]float64, out)
		for o := range out {
			s := float64(b[o])
			for k := range in {
				s += row[k] * float64(w[o*in+k])
			}
			y[i][o] = s
		}
	}
	return y
}

func (r bertRef) layerNorm(x [][]float64, name string) [][]float64 {
	g, b := r.get(name+".weight"), r.get(name+".bias")
	out := make([][]float64, len(x))
	for i, row := range x {
		var mean, v float64
		for _, a := range row {
			mean += a
		}
		mean /= float64(len(row))
		for _, a := range row {
			v += (a - mean) * (a - mean)
		}
		v /= float64(len(row))
		out[i] = make([]float64, len(row))
		for k, a := range row {
			out[i][k] = (a-mean)/math.Sqrt(v+r.cfg.LayerNormEps)*float64(g[k]) + float64(b[k])
		}
	}
	return out
}

func add(a, b [][]float64) [][]float64 {
	out := make([][]float64, len(a))
	for i := range a {
		out[i] = make([]float64, len(a[i]))
		for k := range a[i] {
			out[i][k] = a[i][k] + b[i][k]
		}
	}
	return out
}

func (r bertRef) forward(ids, types []int64) [][]float64 {
	h := r.cfg.Hidden
	we, pe, te := r.get("embeddings.word_embeddings.weight"), r.get("embeddings.position_embeddings.weight"), r.get("embeddings.token_type_embeddings.weight")
	x := make([][]float64, len(ids))
	for i, id := range ids {
		x[i] = make([]float64, h)
		for k := range h {
			x[i][k] = float64(we[int(id)*h+k]) + float64(pe[i*h+k]) + float64(te[int(types[i])*h+k])
		}
	}
	x = r.layerNorm(x, "embeddings.LayerNorm")
	for l := range r.cfg.Layers {
		p := "encoder.layer." + strconv.Itoa(l) + "."
		x = r.layerNorm(add(x, r.linear(r.attention(x, p+"attention.self."), p+"attention.output.dense")), p+"attention.output.LayerNorm")
		inter := r.linear(x, p+"intermediate.dense")
		for _, row := range inter {
			for k, a := range row {
				row[k] = a * 0.5 * (1 + math.Erf(a/math.Sqrt2))
			}
		}
		x = r.layerNorm(add(x, r.linear(inter, p+"output.dense")), p+"output.LayerNorm")
	}
	return x
}

func (r bertRef) attention(x [][]float64, p string) [][]float64 {
	q, k, v := r.linear(x, p+"query"), r.linear(x, p+"key"), r.linear(x, p+"value")
	n, hd := len(x), r.cfg.Hidden/r.cfg.Heads
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, r.cfg.Hidden)
	}
	for head := range r.cfg.Heads {
		off := head * hd
		for i := range n {
			scores := make([]float64, n)
			maxS := math.Inf(-1)
			for j := range n {
				for d := range hd {
					scores[j] += q[i][off+d] * k[j][off+d]
				}
				scores[j] /= math.Sqrt(float64(hd))
				maxS = math.Max(maxS, scores[j])
			}
			var sum float64
			for j := range scores {
				scores[j] = math.Exp(scores[j] - maxS)
				sum += scores[j]
			}
			for j := range n {
				for d := range hd {
					out[i][off+d] += scores[j] / sum * v[j][off+d]
				}
			}
		}
	}
	return out
}

func tinyBERT() BERTConfig {
	return BERTConfig{VocabSize: 50, MaxPositions: 16, Hidden: 8, Layers: 2, Heads: 2, Intermediate: 16, LayerNormEps: 1e-12}
}

// TestBERTMatchesReference runs a two-sequence batch, one padded, through
// ONNX Runtime and compares every real token's hidden state with the Go
// forward pass of that sequence alone: padding must change nothing.
func TestBERTMatchesReference(t *testing.T) {
	cfg := tinyBERT()
	w, err := RandomBERT(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Larger weights than 0.02 make the check meaningful: with tiny ones
	// every layer is close to the identity.
	scaled := func(name string) ([]float32, error) {
		v, err := w(name)
		if err != nil || strings.Contains(name, "LayerNorm") {
			return v, err
		}
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = x * 25
		}
		return out, nil
	}
	m, err := BERT(cfg, scaled)
	if err != nil {
		t.Fatal(err)
	}
	model, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(t, model, []string{InputIDs, AttentionMask, TokenTypeIDs}, []string{LastHiddenState}, 1)
	seqs := [][]int64{{2, 17, 33, 5, 49, 3}, {2, 8, 3}}
	types := [][]int64{{0, 0, 0, 1, 1, 1}, {0, 0, 0}}
	const seq = 6
	var ids, mask, tt []int64
	for i, sq := range seqs {
		for j := range seq {
			if j < len(sq) {
				ids, mask, tt = append(ids, sq[j]), append(mask, 1), append(tt, types[i][j])
			} else {
				ids, mask, tt = append(ids, 0), append(mask, 0), append(tt, 0)
			}
		}
	}
	shape := []int64{2, seq}
	out := s.mustRun(t, input{name: InputIDs, shape: shape, i64: ids}, input{name: AttentionMask, shape: shape, i64: mask},
		input{name: TokenTypeIDs, shape: shape, i64: tt})[LastHiddenState]
	if want := []int64{2, seq, int64(cfg.Hidden)}; !equalShape(out.shape, want) {
		t.Fatalf("shape %v, want %v", out.shape, want)
	}
	ref := bertRef{cfg: cfg, w: scaled, t: t}
	worst := 0.0
	for i, sq := range seqs {
		want := ref.forward(sq, types[i])
		for j := range sq {
			for k := range cfg.Hidden {
				got := float64(out.data[(i*seq+j)*cfg.Hidden+k])
				worst = math.Max(worst, math.Abs(got-want[j][k]))
			}
		}
	}
	if worst > 2e-4 {
		t.Errorf("largest difference from the Go reference: %g", worst)
	}
}

// TestBERTInt8 checks the quantised graph against the float one: every
// token's hidden state keeps its direction.
func TestBERTInt8(t *testing.T) {
	cfg := tinyBERT()
	w, err := RandomBERT(cfg, 9)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int64{2, 17, 33, 5, 49, 3}
	shape := []int64{1, int64(len(ids))}
	run := func(int8 bool) []float32 {
		c := cfg
		c.Int8 = int8
		m, err := BERT(c, w)
		if err != nil {
			t.Fatal(err)
		}
		model, err := m.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		s := newSession(t, model, []string{InputIDs, AttentionMask, TokenTypeIDs}, []string{LastHiddenState}, 1)
		return s.mustRun(t, input{name: InputIDs, shape: shape, i64: ids}, input{name: AttentionMask, shape: shape, i64: []int64{1, 1, 1, 1, 1, 1}},
			input{name: TokenTypeIDs, shape: shape, i64: make([]int64, len(ids))})[LastHiddenState].data
	}
	f, q := run(false), run(true)
	h := cfg.Hidden
	for j := range ids {
		var dot, nf, nq float64
		for k := range h {
			a, b := float64(f[j*h+k]), float64(q[j*h+k])
			dot, nf, nq = dot+a*b, nf+a*a, nq+b*b
		}
		if c := dot / math.Sqrt(nf*nq); c < 0.99 {
			t.Errorf("token %d: cosine %.4f between the int8 and float hidden states", j, c)
		}
	}
}

func TestQuantizeColumns(t *testing.T) {
	w := []float32{1, -0.5, 0, -2, 0.25, 0} // [3, 2]: columns {1, 0, 0.25} and {-0.5, -2, 0}
	q, s := QuantizeColumns(w, 3, 2)
	if want := []float32{1.0 / 127, 2.0 / 127}; s[0] != want[0] || s[1] != want[1] {
		t.Errorf("scales %v, want %v", s, want)
	}
	if want := []int8{127, -32, 0, -127, 32, 0}; string(toBytes(q)) != string(toBytes(want)) {
		t.Errorf("quants %v, want %v", q, want)
	}
	if _, s := QuantizeColumns([]float32{0, 0}, 2, 1); s[0] != 1 {
		t.Errorf("zero column scale %v", s)
	}
}

func toBytes(v []int8) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBERTErrors(t *testing.T) {
	cfg := tinyBERT()
	w, _ := RandomBERT(cfg, 1)
	missing := func(name string) ([]float32, error) {
		if name == "encoder.layer.1.output.dense.bias" {
			return nil, errors.New("weight missing")
		}
		return w(name)
	}
	short := func(name string) ([]float32, error) {
		v, err := w(name)
		if name == "embeddings.LayerNorm.bias" {
			v = v[:3]
		}
		return v, err
	}
	tests := []struct {
		name string
		cfg  BERTConfig
		w    BERTWeights
		want string
	}{
		{"missing weight", cfg, missing, "missing"},
		{"wrong size", cfg, short, "embeddings.LayerNorm.bias has 3 values"},
		{"heads", BERTConfig{Hidden: 10, Heads: 3}, w, "does not divide"},
		{"negative", BERTConfig{Layers: -1}, w, "must be positive"},
	}
	for _, tt := range tests {
		if _, err := BERT(tt.cfg, tt.w); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
}

func TestBERTShapes(t *testing.T) {
	shapes, err := BERTShapes(BERTConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// all-MiniLM-L6-v2: 5 embedding tensors and 16 per layer.
	if len(shapes) != 5+6*16 {
		t.Errorf("%d weights, want %d", len(shapes), 5+6*16)
	}
	var n int64
	for _, s := range shapes {
		n += product(s.Shape)
	}
	// 22.7 M parameters, the model card's figure (without the pooler).
	if n < 22_500_000 || n > 22_800_000 {
		t.Errorf("%d parameters", n)
	}
}
