package app

import (
	"context"
	"fmt"
	"image"
	"strings"

	"mmrag/generate"
	"mmrag/rag"
)

// AskRequest is one question, with the earlier turns of its chat.
type AskRequest struct {
	Question string
	History  []generate.Message
	// Strategy is text, text+images or multimodal; "" is the default.
	Strategy    string
	Search      SearchOptions
	Temperature *float64
	MaxTokens   int
	// Model chooses another generator than the default, among those
	// offered (see Service.Allowed); "extractive" or "none" answers
	// without one.
	Model string
	// Image or Like (an item id), when set, is what the sources are
	// searched with instead of the question's text ("more like this");
	// the question is still what the answer answers, ImageQuestion when
	// it is empty. At most one of them is set.
	Image image.Image
	Like  string
}

// ImageQuestion is the question of an ask by image or by item without one.
const ImageQuestion = "What do the sources say about what this image shows?"

// Ask answers req. onSources, when not nil, is called with the answer's
// sources before generation starts; onToken receives the answer as it is
// generated.
func (s *Service) Ask(ctx context.Context, req AskRequest, onSources func(*rag.Answer) error, onToken func(string) error) (*rag.Answer, error) {
	eng, err := s.engine(req.Model)
	if err != nil {
		return nil, err
	}
	rr := rag.Request{
		Question: req.Question, History: req.History, Strategy: rag.Strategy(req.Strategy),
		Temperature: req.Temperature, MaxTokens: req.MaxTokens,
	}
	if rr.Strategy != "" && !validStrategy(rr.Strategy) {
		return nil, fmt.Errorf("%w: strategy %q: want one of %v", ErrInvalid, req.Strategy, rag.Strategies())
	}
	none, err := s.scope(ctx, &req.Search)
	if err != nil {
		return nil, err
	}
	if !req.Search.zero() || none {
		opt, err := s.SearchOptions(req.Search)
		if err != nil {
			return nil, err
		}
		rr.Search = &opt
		if none { // the collections hold no document: no sources
			rr.Results = noResults(rr.Question, opt)
		}
	}
	if req.Image != nil || req.Like != "" {
		if req.Image != nil && req.Like != "" {
			return nil, fmt.Errorf("%w: ask with an image or an item id, not both", ErrInvalid)
		}
		if strings.TrimSpace(rr.Question) == "" {
			rr.Question = ImageQuestion
		}
		if rr.Results == nil {
			res, err := s.Search(ctx, Query{Image: req.Image, Like: req.Like}, req.Search)
			if err != nil {
				return nil, err
			}
			rr.Results = res
		}
	}
	return eng.Ask(ctx, rr, onSources, onToken)
}

func validStrategy(st rag.Strategy) bool {
	for _, v := range rag.Strategies() {
		if v == st {
			return true
		}
	}
	return false
}
