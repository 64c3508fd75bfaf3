package app

import (
	"errors"
	"strings"
	"testing"

	"mmrag/generate"
	"mmrag/rag"
)

// fakeGenerators builds a nil generator named after the spec: enough to
// see which engine answers.
func fakeGenerators(spec string) (generate.Generator, string, error) {
	return nil, strings.Replace(spec, ":", "/", 1), nil
}

// TestModelPerRequest: the model a request names picks the generator,
// among those the operator offers: a service started without an LLM must
// not call OpenAI with the operator's key because a caller said
// "openai:gpt-4o".
func TestModelPerRequest(t *testing.T) {
	base := &rag.Engine{}
	s := &Service{Engine: base, Generators: fakeGenerators, Allowed: []string{"ollama:llava", "openai:gpt-4o-mini"}}
	for _, tc := range []struct {
		model, want string
		err         string
	}{
		{"", "", ""},
		{"extractive", "", ""},
		{"none", "", ""},
		{"ollama:llava", "ollama/llava", ""},
		{"ollama/llava", "ollama/llava", ""},
		{"openai:gpt-4o-mini", "openai/gpt-4o-mini", ""},
		{"openai:gpt-4o", "", "not offered"},   // the operator's key stays unused
		{"ollama:llama3.3", "", "not offered"}, // not offered
		{"llava", "", "no default LLM"},        // no default LLM to take the kind from
		{"mystery:x", "", "not offered"},
	} {
		e, err := s.engine(tc.model)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("engine(%q): %v, want error %q", tc.model, err, tc.err)
			continue
		}
		if err == nil && e.Model != tc.want {
			t.Errorf("engine(%q) answers with %q, want %q", tc.model, e.Model, tc.want)
		}
	}
	if e, _ := s.engine(""); e != base {
		t.Error("the default model does not use the default engine")
	}
	// Without Allowed only the default and extractive answers.
	s = &Service{Engine: &rag.Engine{Model: "ollama/llama3.2-vision"}, Generators: fakeGenerators}
	if _, err := s.engine("qwen2.5vl"); err == nil || !strings.Contains(err.Error(), "--allow-model") {
		t.Errorf("a model the operator did not offer: %v", err)
	}
	if e, err := s.engine("ollama:llama3.2-vision"); err != nil || e.Model != "ollama/llama3.2-vision" {
		t.Errorf("the default model by name: %v %v", e, err)
	}
	// "ollama:*" offers any model of the operator's Ollama server.
	s = &Service{Engine: &rag.Engine{Model: "ollama/llama3.2-vision"}, Generators: fakeGenerators, Allowed: []string{"ollama:*"}}
	if e, err := s.engine("qwen2.5vl"); err != nil || e.Model != "ollama/qwen2.5vl" {
		t.Errorf("a bare name on an Ollama server: %v %v", e, err)
	}
	if _, err := s.engine("openai:gpt-4o"); err == nil {
		t.Error("ollama:* let a caller choose an OpenAI model")
	}
	if got := strings.Join(s.Offered(), " "); got != "extractive ollama:llama3.2-vision ollama:*" {
		t.Errorf("Offered() = %q", got)
	}
	if err := CheckAllowed([]string{"gpt-4o"}); err == nil {
		t.Error("a malformed allowed spec passed")
	}
	if err := CheckAllowed([]string{"ollama:*", "openai:gpt-4o"}); err != nil {
		t.Error(err)
	}
}
