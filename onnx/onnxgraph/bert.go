package onnxgraph

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// TokenTypeIDs is BERT's segment input.
const TokenTypeIDs = "token_type_ids"

// BERTConfig is the shape of a BERT encoder (Hugging Face's BertConfig).
// The zero value of a field takes the default noted beside it:
// sentence-transformers/all-MiniLM-L6-v2's shape.
type BERTConfig struct {
	VocabSize     int     // default 30522
	MaxPositions  int     // default 512
	TypeVocabSize int     // default 2
	Hidden        int     // default 384
	Layers        int     // default 6
	Heads         int     // default 12
	Intermediate  int     // default 1536
	LayerNormEps  float64 // default 1e-12
	// Int8 writes the encoder layers' matrix products as onnxruntime's
	// quantize_dynamic does (the model_quantized.onnx of the hub's
	// exports): int8 weights with a scale per output column, activations
	// quantised to uint8 at run time (DynamicQuantizeLinear, MatMulInteger).
	Int8 bool
}

func (c *BERTConfig) defaults() error {
	def(&c.VocabSize, 30522)
	def(&c.MaxPositions, 512)
	def(&c.TypeVocabSize, 2)
	def(&c.Hidden, 384)
	def(&c.Layers, 6)
	def(&c.Heads, 12)
	def(&c.Intermediate, 1536)
	if c.LayerNormEps == 0 {
		c.LayerNormEps = 1e-12
	}
	if err := positive("bert", "VocabSize", c.VocabSize, "MaxPositions", c.MaxPositions, "TypeVocabSize", c.TypeVocabSize,
		"Hidden", c.Hidden, "Layers", c.Layers, "Heads", c.Heads, "Intermediate", c.Intermediate); err != nil {
		return err
	}
	if c.Hidden%c.Heads != 0 {
		return fmt.Errorf("bert: Heads %d does not divide Hidden %d", c.Heads, c.Hidden)
	}
	if !(c.LayerNormEps > 0) {
		return fmt.Errorf("bert: LayerNormEps %g must be positive", c.LayerNormEps)
	}
	return nil
}

// BERTWeights returns a weight of a BERT encoder by its name in Hugging
// Face's BertModel state dict ("embeddings.word_embeddings.weight",
// "encoder.layer.0.attention.self.query.weight"…; see BERTShapes), in
// PyTorch layout: a Linear weight is [out, in], row-major.
type BERTWeights func(name string) ([]float32, error)

// BERTShapes lists every weight a BERT encoder of cfg needs with its
// PyTorch shape, in a stable order.
func BERTShapes(cfg BERTConfig) ([]WeightShape, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	h, in := int64(cfg.Hidden), int64(cfg.Intermediate)
	out := []WeightShape{
		{"embeddings.word_embeddings.weight", []int64{int64(cfg.VocabSize), h}},
		{"embeddings.position_embeddings.weight", []int64{int64(cfg.MaxPositions), h}},
		{"embeddings.token_type_embeddings.weight", []int64{int64(cfg.TypeVocabSize), h}},
		{"embeddings.LayerNorm.weight", []int64{h}},
		{"embeddings.LayerNorm.bias", []int64{h}},
	}
	for l := range cfg.Layers {
		p := "encoder.layer." + strconv.Itoa(l) + "."
		for _, lin := range []struct {
			name    string
			out, in int64
		}{
			{"attention.self.query", h, h}, {"attention.self.key", h, h}, {"attention.self.value", h, h},
			{"attention.output.dense", h, h}, {"intermediate.dense", in, h}, {"output.dense", h, in},
		} {
			out = append(out, WeightShape{p + lin.name + ".weight", []int64{lin.out, lin.in}}, WeightShape{p + lin.name + ".bias", []int64{lin.out}})
			if lin.name == "attention.output.dense" || lin.name == "output.dense" {
				norm := p + lin.name[:len(lin.name)-len("dense")] + "LayerNorm"
				out = append(out, WeightShape{norm + ".weight", []int64{h}}, WeightShape{norm + ".bias", []int64{h}})
			}
		}
	}
	return out, nil
}

// WeightShape is a named weight's PyTorch shape.
type WeightShape struct {
	Name  string
	Shape []int64
}

// RandomBERT returns weights for cfg drawn from N(0, 0.02²), LayerNorm
// scales 1 and biases 0, seeded: a true-shape model for speed
// measurements and a small one for exact tests.
func RandomBERT(cfg BERTConfig, seed uint64) (BERTWeights, error) {
	shapes, err := BERTShapes(cfg)
	if err != nil {
		return nil, err
	}
	r := newRand(seed)
	w := map[string][]float32{}
	for _, s := range shapes {
		n := 1
		for _, d := range s.Shape {
			n *= int(d)
		}
		switch {
		case strings.Contains(s.Name, "LayerNorm") && strings.HasSuffix(s.Name, ".weight"):
			w[s.Name] = constant(n, 1)
		default:
			w[s.Name] = normal(r, n, 0.02)
		}
	}
	return func(name string) ([]float32, error) {
		v, ok := w[name]
		if !ok {
			return nil, fmt.Errorf("no weight %q", name)
		}
		return v, nil
	}, nil
}

func constant(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// BERT builds Hugging Face's BertModel encoder with the interface of its
// ONNX exports (optimum, transformers.js: Xenova/all-MiniLM-L6-v2,
// Xenova/bge-small-en-v1.5…): inputs input_ids, attention_mask and
// token_type_ids, int64 [batch_size, sequence_length]; output
// last_hidden_state, float [batch_size, sequence_length, hidden]. Post-LN
// layers, exact (erf) GELU, padding masked out of attention; no pooler.
// Pooling is the caller's, as sentence-transformers does it.
func BERT(cfg BERTConfig, w BERTWeights) (*Model, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	shapes, _ := BERTShapes(cfg)
	b := &bertBuilder{g: NewGraph("bert"), cfg: cfg, w: w, shapes: map[string][]int64{}}
	for _, s := range shapes {
		b.shapes[s.Name] = s.Shape
	}
	g := b.g
	for _, in := range []string{InputIDs, AttentionMask, TokenTypeIDs} {
		g.Input(in, Int64, "batch_size", "sequence_length")
	}
	x := b.embeddings()
	keep := g.Op("Cast", []string{AttentionMask}, AttrInt("to", int64(Float)))
	mask := g.Op("Mul", []string{g.Op("Sub", []string{g.Scalar(1), keep}), g.Scalar(maskedScore)})
	mask = g.Op("Unsqueeze", []string{mask, g.Ints(1, 2)}) // [B,1,1,S]
	for l := range cfg.Layers {
		x = b.layer(x, mask, "encoder.layer."+strconv.Itoa(l)+".")
	}
	g.Node("Identity", []string{x}, []string{LastHiddenState})
	g.Output(LastHiddenState, Float, "batch_size", "sequence_length", Fixed(cfg.Hidden))
	if b.err != nil {
		return nil, fmt.Errorf("bert: %w", b.err)
	}
	return finish(g)
}

// bertBuilder emits a BERT encoder's nodes with the given weights.
type bertBuilder struct {
	g      *Graph
	cfg    BERTConfig
	w      BERTWeights
	shapes map[string][]int64
	err    error
}

// read returns the named weight's values and PyTorch shape; false (the
// builder's first error kept) when it is missing or of another size.
func (b *bertBuilder) read(name string) ([]float32, []int64, bool) {
	shape := b.shapes[name]
	v, err := b.w(name)
	if err == nil && int64(len(v)) != product(shape) {
		err = fmt.Errorf("weight %s has %d values, want shape %v", name, len(v), shape)
	}
	if err != nil {
		if b.err == nil {
			b.err = err
		}
		return nil, nil, false
	}
	return v, shape, true
}

// weight adds the named weight as an initializer of its PyTorch shape; a
// 2-D Linear weight is transposed to [in, out] for MatMul.
func (b *bertBuilder) weight(name string, transpose bool) string {
	v, shape, ok := b.read(name)
	if !ok {
		return b.g.Scalar(0)
	}
	if transpose {
		v, shape = transposed(v, int(shape[0]), int(shape[1])), []int64{shape[1], shape[0]}
	}
	return b.g.Initializer(name, v, shape...)
}

func product(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// transposed returns the [cols, rows] transpose of a row-major [rows, cols].
func transposed(v []float32, rows, cols int) []float32 {
	out := make([]float32, len(v))
	for r := range rows {
		for c := range cols {
			out[c*rows+r] = v[r*cols+c]
		}
	}
	return out
}

func (b *bertBuilder) layerNorm(x, name string) string {
	return b.g.Op("LayerNormalization", []string{x, b.weight(name+".weight", false), b.weight(name+".bias", false)},
		AttrFloat("epsilon", float32(b.cfg.LayerNormEps)))
}

// linear is x @ Wᵀ + bias.
func (b *bertBuilder) linear(x, name string) string {
	if b.cfg.Int8 {
		return b.g.Op("Add", []string{b.int8MatMul(x, name+".weight"), b.weight(name+".bias", false)})
	}
	y := b.g.Op("MatMul", []string{x, b.weight(name+".weight", true)})
	return b.g.Op("Add", []string{y, b.weight(name+".bias", false)})
}

// int8MatMul is x @ Wᵀ with W quantised to int8 per output column
// (symmetric) and x to uint8 per tensor at run time: the pattern ONNX
// Runtime fuses into one integer kernel.
func (b *bertBuilder) int8MatMul(x, name string) string {
	g := b.g
	v, shape, ok := b.read(name)
	if !ok {
		return g.Scalar(0)
	}
	out, in := int(shape[0]), int(shape[1])
	q, scales := QuantizeColumns(transposed(v, out, in), in, out)
	wq := g.InitializerInt8(name+"_quantized", q, int64(in), int64(out))
	ws := g.Initializer(name+"_scale", scales, int64(out))
	xq, xs, xz := g.fresh("x_quantized"), g.fresh("x_scale"), g.fresh("x_zero_point")
	g.Node("DynamicQuantizeLinear", []string{x}, []string{xq, xs, xz})
	y := g.Op("Cast", []string{g.Op("MatMulInteger", []string{xq, wq, xz})}, AttrInt("to", int64(Float)))
	return g.Op("Mul", []string{y, g.Op("Mul", []string{xs, ws})})
}

// QuantizeColumns quantises a row-major [rows, cols] matrix to int8 with
// one symmetric scale per column: q = round(w / s), s = max|w| / 127.
func QuantizeColumns(w []float32, rows, cols int) ([]int8, []float32) {
	scales := make([]float32, cols)
	for c := range cols {
		var m float64
		for r := range rows {
			m = math.Max(m, math.Abs(float64(w[r*cols+c])))
		}
		scales[c] = float32(m / 127)
		if scales[c] == 0 {
			scales[c] = 1
		}
	}
	q := make([]int8, len(w))
	for r := range rows {
		for c := range cols {
			v := math.Round(float64(w[r*cols+c]) / float64(scales[c]))
			q[r*cols+c] = int8(max(-127, min(127, v)))
		}
	}
	return q, scales
}

// embeddings is LayerNorm(word + position + token type).
func (b *bertBuilder) embeddings() string {
	g := b.g
	x, _ := tokenEmbeddings(g, b.weight("embeddings.word_embeddings.weight", false), b.weight("embeddings.position_embeddings.weight", false))
	types := g.Op("Gather", []string{b.weight("embeddings.token_type_embeddings.weight", false), TokenTypeIDs}, AttrInt("axis", 0))
	return b.layerNorm(g.Op("Add", []string{x, types}), "embeddings.LayerNorm")
}

// layer is one post-LN BERT layer; mask is the additive attention mask.
func (b *bertBuilder) layer(x, mask, p string) string {
	g := b.g
	attn := b.linear(b.attention(x, mask, p+"attention.self."), p+"attention.output.dense")
	x = b.layerNorm(g.Op("Add", []string{x, attn}), p+"attention.output.LayerNorm")
	h := gelu(g, b.linear(x, p+"intermediate.dense"))
	h = b.linear(h, p+"output.dense")
	return b.layerNorm(g.Op("Add", []string{x, h}), p+"output.LayerNorm")
}

// gelu is BERT's exact GELU: x · ½(1 + erf(x/√2)). ONNX Runtime fuses the
// pattern into one Gelu kernel.
func gelu(g *Graph, x string) string {
	e := g.Op("Erf", []string{g.Op("Div", []string{x, g.Scalar(float32(math.Sqrt2))})})
	return g.Op("Mul", []string{g.Op("Mul", []string{x, g.Op("Add", []string{e, g.Scalar(1)})}), g.Scalar(0.5)})
}

// attention is multi-head self-attention before the output projection:
// the per-head context, merged back to [B,S,H].
func (b *bertBuilder) attention(x, mask, p string) string {
	g, w, nh := b.g, b.cfg.Hidden, b.cfg.Heads
	hd := w / nh
	split := g.Ints(0, 0, int64(nh), int64(hd)) // [B,S,H] -> [B,S,NH,HD]
	heads := func(v string, perm ...int64) string {
		return g.Op("Transpose", []string{g.Op("Reshape", []string{v, split})}, AttrInts("perm", perm...))
	}
	q := heads(b.linear(x, p+"query"), 0, 2, 1, 3) // [B,NH,S,HD]
	kT := heads(b.linear(x, p+"key"), 0, 2, 3, 1)  // [B,NH,HD,S]
	v := heads(b.linear(x, p+"value"), 0, 2, 1, 3) // [B,NH,S,HD]
	scores := g.Op("Div", []string{g.Op("MatMul", []string{q, kT}), g.Scalar(float32(math.Sqrt(float64(hd))))})
	probs := g.Op("Softmax", []string{g.Op("Add", []string{scores, mask})}, AttrInt("axis", -1))
	ctx := g.Op("Transpose", []string{g.Op("MatMul", []string{probs, v})}, AttrInts("perm", 0, 2, 1, 3))
	return g.Op("Reshape", []string{ctx, g.Ints(0, 0, int64(w))})
}
