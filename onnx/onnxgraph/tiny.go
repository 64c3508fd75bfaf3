package onnxgraph

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// CLIP's graph input and output names, as in Hugging Face ONNX exports of
// CLIPTextModelWithProjection and CLIPVisionModelWithProjection.
const (
	InputIDs        = "input_ids"
	AttentionMask   = "attention_mask"
	PixelValues     = "pixel_values"
	TextEmbeds      = "text_embeds"
	ImageEmbeds     = "image_embeds"
	LastHiddenState = "last_hidden_state"
)

// Real CLIP sizes, the defaults of the option structs.
const (
	CLIPVocabSize    = 49408
	CLIPMaxPositions = 77
	CLIPProjDim      = 512
	CLIPImageSize    = 224
)

// TinyTextOptions configures TinyText. The zero value is a usable default.
type TinyTextOptions struct {
	VocabSize     int  // embedding rows (default CLIPVocabSize); the EOT token must have the largest id in use
	Width         int  // hidden size (default 32)
	ProjDim       int  // text_embeds size (default 64)
	MaxPositions  int  // positional embedding rows, the longest sequence (default 77)
	AttentionMask bool // also take an attention_mask input, used as weights of the mean
	FixedLength   bool // declare the sequence axis as MaxPositions instead of dynamic
	Seed          uint64
}

func (o *TinyTextOptions) defaults() error {
	def(&o.VocabSize, CLIPVocabSize)
	def(&o.Width, 32)
	def(&o.ProjDim, 64)
	def(&o.MaxPositions, CLIPMaxPositions)
	return positive("tiny text", "VocabSize", o.VocabSize, "Width", o.Width,
		"ProjDim", o.ProjDim, "MaxPositions", o.MaxPositions)
}

// Initializer names of the tiny text model, for tests that recompute it.
const (
	TinyTokenEmbedding    = "token_embedding"
	TinyPositionEmbedding = "position_embedding"
	TinyTextProjection    = "text_projection"
)

// TinyText builds a small stand-in for CLIPTextModelWithProjection with
// CLIP's inputs and outputs:
//
//	hidden      = token_embedding[input_ids] + position_embedding[:seq]   -> last_hidden_state
//	eot         = argmax(input_ids) per row (CLIP's EOT token has the largest id)
//	w[j]        = (j <= eot) * attention_mask[j]    (mask factor only with AttentionMask)
//	pooled      = hidden[eot] + sum_j w[j] hidden[j] / max(sum_j w[j], 1)
//	text_embeds = pooled @ text_projection          (not normalised, like CLIP)
//
// Positions after the EOT token never reach text_embeds, so trimming
// padding leaves it exactly unchanged. Weights are seeded random numbers
// scaled so text_embeds has a norm around 8, like real CLIP's.
func TinyText(opts TinyTextOptions) (*Model, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	r := newRand(opts.Seed)
	v, w, d, p := opts.VocabSize, opts.Width, opts.ProjDim, opts.MaxPositions
	g := NewGraph("tiny_clip_text")
	seq := Dim("sequence_length")
	if opts.FixedLength {
		seq = Fixed(p)
	}
	g.Input(InputIDs, Int64, "batch_size", seq)
	if opts.AttentionMask {
		g.Input(AttentionMask, Int64, "batch_size", seq)
	}
	tok := g.Initializer(TinyTokenEmbedding, normal(r, v*w, 1), int64(v), int64(w))
	pos := g.Initializer(TinyPositionEmbedding, normal(r, p*w, 0.1), int64(p), int64(w))
	// E|pooled|^2 is about 1.2*Width, so this std gives |text_embeds| near 8.
	proj := g.Initializer(TinyTextProjection, normal(r, w*d, 7.3/math.Sqrt(float64(w*d))), int64(w), int64(d))

	hidden, seqLen := tokenEmbeddings(g, tok, pos)
	g.Node("Identity", []string{hidden}, []string{LastHiddenState})

	eot := g.Op("ArgMax", []string{InputIDs}, AttrInt("axis", 1), AttrInt("keepdims", 1)) // [B,1]
	atEOT := g.Op("GatherND", []string{hidden, eot}, AttrInt("batch_dims", 1))            // [B,W]
	positions := g.Op("Slice", []string{g.Ints(arange(p)...), g.Ints(0), seqLen, g.Ints(0)})
	upToEOT := g.Op("LessOrEqual", []string{positions, eot}) // [B,S]
	weights := g.Op("Cast", []string{upToEOT}, AttrInt("to", int64(Float)))
	if opts.AttentionMask {
		mask := g.Op("Cast", []string{AttentionMask}, AttrInt("to", int64(Float)))
		weights = g.Op("Mul", []string{weights, mask})
	}
	count := g.Op("ReduceSum", []string{weights, g.Ints(1)}, AttrInt("keepdims", 1)) // [B,1]
	count = g.Op("Max", []string{count, g.Scalar(1)})
	sum := g.Op("MatMul", []string{g.Op("Unsqueeze", []string{weights, g.Ints(1)}), hidden}) // [B,1,W]
	mean := g.Op("Div", []string{g.Op("Squeeze", []string{sum, g.Ints(1)}), count})
	pooled := g.Op("Add", []string{atEOT, mean})
	g.Node("MatMul", []string{pooled, proj}, []string{TextEmbeds})

	g.Output(TextEmbeds, Float, "batch_size", Fixed(d))
	g.Output(LastHiddenState, Float, "batch_size", seq, Fixed(w))
	return finish(g)
}

// tokenEmbeddings adds the embedding lookup of input_ids plus the
// positional embedding cut to the actual sequence length. It returns the
// hidden states and the sequence length as a 1-element int64 tensor.
func tokenEmbeddings(g *Graph, tok, pos string) (hidden, seqLen string) {
	seqLen = g.Op("Shape", []string{InputIDs}, AttrInt("start", 1), AttrInt("end", 2))
	embedded := g.Op("Gather", []string{tok, InputIDs}, AttrInt("axis", 0))
	positions := g.Op("Slice", []string{pos, g.Ints(0), seqLen, g.Ints(0)})
	return g.Op("Add", []string{embedded, positions}), seqLen
}

// TinyVisionOptions configures TinyVision. The zero value is a usable default.
type TinyVisionOptions struct {
	ImageSize int // pixel_values height and width (default 224)
	PatchSize int // patch side, must divide ImageSize (default 32)
	Width     int // hidden size (default 48)
	ProjDim   int // image_embeds size (default 64)
	Seed      uint64
}

func (o *TinyVisionOptions) defaults() error {
	def(&o.ImageSize, CLIPImageSize)
	def(&o.PatchSize, 32)
	def(&o.Width, 48)
	def(&o.ProjDim, 64)
	if err := positive("tiny vision", "ImageSize", o.ImageSize, "PatchSize", o.PatchSize,
		"Width", o.Width, "ProjDim", o.ProjDim); err != nil {
		return err
	}
	if o.ImageSize%o.PatchSize != 0 {
		return fmt.Errorf("tiny vision: PatchSize %d does not divide ImageSize %d", o.PatchSize, o.ImageSize)
	}
	return nil
}

// Initializer names of the tiny vision model, for tests that recompute it.
const (
	TinyPatchWeight      = "patch_embedding.weight"
	TinyPatchBias        = "patch_embedding.bias"
	TinyPatchPosition    = "position_embedding"
	TinyVisualProjection = "visual_projection"
)

// TinyVision builds a small stand-in for CLIPVisionModelWithProjection
// with CLIP's input and outputs:
//
//	patches           = Conv(pixel_values, patch_embedding, stride = kernel = PatchSize)  [B,W,G,G]
//	last_hidden_state = tanh(patches as [B,G*G,W] + position_embedding)
//	image_embeds      = mean over patches of last_hidden_state @ visual_projection
func TinyVision(opts TinyVisionOptions) (*Model, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	r := newRand(opts.Seed)
	size, ps, w, d := opts.ImageSize, opts.PatchSize, opts.Width, opts.ProjDim
	n := (size / ps) * (size / ps)
	g := NewGraph("tiny_clip_vision")
	g.Input(PixelValues, Float, "batch_size", "3", Fixed(size), Fixed(size))
	fanIn := 3 * ps * ps
	kernel := g.Initializer(TinyPatchWeight, normal(r, w*fanIn, 1/math.Sqrt(float64(fanIn))),
		int64(w), 3, int64(ps), int64(ps))
	bias := g.Initializer(TinyPatchBias, normal(r, w, 0.1), int64(w))
	pos := g.Initializer(TinyPatchPosition, normal(r, n*w, 0.5), int64(n), int64(w))
	// Pooled features have a norm near sqrt(0.2*Width) for photos; this
	// std brings |image_embeds| to the order of 10, like real CLIP's.
	proj := g.Initializer(TinyVisualProjection, normal(r, w*d, 18/math.Sqrt(float64(w*d))), int64(w), int64(d))

	patches := g.Op("Conv", []string{PixelValues, kernel, bias},
		AttrInts("kernel_shape", int64(ps), int64(ps)), AttrInts("strides", int64(ps), int64(ps)))
	flat := g.Op("Reshape", []string{patches, g.Ints(0, int64(w), -1)})    // [B,W,N]
	tokens := g.Op("Transpose", []string{flat}, AttrInts("perm", 0, 2, 1)) // [B,N,W]
	g.Node("Tanh", []string{g.Op("Add", []string{tokens, pos})}, []string{LastHiddenState})
	mean := g.Op("ReduceMean", []string{LastHiddenState}, AttrInts("axes", 1), AttrInt("keepdims", 0))
	g.Node("MatMul", []string{mean, proj}, []string{ImageEmbeds})

	g.Output(ImageEmbeds, Float, "batch_size", Fixed(d))
	g.Output(LastHiddenState, Float, "batch_size", Fixed(n), Fixed(w))
	return finish(g)
}

// WrongInputName returns the tiny text model with input_ids renamed to
// "ids": a well-formed graph that a CLIP runner must reject clearly.
func WrongInputName(opts TinyTextOptions) (*Model, error) {
	m, err := TinyText(opts)
	if err != nil {
		return nil, err
	}
	m.Graph.Rename(InputIDs, "ids")
	return finish(m.Graph)
}

// finish wraps a generated graph in a model, or reports its build error.
func finish(g *Graph) (*Model, error) {
	if err := g.Err(); err != nil {
		return nil, err
	}
	return NewModel(g), nil
}

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x6d6d726167)) // "mmrag"
}

// normal returns n samples of N(0, std²).
func normal(r *rand.Rand, n int, std float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64() * std)
	}
	return out
}

func arange(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

func def(v *int, d int) {
	if *v == 0 {
		*v = d
	}
}

// positive checks that the ints of name, value pairs are > 0.
func positive(what string, pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if v, ok := pairs[i+1].(int); !ok || v <= 0 {
			return fmt.Errorf("%s: %v must be positive, got %v", what, pairs[i], pairs[i+1])
		}
	}
	return nil
}
