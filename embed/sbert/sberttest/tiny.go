package sberttest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"mmrag/onnx/onnxgraph"
)

// TinyVocab is the vocabulary of tiny model folders.
var TinyVocab = func() []string {
	v := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	v = append(v, strings.Fields(`the a of and to in is what how does clip image text model vector space embed
		##s ##ing ##ed search query passage answer neural network cat dog photo picture caption
		: . , ? ! -`)...)
	for c := 'a'; c <= 'z'; c++ {
		v = append(v, string(c), "##"+string(c))
	}
	return v
}()

// TinyOptions shape a tiny sentence-embedder folder. The zero value is a
// mean-pooled model with BERT's three int64 inputs and last_hidden_state.
type TinyOptions struct {
	Dim       int               // hidden size (default 8)
	CLS       bool              // 1_Pooling/config.json asks for CLS pooling
	NoPooling bool              // write no 1_Pooling/config.json
	Prompts   map[string]string // config_sentence_transformers.json's prompts
	MaxSeq    int               // sentence_bert_config.json's max_seq_length (0: no file)
	Positions int               // max_position_embeddings (default 64)
	NoTypes   bool              // the graph takes no token_type_ids
	Int32     bool              // the graph's inputs are int32
	Pooled    bool              // the graph outputs sentence_embedding: the masked mean
	TokJSON   bool              // tokenizer.json instead of vocab.txt
	Seed      uint64
}

// Tiny is a tiny model folder with the weights of its graph:
//
//	hidden[j] = tanh(emb[id_j] + pos[j] + types[type_j])   [B,S,Dim]
//
// and, with Pooled, the masked mean of hidden as sentence_embedding.
type Tiny struct {
	Dir             string
	Opt             TinyOptions
	Emb, Pos, Types []float32
	Dim             int
}

// Hidden returns the graph's token vectors for one unpadded sequence.
func (m *Tiny) Hidden(ids, types []int64) [][]float64 {
	out := make([][]float64, len(ids))
	for j, id := range ids {
		out[j] = make([]float64, m.Dim)
		for k := range m.Dim {
			v := float64(m.Emb[int(id)*m.Dim+k]) + float64(m.Pos[j*m.Dim+k])
			if !m.Opt.NoTypes {
				v += float64(m.Types[int(types[j])*m.Dim+k])
			}
			out[j][k] = math.Tanh(v)
		}
	}
	return out
}

// Vector is the normalised sentence vector the model gives the sequence.
func (m *Tiny) Vector(ids, types []int64) []float64 {
	h := m.Hidden(ids, types)
	v := make([]float64, m.Dim)
	if m.Opt.CLS && !m.Opt.Pooled {
		copy(v, h[0])
	} else {
		for _, row := range h {
			for k, x := range row {
				v[k] += x / float64(len(h))
			}
		}
	}
	var n float64
	for _, x := range v {
		n += x * x
	}
	for k := range v {
		v[k] /= math.Sqrt(n)
	}
	return v
}

// WriteTiny writes a tiny sentence-embedder folder into dir.
func WriteTiny(dir string, o TinyOptions) (*Tiny, error) {
	m := &Tiny{Dir: dir, Opt: o, Dim: o.Dim}
	if m.Dim == 0 {
		m.Dim = 8
	}
	positions := o.Positions
	if positions == 0 {
		positions = 64
	}
	r := rand.New(rand.NewPCG(o.Seed, 11))
	normal := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	m.Emb, m.Pos, m.Types = normal(len(TinyVocab)*m.Dim), normal(positions*m.Dim), normal(2*m.Dim)
	model, err := m.graph(positions)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		return nil, err
	}
	if err := model.WriteFile(filepath.Join(dir, ModelFile)); err != nil {
		return nil, err
	}
	return m, m.writeConfigs(positions)
}

func (m *Tiny) graph(positions int) (*onnxgraph.Model, error) {
	o := m.Opt
	g := onnxgraph.NewGraph("tiny_sentence_encoder")
	dtype := onnxgraph.Int64
	if o.Int32 {
		dtype = onnxgraph.Int32
	}
	inputs := []string{onnxgraph.InputIDs, onnxgraph.AttentionMask}
	if !o.NoTypes {
		inputs = append(inputs, onnxgraph.TokenTypeIDs)
	}
	for _, in := range inputs {
		g.Input(in, dtype, "batch_size", "sequence_length")
	}
	ids := g.Op("Cast", []string{onnxgraph.InputIDs}, onnxgraph.AttrInt("to", int64(onnxgraph.Int64)))
	emb := g.Initializer("embeddings.word_embeddings.weight", m.Emb, int64(len(TinyVocab)), int64(m.Dim))
	pos := g.Initializer("embeddings.position_embeddings.weight", m.Pos, int64(positions), int64(m.Dim))
	seqLen := g.Op("Shape", []string{ids}, onnxgraph.AttrInt("start", 1), onnxgraph.AttrInt("end", 2))
	x := g.Op("Add", []string{
		g.Op("Gather", []string{emb, ids}, onnxgraph.AttrInt("axis", 0)),
		g.Op("Slice", []string{pos, g.Ints(0), seqLen, g.Ints(0)}),
	})
	if !o.NoTypes {
		types := g.Initializer("embeddings.token_type_embeddings.weight", m.Types, 2, int64(m.Dim))
		tt := g.Op("Cast", []string{onnxgraph.TokenTypeIDs}, onnxgraph.AttrInt("to", int64(onnxgraph.Int64)))
		x = g.Op("Add", []string{x, g.Op("Gather", []string{types, tt}, onnxgraph.AttrInt("axis", 0))})
	}
	x = g.Op("Tanh", []string{x})
	if !o.Pooled {
		g.Node("Identity", []string{x}, []string{onnxgraph.LastHiddenState})
		g.Output(onnxgraph.LastHiddenState, onnxgraph.Float, "batch_size", "sequence_length", onnxgraph.Fixed(m.Dim))
	} else {
		mask := g.Op("Cast", []string{onnxgraph.AttentionMask}, onnxgraph.AttrInt("to", int64(onnxgraph.Float)))
		sum := g.Op("Squeeze", []string{g.Op("MatMul", []string{g.Op("Unsqueeze", []string{mask, g.Ints(1)}), x}), g.Ints(1)})
		count := g.Op("ReduceSum", []string{mask, g.Ints(1)}, onnxgraph.AttrInt("keepdims", 1))
		g.Node("Div", []string{sum, count}, []string{"sentence_embedding"})
		g.Output("sentence_embedding", onnxgraph.Float, "batch_size", onnxgraph.Fixed(m.Dim))
	}
	if err := g.Err(); err != nil {
		return nil, err
	}
	return onnxgraph.NewModel(g), nil
}

func (m *Tiny) writeConfigs(positions int) error {
	o := m.Opt
	files := map[string]any{
		"config.json": map[string]any{"model_type": "bert", "architectures": []string{"BertModel"}, "hidden_size": m.Dim, "max_position_embeddings": positions},
	}
	if !o.NoPooling {
		files[PoolingFile] = map[string]any{"word_embedding_dimension": m.Dim, "pooling_mode_cls_token": o.CLS, "pooling_mode_mean_tokens": !o.CLS}
	}
	if o.Prompts != nil {
		files["config_sentence_transformers.json"] = map[string]any{"prompts": o.Prompts}
	}
	if o.MaxSeq > 0 {
		files["sentence_bert_config.json"] = map[string]any{"max_seq_length": o.MaxSeq, "do_lower_case": false}
	}
	if o.TokJSON {
		files["tokenizer.json"] = map[string]any{
			"normalizer":    map[string]any{"type": "BertNormalizer", "lowercase": true},
			"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
			"model":         map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "vocab": vocabMap(TinyVocab)},
		}
	} else {
		files["tokenizer_config.json"] = map[string]any{"do_lower_case": true}
		if err := writeFile(filepath.Join(m.Dir, VocabFile), []byte(strings.Join(TinyVocab, "\n")+"\n")); err != nil {
			return err
		}
	}
	for name, v := range files {
		data, err := json.Marshal(v)
		if err == nil {
			err = writeFile(filepath.Join(m.Dir, filepath.FromSlash(name)), data)
		}
		if err != nil {
			return fmt.Errorf("tiny model %s: %w", name, err)
		}
	}
	return nil
}

func vocabMap(tokens []string) map[string]int {
	m := make(map[string]int, len(tokens))
	for i, t := range tokens {
		m[t] = i
	}
	return m
}
