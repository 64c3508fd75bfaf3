package app

import (
	"context"
	"fmt"

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
}

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
	if !req.Search.zero() {
		opt, err := s.SearchOptions(req.Search)
		if err != nil {
			return nil, err
		}
		rr.Search = &opt
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
