package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"mmrag"
	"mmrag/app"
	"mmrag/embed"
	"mmrag/generate"
	"mmrag/ollama"
	"mmrag/openai"
	"mmrag/prompt"
	"mmrag/rag"
	"mmrag/rerank"
	"mmrag/retrieve"
)

// This file holds the question-answering commands: search, ask, chat and
// caption, and the wiring of language models from flags and environment.

// llmFlags configure the generator and the optional dedicated text embedder.
type llmFlags struct {
	llm          string // "", "none", "ollama:MODEL" or "openai:MODEL"
	llmURL       string
	llmKey       string
	vision       bool   // openai: the model accepts images
	textEmbedder string // "" (the default), "none", "onnx:ID|DIR", "ollama:MODEL" or "openai:MODEL"
	embedURL     string
	rerank       string // "", "llm" or "cross-encoder:DIR"
	timeout      time.Duration
}

func (l *llmFlags) register(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&l.llm, "llm", envOr("MMRAG_LLM", ""), "answer with ollama:MODEL or openai:MODEL; empty or none: extractive answers ($MMRAG_LLM)")
	pf.StringVar(&l.llmURL, "llm-url", envOr("MMRAG_LLM_URL", ""), "server URL (default $OLLAMA_HOST or 127.0.0.1:11434; $OPENAI_BASE_URL) ($MMRAG_LLM_URL)")
	pf.StringVar(&l.llmKey, "llm-key", "", "API key of an OpenAI-compatible server (default $OPENAI_API_KEY for api.openai.com)")
	pf.BoolVar(&l.vision, "llm-vision", envOr("MMRAG_LLM_VISION", "1") != "0", "openai: the model accepts images ($MMRAG_LLM_VISION=0 to turn off)")
	pf.StringVar(&l.textEmbedder, "text-embedder", envOr("MMRAG_TEXT_EMBEDDER", ""), "dedicated text embedder for text–text search: onnx:ID|DIR (in-process), ollama:MODEL, openai:MODEL, or none for CLIP only (default: "+defaultTextEmbedder+" for new knowledge bases) ($MMRAG_TEXT_EMBEDDER)")
	pf.StringVar(&l.embedURL, "text-embedder-url", envOr("MMRAG_TEXT_EMBEDDER_URL", ""), "server of the text embedder (default: --llm-url) ($MMRAG_TEXT_EMBEDDER_URL)")
	pf.StringVar(&l.rerank, "rerank", envOr("MMRAG_RERANK", ""), "rerank retrieved passages: llm (the --llm model judges) or cross-encoder:DIR (an ONNX cross-encoder folder) ($MMRAG_RERANK)")
	pf.DurationVar(&l.timeout, "llm-timeout", 2*time.Minute, "longest the model may stay silent")
}

// split parses "kind:model".
func splitLLM(spec, what string) (kind, model string, err error) {
	kind, model, ok := strings.Cut(spec, ":")
	if !ok || model == "" || (kind != "ollama" && kind != "openai") {
		return "", "", fmt.Errorf("%s %q: want ollama:MODEL or openai:MODEL", what, spec)
	}
	return kind, model, nil
}

// generatorFor builds the generator of spec on the server the flags name.
func (l llmFlags) generatorFor(spec string) (generate.Generator, string, error) {
	l.llm = spec
	return l.generator()
}

// generator builds the configured LLM, or nil for extractive answers.
func (l *llmFlags) generator() (generate.Generator, string, error) {
	if l.llm == "" || l.llm == "none" {
		return nil, "", nil
	}
	kind, model, err := splitLLM(l.llm, "--llm")
	if err != nil {
		return nil, "", err
	}
	if kind == "ollama" {
		return &ollama.Client{BaseURL: l.llmURL, Model: model, Timeout: l.timeout, Notify: func(string) {}}, "ollama/" + model, nil
	}
	return &openai.Client{BaseURL: l.llmURL, APIKey: l.llmKey, Model: model, Timeout: l.timeout, Vision: l.vision, Notify: func(string) {}}, "openai/" + model, nil
}

// embedder builds a dedicated text embedder served by Ollama or an
// OpenAI-compatible server, or nil; globals.openTextEmbedder handles the
// in-process ones and the default.
func (l *llmFlags) embedder() (retrieve.TextEmbedder, error) {
	if l.textEmbedder == "" || l.textEmbedder == "none" {
		return nil, nil
	}
	kind, model, err := splitLLM(l.textEmbedder, "--text-embedder")
	if err != nil {
		return nil, err
	}
	url := l.embedURL
	if url == "" {
		url = l.llmURL
	}
	if kind == "ollama" {
		return &ollama.Embedder{Client: &ollama.Client{BaseURL: url, Timeout: l.timeout}, Model: model}, nil
	}
	return &openai.Embedder{Client: &openai.Client{BaseURL: url, APIKey: l.llmKey, Timeout: l.timeout}, Model: model}, nil
}

// searchFlags are the retrieval settings of search, ask and chat.
type searchFlags struct {
	mode                string
	textK, imageK       int
	textThr, imageThr   float64
	textTemp, imageTemp float64
	pool                int
	normalize           bool
	keepDupes           bool
	keepDupeText        bool
	docs, types         []string
	sourcePrefix        string
}

func (s *searchFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.mode, "scoring", string(retrieve.DefaultMode), "reference (softmax as the reference), cosine or hybrid (BM25 + dense)")
	f.IntVar(&s.textK, "text-k", -1, "text results (default: the scoring's)")
	f.IntVar(&s.imageK, "image-k", -1, "image results (default: the scoring's)")
	f.Float64Var(&s.textThr, "text-threshold", -1, "least text score kept (default: the scoring's)")
	f.Float64Var(&s.imageThr, "image-threshold", -1, "least image score kept (default: the scoring's)")
	f.Float64Var(&s.textTemp, "text-temperature", -1, "softmax temperature for text (reference scoring)")
	f.Float64Var(&s.imageTemp, "image-temperature", -1, "softmax temperature for images")
	f.IntVar(&s.pool, "pool", 0, "softmax over the N best instead of the whole collection (fixes the threshold's dependence on collection size)")
	f.BoolVar(&s.normalize, "normalize-query", false, "reference scoring: unit-length query (fixes the raw projection's norm sharpening the softmax)")
	f.BoolVar(&s.keepDupes, "keep-duplicate-images", false, "list every copy of a figure stored more than once")
	f.BoolVar(&s.keepDupeText, "keep-duplicate-passages", false, "list every passage of the same text (a file stored twice, a footer on every page)")
	f.StringSliceVar(&s.docs, "doc", nil, "only these document ids")
	f.StringSliceVar(&s.types, "type", nil, "only documents of these types (html, pdf…)")
	f.StringVar(&s.sourcePrefix, "source-prefix", "", "only documents whose source starts with this")
}

// options are the flags' search options; negative numbers (the flags'
// defaults) keep the scoring's own.
func (s *searchFlags) options() app.SearchOptions {
	o := app.SearchOptions{
		Mode: s.mode, Pool: s.pool, NormalizeQuery: s.normalize, KeepDuplicateImages: s.keepDupes,
		KeepDuplicatePassages: s.keepDupeText,
		Filter:                mmrag.Filter{DocIDs: s.docs, Types: s.types, SourcePrefix: s.sourcePrefix},
	}
	if s.textK >= 0 {
		o.TextK = &s.textK
	}
	if s.imageK >= 0 {
		o.ImageK = &s.imageK
	}
	for _, f := range []struct {
		v   float64
		dst **float64
	}{{s.textThr, &o.TextThreshold}, {s.imageThr, &o.ImageThreshold}, {s.textTemp, &o.TextTemperature}, {s.imageTemp, &o.ImageTemp}} {
		if f.v >= 0 {
			v := f.v
			*f.dst = &v
		}
	}
	return o
}

// session is an open knowledge base with its models.
type session struct {
	store  mmrag.Store
	clip   *embed.CLIP
	text   io.Closer // the dedicated text embedder's resources
	rerank *rerank.CrossEncoder
	engine *rag.Engine
	svc    *app.Service
}

func (s *session) Close() {
	if s.rerank != nil {
		s.rerank.Close()
	}
	if s.text != nil {
		s.text.Close()
	}
	if s.clip != nil {
		s.clip.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
}

// openSession opens the store, CLIP and the configured models.
func (g *globals) openSession(ctx context.Context) (*session, error) {
	return g.openSessionFor(ctx, textForSearch)
}

// openSessionFor opens a session whose text embedder serves use: a server
// also ingests, so a new knowledge base gets the default text embedder.
func (g *globals) openSessionFor(ctx context.Context, use textUse) (*session, error) {
	s := &session{}
	var err error
	if s.store, err = g.openBackend(ctx); err != nil {
		return nil, err
	}
	if s.clip, err = g.openCLIP(); err != nil {
		s.Close()
		return nil, err
	}
	gen, name, err := g.llm.generator()
	if err != nil {
		s.Close()
		return nil, err
	}
	text, closeText, err := g.openTextEmbedder(ctx, s.store, use, g.warn())
	if err != nil {
		s.Close()
		return nil, err
	}
	s.text = closeText
	searcher := &retrieve.Searcher{Store: s.store, CLIP: s.clip}
	if text != nil {
		searcher.Text = text
	}
	s.engine = &rag.Engine{Store: s.store, Searcher: searcher, Generator: gen, Model: name}
	s.svc = &app.Service{Store: s.store, Engine: s.engine, CLIP: s.clip, Generators: g.llm.generatorFor}
	switch spec := g.llm.rerank; {
	case spec == "" || spec == "none":
	case spec == "llm":
		if gen == nil {
			s.Close()
			return nil, errors.New("--rerank llm needs --llm")
		}
		s.engine.Rerank = rerank.LLM{Gen: gen}
	case strings.HasPrefix(spec, "cross-encoder:"):
		ce, err := rerank.LoadCrossEncoder(strings.TrimPrefix(spec, "cross-encoder:"), rerank.Options{Threads: g.threads})
		if err != nil {
			s.Close()
			return nil, err
		}
		s.rerank = ce
		s.engine.Rerank = ce
	default:
		s.Close()
		return nil, fmt.Errorf("--rerank %q: want llm or cross-encoder:DIR", spec)
	}
	return s, nil
}

// sourceOut is one source of --json output.
type sourceOut struct {
	N        int      `json:"n"`
	ItemID   string   `json:"item_id"`
	DocID    string   `json:"doc_id"`
	Modality string   `json:"modality"`
	Kind     string   `json:"kind,omitempty"`
	Score    float64  `json:"score"`
	Dense    float64  `json:"dense,omitempty"`
	BM25     float64  `json:"bm25,omitempty"`
	Title    string   `json:"title,omitempty"`
	Section  []string `json:"section,omitempty"`
	Page     int      `json:"page,omitempty"`
	Source   string   `json:"source,omitempty"`
	Citation string   `json:"citation"`
	Text     string   `json:"text,omitempty"` // the window retrieved (as embedded)
	// Passage is the window's passage (its paragraph, list, table…) as
	// prompts and answers show it; Windows the hits it stands for.
	Passage string   `json:"passage,omitempty"`
	Windows []string `json:"windows,omitempty"`
	Caption string   `json:"caption,omitempty"`
	// Cited: the answer cites it ([N]); cited sources come first.
	Cited bool `json:"cited,omitempty"`
}

func sourcesOut(res *retrieve.Results) (text, images []sourceOut) {
	n := 0
	conv := func(list []retrieve.Result) []sourceOut {
		out := []sourceOut{}
		for _, r := range list {
			n++
			it := r.Item
			out = append(out, sourceOut{N: n, ItemID: it.ID, DocID: it.DocID, Modality: string(it.Modality), Kind: it.Kind,
				Score: r.Score, Dense: r.Dense, BM25: r.BM25, Title: r.Doc.Title, Section: it.Section, Page: it.Page,
				Source: r.Doc.Source, Citation: citation(r), Text: it.Text, Passage: r.Passage, Windows: r.Windows, Caption: it.Caption})
		}
		return out
	}
	return conv(res.Text), conv(res.Images)
}

// citation is where a reader finds an item: file#anchor, page, section.
func citation(r retrieve.Result) string {
	c := r.Doc.Source
	if r.Item.Anchor != "" {
		c += "#" + r.Item.Anchor
	}
	var where []string
	if len(r.Item.Section) > 0 {
		where = append(where, strings.Join(r.Item.Section, " › "))
	}
	if r.Item.Page > 0 {
		where = append(where, fmt.Sprintf("p. %d", r.Item.Page))
	}
	if r.Item.Time > 0 {
		where = append(where, r.Item.Time.Truncate(time.Second).String())
	}
	if len(where) > 0 {
		c += " (" + strings.Join(where, ", ") + ")"
	}
	return c
}

func printResults(w io.Writer, res *retrieve.Results) {
	text, images := sourcesOut(res)
	fmt.Fprintf(w, "text (%d, %s scoring over %d):\n", len(text), res.Mode, res.Scored[mmrag.Text])
	for _, s := range text {
		fmt.Fprintf(w, "[%d] %.4f  %s\n     %s\n", s.N, s.Score, safe(s.Citation), cell(s.Text, 160))
	}
	fmt.Fprintf(w, "images (%d over %d):\n", len(images), res.Scored[mmrag.Image])
	for _, s := range images {
		fmt.Fprintf(w, "[%d] %.4f  %s  %s\n", s.N, s.Score, cell(s.Caption, 80), safe(s.Citation))
	}
}

func newSearchCmd(g *globals) *cobra.Command {
	var sf searchFlags
	var imagePath, like string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "search [QUERY] [--image FILE | --like ITEM_ID]",
		Short: "Ranked text and image items for a query, per modality",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			given := len(args)
			if imagePath != "" {
				given++
			}
			if like != "" {
				given++
			}
			if given != 1 {
				return errors.New("search: give exactly one of QUERY, --image FILE or --like ITEM_ID")
			}
			s, err := g.openSession(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			q := app.Query{Like: like}
			if len(args) == 1 {
				q.Text = args[0]
			}
			if imagePath != "" {
				if q.Image, err = loadImage(imagePath); err != nil {
					return err
				}
			}
			res, err := s.svc.Search(ctx, q, sf.options())
			if err != nil {
				if like != "" && errors.Is(err, mmrag.ErrNotFound) {
					return fmt.Errorf("--like %s: %w", like, err)
				}
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				text, images := sourcesOut(res)
				return json.NewEncoder(out).Encode(map[string]any{"query": res.Query, "scoring": res.Mode, "text": text, "images": images, "took_ms": ms(res.Took)})
			}
			printResults(out, res)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&imagePath, "image", "", "search with this image's CLIP vector")
	cmd.Flags().StringVar(&like, "like", "", "search with a stored item's own vector")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// answerOut is `mmrag ask --json`.
type answerOut struct {
	Question string      `json:"question"`
	Answer   string      `json:"answer"`
	Model    string      `json:"model"`
	Strategy string      `json:"strategy"`
	Text     []sourceOut `json:"text"`
	Images   []sourceOut `json:"images"`
	Sent     []int       `json:"images_sent,omitempty"`
	Notes    []string    `json:"notes,omitempty"`
	TookMS   float64     `json:"took_ms"`
}

func answerJSON(a *rag.Answer) answerOut {
	text, images := sourcesOut(a.Results)
	// The prompt renumbers after its budget cut: use its numbers.
	num := map[string]int{}
	cited := map[string]bool{}
	for _, c := range a.Citations {
		num[c.ItemID] = c.N
		cited[c.ItemID] = c.Cited
	}
	for _, l := range [][]sourceOut{text, images} {
		for i := range l {
			l[i].N = num[l[i].ItemID]
			l[i].Cited = cited[l[i].ItemID]
		}
		// The answer's own sources: cited ones first.
		slices.SortStableFunc(l, func(a, b sourceOut) int {
			switch {
			case a.Cited == b.Cited:
				return 0
			case a.Cited:
				return -1
			}
			return 1
		})
	}
	return answerOut{Question: a.Question, Answer: a.Text, Model: a.Model, Strategy: string(a.Strategy),
		Text: text, Images: images, Sent: a.Sent, Notes: a.Notes, TookMS: ms(a.Took)}
}

func printCitations(w io.Writer, a *rag.Answer) {
	if len(a.Citations) == 0 {
		fmt.Fprintln(w, "\n(no sources found)")
		return
	}
	fmt.Fprintln(w, "\nSources:")
	anyCited := slices.ContainsFunc(a.Citations, func(c prompt.Citation) bool { return c.Cited })
	for i, c := range a.Citations {
		// Cited sources come first (rag orders them); the rest are
		// folded under a line of their own.
		if anyCited && !c.Cited && (i == 0 || a.Citations[i-1].Cited) {
			fmt.Fprintln(w, "Also retrieved, not cited:")
		}
		where := c.Title
		// Pages often repeat their title as the first heading.
		parts := c.Section
		if len(parts) > 0 && strings.EqualFold(parts[0], c.Title) {
			parts = parts[1:]
		}
		if sec := strings.Join(parts, " › "); sec != "" {
			where += " › " + sec
		}
		if c.Page > 0 {
			where += fmt.Sprintf(" (p. %d)", c.Page)
		}
		if c.Modality == mmrag.Image {
			fmt.Fprintf(w, "[%d] figure: %s — %s  %s\n", c.N, cell(c.Caption, 80), safe(where), safe(c.Link()))
		} else {
			fmt.Fprintf(w, "[%d] %s  %s\n", c.N, safe(where), safe(c.Link()))
		}
	}
}

func newAskCmd(g *globals) *cobra.Command {
	var sf searchFlags
	var strategy, policy string
	var asJSON bool
	var temperature float64
	cmd := &cobra.Command{
		Use:   "ask QUESTION",
		Short: "Answer a question from the knowledge base, streaming, then list the sources",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			req, err := askRequest(&sf, strategy, temperature, cmd)
			if err != nil {
				return err
			}
			req.Question = args[0]
			s, err := g.openSession(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			s.engine.Policy = rag.ImagePolicy(policy)
			out := cmd.OutOrStdout()
			var onToken func(string) error
			if !asJSON {
				onToken = func(t string) error { _, err := io.WriteString(out, safeText(t)); return err }
			}
			a, err := s.svc.Ask(ctx, req, nil, onToken)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(answerJSON(a))
			}
			fmt.Fprintln(out)
			printCitations(out, a)
			for _, n := range a.Notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "note:", safe(n))
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "(%s, %s strategy, retrieval %v, total %v)\n", a.Model, a.Strategy, a.Retrieval.Round(time.Millisecond), a.Took.Round(time.Millisecond))
			if a.GenErr != nil {
				return exitCode(2)
			}
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&strategy, "strategy", string(rag.DefaultStrategy), "text, text+images or multimodal")
	cmd.Flags().StringVar(&policy, "image-policy", string(rag.BestImage), "model takes fewer images than found: best or grid")
	cmd.Flags().Float64Var(&temperature, "temperature", -1, "generation temperature (default: the model's)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the answer and its sources as JSON (no streaming)")
	return cmd
}

func askRequest(sf *searchFlags, strategy string, temperature float64, cmd *cobra.Command) (app.AskRequest, error) {
	req := app.AskRequest{Strategy: strategy, Search: sf.options()}
	if cmd.Flags().Changed("temperature") {
		if temperature < 0 || temperature > 2 {
			return req, fmt.Errorf("--temperature %v: want 0–2", temperature)
		}
		req.Temperature = &temperature
	}
	return req, nil
}

func newChatCmd(g *globals) *cobra.Command {
	var sf searchFlags
	var strategy string
	var temperature float64
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Interactive multi-turn chat with the knowledge base (/reset, /quit)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			req, err := askRequest(&sf, strategy, temperature, cmd)
			if err != nil {
				return err
			}
			s, err := g.openSession(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			in := bufio.NewScanner(cmd.InOrStdin())
			in.Buffer(make([]byte, 64<<10), 1<<20)
			out := cmd.OutOrStdout()
			var history []generate.Message
			interactive := isTTY(os.Stdin)
			for {
				if interactive {
					fmt.Fprint(out, "\n> ")
				}
				if !in.Scan() {
					return in.Err()
				}
				q := strings.TrimSpace(in.Text())
				switch q {
				case "":
					continue
				case "/quit", "/exit":
					return nil
				case "/reset":
					history = nil
					fmt.Fprintln(out, "(history cleared)")
					continue
				}
				req.Question, req.History = q, history
				a, err := s.svc.Ask(ctx, req, nil, func(t string) error { _, err := io.WriteString(out, safeText(t)); return err })
				if err != nil {
					if ctx.Err() != nil {
						return err
					}
					fmt.Fprintln(cmd.ErrOrStderr(), "error:", safe(err.Error()))
					continue
				}
				fmt.Fprintln(out)
				printCitations(out, a)
				for _, n := range a.Notes {
					fmt.Fprintln(cmd.ErrOrStderr(), "note:", safe(n))
				}
				history = append(history, generate.Message{Role: generate.User, Content: q}, generate.Message{Role: generate.Assistant, Content: a.Text})
			}
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&strategy, "strategy", string(rag.DefaultStrategy), "text, text+images or multimodal")
	cmd.Flags().Float64Var(&temperature, "temperature", -1, "generation temperature (default: the model's)")
	return cmd
}

func isTTY(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newCaptionCmd(g *globals) *cobra.Command {
	var vision, promptText string
	var force bool
	cmd := &cobra.Command{
		Use:   "caption [DOC_ID…] --vision ollama:MODEL",
		Short: "Describe figures that have no caption with a vision model (for the text-only strategy)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			l := g.llm
			if vision != "" {
				l.llm = vision
			}
			gen, name, err := l.generator()
			if err != nil {
				return err
			}
			if gen == nil {
				return errors.New("caption: give a vision model with --vision ollama:MODEL (or openai:MODEL), e.g. ollama:llama3.2-vision")
			}
			s, err := g.openBackend(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			clip, err := g.openCLIP()
			if err != nil {
				return err
			}
			defer clip.Close()
			svc := &app.Service{Store: s}
			req := app.CaptionRequest{DocIDs: args, Vision: gen, Model: name, Embed: clip, Prompt: promptText, Force: force}
			out := cmd.OutOrStdout()
			n, err := svc.Caption(ctx, req, func(e rag.CaptionEvent) {
				if e.Err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "failed:", safe(e.Err.Error()))
					return
				}
				fmt.Fprintf(out, "%s  %s\n", e.ItemID[:min(12, len(e.ItemID))], safe(e.Caption))
			})
			fmt.Fprintf(out, "%d figure(s) described by %s\n", n, name)
			if err != nil {
				return exitCode(1)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&vision, "vision", "", "vision model: ollama:MODEL or openai:MODEL (default: --llm)")
	cmd.Flags().StringVar(&promptText, "prompt", "", "instruction sent with each figure (default: rag.DefaultCaptionPrompt)")
	cmd.Flags().BoolVar(&force, "force", false, "also describe figures that have a caption or alt text")
	return cmd
}
