package app

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"mmrag/rag"
)

// ModelCatalog lists and describes the models of one LLM server (package
// ollama's or openai's client, adapted by cmd/mmrag).
type ModelCatalog interface {
	// ListModels names the models the server offers.
	ListModels(ctx context.Context) ([]string, error)
	// ModelCapabilities says what a model does ("completion", "vision",
	// "embedding", "tools"…); nil when the server does not say.
	ModelCapabilities(ctx context.Context, name string) ([]string, error)
}

// ModelChoice is a generator a caller may choose (AskRequest.Model).
type ModelChoice struct {
	Spec string // "extractive", "ollama:NAME" or "openai:NAME"
	// Capabilities are what the model does; nil when unknown.
	Capabilities []string
	Default      bool // the service answers with it when asked for none
}

// Capabilities of the models.
const (
	CapCompletion = "completion"
	CapVision     = "vision"
)

// catalogTimeout bounds the catalogs' answers to one listing: a server
// that hangs leaves its models unknown instead of holding the list.
const catalogTimeout = 10 * time.Second

// capsCache remembers the capabilities the catalogs told, by spec.
type capsCache struct {
	mu   sync.Mutex
	caps map[string][]string
}

// Models lists the generators callers may choose, with their
// capabilities: extractive answers, the default model, and those the
// operator allows ("KIND:*" lists the models of that server). A catalog
// that fails leaves its models' capabilities unknown, or its wildcard
// unlisted; the list itself never fails.
func (s *Service) Models(ctx context.Context) []ModelChoice {
	ctx, cancel := context.WithTimeout(ctx, catalogTimeout)
	defer cancel()
	def := rag.Extractive
	if s.Engine.Model != "" {
		def = strings.Replace(s.Engine.Model, "/", ":", 1)
	}
	var specs []string
	add := func(spec string) {
		if !slices.Contains(specs, spec) {
			specs = append(specs, spec)
		}
	}
	add(def)
	add(rag.Extractive)
	for _, a := range s.Allowed {
		kind, name, _ := strings.Cut(a, ":")
		if name != "*" {
			add(a)
			continue
		}
		if c := s.Catalogs[kind]; c != nil {
			names, err := c.ListModels(ctx)
			if err == nil {
				for _, n := range names {
					add(kind + ":" + n)
				}
			}
		}
	}
	out := make([]ModelChoice, len(specs))
	for i, spec := range specs {
		out[i] = ModelChoice{Spec: spec, Capabilities: s.capabilities(ctx, spec), Default: spec == def}
	}
	return out
}

// capabilities asks the spec's catalog once; the extractive answer only
// completes.
func (s *Service) capabilities(ctx context.Context, spec string) []string {
	if spec == rag.Extractive {
		return []string{CapCompletion}
	}
	kind, name, _ := strings.Cut(spec, ":")
	c := s.Catalogs[kind]
	if c == nil {
		return nil
	}
	s.caps.mu.Lock()
	caps, ok := s.caps.caps[spec]
	s.caps.mu.Unlock()
	if ok {
		return caps
	}
	caps, err := c.ModelCapabilities(ctx, name)
	if err != nil {
		return nil // asked again next time: the server may be back
	}
	s.caps.mu.Lock()
	if s.caps.caps == nil {
		s.caps.caps = map[string][]string{}
	}
	s.caps.caps[spec] = caps
	s.caps.mu.Unlock()
	return caps
}
