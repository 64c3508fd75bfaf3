// Package llmclient is the plumbing that mmrag's model-server clients
// (packages ollama and openai) share: sending a request under a stall guard
// (the request fails when the server stays silent for the timeout, however
// long the whole answer streams), telling an unreachable server from other
// failures, explaining errors while reading an answer, error bodies, the
// base URL, notes to the user, and the checks of a chat request's messages
// and images.
package llmclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultTimeout is the longest wait for a server's next output when
// Server.Timeout is zero. Loading a large model from disk can take minutes
// before the first token, so it is generous.
const DefaultTimeout = 5 * time.Minute

// Server describes one kind of model server for the requests and errors.
type Server struct {
	// Name is how errors call the server: "Ollama", "the OpenAI-compatible
	// server".
	Name string
	// Hint says how to make an unreachable server answer.
	Hint string
	// Unreachable and Stalled are the client package's sentinels that
	// UnreachableError and StallError match with errors.Is.
	Unreachable, Stalled error
	// HTTP is the client requests go through; nil: http.DefaultClient.
	HTTP *http.Client
	// Timeout is the longest wait for the server's next output: the
	// response headers, then each read of the body. 0: DefaultTimeout.
	Timeout time.Duration
}

func (s *Server) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

// UnreachableError says that no server answered at URL.
type UnreachableError struct {
	Server string // Server.Name
	Hint   string // Server.Hint
	URL    string
	Err    error
	// Sentinel is what errors.Is matches besides Err's chain.
	Sentinel error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s at %s: %s (%v)", e.Server, e.URL, e.Hint, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }
func (e *UnreachableError) Is(target error) bool {
	return e.Sentinel != nil && target == e.Sentinel
}

// StallError says that the server sent nothing for Timeout.
type StallError struct {
	Server  string
	URL     string // with the endpoint
	Timeout time.Duration
	// Sentinel is what the error wraps (the client package's ErrStalled).
	Sentinel error
}

func (e *StallError) Error() string {
	return fmt.Sprintf("%s at %s sent nothing for %v (raise the timeout if the model loads slowly): %v", e.Server, e.URL, e.Timeout, e.Sentinel)
}
func (e *StallError) Unwrap() error { return e.Sentinel }

// errStalled is the guard's cause; StallError replaces it for callers.
var errStalled = errors.New("stalled")

// guard cancels a request's context when the server has been silent for
// the timeout; every read that returns bytes restarts the clock.
type guard struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	d      time.Duration
}

func newGuard(ctx context.Context, d time.Duration) *guard {
	g := &guard{d: d}
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	g.timer = time.AfterFunc(d, func() { g.cancel(errStalled) })
	return g
}

func (g *guard) stop() {
	g.timer.Stop()
	g.cancel(context.Canceled)
}

func (g *guard) stalled() bool { return context.Cause(g.ctx) == errStalled }

// Body is a response body under the stall guard: each read that returns
// bytes restarts the clock, and Close stops it.
type Body struct {
	rc io.ReadCloser
	g  *guard
}

func (b *Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.g.timer.Reset(b.g.d)
	}
	return n, err
}

// Close closes the body and stops the guard.
func (b *Body) Close() error {
	err := b.rc.Close()
	b.g.stop()
	return err
}

// Stalled reports whether the guard gave up on the server.
func (b *Body) Stalled() bool { return b.g.stalled() }

// Do sends a request to base+endpoint and returns the response whatever
// its status, its Body a *Body that the caller must close. Errors: ctx's
// own when it ended, a *StallError, an *UnreachableError when no server
// accepted the connection, else the transport's error (prefixed with the
// URL).
func (s *Server) Do(ctx context.Context, method, base, endpoint string, body io.Reader, header http.Header) (*http.Response, error) {
	g := newGuard(ctx, s.timeout())
	req, err := http.NewRequestWithContext(g.ctx, method, base+endpoint, body)
	if err != nil {
		g.stop()
		return nil, fmt.Errorf("%s: bad server URL %q: %w", endpoint, base, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	hc := s.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		g.stop()
		var op *net.OpError
		var ue *url.Error
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%s%s: %w", base, endpoint, ctx.Err())
		case g.stalled():
			return nil, s.stallErr(base + endpoint)
		case errors.As(err, &op) && op.Op == "dial":
			return nil, &UnreachableError{Server: s.Name, Hint: s.Hint, URL: base, Err: op.Err, Sentinel: s.Unreachable}
		case errors.As(err, &ue):
			err = ue.Err
		}
		return nil, fmt.Errorf("%s%s: %w", base, endpoint, err)
	}
	resp.Body = &Body{rc: resp.Body, g: g}
	return resp, nil
}

func (s *Server) stallErr(u string) error {
	return &StallError{Server: s.Name, URL: u, Timeout: s.timeout(), Sentinel: s.Stalled}
}

// ReadError explains err, met while reading the answer of base+endpoint
// from body (a *Body, or a reader over one): the context's end, a stall, a
// connection closed early (wrapping io.ErrUnexpectedEOF) or malformed JSON.
func (s *Server) ReadError(ctx context.Context, base, endpoint string, body io.Reader, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s%s: %w", base, endpoint, ctx.Err())
	}
	if b, ok := body.(*Body); ok && b.Stalled() {
		return s.stallErr(base + endpoint)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s%s: the server closed the connection before the answer was complete: %w", base, endpoint, io.ErrUnexpectedEOF)
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		return fmt.Errorf("%s%s: malformed JSON in the answer (is this %s?): %w", base, endpoint, s.Name, err)
	}
	return fmt.Errorf("%s%s: reading the answer: %w", base, endpoint, err)
}

// ErrorBody reads the start of an error answer's body (64 KiB at most).
func ErrorBody(r io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	return b
}

// Snippet is an error body to quote when it holds no error the server's
// API defines (a proxy's HTML page): its start, or "(empty body)".
func Snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// BaseURL is the server's root as requests use it: set, else $env, else
// def, without a trailing slash.
func BaseURL(set, env, def string) string {
	u := set
	if u == "" && env != "" {
		u = os.Getenv(env)
	}
	if u == "" {
		u = def
	}
	return strings.TrimRight(u, "/")
}

// Note hands msg to notify, or logs it through log/slog at warning level,
// prefixed with who says it, when notify is nil.
func Note(notify func(string), who, msg string) {
	if notify != nil {
		notify(msg)
		return
	}
	slog.Warn(who + ": " + msg)
}
