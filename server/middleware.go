package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"mmrag"
)

// contentSecurityPolicy matches the meta tag of web/index.html: the UI
// loads nothing from elsewhere and runs no inline script, so ingested
// content can never become live HTML or script.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// reqInfo travels in a request's context: the middleware creates it, the
// route wrapper fills in the route, the handlers read the id.
type reqInfo struct {
	id    string
	route string
}

type ctxKey struct{}

func infoOf(ctx context.Context) *reqInfo {
	info, _ := ctx.Value(ctxKey{}).(*reqInfo)
	return info
}

// RequestID is the id of the request ctx belongs to ("" outside one); an
// Engine may log it to tie its lines to the request's.
func RequestID(ctx context.Context) string {
	if info := infoOf(ctx); info != nil {
		return info.id
	}
	return ""
}

// requestID keeps a client's X-Request-ID when it is a sane token, so
// that a proxy's id follows the request; otherwise it makes one.
func requestID(given string) string {
	if len(given) > 0 && len(given) <= 64 && strings.IndexFunc(given, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) < 0 {
		return given
	}
	return randomID(8)
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// recorder notes the status and size of a response for logs and metrics.
// It keeps Flush working for streams.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// middleware gives every request an id, security headers, CORS, a log
// line, metrics and a recover that turns a panic into a logged 500.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &reqInfo{id: requestID(r.Header.Get("X-Request-ID")), route: "other"}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, info))
		h := w.Header()
		h.Set("X-Request-ID", info.id)
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler { //nolint:errorlint // a sentinel value, compared as net/http does
					rec.status = 499
				} else {
					s.log.Error("panic serving request", "request_id", info.id, "route", info.route,
						"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					if rec.status == 0 {
						s.fail(rec, r, http.StatusInternalServerError, "internal error")
					} else {
						rec.status = http.StatusInternalServerError
					}
				}
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			d := time.Since(start)
			s.metrics.observe(info.route, rec.status, d)
			level := slog.LevelInfo
			switch {
			case rec.status == http.StatusServiceUnavailable || rec.status == http.StatusGatewayTimeout:
				level = slog.LevelWarn // busy or a dependency down: not a fault of this server
			case rec.status >= 500:
				level = slog.LevelError
			case info.route == "GET /healthz" || info.route == "GET /metrics":
				level = slog.LevelDebug
			}
			s.log.LogAttrs(r.Context(), level, "request",
				slog.String("request_id", info.id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("route", info.route), slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes),
				slog.Float64("ms", float64(d.Microseconds())/1000), slog.String("remote", r.RemoteAddr))
		}()
		if !s.hostAllowed(r) {
			s.refuseHost(rec, r)
			return
		}
		if s.cors(rec, r) {
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// cors adds the CORS headers for an allowed origin and answers preflights
// (returning true). With no CORSOrigins it does nothing: browsers then keep
// other sites away from the API.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.cfg.CORSOrigins) == 0 {
		return false
	}
	if !slices.Contains(s.cfg.CORSOrigins, "*") && !slices.Contains(s.cfg.CORSOrigins, origin) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "X-Request-ID")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// Session cookie of the UI: an HMAC of the token, so the token itself is
// never stored in the browser and changing it ends every session.
const sessionCookie = "mmrag_session"

func (s *Server) sessionValue() string {
	m := hmac.New(sha256.New, []byte(s.cfg.Token))
	m.Write([]byte("mmrag ui session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// equal compares secrets in constant time, lengths included.
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// authorized checks a request against the route's access and answers it
// when refused.
//
// A request without an Authorization header may come from a browser on
// another site riding on the session cookie, or on no authentication at
// all (no token, a server on localhost): unsafe methods from another
// origin are refused then (cross-site request forgery), unless CORS allows
// that origin.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, a access) bool {
	auth := r.Header.Get("Authorization")
	if auth == "" && !slices.Contains(s.cfg.CORSOrigins, "*") {
		if err := s.cop.Check(r); err != nil {
			s.refuse(w, r, http.StatusForbidden, "cross-origin request refused")
			return false
		}
	}
	if a == public || s.cfg.Token == "" {
		return true
	}
	if a == figure && auth == "" && s.signedFigure(r) {
		return true
	}
	if auth != "" {
		if wait := s.guard.blocked(r); wait > 0 {
			s.tooManyFailures(w, r, wait)
			return false
		}
		if tok, ok := bearer(auth); ok && equal(tok, s.cfg.Token) {
			s.guard.succeeded(r)
			return true
		}
		s.guard.failed(r)
		w.Header().Set("WWW-Authenticate", `Bearer realm="mmrag"`)
		s.refuse(w, r, http.StatusUnauthorized, "wrong API token")
		return false
	}
	if c, err := r.Cookie(sessionCookie); err == nil && equal(c.Value, s.sessionValue()) {
		return true
	}
	if a == uiPage {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="mmrag"`)
	s.refuse(w, r, http.StatusUnauthorized, "this server needs an API token: send Authorization: Bearer TOKEN")
	return false
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header;
// the scheme is case-insensitive (RFC 9110 §11.1).
func bearer(auth string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(auth), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// refuse answers a refused request in the shape its route's clients
// parse: OpenAI's on the OpenAI-compatible routes.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/v1/chat/") || r.URL.Path == "/v1/models" || strings.HasPrefix(r.URL.Path, "/v1/models/") {
		code := "invalid_api_key"
		if status == http.StatusForbidden {
			code = "forbidden"
		}
		s.oaiFail(w, r, status, code, msg)
		return
	}
	s.fail(w, r, status, msg)
}

// crossOrigin refuses unsafe cross-origin browser requests except from
// the CORS origins.
func crossOrigin(origins []string) (*http.CrossOriginProtection, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range origins {
		if o == "*" {
			continue
		}
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("server: CORS origin %q: %w", o, err)
		}
	}
	return cop, nil
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only unencodable values (NaN scores) get here: say so as JSON.
		b, _ = json.Marshal(errorBody{Error: "encode response: " + err.Error()})
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// fail answers with a JSON error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg, RequestID: RequestID(r.Context())})
}

// statusOf maps an error to its HTTP status.
func statusOf(r *http.Request, err error) int {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, mmrag.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalid), errors.Is(err, mmrag.ErrBadName):
		return http.StatusBadRequest
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case r.Context().Err() != nil:
		return 499 // the client went away (nginx's code): nobody reads the answer
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// failErr answers with err's status; server errors are logged.
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := s.publicError(r, err)
	s.fail(w, r, status, msg)
}

// publicError returns the status of err and the message a client may
// read. Refusals (4xx) and unavailable dependencies (503, 504) say what to
// do; other server errors are logged with their whole chain, and the
// client reads only "internal error" and the request id to quote, never
// an internal chain or a server path.
func (s *Server) publicError(r *http.Request, err error) (int, string) {
	status := statusOf(r, err)
	switch {
	case status == 499:
		return status, "request cancelled"
	case status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		s.log.Warn("request failed", "request_id", RequestID(r.Context()), "path", r.URL.Path, "status", status, "err", err)
		return status, err.Error()
	case status >= 500:
		s.log.Error("request failed", "request_id", RequestID(r.Context()), "path", r.URL.Path, "err", err)
		return status, "internal error: the server log has the details under request id " + RequestID(r.Context())
	}
	return status, err.Error()
}
