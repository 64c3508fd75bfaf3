package server

import (
	"context"
	"strings"
)

// Generator is a generator model a caller may choose with AskRequest.Model
// (and as the model of a chat completion): every one answers from the
// knowledge base.
type Generator struct {
	ID string // "extractive", "ollama:NAME", "openai:NAME"
	// Capabilities are what it does ("completion", "vision"…); nil when
	// its server does not say.
	Capabilities []string
	Default      bool // the server answers with it when asked for none
}

// Catalog lists the generators callers may choose; App is one.
type Catalog interface {
	Generators(ctx context.Context) []Generator
}

// Model kinds of GET /v1/models.
const (
	kindKnowledgeBase = "knowledge_base"
	kindGenerator     = "generator"
)

// generators lists the catalog's generators; none without a catalog.
func (s *Server) generators(ctx context.Context) []Generator {
	if s.cfg.Catalog == nil {
		return nil
	}
	return s.cfg.Catalog.Generators(ctx)
}

// generatorModel is a generator as GET /v1/models lists it.
func (s *Server) generatorModel(g Generator) oaiModel {
	m := s.model(g.ID)
	m.Kind, m.Capabilities, m.Default = kindGenerator, g.Capabilities, g.Default
	if kind, _, ok := strings.Cut(g.ID, ":"); ok {
		m.OwnedBy = kind
	}
	return m
}

// modelList is GET /v1/models: the knowledge base's ids, which answer
// with the default generator and so share its capabilities, then the
// generators.
func (s *Server) modelList(ctx context.Context) []oaiModel {
	gens := s.generators(ctx)
	var defCaps []string
	for _, g := range gens {
		if g.Default {
			defCaps = g.Capabilities
		}
	}
	out := []oaiModel{}
	for _, id := range s.models() {
		m := s.model(id)
		m.Kind, m.Capabilities = kindKnowledgeBase, defCaps
		out = append(out, m)
	}
	for _, g := range gens {
		out = append(out, s.generatorModel(g))
	}
	return out
}

// generatorSpec says whether a chat completion's model names a generator
// ("extractive", "ollama:NAME", "openai:NAME"); the engine checks that it
// is offered.
func generatorSpec(model string) bool {
	kind, name, ok := strings.Cut(model, ":")
	return model == "extractive" || ok && name != "" && (kind == "ollama" || kind == "openai")
}
