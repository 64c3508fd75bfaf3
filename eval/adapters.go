package eval

import (
	"context"
	"errors"
	"fmt"

	"mmrag"
	"mmrag/retrieve"
)

// Retrieve evaluates s.Search with opt: its text list, then its image list.
// RankingOptions gives options that measure ranking rather than the
// thresholds' gate.
func Retrieve(s *retrieve.Searcher, opt retrieve.Options) Searcher {
	return func(ctx context.Context, q string) ([]Ranked, error) {
		res, err := s.Search(ctx, q, opt)
		if err != nil {
			return nil, err
		}
		out := make([]Ranked, 0, len(res.Text)+len(res.Images))
		for _, list := range [][]retrieve.Result{res.Text, res.Images} {
			for _, r := range list {
				out = append(out, Ranked{ItemID: r.Item.ID, Modality: r.Item.Modality})
			}
		}
		return out, nil
	}
}

// RankingOptions are mode's defaults with every threshold off and k items
// of each modality: what a recall@k measurement of the ranking needs. The
// defaults' thresholds decide how many items a user sees, which recall at
// a fixed depth would confuse with how well they are ranked; evaluate
// retrieve.DefaultOptions as well to see the shipped behaviour.
func RankingOptions(mode retrieve.Mode, k int) retrieve.Options {
	o := retrieve.DefaultOptions(mode)
	o.Text.K, o.Images.K = k, k
	// Cosines lie in [-1, 1]; softmax probabilities in [0, 1].
	o.Text.Threshold, o.Images.Threshold = -1, 0
	switch mode {
	case retrieve.Reference:
		o.Text.Threshold = 0
	case retrieve.Cosine:
		o.Images.Threshold = -1
	}
	// The pool only changes which items pass a threshold.
	o.Images.Pool, o.Text.Pool = 0, 0
	return o
}

// BM25 evaluates the store's full-text index alone: the k best text items
// for the question as typed (the store ORs its words). It never returns
// images, which the index does not hold.
func BM25(st mmrag.Store, k int, f mmrag.Filter) Searcher {
	return func(ctx context.Context, q string) ([]Ranked, error) {
		hits, err := st.SearchText(ctx, mmrag.TextQuery{Query: q, K: k, Filter: f})
		if err != nil {
			return nil, err
		}
		out := make([]Ranked, len(hits))
		for i, h := range hits {
			out[i] = Ranked{ItemID: h.ItemID, Modality: mmrag.Text}
		}
		return out, nil
	}
}

// TextEmbedder embeds questions for Dense (ollama.Embedder, openai's, or
// CLIP's normalised text embeddings).
type TextEmbedder interface {
	ModelID() string
	EmbedTexts(ctx context.Context, texts []string) ([][]float32, error)
}

// Dense evaluates plain vector search, independent of package retrieve:
// the question embedded by e (as a question: retrieve.EmbedQuestions), the k items of each modality (text only
// when none are given) with the largest dot product among the vectors
// stored under e.ModelID(). Figures stored twice are not collapsed.
func Dense(st mmrag.Store, e TextEmbedder, k int, modalities ...mmrag.Modality) Searcher {
	if len(modalities) == 0 {
		modalities = []mmrag.Modality{mmrag.Text}
	}
	return func(ctx context.Context, q string) ([]Ranked, error) {
		v, err := retrieve.EmbedQuestions(ctx, e, []string{q})
		if err != nil {
			return nil, err
		}
		if len(v) != 1 || len(v[0]) == 0 {
			return nil, fmt.Errorf("embedder %s returned %d vectors for one question", e.ModelID(), len(v))
		}
		var out []Ranked
		for _, m := range modalities {
			hits, err := st.SearchVectors(ctx, mmrag.VectorQuery{Model: e.ModelID(), Modality: m, Vector: v[0], K: k})
			if err != nil {
				return nil, err
			}
			for _, h := range hits {
				out = append(out, Ranked{ItemID: h.ItemID, Modality: m})
			}
		}
		return out, nil
	}
}

// ErrNoVectors is wrapped by CheckVectors when a store holds no vectors of
// a model a strategy needs.
var ErrNoVectors = errors.New("no vectors of the model in the store")

// CheckVectors fails, naming the model, when st holds no vectors of model:
// a dense strategy would then find nothing and report zeros that look
// like a ranking.
func CheckVectors(ctx context.Context, st mmrag.Store, model string) error {
	s, err := st.Stats(ctx)
	if err != nil {
		return err
	}
	if s.Vectors[model] == 0 {
		return fmt.Errorf("model %s: %w (embed the knowledge base with it first)", model, ErrNoVectors)
	}
	return nil
}
