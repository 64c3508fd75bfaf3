// Package app is mmrag's application service: searching, answering,
// ingesting and captioning one knowledge base, with requests and answers
// as typed values. The CLI (cmd/mmrag) and the HTTP server (server) both
// call it, so every rule of the application — how search options combine
// with the defaults, which generators a caller may choose, that ingests
// run one at a time — is written here once; cmd/mmrag keeps flags, config
// and wiring, and server keeps transport.
package app

import (
	"sync"

	"mmrag"
	"mmrag/generate"
	"mmrag/ingest"
	"mmrag/rag"
)

// Service answers over one knowledge base. Store and Engine are required;
// the zero value of every other field turns its feature off.
type Service struct {
	Store mmrag.Store
	// Engine answers with the default generator, strategy and search
	// options; its Searcher searches.
	Engine *rag.Engine
	// CLIP embeds query pictures and names the model of "more like this";
	// nil refuses those searches.
	CLIP mmrag.Embedder
	// Pipeline ingests; nil refuses ingests.
	Pipeline *ingest.Pipeline
	// Text, when set, is the dedicated text embedder whose vectors every
	// ingest adds beside CLIP's (the Searcher's Text embedder).
	Text rag.TextEmbedder
	// Generators builds the generator of a model spec ("ollama:NAME",
	// "openai:NAME") for callers that choose one per request; nil offers
	// only the default and extractive answers.
	Generators func(spec string) (gen generate.Generator, name string, err error)
	// Allowed are the specs callers may choose besides the default
	// ("ollama:*": any model of that kind). The operator sets them: a
	// caller never makes the service call a model, with the operator's
	// keys, that the operator did not offer.
	Allowed []string
	// Catalogs list and describe the models of the LLM servers, by kind
	// ("ollama", "openai"), for Models.
	Catalogs map[string]ModelCatalog
	// Collections resolves the collections a search may keep to; nil
	// refuses searches naming collections.
	Collections CollectionResolver

	mu     sync.Mutex // guards gens
	gens   map[string]*rag.Engine
	ingest sync.Mutex // Pipeline.Add runs one at a time
	caps   capsCache
}
