package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"mmrag/internal/llmclient"
	"mmrag/store"
)

// DefaultBatch is how many texts go in one /v1/embeddings request when
// Embedder.BatchSize is zero.
const DefaultBatch = 32

// Embedder embeds texts through /v1/embeddings: the dedicated text embedder
// beside CLIP, on any OpenAI-compatible server. Vectors are L2-normalised
// here whatever the server did. Safe for concurrent use; do not copy after
// first use.
type Embedder struct {
	// Client is the server; nil: a zero Client ($OPENAI_BASE_URL…).
	Client *Client
	// Model names the embedding model; empty: Client.Model.
	Model string
	// Dimensions asks models that can shorten their vectors
	// (text-embedding-3-*) for this many; 0: the model's own.
	Dimensions int
	// BatchSize is the most texts per request; 0: DefaultBatch.
	BatchSize int

	dim store.Dim
}

var defaultClient = &Client{}

func (e *Embedder) client() *Client {
	if e.Client != nil {
		return e.Client
	}
	return defaultClient
}

func (e *Embedder) model() string {
	if e.Model != "" {
		return e.Model
	}
	return e.client().Model
}

// ModelID names the vectors' model: "openai/" and the model's name, with
// the dimensions asked for when set, so that they never mix with others.
func (e *Embedder) ModelID() string {
	if e.Dimensions > 0 {
		return fmt.Sprintf("openai/%s@%d", e.model(), e.Dimensions)
	}
	return "openai/" + e.model()
}

// Dim is the vector length: Dimensions when set, else 0 until Load or the
// first EmbedTexts has learned it.
func (e *Embedder) Dim() int {
	if n := e.dim.Get(); n > 0 || e.Dimensions <= 0 {
		return n
	}
	return e.Dimensions
}

// Load learns Dim by embedding one word (the API cannot tell it otherwise),
// failing early when the server is down, refuses the key or lacks the model.
func (e *Embedder) Load(ctx context.Context) error {
	if e.dim.Get() > 0 {
		return nil
	}
	_, err := e.EmbedTexts(ctx, []string{"dimension"})
	return err
}

type embedRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
	Dimensions     int      `json:"dimensions,omitempty"`
}

type embedResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	} `json:"data"`
}

// EmbedTexts returns one L2-normalised vector per text, in order.
func (e *Embedder) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	model := e.model()
	if model == "" {
		return nil, errors.New("openai embed: no model set")
	}
	batch := e.BatchSize
	if batch <= 0 {
		batch = DefaultBatch
	}
	c := e.client()
	const endpoint = "/v1/embeddings"
	return llmclient.EmbedBatches(ctx, "openai embed with "+model, texts, batch, &e.dim,
		func(ctx context.Context, texts []string) ([][]float64, error) {
			body, done, err := c.call(ctx, endpoint, model, embedRequest{Model: model, Input: texts, EncodingFormat: "float", Dimensions: e.Dimensions})
			if err != nil {
				return nil, err
			}
			defer done()
			var r embedResponse
			if err := json.NewDecoder(body).Decode(&r); err != nil {
				return nil, c.readErr(ctx, endpoint, body, err)
			}
			vs := make([][]float64, len(r.Data))
			for _, d := range r.Data { // the API gives each vector's index; order is not promised
				if d.Index < 0 || d.Index >= len(vs) || vs[d.Index] != nil {
					return nil, fmt.Errorf("vector index %d out of range or repeated", d.Index)
				}
				vs[d.Index] = d.Embedding
			}
			return vs, nil
		})
}
