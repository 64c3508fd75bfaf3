package server

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// fakeCatalog offers the extractive answer, a default LLM and a vision
// model whose capabilities its server does not say.
type fakeCatalog struct{}

func (fakeCatalog) Generators(ctx context.Context) []Generator {
	return []Generator{
		{ID: "ollama:qwen3", Capabilities: []string{"completion", "tools"}, Default: true},
		{ID: "extractive", Capabilities: []string{"completion"}},
		{ID: "openai:gpt-4o-mini"},
	}
}

func TestModelsWithCapabilities(t *testing.T) {
	ts := newTestServer(t, func(cfg *Config) { cfg.Catalog = fakeCatalog{} })
	var list struct{ Data []oaiModel }
	decodeRes(t, ts.do(t, "GET", "/v1/models", nil), 200, &list)
	var ids []string
	byID := map[string]oaiModel{}
	for _, m := range list.Data {
		ids = append(ids, m.ID)
		byID[m.ID] = m
	}
	want := []string{"mmrag", "mmrag-text", "mmrag-text+images", "mmrag-multimodal", "ollama:qwen3", "extractive", "openai:gpt-4o-mini"}
	if !slices.Equal(ids, want) {
		t.Fatalf("models %v, want %v", ids, want)
	}
	for _, tc := range []struct {
		id, kind, owner string
		caps            []string
		def             bool
	}{
		{"mmrag", kindKnowledgeBase, "mmrag", []string{"completion", "tools"}, false},
		{"ollama:qwen3", kindGenerator, "ollama", []string{"completion", "tools"}, true},
		{"extractive", kindGenerator, "mmrag", []string{"completion"}, false},
		{"openai:gpt-4o-mini", kindGenerator, "openai", nil, false},
	} {
		m := byID[tc.id]
		if m.Kind != tc.kind || m.OwnedBy != tc.owner || !slices.Equal(m.Capabilities, tc.caps) || m.Default != tc.def || m.Object != "model" {
			t.Errorf("%s: %+v", tc.id, m)
		}
	}
	var one oaiModel
	decodeRes(t, ts.do(t, "GET", "/v1/models/openai:gpt-4o-mini", nil), 200, &one)
	if one.ID != "openai:gpt-4o-mini" || one.Kind != kindGenerator {
		t.Errorf("one model %+v", one)
	}
	if res := ts.do(t, "GET", "/v1/models/ollama:unknown", nil); res.StatusCode != 404 {
		t.Errorf("unknown model: %d", res.StatusCode)
	}

	// A chat completion may name a generator: the knowledge base answers
	// with it.
	decodeRes(t, ts.do(t, "POST", "/v1/chat/completions", `{"model":"ollama:qwen3","messages":[{"role":"user","content":"CLIP?"}]}`), 200, nil)
	if got := ts.engine.lastAsk; got.Model != "ollama:qwen3" || got.Strategy != "" {
		t.Errorf("engine asked with model %q strategy %q", got.Model, got.Strategy)
	}
}

// TestWarmUp: the server listens while the models load, says "ready":
// false until they have, and reports a failure without failing.
func TestWarmUp(t *testing.T) {
	for _, fail := range []bool{false, true} {
		release := make(chan struct{})
		ts := newTestServer(t, func(cfg *Config) {
			cfg.Warm = func(ctx context.Context) error {
				<-release
				if fail {
					return errors.New("the LLM server is down")
				}
				return nil
			}
		})
		stop := ts.serve(t)

		var st Settings
		decodeRes(t, ts.do(t, "GET", "/v1/settings", nil), 200, &st)
		if st.Ready {
			t.Error("ready while the models load")
		}
		var health struct{ Ready bool }
		decodeRes(t, ts.do(t, "GET", "/healthz", nil), 200, &health)
		if health.Ready {
			t.Error("healthz ready while the models load")
		}
		close(release)
		for !st.Ready {
			time.Sleep(5 * time.Millisecond)
			decodeRes(t, ts.do(t, "GET", "/v1/settings", nil), 200, &st)
		}
		if fail != (st.WarmupError != "") {
			t.Errorf("fail %v: warm-up error %q", fail, st.WarmupError)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}
