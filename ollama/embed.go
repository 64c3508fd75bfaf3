package ollama

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"mmrag/internal/llmclient"
	"mmrag/store"
)

// DefaultBatch is how many texts go in one /api/embed request when
// Embedder.BatchSize is zero.
const DefaultBatch = 32

// Embedder embeds texts with an Ollama embedding model through /api/embed
// ("nomic-embed-text", "all-minilm"…). It is the dedicated text embedder
// beside CLIP: texts only. Vectors are L2-normalised here whatever the server
// did. Safe for concurrent use; do not copy after first use.
type Embedder struct {
	// Client is the server; nil: a zero Client (OLLAMA_HOST or the default).
	Client *Client
	// Model names the embedding model; empty: Client.Model.
	Model string
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

// ModelID names the vectors' model: "ollama/" and the model's name, so that
// they never mix with another server kind's or CLIP's.
func (e *Embedder) ModelID() string { return "ollama/" + e.model() }

// Dim is the vector length: 0 until Load or the first EmbedTexts has
// learned it.
func (e *Embedder) Dim() int { return e.dim.Get() }

// Load learns Dim before any text is embedded: from /api/show's
// embedding_length, or, where the server does not tell, by embedding one
// word. It also fails early, with the fix in the message, when the server
// is down or the model is missing.
func (e *Embedder) Load(ctx context.Context) error {
	if e.Dim() > 0 {
		return nil
	}
	info, err := e.client().Show(ctx, e.model())
	if err != nil {
		return fmt.Errorf("ollama embedder: %w", err)
	}
	if info.EmbeddingLength > 0 {
		e.dim.Set(info.EmbeddingLength)
		return nil
	}
	_, err = e.EmbedTexts(ctx, []string{"dimension"})
	return err
}

type embedRequest struct {
	Model     string   `json:"model"`
	Input     []string `json:"input"`
	KeepAlive string   `json:"keep_alive,omitempty"`
}

type embedResponse struct {
	Embeddings [][]float64 `json:"embeddings"`
}

// EmbedTexts returns one L2-normalised vector per text, in order. Texts
// longer than the model's context are truncated by the server.
func (e *Embedder) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	model := e.model()
	if model == "" {
		return nil, errors.New("ollama embed: no model set")
	}
	batch := e.BatchSize
	if batch <= 0 {
		batch = DefaultBatch
	}
	c := e.client()
	return llmclient.EmbedBatches(ctx, "ollama embed with "+model, texts, batch, &e.dim,
		func(ctx context.Context, texts []string) ([][]float64, error) {
			var r embedResponse
			err := c.getJSON(ctx, http.MethodPost, "/api/embed", model,
				embedRequest{Model: model, Input: texts, KeepAlive: c.keepAlive()}, &r)
			return r.Embeddings, err
		})
}
