// Package embed owns the CLIP embedder: it reads a Hugging Face ONNX model
// folder (text and vision graphs, tokenizer, preprocessor config), feeds each
// graph the inputs it declares and returns L2-normalised vectors of one
// shared text–image space.
package embed

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"mmrag/imageprep"
	"mmrag/onnx"
	"mmrag/store"
	"mmrag/tokenizer"
)

// Options tune a CLIP embedder. The zero value is ready to use.
type Options struct {
	// ID names the model in stored vectors; default: the folder path.
	ID string
	// Quantized selects onnx/*_quantized.onnx.
	Quantized bool
	// Threads is ONNX Runtime's intra-op thread count; 0 = all cores.
	Threads int
	// TextBatch and ImageBatch bound how many inputs one graph run takes
	// (defaults 32 and 8).
	TextBatch, ImageBatch int
}

// CLIP embeds texts and images with a CLIP model run by ONNX Runtime.
// It is safe for concurrent use; runs of one graph are serialised because
// each already uses every thread it was given.
type CLIP struct {
	id     string
	dir    string
	opts   Options
	dim    int
	tok    *tokenizer.Tokenizer
	prep   imageprep.Config
	maxLen int

	textMu   sync.Mutex
	text     *onnx.Session
	textLen  int64 // fixed sequence length the graph declares; -1 when dynamic
	textErr  error
	textOnce sync.Once

	visionMu   sync.Mutex
	vision     *onnx.Session
	visionErr  error
	visionOnce sync.Once
}

// Files a model folder must hold (the Hugging Face ONNX layout of
// Xenova/clip-vit-base-patch16 and -patch32).
const (
	TextGraph          = "onnx/text_model.onnx"
	VisionGraph        = "onnx/vision_model.onnx"
	TextGraphQuant     = "onnx/text_model_quantized.onnx"
	VisionGraphQuant   = "onnx/vision_model_quantized.onnx"
	ConfigFile         = "config.json"
	PreprocessorConfig = "preprocessor_config.json"
)

type clipConfig struct {
	ProjectionDim int `json:"projection_dim"`
	TextConfig    struct {
		MaxPositionEmbeddings int `json:"max_position_embeddings"`
	} `json:"text_config"`
}

// Load opens the model folder dir. The graphs are loaded on first use, so a
// process that only embeds queries never pays for the vision tower. ONNX
// Runtime must have been initialised with onnx.Init.
func Load(dir string, opts Options) (*CLIP, error) {
	if opts.ID == "" {
		opts.ID = dir
	}
	if opts.TextBatch <= 0 {
		opts.TextBatch = 32
	}
	if opts.ImageBatch <= 0 {
		opts.ImageBatch = 8
	}
	c := &CLIP{id: opts.ID, dir: dir, opts: opts, maxLen: tokenizer.ContextLength}
	raw, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("load CLIP model %s: %w", dir, err)
	}
	var cfg clipConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("load CLIP model %s: parse %s: %w", dir, ConfigFile, err)
	}
	if cfg.ProjectionDim <= 0 {
		return nil, fmt.Errorf("load CLIP model %s: %s has no projection_dim", dir, ConfigFile)
	}
	c.dim = cfg.ProjectionDim
	if n := cfg.TextConfig.MaxPositionEmbeddings; n > 0 && n < c.maxLen {
		c.maxLen = n
	}
	if c.tok, err = tokenizer.Load(dir); err != nil {
		return nil, fmt.Errorf("load CLIP model %s: %w", dir, err)
	}
	if c.prep, err = imageprep.LoadConfig(filepath.Join(dir, PreprocessorConfig)); err != nil {
		return nil, fmt.Errorf("load CLIP model %s: %w", dir, err)
	}
	for _, f := range []string{c.graph(TextGraph, TextGraphQuant), c.graph(VisionGraph, VisionGraphQuant)} {
		if err := checkGraph(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("load CLIP model %s: %s: %w", dir, f, err)
		}
	}
	return c, nil
}

// checkGraph checks, before the graphs are loaded on first use, that a
// graph file is there and can be read: a permission problem is reported as
// such, not later as an invalid model.
func checkGraph(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("missing")
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot read the file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return errors.New("is a directory, not a model file")
	}
	return nil
}

func (c *CLIP) graph(plain, quant string) string {
	if c.opts.Quantized {
		return quant
	}
	return plain
}

// ModelID names the model; vectors of different models never mix.
func (c *CLIP) ModelID() string { return c.id }

// Dim is the embedding size (projection_dim).
func (c *CLIP) Dim() int { return c.dim }

// Tokenizer is the model's tokenizer (chunking counts tokens with it).
func (c *CLIP) Tokenizer() *tokenizer.Tokenizer { return c.tok }

// Preprocessor is the model's image preprocessing.
func (c *CLIP) Preprocessor() imageprep.Config { return c.prep }

// Close releases both graphs.
func (c *CLIP) Close() error {
	var errs []error
	c.textMu.Lock()
	if c.text != nil {
		errs = append(errs, c.text.Close())
	}
	c.textMu.Unlock()
	c.visionMu.Lock()
	if c.vision != nil {
		errs = append(errs, c.vision.Close())
	}
	c.visionMu.Unlock()
	return errors.Join(errs...)
}

func (c *CLIP) textSession() (*onnx.Session, error) {
	c.textOnce.Do(func() {
		path := filepath.Join(c.dir, c.graph(TextGraph, TextGraphQuant))
		s, err := onnx.Open(path, []string{"text_embeds"}, onnx.Options{Threads: c.opts.Threads})
		if err != nil {
			c.textErr = err
			return
		}
		c.textLen = -1
		ok := false
		for _, in := range s.Inputs() {
			switch in.Name {
			case "input_ids":
				ok = true
				if len(in.Shape) != 2 {
					c.textErr = fmt.Errorf("%s: input_ids has shape %v, want [batch, sequence]", path, in.Shape)
				} else if in.Shape[1] > 0 {
					c.textLen = in.Shape[1]
				}
			case "attention_mask":
			default:
				c.textErr = fmt.Errorf("%s: unexpected input %q (a CLIP text graph takes input_ids and optionally attention_mask)", path, in.Name)
			}
		}
		if !ok && c.textErr == nil {
			c.textErr = fmt.Errorf("%s: graph has no input_ids input", path)
		}
		if c.textErr == nil && c.textLen > 0 && c.textLen < 2 {
			c.textErr = fmt.Errorf("%s: input_ids length %d is too short", path, c.textLen)
		}
		if c.textErr != nil {
			s.Close()
			return
		}
		c.text = s
	})
	return c.text, c.textErr
}

func (c *CLIP) visionSession() (*onnx.Session, error) {
	c.visionOnce.Do(func() {
		path := filepath.Join(c.dir, c.graph(VisionGraph, VisionGraphQuant))
		s, err := onnx.Open(path, []string{"image_embeds"}, onnx.Options{Threads: c.opts.Threads})
		if err != nil {
			c.visionErr = err
			return
		}
		h, w := c.prep.Size()
		for _, in := range s.Inputs() {
			if in.Name != "pixel_values" {
				c.visionErr = fmt.Errorf("%s: unexpected input %q (a CLIP vision graph takes pixel_values)", path, in.Name)
				break
			}
			if in.DType != onnx.Float32 || len(in.Shape) != 4 {
				c.visionErr = fmt.Errorf("%s: pixel_values is %s %v, want float32 [batch, 3, height, width]", path, in.DType, in.Shape)
				break
			}
			if (in.Shape[2] > 0 && in.Shape[2] != int64(h)) || (in.Shape[3] > 0 && in.Shape[3] != int64(w)) {
				c.visionErr = fmt.Errorf("%s: pixel_values is %v but %s crops to %d×%d", path, in.Shape, PreprocessorConfig, h, w)
				break
			}
		}
		if c.visionErr != nil {
			s.Close()
			return
		}
		c.vision = s
	})
	return c.vision, c.visionErr
}

// EmbedTexts returns L2-normalised text embeddings. Texts longer than CLIP's
// 77-token window are truncated (the window keeps the end-of-text token).
func (c *CLIP) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	v, err := c.TextProjections(ctx, texts)
	if err != nil {
		return nil, err
	}
	for _, x := range v {
		store.Normalize(x)
	}
	return v, nil
}

// TextProjections returns the text tower's raw projections, as CLIP returns
// them: not normalised. The reference scoring relies on their norm.
func (c *CLIP) TextProjections(ctx context.Context, texts []string) ([][]float32, error) {
	ids := make([][]int64, len(texts))
	for i, t := range texts {
		ids[i] = c.tok.Encode(t)
		if len(ids[i]) <= 2 {
			return nil, fmt.Errorf("embed text %d: empty text (nothing to tokenize)", i)
		}
		if len(ids[i]) > c.maxLen {
			ids[i] = append(ids[i][:c.maxLen-1:c.maxLen-1], c.tok.EOT())
		}
	}
	return c.TokenProjections(ctx, ids)
}

// TokenProjections runs the text graph on already tokenized texts (each with
// start and end tokens).
func (c *CLIP) TokenProjections(ctx context.Context, ids [][]int64) ([][]float32, error) {
	s, err := c.textSession()
	if err != nil {
		return nil, err
	}
	// Similar lengths batch together, so dynamic-length graphs compute
	// little padding.
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(ids[a]), len(ids[b])) })
	out := make([][]float32, len(ids))
	for start := 0; start < len(order); start += c.opts.TextBatch {
		batch := order[start:min(start+c.opts.TextBatch, len(order))]
		seqs := make([][]int64, len(batch))
		for i, j := range batch {
			seqs[i] = ids[j]
		}
		vecs, err := c.runText(ctx, s, seqs)
		if err != nil {
			return nil, err
		}
		for i, j := range batch {
			out[j] = vecs[i]
		}
	}
	return out, nil
}

func (c *CLIP) runText(ctx context.Context, s *onnx.Session, seqs [][]int64) ([][]float32, error) {
	// Padding after the end token is exact to drop: CLIP's attention is
	// causal and it pools at the end token. Dynamic graphs therefore get
	// the batch's longest sequence, not 77.
	length := int64(0)
	for _, q := range seqs {
		length = max(length, int64(len(q)))
	}
	if c.textLen > 0 {
		length = c.textLen
	}
	n := int64(len(seqs))
	idsData := make([]int64, 0, n*length)
	maskData := make([]int64, 0, n*length)
	for _, q := range seqs {
		p, m := c.tok.Pad(q, int(length))
		idsData = append(idsData, p...)
		maskData = append(maskData, m...)
	}
	in := map[string]onnx.Tensor{}
	for _, io := range s.Inputs() {
		data := idsData
		if io.Name == "attention_mask" {
			data = maskData
		}
		t := onnx.Tensor{Shape: []int64{n, length}}
		switch io.DType {
		case onnx.Int64:
			t.Int64 = data
		case onnx.Int32:
			t.Int32 = make([]int32, len(data))
			for i, v := range data {
				t.Int32[i] = int32(v)
			}
		default:
			return nil, fmt.Errorf("%s: input %q has element type %s, want int64 or int32", s.Path(), io.Name, io.DType)
		}
		in[io.Name] = t
	}
	c.textMu.Lock()
	outs, err := s.Run(ctx, in)
	c.textMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("embed texts: %w", err)
	}
	return c.rows(s, outs[0], int(n))
}

func (c *CLIP) rows(s *onnx.Session, o onnx.Output, n int) ([][]float32, error) {
	if len(o.Shape) != 2 || o.Shape[0] != int64(n) || o.Shape[1] != int64(c.dim) {
		return nil, fmt.Errorf("%s: output %s has shape %v, want [%d %d] (projection_dim in %s)", s.Path(), s.Outputs()[0].Name, o.Shape, n, c.dim, ConfigFile)
	}
	res := make([][]float32, n)
	for i := range res {
		res[i] = o.Data[i*c.dim : (i+1)*c.dim : (i+1)*c.dim]
	}
	return res, nil
}

// EmbedImages returns L2-normalised image embeddings.
func (c *CLIP) EmbedImages(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	s, err := c.visionSession()
	if err != nil {
		return nil, err
	}
	h, w := c.prep.Size()
	out := make([][]float32, 0, len(imgs))
	for start := 0; start < len(imgs); start += c.opts.ImageBatch {
		batch := imgs[start:min(start+c.opts.ImageBatch, len(imgs))]
		for i, img := range batch {
			if img == nil || img.Bounds().Empty() {
				return nil, fmt.Errorf("embed image %d: empty image", start+i)
			}
		}
		pix, err := c.prep.PreprocessBatch(batch)
		if err != nil {
			return nil, fmt.Errorf("embed images: %w", err)
		}
		n := int64(len(batch))
		c.visionMu.Lock()
		outs, err := s.Run(ctx, map[string]onnx.Tensor{
			"pixel_values": {Shape: []int64{n, 3, int64(h), int64(w)}, Float32: pix},
		})
		c.visionMu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("embed images: %w", err)
		}
		vecs, err := c.rows(s, outs[0], int(n))
		if err != nil {
			return nil, err
		}
		for _, v := range vecs {
			store.Normalize(v)
		}
		out = append(out, vecs...)
	}
	return out, nil
}
