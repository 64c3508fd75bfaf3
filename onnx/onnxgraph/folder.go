package onnxgraph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Presets accepted by FolderOptions.Preset.
const (
	PresetTiny   = "tiny"     // TinyText and TinyVision: small, fast, exactly checkable
	PresetViTB16 = "vit-b-16" // true-shape openai/clip-vit-base-patch16, random weights
	PresetViTB32 = "vit-b-32" // true-shape openai/clip-vit-base-patch32, random weights
)

// Presets lists the preset names WriteModelFolder knows.
func Presets() []string { return []string{PresetTiny, PresetViTB16, PresetViTB32} }

// Special tokens of CLIP's tokenizer.
const (
	StartOfText = "<|startoftext|>"
	EndOfText   = "<|endoftext|>"
)

// FolderOptions configures WriteModelFolder. The zero value writes the tiny
// preset with a generated tokenizer.
type FolderOptions struct {
	Preset       string // PresetTiny (default), PresetViTB16 or PresetViTB32
	Seed         uint64 // weights seed; the vision tower uses Seed+1
	TokenizerDir string // folder holding vocab.json and merges.txt to copy; empty: generate a byte-level BPE
	// Words, when TokenizerDir is empty, are word frequencies the generated
	// BPE spells whole (WordTokenizer); none: MinimalTokenizer.
	Words         map[string]int
	Quantized     bool // also write onnx/*_quantized.onnx, copies of the same graphs
	AttentionMask bool // the text model also takes attention_mask
	FixedLength   bool // the text model's sequence axis is fixed at 77
}

// WriteModelFolder writes a complete Hugging Face-layout CLIP folder to dir:
// onnx/text_model.onnx, onnx/vision_model.onnx, config.json,
// preprocessor_config.json, vocab.json, merges.txt, tokenizer_config.json
// and special_tokens_map.json. The text model's vocabulary matches the
// tokenizer's, whose <|endoftext|> must have the largest id (CLIP pools at
// the argmax of input_ids).
func WriteModelFolder(dir string, opts FolderOptions) error {
	if opts.Preset == "" {
		opts.Preset = PresetTiny
	}
	if !slices.Contains(Presets(), opts.Preset) {
		return fmt.Errorf("model folder %s: unknown preset %q (want one of %v)", dir, opts.Preset, Presets())
	}
	tok, err := loadTokenizer(opts.TokenizerDir, opts.Words)
	if err != nil {
		return fmt.Errorf("model folder %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		return fmt.Errorf("model folder %s: %w", dir, err)
	}

	cfg := clipConfig{
		NameOrPath:    "mmrag-onnxgraph/" + opts.Preset,
		Architectures: []string{"CLIPModel"},
		ModelType:     "clip",
		LogitScale:    2.6592,
		TorchDtype:    "float32",
		Generator:     Producer,
	}
	// Build and write one tower at a time: a true-shape tower is hundreds of MB.
	text, err := textTower(opts, tok, &cfg.TextConfig)
	if err == nil {
		err = writeTower(dir, "text_model", text, opts.Quantized)
	}
	if err != nil {
		return fmt.Errorf("model folder %s: text model: %w", dir, err)
	}
	vision, err := visionTower(opts, &cfg.VisionConfig)
	if err == nil {
		err = writeTower(dir, "vision_model", vision, opts.Quantized)
	}
	if err != nil {
		return fmt.Errorf("model folder %s: vision model: %w", dir, err)
	}
	cfg.ProjectionDim = cfg.TextConfig.ProjectionDim

	files := map[string][]byte{}
	if files["config.json"], err = marshal(cfg); err != nil {
		return fmt.Errorf("model folder %s: config.json: %w", dir, err)
	}
	if files["preprocessor_config.json"], err = marshal(clipPreprocessor()); err != nil {
		return fmt.Errorf("model folder %s: preprocessor_config.json: %w", dir, err)
	}
	for name, data := range tok.files {
		files[name] = data
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("model folder %s: %w", dir, err)
		}
	}
	return nil
}

func textTower(opts FolderOptions, tok *tokenizer, cfg *textConfig) (*Model, error) {
	*cfg = textConfig{
		ModelType:    "clip_text_model",
		MaxPositions: CLIPMaxPositions,
		BOS:          tok.bos,
		EOS:          tok.eos,
		Pad:          tok.eos, // CLIP's tokenizer pads with <|endoftext|>
		HiddenAct:    "quick_gelu",
		LayerNormEps: layerNormEps,
	}
	if opts.Preset == PresetTiny {
		o := TinyTextOptions{VocabSize: tok.size, AttentionMask: opts.AttentionMask, FixedLength: opts.FixedLength, Seed: opts.Seed}
		if err := o.defaults(); err != nil {
			return nil, err
		}
		cfg.VocabSize, cfg.Hidden, cfg.Intermediate, cfg.Heads, cfg.Layers, cfg.ProjectionDim =
			o.VocabSize, o.Width, o.Width, 1, 1, o.ProjDim
		return TinyText(o)
	}
	// True shapes keep CLIP's 49408-row embedding even under a smaller
	// generated vocabulary, so sizes and timings stay real.
	o := TextOptions{VocabSize: max(tok.size, CLIPVocabSize), AttentionMask: opts.AttentionMask, FixedLength: opts.FixedLength, Seed: opts.Seed}
	if err := o.defaults(); err != nil {
		return nil, err
	}
	cfg.VocabSize, cfg.Hidden, cfg.Intermediate, cfg.Heads, cfg.Layers, cfg.ProjectionDim =
		o.VocabSize, o.Width, o.MLP, o.Heads, o.Layers, o.ProjDim
	return CLIPText(o)
}

func visionTower(opts FolderOptions, cfg *visionConfig) (*Model, error) {
	*cfg = visionConfig{
		ModelType:    "clip_vision_model",
		Channels:     3,
		HiddenAct:    "quick_gelu",
		LayerNormEps: layerNormEps,
	}
	if opts.Preset == PresetTiny {
		o := TinyVisionOptions{Seed: opts.Seed + 1}
		if err := o.defaults(); err != nil {
			return nil, err
		}
		cfg.Hidden, cfg.Intermediate, cfg.Heads, cfg.Layers, cfg.ImageSize, cfg.PatchSize, cfg.ProjectionDim =
			o.Width, o.Width, 1, 1, o.ImageSize, o.PatchSize, o.ProjDim
		return TinyVision(o)
	}
	o := VisionOptions{PatchSize: 16, Seed: opts.Seed + 1}
	if opts.Preset == PresetViTB32 {
		o.PatchSize = 32
	}
	if err := o.defaults(); err != nil {
		return nil, err
	}
	cfg.Hidden, cfg.Intermediate, cfg.Heads, cfg.Layers, cfg.ImageSize, cfg.PatchSize, cfg.ProjectionDim =
		o.Width, o.MLP, o.Heads, o.Layers, o.ImageSize, o.PatchSize, o.ProjDim
	return CLIPVision(o)
}

func writeTower(dir, name string, m *Model, quantized bool) error {
	path := filepath.Join(dir, "onnx", name+".onnx")
	if err := m.WriteFile(path); err != nil {
		return err
	}
	if quantized {
		return copyFile(path, filepath.Join(dir, "onnx", name+"_quantized.onnx"))
	}
	return nil
}

// clipConfig is the subset of transformers' CLIPConfig that describes the
// graphs; Generator marks the folder as synthetic.
type clipConfig struct {
	NameOrPath    string       `json:"_name_or_path"`
	Architectures []string     `json:"architectures"`
	Generator     string       `json:"generator"`
	LogitScale    float64      `json:"logit_scale_init_value"`
	ModelType     string       `json:"model_type"`
	ProjectionDim int          `json:"projection_dim"`
	TextConfig    textConfig   `json:"text_config"`
	TorchDtype    string       `json:"torch_dtype"`
	VisionConfig  visionConfig `json:"vision_config"`
}

type textConfig struct {
	BOS           int     `json:"bos_token_id"`
	EOS           int     `json:"eos_token_id"`
	HiddenAct     string  `json:"hidden_act"`
	Hidden        int     `json:"hidden_size"`
	Intermediate  int     `json:"intermediate_size"`
	LayerNormEps  float64 `json:"layer_norm_eps"`
	MaxPositions  int     `json:"max_position_embeddings"`
	ModelType     string  `json:"model_type"`
	Heads         int     `json:"num_attention_heads"`
	Layers        int     `json:"num_hidden_layers"`
	Pad           int     `json:"pad_token_id"`
	ProjectionDim int     `json:"projection_dim"`
	VocabSize     int     `json:"vocab_size"`
}

type visionConfig struct {
	HiddenAct     string  `json:"hidden_act"`
	Hidden        int     `json:"hidden_size"`
	ImageSize     int     `json:"image_size"`
	Intermediate  int     `json:"intermediate_size"`
	LayerNormEps  float64 `json:"layer_norm_eps"`
	ModelType     string  `json:"model_type"`
	Heads         int     `json:"num_attention_heads"`
	Channels      int     `json:"num_channels"`
	Layers        int     `json:"num_hidden_layers"`
	PatchSize     int     `json:"patch_size"`
	ProjectionDim int     `json:"projection_dim"`
}

// preprocessor is openai/clip-vit-base-patch16's preprocessor_config.json
// (identical for patch32), keys in the order transformers writes them.
type preprocessor struct {
	CropSize      int            `json:"crop_size"`
	DoCenterCrop  bool           `json:"do_center_crop"`
	DoConvertRGB  bool           `json:"do_convert_rgb"`
	DoNormalize   bool           `json:"do_normalize"`
	DoRescale     bool           `json:"do_rescale"`
	DoResize      bool           `json:"do_resize"`
	FeatureType   string         `json:"feature_extractor_type"`
	ImageMean     []float64      `json:"image_mean"`
	ProcessorType string         `json:"image_processor_type"`
	ImageStd      []float64      `json:"image_std"`
	Resample      int            `json:"resample"`
	RescaleFactor float64        `json:"rescale_factor"`
	Size          map[string]int `json:"size"`
}

func clipPreprocessor() preprocessor {
	return preprocessor{
		CropSize:      CLIPImageSize,
		DoCenterCrop:  true,
		DoConvertRGB:  true,
		DoNormalize:   true,
		DoRescale:     true,
		DoResize:      true,
		FeatureType:   "CLIPFeatureExtractor",
		ImageMean:     []float64{0.48145466, 0.4578275, 0.40821073},
		ProcessorType: "CLIPImageProcessor",
		ImageStd:      []float64{0.26862954, 0.26130258, 0.27577711},
		Resample:      3, // bicubic
		RescaleFactor: 1.0 / 255,
		Size:          map[string]int{"shortest_edge": CLIPImageSize},
	}
}

// tokenizer is the tokenizer files to write and the ids the graphs rely on.
type tokenizer struct {
	files    map[string][]byte
	size     int // largest id + 1
	bos, eos int
}

// tokenizerFiles are copied from FolderOptions.TokenizerDir when present;
// vocab.json and merges.txt are required.
var tokenizerFiles = []string{"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"}

func loadTokenizer(dir string, words map[string]int) (*tokenizer, error) {
	files := map[string][]byte{}
	switch {
	case dir == "" && len(words) > 0:
		files["vocab.json"], files["merges.txt"] = WordTokenizer(words, 0)
	case dir == "":
		files["vocab.json"], files["merges.txt"] = MinimalTokenizer()
	default:
		for _, name := range tokenizerFiles {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if errors.Is(err, fs.ErrNotExist) && name != "vocab.json" && name != "merges.txt" {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("tokenizer: %w", err)
			}
			files[name] = data
		}
	}
	vocabPath := "generated vocab.json"
	if dir != "" {
		vocabPath = filepath.Join(dir, "vocab.json")
	}
	var vocab map[string]int
	if err := json.Unmarshal(files["vocab.json"], &vocab); err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", vocabPath, err)
	}
	t := &tokenizer{files: files}
	for _, id := range vocab {
		t.size = max(t.size, id+1)
	}
	var ok bool
	if t.bos, ok = vocab[StartOfText]; !ok {
		return nil, fmt.Errorf("tokenizer %s: no %s token", vocabPath, StartOfText)
	}
	if t.eos, ok = vocab[EndOfText]; !ok {
		return nil, fmt.Errorf("tokenizer %s: no %s token", vocabPath, EndOfText)
	}
	if t.eos != t.size-1 {
		return nil, fmt.Errorf("tokenizer %s: %s has id %d but the largest id is %d; CLIP pools at the largest id",
			vocabPath, EndOfText, t.eos, t.size-1)
	}
	special := map[string]any{
		"bos_token": StartOfText, "eos_token": EndOfText, "pad_token": EndOfText, "unk_token": EndOfText,
	}
	if _, ok := files["special_tokens_map.json"]; !ok {
		files["special_tokens_map.json"], _ = marshal(special)
	}
	if _, ok := files["tokenizer_config.json"]; !ok {
		special["add_prefix_space"] = false
		special["do_lower_case"] = true
		special["errors"] = "replace"
		special["model_max_length"] = CLIPMaxPositions
		special["tokenizer_class"] = "CLIPTokenizer"
		files["tokenizer_config.json"], _ = marshal(special)
	}
	return t, nil
}

// minimalMerges are a few English merges in CLIP's notation; each joins
// tokens that exist by then, so the vocabulary stays consistent.
var minimalMerges = [][2]string{
	{"i", "n"}, {"t", "h"}, {"a", "n"}, {"r", "e"}, {"a", "r"}, {"e", "r"},
	{"th", "e</w>"}, {"in", "g</w>"}, {"o", "n"}, {"o", "f</w>"}, {"a", "t"},
	{"e", "n"}, {"o", "r"}, {"t", "o</w>"}, {"an", "d</w>"}, {"i", "s</w>"},
}

// MinimalTokenizer returns vocab.json and merges.txt of a minimal CLIP-style
// byte-level BPE: the 256 byte symbols of GPT-2's byte-to-unicode table, the
// same with "</w>" appended, the results of a few merges, then
// <|startoftext|> and <|endoftext|> as the last two ids, as in CLIP's vocab.
func MinimalTokenizer() (vocabJSON, mergesTXT []byte) {
	return bpeFiles(minimalMerges)
}

// bpeFiles writes vocab.json and merges.txt of a CLIP-style byte-level BPE
// with merges: the 256 byte symbols, the same with "</w>", the result of
// each merge in order, then <|startoftext|> and <|endoftext|> as the last
// two ids, as in CLIP's vocabulary.
func bpeFiles(merges [][2]string) (vocabJSON, mergesTXT []byte) {
	var tokens []string
	for _, r := range byteSymbols() {
		tokens = append(tokens, string(r))
	}
	for _, r := range byteSymbols() {
		tokens = append(tokens, string(r)+"</w>")
	}
	mergesTXT = []byte("#version: 0.2\n")
	for _, m := range merges {
		tokens = append(tokens, m[0]+m[1])
		mergesTXT = fmt.Appendf(mergesTXT, "%s %s\n", m[0], m[1])
	}
	tokens = append(tokens, StartOfText, EndOfText)

	var b bytes.Buffer
	b.WriteByte('{')
	for id, tok := range tokens {
		if id > 0 {
			b.WriteString(", ")
		}
		key, _ := marshal(tok) // a string always marshals
		fmt.Fprintf(&b, "%s: %d", bytes.TrimSpace(key), id)
	}
	b.WriteString("}\n")
	return b.Bytes(), mergesTXT
}

// byteSymbols is GPT-2's bytes_to_unicode table in CLIP's vocabulary order:
// printable Latin-1 bytes map to themselves and come first, the other bytes
// map to 256+n in byte order.
func byteSymbols() []rune {
	var printable []rune
	for _, span := range [][2]rune{{'!', '~'}, {'¡', '¬'}, {'®', 'ÿ'}} {
		for r := span[0]; r <= span[1]; r++ {
			printable = append(printable, r)
		}
	}
	out := slices.Clone(printable)
	n := rune(0)
	for b := rune(0); b < 256; b++ {
		if !slices.Contains(printable, b) {
			out = append(out, 256+n)
			n++
		}
	}
	return out
}

// marshal is indented JSON without HTML escaping, so "<|endoftext|>" stays
// readable.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return dst.Close()
}
