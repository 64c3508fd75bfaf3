package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"mmrag"
	"mmrag/eval"
	"mmrag/rag"
	"mmrag/retrieve"
)

// This file holds `mmrag eval`: a labeled question set against the
// knowledge base, one row of recall@k, MRR and latency per strategy.

// evalStrategies are the strategies `mmrag eval` knows, in the order they
// are reported.
var evalStrategies = []struct{ name, help string }{
	{"bm25", "the full-text index alone (no model; never returns figures)"},
	{"dense", "the --text-embedder alone (passages, and figures with caption vectors)"},
	{"reference", "reference scoring, thresholds off: its ranking"},
	{"cosine", "cosine scoring, thresholds off"},
	{"hybrid", "hybrid scoring (BM25 + dense, RRF), thresholds off"},
	{"reference-defaults", "reference scoring with its k and thresholds: what search shows"},
	{"cosine-defaults", "cosine scoring with its defaults"},
	{"hybrid-defaults", "hybrid scoring with its defaults"},
}

func newEvalCmd(g *globals) *cobra.Command {
	var (
		strategies    []string
		ks            []int
		asJSON        bool
		misses        bool
		imagesCaption bool
		answers       bool
	)
	var names []string
	for _, s := range evalStrategies {
		names = append(names, fmt.Sprintf("  %-19s %s", s.name, s.help))
	}
	cmd := &cobra.Command{
		Use:   "eval FILE.jsonl",
		Short: "Measure retrieval quality on a labeled question set",
		Long: "Asks every question of FILE.jsonl and reports, per strategy, recall@k and MRR\n" +
			"per modality and question kind, and search latency. Each line of the file is\n" +
			`{"id", "question", "kind": "fact"|"figure"|"multi", "expect": [{"modality": "text"|"image",` + "\n" +
			`"match": "an exact substring of the expected passage, caption or image path"}]}` + "\n" +
			"(see eval/testdata/seed-blog.jsonl, written for the seed-blog knowledge base), with\n" +
			`optional "answer_keywords": [...] (substrings a correct answer holds); "kind":` + "\n" +
			`"unanswerable" marks a question the documents do not answer (no expect).` + "\n" +
			"--answers also answers every question (extractively, or with --llm) under each\n" +
			"strategy other than bm25 and dense, and reports context recall, answer recall,\n" +
			"abstention, false abstention and prompt size.\n" +
			"Expectations must all match items of the store. Strategies:\n" + strings.Join(names, "\n") + "\n" +
			"Those other than bm25 embed the question with CLIP, or with the text embedder\n" +
			"(--text-embedder, or the default one where the store holds its vectors) for text\n" +
			"items, except in reference scoring. Exit status 1 when a question failed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			set, err := eval.ReadFile(args[0])
			if err != nil {
				return err
			}
			for _, s := range strategies {
				if !slices.ContainsFunc(evalStrategies, func(e struct{ name, help string }) bool { return e.name == s }) {
					return fmt.Errorf("--strategy %q: want some of bm25, dense, reference, cosine, hybrid and their -defaults", s)
				}
			}
			if imagesCaption && g.llm.textEmbedder == "none" {
				return fmt.Errorf("--images-by-caption needs --text-embedder, and it is none")
			}
			st, err := g.openBackend(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			items, err := allItems(ctx, st)
			if err != nil {
				return err
			}
			if len(items) == 0 {
				return fmt.Errorf("the knowledge base %s is empty: ingest or import the documents the set is about first", g.backendName())
			}
			if err := set.Resolve(items); err != nil {
				return err
			}
			depth := 15
			if len(ks) > 0 {
				depth = slices.Max(ks)
			}
			b := &evalBuilder{g: g, store: st, set: set, depth: depth, imagesByCaption: imagesCaption, embedding: map[string]eval.Latency{}}
			defer b.close()
			var reports []eval.Report
			var answerReports []eval.AnswerReport
			for _, name := range strategies {
				search, err := b.searcher(ctx, name)
				if err != nil {
					return fmt.Errorf("strategy %s: %w", name, err)
				}
				rep, err := eval.Run(ctx, set, search, ks)
				if err != nil {
					return err
				}
				rep.Name = name
				reports = append(reports, rep)
				if !answers || name == "bm25" || name == "dense" {
					continue
				}
				answer, err := b.answerer(name)
				if err != nil {
					return fmt.Errorf("strategy %s: %w", name, err)
				}
				arep, err := eval.RunAnswers(ctx, set, answer)
				if err != nil {
					return err
				}
				arep.Name = name
				if b.model != "" {
					arep.Name += ", " + b.model
				}
				answerReports = append(answerReports, arep)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(evalOut{Set: set.Name, Embedding: b.embedding, Reports: reports, Answers: answerReports}); err != nil {
					return err
				}
			} else {
				printEval(out, set, reports, b.embedding, misses)
				if len(answerReports) > 0 {
					fmt.Fprintf(out, "answers:\n\n%s\n", eval.CompareAnswers(answerReports))
					for _, r := range answerReports {
						if l := eval.AnswerMisses(set, r); misses && len(l) > 0 {
							fmt.Fprintf(out, "%s:\n  %s\n\n", safe(r.Name), safe(strings.Join(l, "\n  ")))
						}
					}
				}
			}
			return evalFailures(cmd.ErrOrStderr(), reports, answerReports)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&strategies, "strategy", []string{"bm25", "reference", "hybrid", "reference-defaults", "hybrid-defaults"}, "strategies to compare, in order")
	f.IntSliceVar(&ks, "k", slices.Clone(eval.DefaultKs), "recall cut-offs; the largest is how many items of each modality the ranking strategies return")
	f.BoolVar(&asJSON, "json", false, "print the reports, with every question's ranks, as JSON")
	f.BoolVar(&misses, "misses", false, "list, per strategy, the questions whose expected items were not found")
	f.BoolVar(&imagesCaption, "images-by-caption", false, "score figures in the --text-embedder's space (caption vectors) instead of CLIP's")
	f.BoolVar(&answers, "answers", false, "also answer each question (extractive, or --llm) and report context and answer recall, abstention and prompt size")
	return cmd
}

// evalFailures says on errw which strategy had a question fail, the
// answers first, and then gives exit status 1.
func evalFailures(errw io.Writer, reports []eval.Report, answerReports []eval.AnswerReport) error {
	for _, r := range answerReports {
		if r.Failed > 0 {
			fmt.Fprintf(errw, "mmrag: answers of %s: %d of %d questions failed; first: %s\n", safe(r.Name), r.Failed, r.Questions, safe(r.FirstError))
			return exitCode(1)
		}
	}
	for _, r := range reports {
		if r.Failed > 0 {
			fmt.Fprintf(errw, "mmrag: %s: %d of %d questions failed; first: %s\n", safe(r.Name), r.Failed, r.Questions, safe(r.FirstError))
			return exitCode(1)
		}
	}
	return nil
}

// evalOut is `mmrag eval --json`.
type evalOut struct {
	Set string `json:"set"`
	// Embedding is the latency of embedding one question, per model: each
	// question is embedded once, before the strategies run, whose
	// latencies therefore measure search alone.
	Embedding map[string]eval.Latency `json:"question_embedding"`
	Reports   []eval.Report           `json:"reports"`
	// Answers are the answer metrics (--answers), per strategy.
	Answers []eval.AnswerReport `json:"answers,omitempty"`
}

// allItems lists every item of the store.
func allItems(ctx context.Context, st mmrag.Store) ([]mmrag.Item, error) {
	var items []mmrag.Item
	for it, err := range st.ScanItems(ctx, mmrag.Filter{}) {
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// evalBuilder opens the models the chosen strategies need, once.
type evalBuilder struct {
	g               *globals
	store           mmrag.Store
	set             *eval.Set
	depth           int
	embedding       map[string]eval.Latency // question embedding, per model
	imagesByCaption bool

	rs        *retrieve.Searcher
	opts      map[string]retrieve.Options // each strategy's search options
	model     string                      // the --llm answering, "" for extractive
	closeCLIP func() error
	text      retrieve.TextEmbedder
	closeText io.Closer
	textDone  bool
}

func (b *evalBuilder) close() {
	if b.closeCLIP != nil {
		b.closeCLIP()
	}
	if b.closeText != nil {
		b.closeText.Close()
	}
}

func (b *evalBuilder) textEmbedder(ctx context.Context) (retrieve.TextEmbedder, error) {
	if b.textDone {
		return b.text, nil
	}
	b.textDone = true
	t, closeText, err := b.g.openTextEmbedder(ctx, b.store, textForSearch, b.g.warn())
	if err != nil || t == nil {
		return nil, err
	}
	b.closeText = closeText
	if err := eval.CheckVectors(ctx, b.store, t.ModelID()); err != nil {
		return nil, fmt.Errorf("--text-embedder: %w", err)
	}
	m := eval.NewMemoText(t)
	if b.embedding[t.ModelID()], err = m.Prime(ctx, b.set); err != nil {
		return nil, fmt.Errorf("--text-embedder %s: %w", t.ModelID(), err)
	}
	b.text = m
	return m, nil
}

// retrieveSearcher is the store with the optional text embedder, and
// CLIP once a strategy needs it (loading it takes seconds).
func (b *evalBuilder) retrieveSearcher(ctx context.Context, needCLIP bool) (*retrieve.Searcher, error) {
	if b.rs == nil {
		text, err := b.textEmbedder(ctx)
		if err != nil {
			return nil, err
		}
		b.rs = &retrieve.Searcher{Store: b.store}
		if text != nil {
			b.rs.Text = text
		}
	}
	if needCLIP && b.rs.CLIP == nil {
		clip, err := b.g.openCLIP()
		if err != nil {
			return nil, err
		}
		if err := eval.CheckVectors(ctx, b.store, clip.ModelID()); err != nil {
			clip.Close()
			return nil, fmt.Errorf("CLIP (--model): %w", err)
		}
		b.closeCLIP = clip.Close
		m := eval.NewMemoQuery(clip)
		if b.embedding[clip.ModelID()], err = m.Prime(ctx, b.set); err != nil {
			return nil, fmt.Errorf("CLIP %s: %w", clip.ModelID(), err)
		}
		b.rs.CLIP = m
	}
	return b.rs, nil
}

func (b *evalBuilder) searcher(ctx context.Context, name string) (eval.Searcher, error) {
	switch name {
	case "bm25":
		return eval.BM25(b.store, b.depth, mmrag.Filter{}), nil
	case "dense":
		text, err := b.textEmbedder(ctx)
		if err != nil {
			return nil, err
		}
		if text == nil {
			return nil, fmt.Errorf("needs --text-embedder (onnx:ID|DIR, ollama:MODEL or openai:MODEL) whose vectors the store holds, or the vectors of the default %s", defaultTextEmbedder)
		}
		return eval.Dense(b.store, text, b.depth, mmrag.Text, mmrag.Image), nil
	}
	mode, defaults := retrieve.Mode(strings.TrimSuffix(name, "-defaults")), strings.HasSuffix(name, "-defaults")
	text, err := b.textEmbedder(ctx)
	if err != nil {
		return nil, err
	}
	// Reference scoring embeds questions with CLIP whatever else is
	// configured; the others use the text embedder for passages, and for
	// figures too with --images-by-caption.
	if b.imagesByCaption && text == nil {
		return nil, fmt.Errorf("--images-by-caption needs --text-embedder, or the vectors of the default %s in the store", defaultTextEmbedder)
	}
	byCaption := b.imagesByCaption
	s, err := b.retrieveSearcher(ctx, mode == retrieve.Reference || !byCaption)
	if err != nil {
		return nil, err
	}
	opt := eval.RankingOptions(mode, b.depth)
	if defaults {
		opt = retrieve.DefaultOptions(mode)
	}
	if byCaption && mode != retrieve.Reference {
		opt.Images.Space = retrieve.TextSpace
	}
	if b.opts == nil {
		b.opts = map[string]retrieve.Options{}
	}
	b.opts[name] = opt
	return eval.Retrieve(s, opt), nil
}

// answerer answers with strategy name's search (set up by searcher) as
// `mmrag ask` does: passages, the cited prompt, the extractive answer or
// the --llm.
func (b *evalBuilder) answerer(name string) (eval.Answerer, error) {
	gen, model, err := b.g.llm.generator()
	if err != nil {
		return nil, err
	}
	b.model = model
	opt := b.opts[name]
	eng := &rag.Engine{Store: b.store, Searcher: b.rs, Generator: gen, Model: model, Strategy: rag.Multimodal, Search: opt}
	return eval.Engine(eng, &opt), nil
}

func printEval(w io.Writer, set *eval.Set, reports []eval.Report, embedding map[string]eval.Latency, misses bool) {
	kinds := set.KindCounts()
	fmt.Fprintf(w, "%s: %d questions (%d fact, %d figure, %d multi, %d unanswerable)\n\n", set.Name, len(set.Questions),
		kinds[eval.KindFact], kinds[eval.KindFigure], kinds[eval.KindMulti], kinds[eval.KindUnanswerable])
	for _, model := range slices.Sorted(maps.Keys(embedding)) {
		l := embedding[model]
		fmt.Fprintf(w, "question embedding by %s: p50 %.2f ms, p95 %.2f ms (once per question; the latencies below are search alone)\n",
			model, ms(l.P50), ms(l.P95))
	}
	if len(embedding) > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, eval.Compare(reports))
	for _, r := range reports {
		fmt.Fprintln(w, r.Markdown())
		if !misses {
			continue
		}
		depth := r.Ks[len(r.Ks)-1]
		for qi, res := range r.Results {
			q := set.Questions[qi]
			for ei, rank := range res.Ranks {
				if rank == 0 || rank > depth {
					e := q.Expect[ei]
					why := "not returned"
					if rank > depth {
						why = fmt.Sprintf("rank %d", rank)
					}
					if res.Err != "" {
						why = "error: " + res.Err
					}
					fmt.Fprintf(w, "  miss %s (%s) %q: %s %q %s\n", q.ID, q.Kind, q.Question, e.Modality, e.Match, why)
				}
			}
		}
		fmt.Fprintln(w)
	}
}
