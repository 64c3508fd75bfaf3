package main

import (
	"context"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"

	"github.com/spf13/cobra"

	"mmrag/app"
	"mmrag/chunk"
	"mmrag/embed"
	"mmrag/ingest"
	"mmrag/rag"
	"mmrag/retrieve"
	"mmrag/server"
)

// This file holds `mmrag serve` and the adapters from the pipeline
// packages (rag, retrieve, ingest) to the interfaces package server
// declares.

// serveOptions are the flags of `mmrag serve`.
type serveOptions struct {
	addr         string
	token        string
	maxUploadMiB int64
	maxFiles     int
	maxFileMiB   int64
	allowPrivate bool
	allowedHosts []string
	noToken      bool     // serve a non-loopback address without a token
	allowModels  []string // generators clients may ask for besides --llm
	limits       ingest.Limits
	corsOrigins  []string
	strategy     string
	scoring      string
	workers      int
	logFormat    string
	logLevel     string
}

func newServeCmd(g *globals) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the web UI and the HTTP API (OpenAI-compatible chat included)",
		Long: "Serves the chat UI at http://ADDR/ and the JSON API under /v1 (described at\n" +
			"/openapi.json), with the same --store, --model and --llm settings as the other\n" +
			"commands. Uploads are saved in the store folder (uploads/) and ingested in the\n" +
			"background. With --token (or $MMRAG_API_TOKEN) every API call needs\n" +
			"\"Authorization: Bearer TOKEN\" and the UI asks for the token once.\n" +
			"Stops gracefully on Ctrl-C or SIGTERM.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log, err := newLogger(cmd.ErrOrStderr(), o.logFormat, o.logLevel)
			if err != nil {
				return err
			}
			if o.token == "" && !loopback(o.addr) {
				if !o.noToken {
					return fmt.Errorf("--addr %s is reachable from other machines and the server has no token: anyone who can reach it could read and change the knowledge base; set --token (or $MMRAG_API_TOKEN), or pass --no-token to serve it open anyway", o.addr)
				}
				log.Warn("serving on a non-loopback address without a token (--no-token): anyone who can reach it can read and change the knowledge base")
			}
			srv, closeAll, err := g.buildServer(ctx, o, log, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeAll()
			return srv.ListenAndServe(ctx, o.addr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on (HOST:PORT; 127.0.0.1 keeps it to this machine)")
	f.StringVar(&o.token, "token", os.Getenv("MMRAG_API_TOKEN"), "bearer token required by the API and the UI ($MMRAG_API_TOKEN)")
	f.Int64Var(&o.maxUploadMiB, "max-upload", server.DefaultMaxUploadBytes>>20, "largest upload request, all files together, MiB")
	f.IntVar(&o.maxFiles, "max-files", server.DefaultMaxUploadFiles, "most files (or URLs) in one upload request")
	f.Int64Var(&o.maxFileMiB, "max-file-size", ingest.DefaultMaxFileBytes>>20, "largest file ingested, MiB")
	f.BoolVar(&o.allowPrivate, "allow-private", false, "let URL ingests reach loopback, private and link-local addresses")
	f.StringSliceVar(&o.allowedHosts, "allowed-host", nil, "host names the server answers to besides IP addresses and localhost (DNS-rebinding defence; * for any, behind a proxy that checks Host)")
	f.BoolVar(&o.noToken, "no-token", false, "allow a non-loopback --addr without --token (anyone who reaches it may read and change the knowledge base)")
	f.StringSliceVar(&o.allowModels, "allow-model", nil, "generators API clients may choose besides --llm and extractive: ollama:MODEL, openai:MODEL, or ollama:* for any model of the --llm-url server")
	f.Int64Var(&o.limits.MaxTextBytes, ingest.FlagMaxTextBytes, ingest.DefaultMaxTextBytes, "most bytes of text extracted from one uploaded file (-1: no limit)")
	f.IntVar(&o.limits.MaxChunks, ingest.FlagMaxChunks, ingest.DefaultMaxChunks, "most text chunks of one uploaded file, checked before embedding (-1: no limit)")
	f.IntVar(&o.limits.MaxImages, ingest.FlagMaxImages, ingest.DefaultMaxImages, "most images of one uploaded file (-1: no limit)")
	f.StringSliceVar(&o.corsOrigins, "cors-origin", nil, "origins allowed to call the API from a browser (https://app.example, or *); CORS is off without")
	f.StringVar(&o.strategy, "strategy", string(rag.DefaultStrategy), "default answer strategy: text, text+images or multimodal")
	f.StringVar(&o.scoring, "scoring", string(retrieve.DefaultMode), "default scoring: reference, cosine or hybrid")
	f.IntVar(&o.workers, "workers", 2, "files extracted at once by an ingest job")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "least level logged: debug, info, warn or error")
	return cmd
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// loopback says whether addr listens on this machine only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// buildServer opens the knowledge base and the models and returns the
// server over them; closeAll stops the server's worker and releases them.
func (g *globals) buildServer(ctx context.Context, o serveOptions, log *slog.Logger, warn io.Writer) (*server.Server, func(), error) {
	strategy := rag.Strategy(o.strategy)
	if !slices.Contains(rag.Strategies(), strategy) {
		return nil, nil, fmt.Errorf("--strategy %q: want one of %v", o.strategy, rag.Strategies())
	}
	mode := retrieve.Mode(o.scoring)
	if !slices.Contains(retrieve.Modes(), mode) {
		return nil, nil, fmt.Errorf("--scoring %q: want one of %v", o.scoring, retrieve.Modes())
	}
	if o.maxUploadMiB <= 0 || o.maxFiles <= 0 {
		return nil, nil, fmt.Errorf("--max-upload %d MiB and --max-files %d must be positive", o.maxUploadMiB, o.maxFiles)
	}
	if err := app.CheckAllowed(o.allowModels); err != nil {
		return nil, nil, fmt.Errorf("--allow-model: %w", err)
	}
	sess, err := g.openSessionFor(ctx, textForIngest)
	if err != nil {
		return nil, nil, err
	}
	ws, err := g.openWorkspace(ctx)
	if err != nil {
		sess.Close()
		return nil, nil, err
	}
	// One counter for every embedding the server computes, ingest and
	// queries alike: /metrics exports it.
	var embedded atomic.Int64
	clip := &countingCLIP{CLIP: sess.clip, n: &embedded}
	sess.engine.Searcher.CLIP = clip
	sess.engine.Strategy = strategy
	sess.engine.Search = retrieve.DefaultOptions(mode)

	fetcher := ingest.NewFetcher(ingest.FetchOptions{AllowPrivate: o.allowPrivate})
	pipeline := &ingest.Pipeline{
		Store:      sess.store,
		Embedder:   clip,
		Extractors: extractors(fetcher, nil, warn),
		Chunk:      chunk.Options{Counter: sess.clip.Tokenizer()},
		Fetcher:    fetcher,
		Workers:    o.workers,
		Limits:     o.limits,
	}
	generator := sess.engine.Model
	if generator == "" {
		generator = rag.Extractive
	}
	defaults := sess.engine.Search
	svc := &app.Service{
		Store: sess.store, Engine: sess.engine, CLIP: clip, Pipeline: pipeline,
		Generators: g.llm.generatorFor, Allowed: o.allowModels,
		Catalogs: g.llm.catalogs(), Collections: ws,
	}
	if t := sess.engine.Searcher.Text; t != nil {
		svc.Text = t // uploads get the text embedder's vectors too
	}
	api := server.App{Svc: svc, Walk: ingest.WalkOptions{MaxFileBytes: o.maxFileMiB << 20}}
	srv, err := server.New(server.Config{
		Store:          sess.store,
		Engine:         api,
		Ingester:       api,
		Workspace:      ws,
		Catalog:        api,
		Warm:           svc.Warm, // in the background once listening: the first question is as fast as the next
		Logger:         log,
		Token:          o.token,
		UploadDir:      filepath.Join(g.storeDir(), "uploads"),
		MaxUploadBytes: o.maxUploadMiB << 20,
		MaxUploadFiles: o.maxFiles,
		AllowPrivate:   o.allowPrivate,
		AllowedHosts:   o.allowedHosts,
		CORSOrigins:    o.corsOrigins,
		Embeddings:     embedded.Load,
		Version:        version,
		Settings: server.Settings{
			Strategy: string(strategy), Mode: string(mode),
			TextK: defaults.Text.K, ImageK: defaults.Images.K,
			TextThreshold: defaults.Text.Threshold, ImageThreshold: defaults.Images.Threshold,
			Generator: generator, EmbeddingModel: sess.clip.ModelID(),
		},
	})
	if err != nil {
		ws.Close()
		sess.Close()
		return nil, nil, err
	}
	return srv, func() {
		srv.Close() // the ingest worker first: it uses the store and CLIP
		ws.Close()
		sess.Close()
	}, nil
}

// countingCLIP counts the embeddings computed through it.
type countingCLIP struct {
	*embed.CLIP
	n *atomic.Int64
}

func (c *countingCLIP) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	v, err := c.CLIP.EmbedTexts(ctx, texts)
	c.n.Add(int64(len(v)))
	return v, err
}

func (c *countingCLIP) EmbedImages(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	v, err := c.CLIP.EmbedImages(ctx, imgs)
	c.n.Add(int64(len(v)))
	return v, err
}

func (c *countingCLIP) TextProjections(ctx context.Context, texts []string) ([][]float32, error) {
	v, err := c.CLIP.TextProjections(ctx, texts)
	c.n.Add(int64(len(v)))
	return v, err
}
