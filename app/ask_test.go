package app

import (
	"context"
	"errors"
	"image"
	"strings"
	"testing"

	"mmrag/rag"
)

// TestAskByImageRules: an ask searches with an image or an item, not both,
// and one needs the CLIP model.
func TestAskByImageRules(t *testing.T) {
	s := &Service{Engine: &rag.Engine{}}
	ctx := context.Background()
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	if _, err := s.Ask(ctx, AskRequest{Image: img, Like: "x"}, nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("image and like: %v, want ErrInvalid", err)
	}
	for _, req := range []AskRequest{{Image: img}, {Question: "what is it?", Like: "x"}} {
		if _, err := s.Ask(ctx, req, nil, nil); err == nil || !strings.Contains(err.Error(), "no CLIP model") {
			t.Errorf("%+v without CLIP: %v", req, err)
		}
	}
}
