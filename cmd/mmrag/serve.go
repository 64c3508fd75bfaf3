package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/spf13/cobra"

	"mmrag"
	"mmrag/chunk"
	"mmrag/embed"
	"mmrag/generate"
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
	allowed, err := allowedModels(o.allowModels)
	if err != nil {
		return nil, nil, err
	}
	sess, err := g.openSession(ctx)
	if err != nil {
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
		Extractors: extractors(fetcher, warn),
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
	srv, err := server.New(server.Config{
		Store:          sess.store,
		Engine:         &ragEngine{e: sess.engine, llm: g.llm, allowed: allowed},
		Ingester:       &pipelineIngester{p: pipeline, walk: ingest.WalkOptions{MaxFileBytes: o.maxFileMiB << 20}},
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
		sess.Close()
		return nil, nil, err
	}
	return srv, func() {
		srv.Close() // the ingest worker first: it uses the store and CLIP
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

// ragEngine adapts rag.Engine to server.Engine.
type ragEngine struct {
	e *rag.Engine
	// llm builds the generators of models asked for per request, on the
	// LLM server the flags name; allowed are the specs clients may ask
	// for ("ollama:*": any model of that kind).
	llm     llmFlags
	allowed []string
	mu      sync.Mutex
	gens    map[string]*rag.Engine
}

// allowedModels checks the --allow-model specs.
func allowedModels(specs []string) ([]string, error) {
	for _, s := range specs {
		if _, _, err := splitLLM(s, "--allow-model"); err != nil {
			return nil, err
		}
	}
	return specs, nil
}

// allows says whether clients may ask for spec ("kind:model"): the
// operator chooses what the server calls, with whose keys; a client picks
// among that.
func (a *ragEngine) allows(spec string) bool {
	kind, _, _ := strings.Cut(spec, ":")
	return strings.ReplaceAll(a.e.Model, "/", ":") == spec ||
		slices.Contains(a.allowed, spec) || slices.Contains(a.allowed, kind+":*")
}

// engine returns the engine answering with model: the default for "",
// the extractive answer for "extractive" or "none", else a generator of
// model ("ollama:NAME", "openai:NAME", the "ollama/NAME" form answers
// name, or a bare NAME on the default LLM's server).
func (a *ragEngine) engine(model string) (*rag.Engine, error) {
	if model == "" || model == a.e.Model || model == rag.Extractive && a.e.Generator == nil {
		return a.e, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.gens[model]; ok {
		return e, nil
	}
	e := *a.e
	switch {
	case model == rag.Extractive || model == "none":
		e.Generator, e.Model = nil, ""
	default:
		spec := model
		if kind, name, ok := strings.Cut(model, "/"); ok && (kind == "ollama" || kind == "openai") {
			spec = kind + ":" + name
		}
		if !strings.Contains(spec, ":") {
			kind, _, ok := strings.Cut(a.e.Model, "/")
			if !ok {
				return nil, fmt.Errorf("%w: model %q: say ollama:%s or openai:%s (this server has no LLM to take the kind from)", server.ErrInvalid, model, model, model)
			}
			spec = kind + ":" + model
		}
		if !a.allows(spec) {
			offered := append([]string{rag.Extractive}, a.allowed...)
			if a.e.Model != "" {
				offered = append(offered, strings.Replace(a.e.Model, "/", ":", 1))
			}
			return nil, fmt.Errorf("%w: model %q is not offered by this server (it offers %s); its operator can add it with --allow-model", server.ErrInvalid, model, strings.Join(offered, ", "))
		}
		l := a.llm
		l.llm = spec
		gen, name, err := l.generator()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", server.ErrInvalid, err)
		}
		e.Generator, e.Model = gen, name
	}
	if a.gens == nil {
		a.gens = map[string]*rag.Engine{}
	}
	if len(a.gens) < 16 { // a bound on what clients can make the server keep
		a.gens[model] = &e
	}
	return &e, nil
}

// options turns the API's search options into retrieve's, starting from
// the engine's defaults (or the requested mode's); nil when none is set,
// so that the engine's own defaults apply.
func (a *ragEngine) options(o server.SearchOptions) (*retrieve.Options, error) {
	if o.Mode == "" && o.TextK == nil && o.ImageK == nil && o.TextThreshold == nil && o.ImageThreshold == nil &&
		len(o.DocIDs) == 0 && len(o.Types) == 0 && o.SourcePrefix == "" {
		return nil, nil
	}
	opt := a.e.Search
	if o.Mode != "" && retrieve.Mode(o.Mode) != opt.Mode {
		opt = retrieve.DefaultOptions(retrieve.Mode(o.Mode))
	}
	if opt.Mode == "" {
		opt = retrieve.DefaultOptions(retrieve.DefaultMode)
	}
	opt.Modalities = nil
	if o.TextK != nil {
		if *o.TextK == 0 {
			opt.Modalities = []mmrag.Modality{mmrag.Image}
		} else {
			opt.Text.K = *o.TextK
		}
	}
	if o.ImageK != nil {
		if *o.ImageK == 0 {
			opt.Modalities = []mmrag.Modality{mmrag.Text}
		} else {
			opt.Images.K = *o.ImageK
		}
	}
	if o.TextK != nil && o.ImageK != nil && *o.TextK == 0 && *o.ImageK == 0 {
		return nil, fmt.Errorf("%w: text_k and image_k are both 0", server.ErrInvalid)
	}
	if o.TextThreshold != nil {
		opt.Text.Threshold = *o.TextThreshold
	}
	if o.ImageThreshold != nil {
		opt.Images.Threshold = *o.ImageThreshold
	}
	opt.Filter = mmrag.Filter{DocIDs: o.DocIDs, Types: o.Types, SourcePrefix: o.SourcePrefix}
	return &opt, nil
}

func (a *ragEngine) Search(ctx context.Context, req server.SearchRequest) (*server.SearchResponse, error) {
	opt, err := a.options(req.SearchOptions)
	if err != nil {
		return nil, err
	}
	if opt == nil {
		opt = &a.e.Search
	}
	res, err := a.e.Searcher.Search(ctx, req.Query, *opt)
	if err != nil {
		return nil, err
	}
	out := &server.SearchResponse{Text: []server.Source{}, Images: []server.Source{}, TookMS: ms(res.Took)}
	for _, r := range res.Text {
		out.Text = append(out.Text, server.SourceFrom(r.Item, r.Doc, r.Score))
	}
	for _, r := range res.Images {
		out.Images = append(out.Images, server.SourceFrom(r.Item, r.Doc, r.Score))
	}
	return out, nil
}

func (a *ragEngine) Ask(ctx context.Context, req server.AskRequest, onSources func(*server.SearchResponse) error, onToken func(string) error) (*server.Answer, error) {
	eng, err := a.engine(req.Model)
	if err != nil {
		return nil, err
	}
	opt, err := a.options(req.SearchOptions)
	if err != nil {
		return nil, err
	}
	rr := rag.Request{
		Question: req.Question, Strategy: rag.Strategy(req.Strategy), Search: opt,
		Temperature: req.Temperature, MaxTokens: req.MaxTokens,
	}
	for _, t := range req.History {
		rr.History = append(rr.History, generate.Message{Role: t.Role, Content: t.Content})
	}
	var sent func(*rag.Answer) error
	if onSources != nil {
		sent = func(ans *rag.Answer) error { return onSources(citedSources(ans)) }
	}
	ans, err := eng.Ask(ctx, rr, sent, onToken)
	if err != nil {
		return nil, err
	}
	out := &server.Answer{
		Answer: ans.Text, Sources: *citedSources(ans), Model: ans.Model, Strategy: string(ans.Strategy),
		Notes: ans.Notes, PromptTokens: ans.Usage.PromptTokens, OutputTokens: ans.Usage.OutputTokens, TookMS: ms(ans.Took),
	}
	return out, nil
}

// citedSources lists the sources the answer can cite, numbered as the
// prompt numbered them: retrieval results the token budget left out are
// not shown, as the answer cannot refer to them.
func citedSources(ans *rag.Answer) *server.SearchResponse {
	out := &server.SearchResponse{Text: []server.Source{}, Images: []server.Source{}}
	byID := map[string]retrieve.Result{}
	if ans.Results != nil {
		for _, r := range slices.Concat(ans.Results.Text, ans.Results.Images) {
			byID[r.Item.ID] = r
		}
		out.TookMS = ms(ans.Results.Took)
	}
	for _, c := range ans.Citations {
		var s server.Source
		if r, ok := byID[c.ItemID]; ok {
			s = server.SourceFrom(r.Item, r.Doc, r.Score)
		} else {
			s = server.Source{ItemID: c.ItemID, DocID: c.DocID, Modality: string(c.Modality), Title: c.Title,
				Page: c.Page, Anchor: c.Anchor, Source: c.Source, Text: c.Text, Caption: c.Caption, Score: c.Score}
			if c.Section != "" {
				s.Section = strings.Split(c.Section, " > ")
			}
		}
		s.N = c.N
		if c.Modality == mmrag.Image {
			out.Images = append(out.Images, s)
		} else {
			out.Text = append(out.Text, s)
		}
	}
	return out
}

// maxJobWarnings bounds the warnings one job keeps.
const maxJobWarnings = 200

// pipelineIngester adapts ingest.Pipeline to server.Ingester. The server
// runs one job at a time, as Pipeline.Add requires.
type pipelineIngester struct {
	p    *ingest.Pipeline
	walk ingest.WalkOptions
}

func (pi *pipelineIngester) Ingest(ctx context.Context, sources []string, progress func(server.Progress)) ([]string, error) {
	pr := server.Progress{Total: len(sources)}
	started := map[string]bool{}
	var ids []string
	pi.p.Progress = func(e ingest.Event) {
		switch e.Kind {
		case ingest.Started:
			pr.Current, pr.Stage, pr.Step, pr.Steps = e.Source, "extracting", 0, 0
			started[e.Source] = true
			pr.Total = max(pr.Total, len(started))
		case ingest.Extracted:
			pr.Current, pr.Stage = e.Source, "chunking"
		case ingest.Chunked:
			pr.Current, pr.Stage, pr.Step, pr.Steps = e.Source, "embedding", 0, e.Total
		case ingest.Embedding:
			pr.Current, pr.Stage, pr.Step, pr.Steps = e.Source, "embedding", e.Done, e.Total
			if e.Done == e.Total {
				pr.Stage = "storing"
			}
		case ingest.Warning:
			if len(pr.Warnings) < maxJobWarnings {
				pr.Warnings = append(pr.Warnings, server.JobError{Source: e.Source, Error: e.Message})
			}
		case ingest.Added, ingest.Updated, ingest.Unchanged:
			pr.Done++
			pr.Stage, pr.Step, pr.Steps = "", 0, 0
			ids = append(ids, ingest.DocID(e.Source))
		case ingest.Failed:
			pr.Failed++
			pr.Stage, pr.Step, pr.Steps = "", 0, 0
			pr.Errors = append(pr.Errors, server.JobError{Source: e.Source, Error: ingest.FileError{Source: e.Source, Err: e.Err}.Error()})
		default:
			return
		}
		if progress != nil {
			progress(pr)
		}
	}
	defer func() { pi.p.Progress = nil }()
	_, err := pi.p.Add(ctx, sources, pi.walk)
	if err != nil && !errors.Is(err, context.Canceled) {
		err = fmt.Errorf("ingest: %w", err)
	}
	return ids, err
}
