package main

import (
	"context"

	"mmrag/app"
	"mmrag/ollama"
	"mmrag/openai"
)

// catalogs are the LLM servers' model lists, for the model picker: the
// servers the flags name, where generatorFor makes the generators.
func (l llmFlags) catalogs() map[string]app.ModelCatalog {
	return map[string]app.ModelCatalog{
		"ollama": &ollama.Client{BaseURL: l.llmURL, Timeout: l.timeout},
		"openai": openaiCatalog{&openai.Client{BaseURL: l.llmURL, APIKey: l.llmKey, Timeout: l.timeout}},
	}
}

// openaiCatalog lists an OpenAI-compatible server's models, whose
// capabilities its API does not say.
type openaiCatalog struct{ c *openai.Client }

func (o openaiCatalog) ListModels(ctx context.Context) ([]string, error) { return o.c.Models(ctx) }

func (openaiCatalog) ModelCapabilities(context.Context, string) ([]string, error) { return nil, nil }
