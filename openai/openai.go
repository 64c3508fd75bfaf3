// Package openai owns mmrag's use of OpenAI-compatible servers (OpenAI,
// vLLM, llama.cpp's server, LM Studio…): chat generation through
// /v1/chat/completions (streamed as server-sent events, images as data URLs),
// text embeddings through /v1/embeddings and speech-to-text through
// /v1/audio/transcriptions. It speaks the HTTP API with net/http; no SDK is
// linked in.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"mmrag/internal/llmclient"
)

// DefaultBaseURL is used when neither Client.BaseURL nor $OPENAI_BASE_URL is set.
const DefaultBaseURL = "https://api.openai.com"

// DefaultTimeout is the longest wait for the server's next output when
// Client.Timeout is zero; a local server may load the model first.
const DefaultTimeout = llmclient.DefaultTimeout

// Errors that callers can test with errors.Is.
var (
	// ErrUnreachable: no server accepted the connection.
	ErrUnreachable = errors.New("OpenAI-compatible server unreachable")
	// ErrModelNotFound: the server serves no model of that name.
	ErrModelNotFound = errors.New("model not found")
	// ErrUnauthorized: the server refused the API key (or its absence).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrStalled: the server sent nothing for Client.Timeout.
	ErrStalled = errors.New("server stalled")
)

// Client talks to one OpenAI-compatible server about one model. The zero
// value is usable once Model is set. Safe for concurrent use.
type Client struct {
	// BaseURL is the server's root ("http://127.0.0.1:8000"); a trailing
	// "/v1" is accepted. Empty: $OPENAI_BASE_URL, else DefaultBaseURL.
	BaseURL string
	// APIKey is sent as a bearer token when set. Empty: $OPENAI_API_KEY,
	// but only when BaseURL is empty too, so that a key meant for one
	// server is not sent to another that a config names.
	APIKey string
	// Model names the model as the server knows it.
	Model string
	// HTTP is the client requests go through; nil: http.DefaultClient
	// (no overall deadline: Timeout catches a stalled server and ctx bounds
	// the whole request).
	HTTP *http.Client
	// Timeout is the longest wait for the server's next output: the
	// response headers, then each streamed event. 0: DefaultTimeout.
	Timeout time.Duration

	// The API cannot say what a model accepts, so the config does.
	// Vision: the model takes images; without it images are not sent.
	Vision bool
	// MaxImages is how many images the model takes per request; 0: no limit.
	MaxImages int
	// ContextTokens is the model's context window; 0: unknown.
	ContextTokens int

	// Notify receives notes about what the client changed in a request,
	// such as images not sent; nil: they are logged through log/slog at
	// warning level.
	Notify func(note string)
}

// URL is the server's root as requests use it: no trailing slash or "/v1".
func (c *Client) URL() string {
	return strings.TrimSuffix(llmclient.BaseURL(c.BaseURL, "OPENAI_BASE_URL", DefaultBaseURL), "/v1")
}

func (c *Client) apiKey() string {
	if c.APIKey != "" || c.BaseURL != "" {
		return c.APIKey
	}
	return os.Getenv("OPENAI_API_KEY")
}

func (c *Client) note(msg string) { llmclient.Note(c.Notify, "openai", msg) }

// server is the plumbing's view of the client.
func (c *Client) server() *llmclient.Server {
	return &llmclient.Server{Name: "the OpenAI-compatible server",
		Hint:        "start it, or set the base URL (OPENAI_BASE_URL) to where it listens",
		Unreachable: ErrUnreachable, Stalled: ErrStalled, HTTP: c.HTTP, Timeout: c.Timeout}
}

// UnreachableError says that no server answered at URL; it matches
// ErrUnreachable.
type UnreachableError = llmclient.UnreachableError

// APIError is an error answer from the server.
type APIError struct {
	URL        string
	Endpoint   string // "/v1/chat/completions"
	Model      string
	StatusCode int    // 200 for an error sent inside a stream
	Message    string // the server's own words
	Code       string // the error's code or type, when given
}

func (e *APIError) Error() string {
	switch {
	case e.Is(ErrModelNotFound):
		return fmt.Sprintf("model %s not found at %s: check the name against `curl %s/v1/models` (%s)", e.Model, e.URL, e.URL, e.Message)
	case e.Is(ErrUnauthorized):
		return fmt.Sprintf("%s refused the request (HTTP %d): set the API key (OPENAI_API_KEY) it expects (%s)", e.URL, e.StatusCode, e.Message)
	case e.StatusCode == http.StatusNotFound:
		return fmt.Sprintf("%s%s not found (HTTP 404): is the base URL the server's root? (%s)", e.URL, e.Endpoint, e.Message)
	}
	return fmt.Sprintf("%s%s: HTTP %d: %s", e.URL, e.Endpoint, e.StatusCode, e.Message)
}

// Is matches ErrModelNotFound and ErrUnauthorized.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrModelNotFound:
		if e.Code == "model_not_found" {
			return true
		}
		// Servers word it differently: OpenAI's "The model `x` does not
		// exist", vLLM's "The model `x` does not exist.", others "model
		// not found"; all answer 404 (vLLM) or 400 with the model named.
		m := strings.ToLower(e.Message)
		return (e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusBadRequest) &&
			strings.Contains(m, "model") && (strings.Contains(m, "not found") || strings.Contains(m, "does not exist"))
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	}
	return false
}

// call posts a JSON request (GET when in is nil) and returns the body of a
// success; the caller must call done.
func (c *Client) call(ctx context.Context, endpoint, model string, in any) (body io.Reader, done func(), err error) {
	if in == nil {
		return c.send(ctx, endpoint, model, "", nil)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return body, nil, fmt.Errorf("%s: encoding the request: %w", endpoint, err)
	}
	return c.send(ctx, endpoint, model, "application/json", b)
}

// send posts payload as contentType (GET when contentType is "") and
// returns the body of a success; the caller must call done.
func (c *Client) send(ctx context.Context, endpoint, model, contentType string, payload []byte) (body io.Reader, done func(), err error) {
	base := c.URL()
	method, rd, h := http.MethodGet, io.Reader(nil), http.Header{}
	if contentType != "" {
		method, rd = http.MethodPost, bytes.NewReader(payload)
		h.Set("Content-Type", contentType)
	}
	if k := c.apiKey(); k != "" {
		h.Set("Authorization", "Bearer "+k)
	}
	resp, err := c.server().Do(ctx, method, base, endpoint, rd, h)
	if err != nil {
		return nil, nil, err
	}
	done = func() { resp.Body.Close() }
	if resp.StatusCode/100 != 2 {
		defer done()
		msg, code := errorMessage(resp.Body)
		return nil, nil, &APIError{URL: base, Endpoint: endpoint, Model: model, StatusCode: resp.StatusCode, Message: msg, Code: code}
	}
	return resp.Body, done, nil
}

// apiError is the error object of OpenAI's API; compatible servers send the
// same, a bare string, or FastAPI's {"detail": …}.
type apiError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    any    `json:"code"`
}

func parseErrorValue(raw json.RawMessage) (msg, code string, ok bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s, "", true
	}
	var e apiError
	if json.Unmarshal(raw, &e) == nil && e.Message != "" {
		code = e.Type
		if c, ok := e.Code.(string); ok && c != "" {
			code = c
		}
		return e.Message, code, true
	}
	return "", "", false
}

// errorMessage reads an error body: {"error": {...}}, {"error": "…"},
// {"detail": "…"}, vLLM's {"object": "error", "message": …}, or the start of whatever else it is (a proxy's page).
func errorMessage(r io.Reader) (msg, code string) {
	b := llmclient.ErrorBody(r)
	var env struct {
		Error  json.RawMessage `json:"error"`
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(b, &env) == nil {
		for _, raw := range []json.RawMessage{env.Error, env.Detail, b} { // vLLM: the error object itself
			if m, c, ok := parseErrorValue(raw); ok {
				return m, c
			}
		}
	}
	return llmclient.Snippet(b), ""
}

// readErr explains a failure while reading a response body.
func (c *Client) readErr(ctx context.Context, endpoint string, body io.Reader, err error) error {
	return c.server().ReadError(ctx, c.URL(), endpoint, body, err)
}

// Models lists the ids of the models the server serves (GET /v1/models).
func (c *Client) Models(ctx context.Context) ([]string, error) {
	body, done, err := c.call(ctx, "/v1/models", "", nil)
	if err != nil {
		return nil, fmt.Errorf("openai models: %w", err)
	}
	defer done()
	var r struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(body).Decode(&r); err != nil {
		return nil, fmt.Errorf("openai models: %w", c.readErr(ctx, "/v1/models", body, err))
	}
	ids := make([]string, len(r.Data))
	for i, m := range r.Data {
		ids[i] = m.ID
	}
	return ids, nil
}
