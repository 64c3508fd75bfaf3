package app

import (
	"context"
	"errors"
	"fmt"
	"image"

	"mmrag/generate"
	"mmrag/retrieve"
)

// Loader is a generator that can load its model ahead of the first
// question (Ollama loads models on first use, which takes seconds).
type Loader interface {
	Load(ctx context.Context) error
}

// warmText is what the warm-up embeds.
const warmText = "warm up"

// Warm loads the models a question needs — CLIP's towers, the dedicated
// text embedder, the default generator — so that the first question is
// as fast as the next. It returns every failure joined; a model that
// failed to load loads again on first use.
func (s *Service) Warm(ctx context.Context) error {
	var errs []error
	if q := s.Engine.Searcher; q != nil && q.CLIP != nil {
		if _, err := q.CLIP.TextProjections(ctx, []string{warmText}); err != nil {
			errs = append(errs, fmt.Errorf("load %s (text): %w", q.CLIP.ModelID(), err))
		}
	}
	if s.CLIP != nil {
		if _, err := s.CLIP.EmbedImages(ctx, []image.Image{image.NewRGBA(image.Rect(0, 0, 8, 8))}); err != nil {
			errs = append(errs, fmt.Errorf("load %s (images): %w", s.CLIP.ModelID(), err))
		}
	}
	if q := s.Engine.Searcher; q != nil && q.Text != nil {
		if _, err := retrieve.EmbedQuestions(ctx, q.Text, []string{warmText}); err != nil {
			errs = append(errs, fmt.Errorf("load the text embedder %s: %w", q.Text.ModelID(), err))
		}
	}
	if gen := s.Engine.Generator; gen != nil {
		if l, ok := gen.(Loader); ok {
			if err := l.Load(ctx); err != nil {
				errs = append(errs, fmt.Errorf("load %s: %w", s.Engine.Model, err))
			}
		}
		if d, ok := gen.(generate.Describer); ok { // read once, then remembered
			if _, err := d.Capabilities(ctx); err != nil {
				errs = append(errs, fmt.Errorf("describe %s: %w", s.Engine.Model, err))
			}
		}
	}
	return errors.Join(errs...)
}
