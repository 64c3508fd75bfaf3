package eval

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// countEmbedder returns [len(text)] and counts the texts it embedded.
type countEmbedder struct {
	n   int
	err error
}

func (c *countEmbedder) ModelID() string { return "count" }

func (c *countEmbedder) EmbedTexts(_ context.Context, texts []string) ([][]float32, error) {
	if c.err != nil {
		return nil, c.err
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		c.n++
		out[i] = []float32{float32(len(t))}
	}
	return out, nil
}

func (c *countEmbedder) TextProjections(ctx context.Context, texts []string) ([][]float32, error) {
	return c.EmbedTexts(ctx, texts)
}

func TestMemo(t *testing.T) {
	ctx := context.Background()
	set := tinySet(t)
	for _, tc := range []struct {
		name  string
		prime func(*countEmbedder) (func(context.Context, []string) ([][]float32, error), func() (Latency, error))
	}{
		{"text", func(c *countEmbedder) (func(context.Context, []string) ([][]float32, error), func() (Latency, error)) {
			m := NewMemoText(c)
			return m.EmbedTexts, func() (Latency, error) { return m.Prime(ctx, set) }
		}},
		{"query", func(c *countEmbedder) (func(context.Context, []string) ([][]float32, error), func() (Latency, error)) {
			m := NewMemoQuery(c)
			return m.TextProjections, func() (Latency, error) { return m.Prime(ctx, set) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &countEmbedder{}
			embed, prime := tc.prime(c)
			if _, err := prime(); err != nil {
				t.Fatal(err)
			}
			if c.n != 3 {
				t.Fatalf("priming embedded %d texts, want the 3 questions", c.n)
			}
			v, err := embed(ctx, []string{"fact one", "new text", "fact one"})
			if err != nil {
				t.Fatal(err)
			}
			if c.n != 4 || v[0][0] != 8 || v[1][0] != 8 || v[2][0] != 8 {
				t.Fatalf("after a second call: %d embedded, vectors %v; want 4 and [8] each", c.n, v)
			}
			v[0][0] = -1 // a caller changing its copy must not change the cache
			if w, _ := embed(ctx, []string{"fact one"}); w[0][0] != 8 {
				t.Fatalf("cache changed through a returned vector: %v", w)
			}
		})
	}
	c := &countEmbedder{err: errors.New("server down")}
	if _, err := NewMemoText(c).Prime(ctx, set); err == nil || !strings.Contains(err.Error(), "f1") || !strings.Contains(err.Error(), "server down") {
		t.Fatalf("prime error %v, want one naming the question and the cause", err)
	}
}
