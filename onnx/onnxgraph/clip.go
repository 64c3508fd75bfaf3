package onnxgraph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

// TextOptions configures CLIPText. The zero value is CLIP ViT-B's text tower
// (the same for ViT-B/16 and ViT-B/32).
type TextOptions struct {
	VocabSize     int  // default 49408
	MaxPositions  int  // default 77
	Width         int  // default 512
	Layers        int  // default 12
	Heads         int  // default 8
	MLP           int  // default 2048
	ProjDim       int  // default 512
	AttentionMask bool // also take attention_mask, added to the causal mask
	FixedLength   bool // declare the sequence axis as MaxPositions instead of dynamic
	Seed          uint64
}

func (o *TextOptions) defaults() error {
	def(&o.VocabSize, CLIPVocabSize)
	def(&o.MaxPositions, CLIPMaxPositions)
	def(&o.Width, 512)
	def(&o.Layers, 12)
	def(&o.Heads, 8)
	def(&o.MLP, 2048)
	def(&o.ProjDim, CLIPProjDim)
	if err := positive("clip text", "VocabSize", o.VocabSize, "MaxPositions", o.MaxPositions,
		"Width", o.Width, "Layers", o.Layers, "Heads", o.Heads, "MLP", o.MLP, "ProjDim", o.ProjDim); err != nil {
		return err
	}
	if o.Width%o.Heads != 0 {
		return fmt.Errorf("clip text: Heads %d does not divide Width %d", o.Heads, o.Width)
	}
	return nil
}

// VisionOptions configures CLIPVision. The zero value is CLIP ViT-B/16's
// vision tower; PatchSize 32 makes it ViT-B/32.
type VisionOptions struct {
	ImageSize int // default 224
	PatchSize int // default 16
	Width     int // default 768
	Layers    int // default 12
	Heads     int // default 12
	MLP       int // default 3072
	ProjDim   int // default 512
	Seed      uint64
}

func (o *VisionOptions) defaults() error {
	def(&o.ImageSize, CLIPImageSize)
	def(&o.PatchSize, 16)
	def(&o.Width, 768)
	def(&o.Layers, 12)
	def(&o.Heads, 12)
	def(&o.MLP, 3072)
	def(&o.ProjDim, CLIPProjDim)
	if err := positive("clip vision", "ImageSize", o.ImageSize, "PatchSize", o.PatchSize,
		"Width", o.Width, "Layers", o.Layers, "Heads", o.Heads, "MLP", o.MLP, "ProjDim", o.ProjDim); err != nil {
		return err
	}
	if o.Width%o.Heads != 0 {
		return fmt.Errorf("clip vision: Heads %d does not divide Width %d", o.Heads, o.Width)
	}
	if o.ImageSize%o.PatchSize != 0 {
		return fmt.Errorf("clip vision: PatchSize %d does not divide ImageSize %d", o.PatchSize, o.ImageSize)
	}
	return nil
}

// CLIPText builds CLIP's text transformer with CLIPTextModelWithProjection's
// interface and true shapes, and random weights: only its speed means
// anything. Token plus positional embedding (cut to the input's length),
// pre-LayerNorm layers with causal self-attention and quick_gelu MLPs, a
// final LayerNorm (-> last_hidden_state), pooling at the argmax of
// input_ids (the EOT token) and a bias-free projection (-> text_embeds).
func CLIPText(opts TextOptions) (*Model, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	g := NewGraph("clip_text")
	b := &transformer{g: g, r: newRand(opts.Seed), width: opts.Width, heads: opts.Heads, mlp: opts.MLP}
	seq := Dim("sequence_length")
	if opts.FixedLength {
		seq = Fixed(opts.MaxPositions)
	}
	g.Input(InputIDs, Int64, "batch_size", seq)
	if opts.AttentionMask {
		g.Input(AttentionMask, Int64, "batch_size", seq)
	}
	tok := b.weight("embeddings.token_embedding.weight", 0.02, opts.VocabSize, opts.Width)
	pos := b.weight("embeddings.position_embedding.weight", 0.01, opts.MaxPositions, opts.Width)
	x, seqLen := tokenEmbeddings(g, tok, pos)

	// Causal mask: a constant upper triangle of large negatives cut to [S,S].
	p := opts.MaxPositions
	causal := make([]float32, p*p)
	for i := range p {
		for j := i + 1; j < p; j++ {
			causal[i*p+j] = maskedScore
		}
	}
	mask := g.Initializer("causal_mask", causal, int64(p), int64(p))
	bounds := g.Op("Concat", []string{seqLen, seqLen}, AttrInt("axis", 0))
	mask = g.Op("Slice", []string{mask, g.Ints(0, 0), bounds, g.Ints(0, 1)})
	if opts.AttentionMask {
		keep := g.Op("Cast", []string{AttentionMask}, AttrInt("to", int64(Float)))
		drop := g.Op("Sub", []string{g.Scalar(1), keep})
		drop = g.Op("Mul", []string{drop, g.Scalar(maskedScore)})
		drop = g.Op("Unsqueeze", []string{drop, g.Ints(1, 2)}) // [B,1,1,S]
		mask = g.Op("Add", []string{mask, drop})
	}

	for l := range opts.Layers {
		x = b.layer(x, mask, "encoder.layers."+strconv.Itoa(l)+".")
	}
	g.Node("LayerNormalization", []string{x, b.ones("final_layer_norm.weight"), b.zeros("final_layer_norm.bias")},
		[]string{LastHiddenState}, AttrFloat("epsilon", layerNormEps))

	eot := g.Op("ArgMax", []string{InputIDs}, AttrInt("axis", 1), AttrInt("keepdims", 1))
	pooled := g.Op("GatherND", []string{LastHiddenState, eot}, AttrInt("batch_dims", 1))
	proj := b.weight("text_projection.weight", 0.02, opts.Width, opts.ProjDim)
	g.Node("MatMul", []string{pooled, proj}, []string{TextEmbeds})

	g.Output(TextEmbeds, Float, "batch_size", Fixed(opts.ProjDim))
	g.Output(LastHiddenState, Float, "batch_size", seq, Fixed(opts.Width))
	return finish(g)
}

// CLIPVision builds CLIP's vision transformer with
// CLIPVisionModelWithProjection's interface and true shapes, and random
// weights: a strided Conv patch embedding, class token, positional
// embedding, pre-LayerNorm, pre-LN layers (-> last_hidden_state), and a
// post-LayerNorm on the class token before a bias-free projection
// (-> image_embeds).
func CLIPVision(opts VisionOptions) (*Model, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	g := NewGraph("clip_vision")
	b := &transformer{g: g, r: newRand(opts.Seed), width: opts.Width, heads: opts.Heads, mlp: opts.MLP}
	size, ps, w := opts.ImageSize, opts.PatchSize, opts.Width
	tokens := (size/ps)*(size/ps) + 1
	g.Input(PixelValues, Float, "batch_size", "3", Fixed(size), Fixed(size))

	kernel := b.weight("embeddings.patch_embedding.weight", 0.02, w, 3, ps, ps)
	patches := g.Op("Conv", []string{PixelValues, kernel},
		AttrInts("kernel_shape", int64(ps), int64(ps)), AttrInts("strides", int64(ps), int64(ps)))
	patches = g.Op("Reshape", []string{patches, g.Ints(0, int64(w), -1)})
	patches = g.Op("Transpose", []string{patches}, AttrInts("perm", 0, 2, 1)) // [B,N,W]

	batch := g.Op("Shape", []string{PixelValues}, AttrInt("start", 0), AttrInt("end", 1))
	classShape := g.Op("Concat", []string{batch, g.Ints(1, int64(w))}, AttrInt("axis", 0))
	class := b.weight("embeddings.class_embedding", 0.02, 1, 1, w)
	class = g.Op("Expand", []string{class, classShape}) // [B,1,W]
	x := g.Op("Concat", []string{class, patches}, AttrInt("axis", 1))
	x = g.Op("Add", []string{x, b.weight("embeddings.position_embedding.weight", 0.01, tokens, w)})
	x = b.layerNorm(x, "pre_layrnorm")

	for l := range opts.Layers {
		x = b.layer(x, "", "encoder.layers."+strconv.Itoa(l)+".")
	}
	g.Node("Identity", []string{x}, []string{LastHiddenState})

	first := g.Op("Gather", []string{x, g.InitializerInt64("", []int64{0})}, AttrInt("axis", 1)) // [B,W]
	pooled := b.layerNorm(first, "post_layernorm")
	proj := b.weight("visual_projection.weight", 0.02, w, opts.ProjDim)
	g.Node("MatMul", []string{pooled, proj}, []string{ImageEmbeds})

	g.Output(ImageEmbeds, Float, "batch_size", Fixed(opts.ProjDim))
	g.Output(LastHiddenState, Float, "batch_size", Fixed(tokens), Fixed(w))
	return finish(g)
}

const (
	layerNormEps = 1e-5
	// maskedScore is added to attention scores of hidden positions. It is
	// finite so two masks can be added without overflowing to -Inf.
	maskedScore = -1e9
)

// transformer emits CLIP encoder layers with random weights.
type transformer struct {
	g                 *Graph
	r                 *rand.Rand
	width, heads, mlp int
}

func (b *transformer) weight(name string, std float64, dims ...int) string {
	n, d64 := 1, make([]int64, len(dims))
	for i, d := range dims {
		n *= d
		d64[i] = int64(d)
	}
	return b.g.Initializer(name, normal(b.r, n, std), d64...)
}

func (b *transformer) constant(name string, v float32) string {
	data := make([]float32, b.width)
	for i := range data {
		data[i] = v
	}
	return b.g.Initializer(name, data, int64(b.width))
}

func (b *transformer) ones(name string) string  { return b.constant(name, 1) }
func (b *transformer) zeros(name string) string { return b.constant(name, 0) }

func (b *transformer) layerNorm(x, name string) string {
	return b.g.Op("LayerNormalization", []string{x, b.ones(name + ".weight"), b.zeros(name + ".bias")},
		AttrFloat("epsilon", layerNormEps))
}

// linear is x @ W + bias with W stored [in, out], as in ONNX exports.
func (b *transformer) linear(x, name string, in, out int) string {
	y := b.g.Op("MatMul", []string{x, b.weight(name+".weight", 0.02, in, out)})
	return b.g.Op("Add", []string{y, b.weight(name+".bias", 0.02, out)})
}

// layer is one pre-LN CLIP encoder layer; mask is an additive attention
// mask broadcastable to [B,H,S,S], or "" for none.
func (b *transformer) layer(x, mask, prefix string) string {
	g, w := b.g, b.width
	h := b.layerNorm(x, prefix+"layer_norm1")
	x = g.Op("Add", []string{x, b.attention(h, mask, prefix+"self_attn.")})
	h = b.layerNorm(x, prefix+"layer_norm2")
	h = b.linear(h, prefix+"mlp.fc1", w, b.mlp)
	// quick_gelu: x * sigmoid(1.702 x)
	h = g.Op("Mul", []string{h, g.Op("Sigmoid", []string{g.Op("Mul", []string{h, g.Scalar(1.702)})})})
	h = b.linear(h, prefix+"mlp.fc2", b.mlp, w)
	return g.Op("Add", []string{x, h})
}

func (b *transformer) attention(x, mask, prefix string) string {
	g, w, nh := b.g, b.width, b.heads
	hd := w / nh
	split := g.Ints(0, 0, int64(nh), int64(hd)) // [B,S,W] -> [B,S,H,D]
	heads := func(v string, perm ...int64) string {
		return g.Op("Transpose", []string{g.Op("Reshape", []string{v, split})}, AttrInts("perm", perm...))
	}
	q := g.Op("Mul", []string{b.linear(x, prefix+"q_proj", w, w), g.Scalar(float32(1 / math.Sqrt(float64(hd))))})
	q = heads(q, 0, 2, 1, 3)                                    // [B,H,S,D]
	kT := heads(b.linear(x, prefix+"k_proj", w, w), 0, 2, 3, 1) // [B,H,D,S]
	v := heads(b.linear(x, prefix+"v_proj", w, w), 0, 2, 1, 3)  // [B,H,S,D]
	scores := g.Op("MatMul", []string{q, kT})
	if mask != "" {
		scores = g.Op("Add", []string{scores, mask})
	}
	probs := g.Op("Softmax", []string{scores}, AttrInt("axis", -1))
	ctx := g.Op("Transpose", []string{g.Op("MatMul", []string{probs, v})}, AttrInts("perm", 0, 2, 1, 3))
	ctx = g.Op("Reshape", []string{ctx, g.Ints(0, 0, int64(w))})
	return b.linear(ctx, prefix+"out_proj", w, w)
}
