package rag_test

import (
	"context"
	"hash/fnv"
	"math"
	"strings"
	"testing"

	"mmrag"
	"mmrag/internal/testenv"
	"mmrag/ollama"
	"mmrag/rag"
	"mmrag/retrieve"
)

// hashEmbedder is a deterministic bag-of-words embedder: it stands in for
// a text embedding server to check the code that stores its vectors.
type hashEmbedder struct{ calls int }

func (h *hashEmbedder) ModelID() string { return "hash-words" }

func (h *hashEmbedder) EmbedTexts(_ context.Context, texts []string) ([][]float32, error) {
	h.calls += len(texts)
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, 64)
		for _, w := range strings.Fields(strings.ToLower(t)) {
			f := fnv.New32a()
			f.Write([]byte(strings.Trim(w, ".,:;!?")))
			v[f.Sum32()%64]++
		}
		var n float64
		for _, x := range v {
			n += float64(x * x)
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(n))
		}
		out[i] = v
	}
	return out, nil
}

func TestIndexText(t *testing.T) {
	k := newKB(t)
	ctx := context.Background()
	before, _ := k.store.Stats(ctx)
	emb := &hashEmbedder{}
	n, err := rag.IndexText(ctx, k.store, emb, []string{k.clip.ModelID()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := k.store.Stats(ctx)
	if n != before.Items[mmrag.Text] || after.Vectors[emb.ModelID()] != n {
		t.Errorf("embedded %d, stored %d; want every one of the %d text items", n, after.Vectors[emb.ModelID()], before.Items[mmrag.Text])
	}
	if after.Vectors[k.clip.ModelID()] != before.Vectors[k.clip.ModelID()] {
		t.Errorf("CLIP vectors %d → %d: they must be carried over", before.Vectors[k.clip.ModelID()], after.Vectors[k.clip.ModelID()])
	}
	if n, err := rag.IndexText(ctx, k.store, emb, []string{k.clip.ModelID(), emb.ModelID()}, nil); err != nil || n != 0 {
		t.Errorf("second run embedded %d (err %v), want 0", n, err)
	}
	s := &retrieve.Searcher{Store: k.store, CLIP: k.clip, Text: emb}
	res, err := s.Search(ctx, "Seismometers record tremors before an eruption", retrieve.DefaultOptions(retrieve.Cosine))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Text) == 0 || !strings.Contains(res.Text[0].Item.Text, "Seismometers") {
		t.Errorf("text-space search did not put the matching passage first: %+v", res.Text)
	}
}

// TestOllamaEndToEnd runs the real Ollama server of scripts/ollama.sh: the
// all-MiniLM-L6-v2 embedder indexes and finds passages, and the story model
// answers (it writes stories, not answers: the protocol is what is tested).
func TestOllamaEndToEnd(t *testing.T) {
	url := testenv.OllamaURL(t)
	embedModel, chatModel := testenv.OllamaEmbedModel(), testenv.OllamaChatModel()
	k := newKB(t)
	ctx := context.Background()
	emb := &ollama.Embedder{Client: &ollama.Client{BaseURL: url}, Model: embedModel}
	if _, err := rag.IndexText(ctx, k.store, emb, []string{k.clip.ModelID()}, nil); err != nil {
		t.Fatal(err)
	}
	e := k.engine(&ollama.Client{BaseURL: url, Model: chatModel, Notify: func(string) {}})
	e.Searcher.Text = emb
	cases := map[string]string{
		"how do scientists watch volcanoes for signs of activity?": "Seismometers",
		"what is a sourdough starter made of?":                     "flour and water",
		"at what temperature should I bake bread?":                 "250 degrees",
	}
	for q, want := range cases {
		res, err := e.Retrieve(ctx, rag.Request{Question: q, Strategy: rag.TextOnly, Search: ptr(retrieve.DefaultOptions(retrieve.Cosine))})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Text) == 0 || !strings.Contains(res.Text[0].Item.Text, want) {
			t.Errorf("%q: MiniLM ranked first %q, want the passage with %q", q, first(res), want)
		}
	}
	a, err := e.Ask(ctx, rag.Request{Question: "What does a stratovolcano look like inside?", MaxTokens: 24}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.GenErr != nil || strings.TrimSpace(a.Text) == "" || a.Model == rag.Extractive {
		t.Fatalf("real model answer: model %q, err %v, text %q", a.Model, a.GenErr, a.Text)
	}
	if len(a.Results.Images) > 0 && (len(a.Sent) != 0 || !strings.Contains(strings.Join(a.Notes, " "), "cannot see images")) {
		t.Errorf("the story model has no vision: sent %v, notes %q", a.Sent, a.Notes)
	}
}

func ptr[T any](v T) *T { return &v }

func first(res *retrieve.Results) string {
	if len(res.Text) == 0 {
		return ""
	}
	return res.Text[0].Item.Text
}
