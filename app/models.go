package app

import (
	"fmt"
	"slices"
	"strings"

	"mmrag/rag"
)

// maxEngines bounds the generators callers can make the service keep.
const maxEngines = 16

// engine returns the engine answering with model: the default for "" or
// the default's name, the extractive answer for "extractive" or "none",
// else a generator of model ("ollama:NAME", "openai:NAME", the
// "ollama/NAME" form answers carry, or a bare NAME of the default's kind)
// when the operator offers it.
func (s *Service) engine(model string) (*rag.Engine, error) {
	def := s.Engine
	if model == "" || model == def.Model || model == rag.Extractive && def.Generator == nil {
		return def, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.gens[model]; ok {
		return e, nil
	}
	e := *def
	if model == rag.Extractive || model == "none" {
		e.Generator, e.Model = nil, ""
	} else {
		spec, err := s.spec(model)
		if err != nil {
			return nil, err
		}
		if !s.offers(spec) {
			return nil, fmt.Errorf("%w: model %q is not offered here (offered: %s); the operator can add it with --allow-model", ErrInvalid, model, strings.Join(s.Offered(), ", "))
		}
		if s.Generators == nil {
			return nil, fmt.Errorf("%w: model %q: this service cannot switch generators", ErrInvalid, model)
		}
		gen, name, err := s.Generators(spec)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		e.Generator, e.Model = gen, name
	}
	if s.gens == nil {
		s.gens = map[string]*rag.Engine{}
	}
	if len(s.gens) < maxEngines {
		s.gens[model] = &e
	}
	return &e, nil
}

// spec turns the forms a caller may use into "kind:name".
func (s *Service) spec(model string) (string, error) {
	if kind, name, ok := strings.Cut(model, "/"); ok && (kind == "ollama" || kind == "openai") {
		return kind + ":" + name, nil
	}
	if strings.Contains(model, ":") {
		return model, nil
	}
	kind, _, ok := strings.Cut(s.Engine.Model, "/")
	if !ok {
		return "", fmt.Errorf("%w: model %q: say ollama:%s or openai:%s (there is no default LLM to take the kind from)", ErrInvalid, model, model, model)
	}
	return kind + ":" + model, nil
}

// offers says whether callers may choose spec.
func (s *Service) offers(spec string) bool {
	kind, _, _ := strings.Cut(spec, ":")
	return strings.Replace(s.Engine.Model, "/", ":", 1) == spec ||
		slices.Contains(s.Allowed, spec) || slices.Contains(s.Allowed, kind+":*")
}

// Offered lists the generators callers may choose: extractive answers,
// the default model and the allowed ones.
func (s *Service) Offered() []string {
	out := []string{rag.Extractive}
	if s.Engine.Model != "" {
		out = append(out, strings.Replace(s.Engine.Model, "/", ":", 1))
	}
	return append(out, s.Allowed...)
}

// CheckAllowed checks operator-given specs ("kind:model" or "kind:*").
func CheckAllowed(specs []string) error {
	for _, sp := range specs {
		kind, model, ok := strings.Cut(sp, ":")
		if !ok || model == "" || kind != "ollama" && kind != "openai" {
			return fmt.Errorf("%w: allowed model %q: want ollama:MODEL, openai:MODEL or KIND:*", ErrInvalid, sp)
		}
	}
	return nil
}
