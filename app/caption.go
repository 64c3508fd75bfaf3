package app

import (
	"context"
	"errors"
	"fmt"

	"mmrag"
	"mmrag/generate"
	"mmrag/rag"
)

// CaptionRequest asks for descriptions of figures without captions.
type CaptionRequest struct {
	DocIDs []string // none: every document
	// Vision describes the figures; Model names it in the items it writes.
	Vision generate.Generator
	Model  string
	// Embed embeds the new caption items (CLIP).
	Embed  mmrag.Embedder
	Prompt string // "" is rag.DefaultCaptionPrompt
	Force  bool   // also figures that have a caption or alt text
}

// Caption describes figures with a vision model and stores the
// descriptions as captions and text items, every model's vectors kept.
// onEvent, when not nil, hears of each figure. It returns how many were
// described.
func (s *Service) Caption(ctx context.Context, req CaptionRequest, onEvent func(rag.CaptionEvent)) (int, error) {
	if req.Vision == nil {
		return 0, fmt.Errorf("%w: caption needs a vision model", ErrInvalid)
	}
	if req.Embed == nil {
		return 0, errors.New("caption: no embedder for the new caption items")
	}
	models, err := s.Store.Models(ctx)
	if err != nil {
		return 0, fmt.Errorf("caption: list the store's models: %w", err)
	}
	ids := make([]string, 0, len(models))
	for _, m := range models {
		ids = append(ids, m.ID)
	}
	c := &rag.Captioner{Store: s.Store, Vision: req.Vision, Model: req.Model, Embed: req.Embed, Models: ids, Prompt: req.Prompt, Force: req.Force}
	if onEvent == nil {
		onEvent = func(rag.CaptionEvent) {}
	}
	return c.Run(ctx, req.DocIDs, onEvent)
}
