package llmclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"mmrag/generate"
)

// CheckMessages checks a chat request's roles and images before anything
// is sent, so that errors name the message (who prefixes them: "ollama
// chat"), and counts the images.
func CheckMessages(who string, msgs []generate.Message) (images int, err error) {
	for i, m := range msgs {
		switch m.Role {
		case generate.System, generate.User, generate.Assistant:
		default:
			return 0, fmt.Errorf("%s: message %d: unknown role %q", who, i, m.Role)
		}
		for j, img := range m.Images {
			if _, err := ImageType(img); err != nil {
				return 0, fmt.Errorf("%s: message %d, image %d: %w", who, i, j, err)
			}
		}
		images += len(m.Images)
	}
	return images, nil
}

// ImageType is an encoded image's MIME type; bytes that are no image a
// model could read are refused, so the error names the image instead of
// surfacing as a server-side decode error.
func ImageType(b []byte) (string, error) {
	if len(b) == 0 {
		return "", errors.New("empty image")
	}
	ct := http.DetectContentType(b)
	if !strings.HasPrefix(ct, "image/") {
		return "", fmt.Errorf("not an image (content looks like %s)", ct)
	}
	return ct, nil
}

// KeepImages is how many of a request's n images model takes: none without
// vision, at most maxImages when that is set. It notes what is left out;
// noVision says why the model is taken to be blind ("has no vision
// capability (per /api/show)").
func KeepImages(model string, n int, vision bool, maxImages int, noVision string, note func(string)) int {
	switch {
	case n > 0 && !vision:
		note(fmt.Sprintf("model %s %s: %d image(s) not sent; answering from text alone", model, noVision, n))
		return 0
	case maxImages > 0 && n > maxImages:
		note(fmt.Sprintf("model %s takes %d image(s) per request: sent the first %d of %d", model, maxImages, maxImages, n))
		return maxImages
	}
	return n
}
