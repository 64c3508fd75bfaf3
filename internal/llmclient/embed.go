package llmclient

import (
	"context"
	"fmt"

	"mmrag/store"
)

// EmbedBatches embeds texts, none of them empty, in batches of at most
// batch through embed, which returns one vector per text of its batch, in
// order. The vectors come back L2-normalised, their length checked against
// dim (which learns it from the first). who prefixes errors ("ollama embed
// with minilm").
func EmbedBatches(ctx context.Context, who string, texts []string, batch int, dim *store.Dim,
	embed func(ctx context.Context, texts []string) ([][]float64, error)) ([][]float32, error) {
	for i, t := range texts {
		if t == "" { // Ollama would embed nothing into a meaningless vector; OpenAI refuses the batch
			return nil, fmt.Errorf("%s: text %d is empty", who, i)
		}
	}
	out := make([][]float32, 0, len(texts))
	for lo := 0; lo < len(texts); lo += batch {
		hi := min(lo+batch, len(texts))
		vs, err := embed(ctx, texts[lo:hi])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", who, err)
		}
		if len(vs) != hi-lo {
			return nil, fmt.Errorf("%s: asked for %d vectors, got %d", who, hi-lo, len(vs))
		}
		for i, v := range vs {
			f, err := store.Unit(v)
			if err == nil {
				err = dim.Check(len(f))
			}
			if err != nil {
				return nil, fmt.Errorf("%s: text %d: %w", who, lo+i, err)
			}
			out = append(out, f)
		}
	}
	return out, nil
}
