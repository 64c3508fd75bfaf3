// Package ollama owns mmrag's use of an Ollama server (https://ollama.com):
// chat generation through /api/chat (streamed, images as base64), model
// capabilities through /api/show, text embeddings through /api/embed, and the
// model list and version. It speaks the HTTP API with net/http; no Ollama code
// is linked in.
package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"mmrag/generate"
	"mmrag/internal/llmclient"
)

// DefaultHost is where Ollama listens unless OLLAMA_HOST says otherwise.
const DefaultHost = "http://127.0.0.1:11434"

// DefaultTimeout is the longest wait for the server's next output when
// Client.Timeout is zero. Loading a large model from disk can take minutes
// before the first token, so it is generous.
const DefaultTimeout = llmclient.DefaultTimeout

// Errors that callers can test with errors.Is. The errors returned carry the
// command that fixes them in their text.
var (
	// ErrUnreachable: no server accepted the connection.
	ErrUnreachable = errors.New("ollama server unreachable")
	// ErrModelNotFound: the server has no model of that name.
	ErrModelNotFound = errors.New("ollama model not found")
	// ErrStalled: the server sent nothing for Client.Timeout.
	ErrStalled = errors.New("ollama server stalled")
)

// Client talks to one Ollama server about one model. The zero value is
// usable once Model is set. A Client is safe for concurrent use; do not copy
// it after first use.
type Client struct {
	// BaseURL of the server; empty: $OLLAMA_HOST, else DefaultHost.
	// OLLAMA_HOST's short forms ("127.0.0.1:11500", ":11500") are accepted.
	BaseURL string
	// Model names the chat model ("llama3.2-vision", "qwen2.5vl:7b").
	Model string
	// HTTP is the client requests go through; nil: a client without an
	// overall deadline (answers stream for as long as they take; Timeout
	// catches a stalled server and ctx bounds the whole request).
	HTTP *http.Client
	// Timeout is the longest wait for the server's next output: the
	// response headers, then each streamed chunk. 0: DefaultTimeout.
	Timeout time.Duration
	// KeepAlive is how long the server keeps the model loaded after a
	// request; 0: the server's default (5 minutes), negative: forever.
	KeepAlive time.Duration
	// Options are model options sent with every chat request (num_ctx,
	// top_p, seed…); Request.Temperature and Request.MaxTokens override
	// temperature and num_predict.
	Options map[string]any
	// Notify receives notes about what the client changed in a request,
	// such as images not sent to a model that cannot see; nil: they are
	// logged through log/slog at warning level.
	Notify func(note string)

	mu   sync.Mutex
	caps map[string]generate.Capabilities // by model, once read
}

var _ generate.Generator = (*Client)(nil)
var _ generate.Describer = (*Client)(nil)

// URL is the server's base URL as requests use it, without a trailing slash.
func (c *Client) URL() string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	return hostURL(os.Getenv("OLLAMA_HOST"))
}

// hostURL turns an OLLAMA_HOST value into a base URL, as the ollama command
// reads it: a missing scheme is http, a missing host is 127.0.0.1 and a
// missing port is 11434.
func hostURL(h string) string {
	h = strings.TrimSpace(h)
	if h == "" {
		return DefaultHost
	}
	scheme := "http"
	if i := strings.Index(h, "://"); i >= 0 {
		scheme, h = h[:i], h[i+3:]
	}
	h, path, _ := strings.Cut(h, "/")
	host, port, err := net.SplitHostPort(h)
	if err != nil { // no port
		host, port = strings.Trim(h, "[]"), "11434"
		if scheme == "https" {
			port = "443"
		}
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1" // a listen-on-all address; connect locally
	}
	u := scheme + "://" + net.JoinHostPort(host, port)
	if path = strings.Trim(path, "/"); path != "" {
		u += "/" + path
	}
	return u
}

func (c *Client) keepAlive() string {
	if c.KeepAlive == 0 {
		return ""
	}
	return c.KeepAlive.String() // Ollama parses Go durations; negative means forever
}

func (c *Client) note(msg string) { llmclient.Note(c.Notify, "ollama", msg) }

// server is the plumbing's view of the client.
func (c *Client) server() *llmclient.Server {
	return &llmclient.Server{Name: "Ollama", Hint: "start it with `ollama serve`",
		Unreachable: ErrUnreachable, Stalled: ErrStalled, HTTP: c.HTTP, Timeout: c.Timeout}
}

// UnreachableError says that no server answered at URL; it matches
// ErrUnreachable.
type UnreachableError = llmclient.UnreachableError

// ModelNotFoundError says that the server has no model named Model.
type ModelNotFoundError struct {
	Model   string
	URL     string
	Message string // the server's own words
}

func (e *ModelNotFoundError) Error() string {
	return fmt.Sprintf("model %s not found: run `ollama pull %s` (Ollama at %s: %s)", e.Model, e.Model, e.URL, e.Message)
}
func (e *ModelNotFoundError) Is(target error) bool { return target == ErrModelNotFound }

// APIError is any other error status from the server.
type APIError struct {
	Endpoint   string // "/api/chat"
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	if e.StatusCode == http.StatusNotFound {
		return fmt.Sprintf("ollama %s: HTTP 404: %s (is the URL an Ollama server's?)", e.Endpoint, e.Message)
	}
	return fmt.Sprintf("ollama %s: HTTP %d: %s", e.Endpoint, e.StatusCode, e.Message)
}

// call sends a JSON request and returns the response once its status is a
// success; the caller reads the body and must call done. model names the
// model the request is about, for a not-found error.
func (c *Client) call(ctx context.Context, method, endpoint, model string, in any) (body io.Reader, done func(), err error) {
	base := c.URL()
	var rd io.Reader
	h := http.Header{"Accept": {"application/json, application/x-ndjson"}}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, nil, fmt.Errorf("ollama %s: encoding the request: %w", endpoint, err)
		}
		rd = bytes.NewReader(b)
		h.Set("Content-Type", "application/json")
	}
	resp, err := c.server().Do(ctx, method, base, endpoint, rd, h)
	if err != nil {
		return nil, nil, err
	}
	done = func() { resp.Body.Close() }
	if resp.StatusCode/100 != 2 {
		defer done()
		msg := errorMessage(resp.Body)
		// Ollama's own 404s name the model; a bare "404 page not found"
		// means the URL is no Ollama API.
		if resp.StatusCode == http.StatusNotFound && model != "" && strings.Contains(strings.ToLower(msg), "model") {
			return nil, nil, &ModelNotFoundError{Model: model, URL: base, Message: msg}
		}
		return nil, nil, &APIError{Endpoint: endpoint, StatusCode: resp.StatusCode, Message: msg}
	}
	return resp.Body, done, nil
}

// errorMessage reads Ollama's {"error": "..."} body, or the body's start
// when it is something else (a proxy's HTML page).
func errorMessage(r io.Reader) string {
	b := llmclient.ErrorBody(r)
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	return llmclient.Snippet(b)
}

// getJSON runs a request whose answer is one JSON value.
func (c *Client) getJSON(ctx context.Context, method, endpoint, model string, in, out any) error {
	body, done, err := c.call(ctx, method, endpoint, model, in)
	if err != nil {
		return err
	}
	defer done()
	if err := json.NewDecoder(body).Decode(out); err != nil {
		return c.readErr(ctx, endpoint, body, err)
	}
	return nil
}

// readErr explains a failure while reading a response body.
func (c *Client) readErr(ctx context.Context, endpoint string, body io.Reader, err error) error {
	return c.server().ReadError(ctx, c.URL(), endpoint, body, err)
}
