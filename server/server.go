// Package server owns mmrag's HTTP face: the JSON API documented in
// openapi.json, the OpenAI-compatible chat endpoints, the web UI embedded
// from web/, background ingest jobs, Prometheus metrics, and the security
// around them (bearer token, upload limits, security headers, CORS).
//
// It knows no concrete retriever, generator or ingest pipeline: it depends
// on the small Engine and Ingester interfaces and on mmrag.Store, and
// cmd/mmrag adapts the real packages to them.
package server

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"mmrag"
)

//go:embed openapi.json web
var assets embed.FS

// Defaults of Config's zero fields.
const (
	DefaultMaxUploadBytes  = 256 << 20
	DefaultMaxUploadFiles  = 32
	DefaultMaxJSONBytes    = 1 << 20
	DefaultShutdownTimeout = 10 * time.Second
	DefaultModelName       = "mmrag"
)

// Config sets a Server up. Store and Engine are required.
type Config struct {
	Store  mmrag.Store
	Engine Engine
	// Ingester runs the ingest jobs; nil answers the ingest routes with 503.
	Ingester Ingester
	Logger   *slog.Logger // nil: slog.Default()
	// Workspace keeps conversations and collections; nil answers their
	// routes with 503 and ignores collections elsewhere.
	Workspace Workspace
	// Catalog lists the generators callers may choose; nil lists only
	// the knowledge base in GET /v1/models.
	Catalog Catalog
	// Warm, when set, loads the models in the background once the server
	// listens (Serve); until it returns, settings and /healthz say
	// "ready": false. A failure is logged and reported, not fatal.
	Warm func(ctx context.Context) error

	// Token, when set, is required as "Authorization: Bearer TOKEN" by
	// every route except /healthz and /openapi.json; the UI's page asks for
	// it once and keeps a session cookie.
	Token string
	// UploadDir receives uploads as UploadDir/<sha256>/<name>; uploads are
	// refused when empty.
	UploadDir string
	// MaxUploadBytes caps one upload request, all files together;
	// MaxUploadFiles caps its files (and the URLs of one request).
	MaxUploadBytes int64
	MaxUploadFiles int
	// AllowPrivate lets URL ingests name loopback and private addresses.
	// The Ingester's fetcher must enforce the same rule for names that
	// resolve there and for redirects; the server refuses literal ones.
	AllowPrivate bool
	// AllowedHosts are the names, besides loopback names (localhost,
	// *.localhost) and IP addresses, that requests may carry in their Host
	// header; "*" turns the check off (behind a proxy that checks it).
	// A page on another site whose name an attacker points at this
	// machine (DNS rebinding) arrives with that site's name and is refused.
	AllowedHosts []string
	// CORSOrigins are the origins allowed to call the API from other
	// sites ("*" for any); none turns CORS off.
	CORSOrigins []string
	// Settings are the defaults the UI shows and starts from.
	Settings Settings
	// ModelName is the OpenAI-compatible model id of the knowledge base.
	ModelName string
	// Embeddings, when set, reports how many embeddings were computed so
	// far (ingest and queries); /metrics exports it as a counter.
	Embeddings func() int64
	// Version is reported by /healthz.
	Version         string
	ShutdownTimeout time.Duration
}

// Server serves the API and the UI. Create it with New; call Close (or let
// Serve return) to stop its job worker.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	routes  []string // API route patterns, as registered
	jobs    *jobQueue
	metrics *metrics
	thumbs  *thumbCache
	// thumbFlight shares one decode among requests for one thumbnail;
	// thumbSem bounds the decodes running at once.
	thumbFlight singleflight.Group
	thumbSem    chan struct{}
	guard       *authGuard // slows down token guessing
	started     time.Time
	cop         *http.CrossOriginProtection
	warmth      warmState

	// streams is cancelled when shutdown starts: streaming answers do not
	// end by themselves, so graceful shutdown ends them.
	streams    context.Context
	stopStream context.CancelFunc
	closeOnce  sync.Once
}

// New checks cfg and builds a Server; its job worker runs until Close.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: no store")
	}
	if cfg.Engine == nil {
		return nil, errors.New("server: no engine")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if cfg.MaxUploadFiles <= 0 {
		cfg.MaxUploadFiles = DefaultMaxUploadFiles
	}
	if cfg.ModelName == "" {
		cfg.ModelName = DefaultModelName
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	cop, err := crossOrigin(cfg.CORSOrigins)
	if err != nil {
		return nil, err
	}
	cfg.Settings.MaxUploadBytes = cfg.MaxUploadBytes
	cfg.Settings.MaxUploadFiles = cfg.MaxUploadFiles
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		mux:      http.NewServeMux(),
		metrics:  newMetrics(),
		thumbs:   newThumbCache(64 << 20),
		thumbSem: make(chan struct{}, thumbDecoders),
		guard:    newAuthGuard(),
		started:  time.Now(),
		cop:      cop,
	}
	s.streams, s.stopStream = context.WithCancel(context.Background())
	jobFile := ""
	if cfg.UploadDir != "" {
		jobFile = filepath.Join(cfg.UploadDir, jobFileName)
	}
	s.jobs = newJobQueue(s, cfg.Ingester, jobFile)
	s.sweepUploads(context.Background())
	s.register()
	s.handler = s.middleware(s.jsonErrors(s.mux))
	return s, nil
}

// access says who may call a route.
type access int

const (
	public access = iota // anyone: liveness, the API description, UI assets
	uiPage               // the UI page: the token or the session cookie, else the login form
	api                  // the token (or the UI's session cookie)
)

func (s *Server) register() {
	// The API: every pattern here must be in openapi.json (tested).
	s.route(api, "POST /v1/ask", s.handleAsk)
	s.route(api, "POST /v1/search", s.handleSearch)
	s.route(api, "GET /v1/documents", s.handleDocuments)
	s.route(api, "POST /v1/documents", s.handleAddDocuments)
	s.route(api, "GET /v1/documents/{id}", s.handleDocument)
	s.route(api, "DELETE /v1/documents/{id}", s.handleDeleteDocument)
	s.route(api, "PUT /v1/documents/{id}/collections", s.handleSetCollections)
	s.route(api, "GET /v1/collections", s.handleCollections)
	s.route(api, "POST /v1/documents/{id}/reingest", s.handleReingest)
	s.route(api, "GET /v1/documents/{id}/pages/{n}", s.handlePage)
	s.route(api, "GET /v1/jobs", s.handleJobs)
	s.route(api, "GET /v1/jobs/{id}", s.handleJob)
	s.route(api, "DELETE /v1/jobs/{id}", s.handleCancelJob)
	s.route(api, "GET /v1/items/{id}", s.handleItem)
	s.route(figure, "GET /v1/items/{id}/image", s.handleImage)
	s.route(api, "GET /v1/settings", s.handleSettings)
	s.route(api, "GET /v1/conversations", s.handleConversations)
	s.route(api, "POST /v1/conversations", s.handleCreateConversation)
	s.route(api, "GET /v1/conversations/{id}", s.handleConversation)
	s.route(api, "PATCH /v1/conversations/{id}", s.handleRenameConversation)
	s.route(api, "DELETE /v1/conversations/{id}", s.handleDeleteConversation)
	s.route(api, "POST /v1/chat/completions", s.handleChatCompletions)
	s.route(api, "GET /v1/models", s.handleModels)
	s.route(api, "GET /v1/models/{id}", s.handleModel)
	s.route(api, "GET /metrics", s.handleMetrics)
	s.route(public, "GET /healthz", s.handleHealth)
	s.route(public, "GET /openapi.json", s.static("openapi.json", "application/json"))

	// The UI: not part of the API description.
	s.ui(uiPage, "GET /{$}", s.static("web/index.html", "text/html; charset=utf-8"))
	s.ui(public, "GET /login", s.handleLoginPage)
	s.ui(public, "POST /login", s.handleLogin)
	s.ui(public, "POST /logout", s.handleLogout)
	s.ui(public, "GET /app.js", s.static("web/app.js", "text/javascript; charset=utf-8"))
	s.ui(public, "GET /chat.js", s.static("web/chat.js", "text/javascript; charset=utf-8"))
	s.ui(public, "GET /figures.js", s.static("web/figures.js", "text/javascript; charset=utf-8"))
	s.ui(public, "GET /reader.js", s.static("web/reader.js", "text/javascript; charset=utf-8"))
	s.ui(public, "GET /library.js", s.static("web/library.js", "text/javascript; charset=utf-8"))
	s.ui(public, "GET /app.css", s.static("web/app.css", "text/css; charset=utf-8"))
	s.ui(public, "GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
}

// route registers an API route, recording its pattern for the metrics and
// the OpenAPI check.
func (s *Server) route(a access, pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	s.ui(a, pattern, h)
}

// ui registers a route without listing it among the API routes.
func (s *Server) ui(a access, pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := infoOf(r.Context()); info != nil {
			info.route = pattern
		}
		if !s.authorized(w, r, a) {
			return
		}
		h(w, r)
	}))
}

// Routes lists the API route patterns ("METHOD /path"), sorted.
func (s *Server) Routes() []string {
	out := append([]string(nil), s.routes...)
	sort.Strings(out)
	return out
}

// Handler is the whole server as an http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the job worker, failing queued jobs, and ends open streams.
// It does not close the Store.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.stopStream()
		s.jobs.close()
	})
}

// ListenAndServe listens on addr and serves until ctx is cancelled; see
// Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully:
// it stops accepting connections, ends streaming answers, lets other
// requests finish within Config.ShutdownTimeout and stops the job worker.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: answers stream for as long as the LLM writes.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context {
			return context.WithoutCancel(ctx)
		},
	}
	hs.RegisterOnShutdown(s.stopStream)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", "http://"+ln.Addr().String(), "auth", s.cfg.Token != "", "pid", os.Getpid())
	s.warm(ctx)
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		s.log.Warn("requests still running after the grace period: closing them", "err", err)
		hs.Close()
	}
	s.Close()
	<-errc
	s.log.Info("stopped")
	return nil
}
