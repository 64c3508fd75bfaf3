package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"mime"
	"net/http"
	"strings"

	"mmrag/imageprep"
)

// Searching with a picture: /v1/search and /v1/ask take the image either
// as base64 in the JSON body (image_base64) or as the "image" file of a
// multipart/form-data body whose "request" part is the JSON request; the
// OpenAI route takes data: URLs in image_url parts. Client images are
// hostile: their size is capped before decoding and the decoder refuses
// headers declaring too many pixels (decompression bombs).
const (
	// MaxQueryImageBytes caps the encoded image of one query.
	MaxQueryImageBytes = 10 << 20
	// maxQueryImagePixels caps its declared width × height.
	maxQueryImagePixels = 40_000_000
	// maxQueryBodyBytes caps a query's body: the JSON options plus the
	// image, base64 (4/3 of its bytes) or a multipart file.
	maxQueryBodyBytes = DefaultMaxJSONBytes + MaxQueryImageBytes*4/3 + 4<<10
)

// ImageQuery is what a search or question may search with besides its
// text: a picture or a stored item's vector ("more like this").
type ImageQuery struct {
	// Like is an item id: search with that item's own vector.
	Like string `json:"like,omitempty"`
	// ImageBase64 is a picture (PNG, JPEG, GIF, WebP, BMP or TIFF),
	// base64-encoded, optionally as a data: URL.
	ImageBase64 string `json:"image_base64,omitempty"`
	// Image is the decoded picture of ImageBase64 or of a multipart
	// request's "image" file.
	Image image.Image `json:"-"`
}

// decodeQuery reads the body of a search or ask, JSON or multipart, into
// v and decodes its image into q. It answers the request itself when it
// returns false.
func (s *Server) decodeQuery(w http.ResponseWriter, r *http.Request, v any, q *ImageQuery) bool {
	status, err := decodeQueryBody(w, r, v, q)
	if err != nil {
		s.fail(w, r, status, err.Error())
		return false
	}
	return true
}

func decodeQueryBody(w http.ResponseWriter, r *http.Request, v any, q *ImageQuery) (int, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		if status, err := decodeBodyLimit(w, r, v, true, maxQueryBodyBytes); err != nil {
			return status, err
		}
		if q.ImageBase64 == "" {
			return 0, nil
		}
		data, err := decodeBase64Image(q.ImageBase64)
		if err != nil {
			return http.StatusBadRequest, fmt.Errorf("image_base64: %w", err)
		}
		q.ImageBase64 = ""
		return queryImage(q, data)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxQueryBodyBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return http.StatusBadRequest, fmt.Errorf("bad multipart body: %w", err)
	}
	var data []byte
	gotRequest := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return tooBigOr(err, "bad multipart body")
		}
		switch p.FormName() {
		case "request":
			if gotRequest {
				return http.StatusBadRequest, errors.New("more than one request part")
			}
			gotRequest = true
			dec := json.NewDecoder(io.LimitReader(p, DefaultMaxJSONBytes))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				return tooBigOr(err, "request part: bad JSON")
			}
		case "image":
			if data != nil {
				return http.StatusBadRequest, errors.New("more than one image: search with one")
			}
			data, err = io.ReadAll(io.LimitReader(p, MaxQueryImageBytes+1))
			if err != nil {
				return tooBigOr(err, "image part")
			}
			if len(data) > MaxQueryImageBytes {
				return http.StatusRequestEntityTooLarge, fmt.Errorf("image over %d bytes", MaxQueryImageBytes)
			}
			if data == nil {
				data = []byte{}
			}
		default:
			return http.StatusBadRequest, fmt.Errorf("unknown form field %q: want request (JSON) and image (a file)", p.FormName())
		}
	}
	if !gotRequest {
		return http.StatusBadRequest, errors.New("missing request part: the JSON request goes in the form field request")
	}
	if q.ImageBase64 != "" {
		if data != nil {
			return http.StatusBadRequest, errors.New("both image_base64 and an image file: send one")
		}
		if data, err = decodeBase64Image(q.ImageBase64); err != nil {
			return http.StatusBadRequest, fmt.Errorf("image_base64: %w", err)
		}
		q.ImageBase64 = ""
	}
	if data == nil {
		return 0, nil
	}
	return queryImage(q, data)
}

func tooBigOr(err error, what string) (int, error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes", tooBig.Limit)
	}
	return http.StatusBadRequest, fmt.Errorf("%s: %w", what, err)
}

// decodeBase64Image reads standard or URL-safe base64, padded or not,
// optionally as a data: URL of an image type.
func decodeBase64Image(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "data:"); ok {
		meta, payload, ok := strings.Cut(rest, ",")
		if !ok || !strings.HasSuffix(meta, ";base64") {
			return nil, errors.New("want a base64 data: URL (data:image/png;base64,…)")
		}
		if mt := strings.TrimSuffix(meta, ";base64"); mt != "" && !strings.HasPrefix(mt, "image/") {
			return nil, fmt.Errorf("data: URL of type %q: want an image", mt)
		}
		s = payload
	}
	if len(s) > MaxQueryImageBytes*4/3+4 {
		return nil, fmt.Errorf("image over %d bytes", MaxQueryImageBytes)
	}
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	data, err := enc.DecodeString(s)
	if err != nil {
		return nil, errors.New("not valid base64")
	}
	return data, nil
}

// queryImage decodes a client's picture into q.Image with the upload
// limits: a non-image, a corrupt file or a bomb is a 400 saying so.
func queryImage(q *ImageQuery, data []byte) (int, error) {
	if len(data) > MaxQueryImageBytes {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("image over %d bytes", MaxQueryImageBytes)
	}
	img, info, err := imageprep.Decode(data, imageprep.Limits{MaxBytes: MaxQueryImageBytes, MaxPixels: maxQueryImagePixels})
	switch {
	case err == nil:
	case errors.Is(err, imageprep.ErrEmpty):
		return http.StatusBadRequest, errors.New("image: empty file")
	case errors.Is(err, imageprep.ErrTooLarge):
		return http.StatusBadRequest, fmt.Errorf("image: %d×%d pixels is over the limit of %d pixels", info.Width, info.Height, maxQueryImagePixels)
	case errors.Is(err, imageprep.ErrUnsupported):
		return http.StatusBadRequest, errors.New("image: not a picture mmrag reads (want PNG, JPEG, GIF, WebP, BMP or TIFF)")
	default:
		return http.StatusBadRequest, errors.New("image: corrupt or truncated picture")
	}
	q.Image = imageprep.Orient(img, info.Orientation)
	return 0, nil
}

// jsonErrors makes the mux's own answers — 404 for an unknown route, 405
// for a wrong method (its Allow header kept) — JSON like every other error:
// {"error", "request_id"}, or OpenAI's shape on the OpenAI routes.
func (s *Server) jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(&muxErrorWriter{ResponseWriter: w, s: s, r: r}, r)
	})
}

// muxErrorWriter replaces the plain-text body of an error the mux writes.
type muxErrorWriter struct {
	http.ResponseWriter
	s       *Server
	r       *http.Request
	replace bool
}

func (w *muxErrorWriter) WriteHeader(code int) {
	if code < 400 || w.replace {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replace = true
	r := w.r
	msg := fmt.Sprintf("no route %s %s: /openapi.json lists the API", r.Method, r.URL.Path)
	if code == http.StatusMethodNotAllowed {
		msg = fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, w.Header().Get("Allow"))
	} else if code != http.StatusNotFound {
		msg = http.StatusText(code)
	}
	w.Header().Del("Content-Length")
	if openAIRoute(r.URL.Path) {
		oaiCode := "not_found"
		if code == http.StatusMethodNotAllowed {
			oaiCode = "method_not_allowed"
		}
		w.s.oaiFail(w.ResponseWriter, r, code, oaiCode, msg)
		return
	}
	w.s.fail(w.ResponseWriter, r, code, msg)
}

func (w *muxErrorWriter) Write(b []byte) (int, error) {
	if w.replace {
		return len(b), nil // the mux's plain text, replaced
	}
	return w.ResponseWriter.Write(b)
}

// openAIRoute says whether a path is under the OpenAI-compatible API,
// whose clients read errors in OpenAI's shape.
func openAIRoute(p string) bool {
	for _, prefix := range []string{"/v1/chat/", "/v1/models", "/v1/completions", "/v1/embeddings"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}
