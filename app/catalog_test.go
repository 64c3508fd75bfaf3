package app

import (
	"context"
	"errors"
	"image"
	"slices"
	"strings"
	"testing"

	"mmrag/generate"
	"mmrag/rag"
	"mmrag/retrieve"
)

// fakeCatalog is an LLM server with models and their capabilities; down
// fails every call.
type fakeCatalog struct {
	models map[string][]string
	down   bool
	asked  int
}

func (f *fakeCatalog) ListModels(ctx context.Context) ([]string, error) {
	if f.down {
		return nil, errors.New("connection refused")
	}
	var out []string
	for n := range f.models {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

func (f *fakeCatalog) ModelCapabilities(ctx context.Context, name string) ([]string, error) {
	f.asked++
	if f.down {
		return nil, errors.New("connection refused")
	}
	return f.models[name], nil
}

// TestModels: the generators offered, with capabilities from their
// servers, the default flagged; a server that is down leaves them unknown.
func TestModels(t *testing.T) {
	ollama := &fakeCatalog{models: map[string][]string{"llava": {"completion", "vision"}, "qwen3": {"completion", "tools"}}}
	s := &Service{
		Engine:   &rag.Engine{Model: "ollama/qwen3"},
		Allowed:  []string{"ollama:*", "openai:gpt-4o-mini", "ollama:llava"},
		Catalogs: map[string]ModelCatalog{"ollama": ollama, "openai": &fakeCatalog{down: true}},
	}
	got := s.Models(context.Background())
	want := []ModelChoice{
		{Spec: "ollama:qwen3", Capabilities: []string{"completion", "tools"}, Default: true},
		{Spec: "extractive", Capabilities: []string{"completion"}},
		{Spec: "ollama:llava", Capabilities: []string{"completion", "vision"}},
		{Spec: "openai:gpt-4o-mini"},
	}
	if len(got) != len(want) {
		t.Fatalf("models %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Spec != want[i].Spec || got[i].Default != want[i].Default || !slices.Equal(got[i].Capabilities, want[i].Capabilities) {
			t.Errorf("model %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	asked := ollama.asked
	s.Models(context.Background())
	if ollama.asked != asked {
		t.Errorf("capabilities asked again: %d calls, want %d", ollama.asked, asked)
	}

	// Without an LLM the extractive answer is the default.
	got = (&Service{Engine: &rag.Engine{}}).Models(context.Background())
	if len(got) != 1 || got[0].Spec != rag.Extractive || !got[0].Default {
		t.Errorf("without an LLM: %+v", got)
	}
}

// fakeModels records what the warm-up loads.
type fakeModels struct {
	loaded []string
	fail   string // a model that fails to load
}

func (f *fakeModels) ModelID() string { return "clip" }

func (f *fakeModels) load(what string) error {
	f.loaded = append(f.loaded, what)
	if what == f.fail {
		return errors.New(what + " is missing")
	}
	return nil
}

func (f *fakeModels) TextProjections(ctx context.Context, texts []string) ([][]float32, error) {
	return [][]float32{{1}}, f.load("clip text")
}
func (f *fakeModels) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	return [][]float32{{1}}, f.load("text embedder")
}
func (f *fakeModels) EmbedImages(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	return [][]float32{{1}}, f.load("clip images")
}
func (f *fakeModels) Dim() int { return 1 }
func (f *fakeModels) Load(ctx context.Context) error {
	return f.load("generator")
}
func (f *fakeModels) Generate(ctx context.Context, req generate.Request, onToken func(string) error) (generate.Response, error) {
	return generate.Response{}, errors.New("not in this test")
}

// TestWarm: the warm-up loads every model a question needs, and reports
// each failure without stopping at it.
func TestWarm(t *testing.T) {
	for _, fail := range []string{"", "clip images", "generator"} {
		m := &fakeModels{fail: fail}
		s := &Service{
			Engine: &rag.Engine{Searcher: &retrieve.Searcher{CLIP: m, Text: m}, Generator: m, Model: "ollama/x"},
			CLIP:   m,
		}
		err := s.Warm(context.Background())
		want := []string{"clip text", "clip images", "text embedder", "generator"}
		if !slices.Equal(m.loaded, want) {
			t.Errorf("fail %q: loaded %v, want %v", fail, m.loaded, want)
		}
		if (err != nil) != (fail != "") || fail != "" && !strings.Contains(err.Error(), fail) {
			t.Errorf("fail %q: err %v", fail, err)
		}
	}
}
