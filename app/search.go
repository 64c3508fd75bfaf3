package app

import (
	"context"
	"errors"
	"fmt"
	"image"

	"mmrag/retrieve"
)

// Query is what to search with: a text, a picture, or a stored item's own
// vector ("more like this"). Exactly one is set.
type Query struct {
	Text  string
	Image image.Image
	Like  string // item id
}

// Search ranks the items of each modality for q.
func (s *Service) Search(ctx context.Context, q Query, o SearchOptions) (*retrieve.Results, error) {
	none, err := s.scope(ctx, &o)
	if err != nil {
		return nil, err
	}
	opt, err := s.SearchOptions(o)
	if err != nil {
		return nil, err
	}
	given := 0
	for _, set := range []bool{q.Text != "", q.Image != nil, q.Like != ""} {
		if set {
			given++
		}
	}
	if given != 1 {
		return nil, fmt.Errorf("%w: search with exactly one of a text, an image or an item id", ErrInvalid)
	}
	if none {
		return noResults(q.Text, opt), nil
	}
	searcher := s.Engine.Searcher
	switch {
	case q.Image != nil:
		if s.CLIP == nil {
			return nil, errors.New("search by image: no CLIP model")
		}
		v, err := s.CLIP.EmbedImages(ctx, []image.Image{q.Image})
		if err != nil {
			return nil, fmt.Errorf("embed the query image: %w", err)
		}
		res, err := searcher.SearchVector(ctx, "", v[0], opt)
		return s.passages(ctx, res, err)
	case q.Like != "":
		if s.CLIP == nil {
			return nil, errors.New("search like an item: no CLIP model")
		}
		v, err := s.Store.Vector(ctx, s.CLIP.ModelID(), q.Like)
		if err != nil {
			return nil, fmt.Errorf("item %s: %w", q.Like, err)
		}
		res, err := searcher.SearchVector(ctx, "", v, opt)
		return s.passages(ctx, res, err)
	}
	res, err := searcher.Search(ctx, q.Text, opt)
	return s.passages(ctx, res, err)
}

// passages gives each text hit its passage, as answers show them: the
// hits of one passage become one result (retrieve.Passages).
func (s *Service) passages(ctx context.Context, res *retrieve.Results, err error) (*retrieve.Results, error) {
	if err != nil || s.Engine.Passages.MaxTokens < 0 {
		return res, err
	}
	if err := retrieve.Passages(ctx, s.Engine.Searcher.Store, res, s.Engine.Passages); err != nil {
		return nil, err
	}
	return res, nil
}
