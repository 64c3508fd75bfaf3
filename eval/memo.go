package eval

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"mmrag/retrieve"
)

// Question embeddings are cached so that a set is embedded once however
// many strategies ask it: the strategies' latencies then measure search
// (the store, the fusion) alike, and the embedding model's latency, which
// every dense strategy pays once per question, is measured on its own by
// Prime.

// memo caches one vector per text.
type memo struct {
	mu   sync.Mutex
	vecs map[string][]float32
}

func (m *memo) embed(ctx context.Context, texts []string, f func(context.Context, []string) ([][]float32, error)) ([][]float32, error) {
	out := make([][]float32, len(texts))
	var miss []string
	m.mu.Lock()
	if m.vecs == nil {
		m.vecs = map[string][]float32{}
	}
	for i, t := range texts {
		if v, ok := m.vecs[t]; ok {
			out[i] = slices.Clone(v)
		} else {
			miss = append(miss, t)
		}
	}
	m.mu.Unlock()
	if len(miss) == 0 {
		return out, nil
	}
	vs, err := f(ctx, miss)
	if err != nil {
		return nil, err
	}
	if len(vs) != len(miss) {
		return nil, fmt.Errorf("embedder returned %d vectors for %d texts", len(vs), len(miss))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, t := range miss {
		m.vecs[t] = slices.Clone(vs[i])
	}
	for i, t := range texts {
		if out[i] == nil {
			out[i] = slices.Clone(m.vecs[t])
		}
	}
	return out, nil
}

// prime embeds each question alone, timing each call.
func (m *memo) prime(ctx context.Context, set *Set, f func(context.Context, []string) ([][]float32, error)) (Latency, error) {
	var took []time.Duration
	for _, q := range set.Questions {
		start := time.Now()
		if _, err := m.embed(ctx, []string{q.Question}, f); err != nil {
			return Latency{}, fmt.Errorf("embed question %s: %w", q.ID, err)
		}
		took = append(took, time.Since(start))
	}
	return summarise(took), nil
}

// MemoText is a TextEmbedder (and retrieve.QueryTextEmbedder) that embeds
// each question once: with E's EmbedQueries where E has it (models with a
// query prefix), else EmbedTexts. It serves questions only.
type MemoText struct {
	E TextEmbedder
	m memo
}

// NewMemoText caches e's embeddings of questions.
func NewMemoText(e TextEmbedder) *MemoText { return &MemoText{E: e} }

func (m *MemoText) ModelID() string { return m.E.ModelID() }

// questions embeds texts as questions.
func (m *MemoText) questions(ctx context.Context, texts []string) ([][]float32, error) {
	return retrieve.EmbedQuestions(ctx, m.E, texts)
}

func (m *MemoText) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	return m.m.embed(ctx, texts, m.questions)
}

func (m *MemoText) EmbedQueries(ctx context.Context, texts []string) ([][]float32, error) {
	return m.m.embed(ctx, texts, m.questions)
}

// Prime embeds every question of set, one request each, and returns how
// long the requests took; later calls are served from memory.
func (m *MemoText) Prime(ctx context.Context, set *Set) (Latency, error) {
	return m.m.prime(ctx, set, m.questions)
}

// MemoQuery is a retrieve.QueryEmbedder (CLIP's text tower) that embeds
// each text once.
type MemoQuery struct {
	E retrieve.QueryEmbedder
	m memo
}

// NewMemoQuery caches e's raw text projections.
func NewMemoQuery(e retrieve.QueryEmbedder) *MemoQuery { return &MemoQuery{E: e} }

func (m *MemoQuery) ModelID() string { return m.E.ModelID() }

func (m *MemoQuery) TextProjections(ctx context.Context, texts []string) ([][]float32, error) {
	return m.m.embed(ctx, texts, m.E.TextProjections)
}

// Prime embeds every question of set, one call each, and returns how long
// the calls took.
func (m *MemoQuery) Prime(ctx context.Context, set *Set) (Latency, error) {
	return m.m.prime(ctx, set, m.E.TextProjections)
}
