// Package rag owns answering a question: it runs retrieve → prompt →
// generate under one of the three strategies, attaches figures to the
// request when the model can see them, and falls back to an extractive
// answer when there is no language model or it fails.
package rag

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"mmrag"
	"mmrag/generate"
	"mmrag/prompt"
	"mmrag/retrieve"
)

// Strategy says how images take part in an answer.
type Strategy string

const (
	// TextOnly translates every modality to text: only text items are
	// retrieved (passages, OCR, transcripts and the figure descriptions
	// `mmrag caption` writes) and no picture reaches the model.
	TextOnly Strategy = "text"
	// TextImages retrieves text, then sends the model the figures of the
	// retrieved passages' sections as pictures.
	TextImages Strategy = "text+images"
	// Multimodal retrieves text and figures with CLIP and sends the
	// figures as pictures: the reference design.
	Multimodal Strategy = "multimodal"
)

// Strategies lists the valid strategies.
func Strategies() []Strategy { return []Strategy{TextOnly, TextImages, Multimodal} }

// DefaultStrategy is the reference's.
const DefaultStrategy = Multimodal

// ImagePolicy says what to send a model that takes fewer images than were
// retrieved (LLaMA 3.2 Vision takes one).
type ImagePolicy string

const (
	// BestImage sends the best-ranked figures that fit.
	BestImage ImagePolicy = "best"
	// GridImage combines the figures into one labelled grid picture.
	GridImage ImagePolicy = "grid"
)

// Extractive is the Answer.Model of answers written without a model.
const Extractive = "extractive"

// Engine answers questions over a store. Searcher is required; a nil
// Generator answers extractively.
type Engine struct {
	Store     mmrag.Store
	Searcher  *retrieve.Searcher
	Generator generate.Generator
	// Model names the generator in answers ("ollama/llama3.2-vision").
	Model    string
	Strategy Strategy
	// Search is the default search; a zero Options is retrieve's defaults.
	Search retrieve.Options
	Prompt prompt.Options
	// Images bounds the figures sent with a question (default 4) and
	// Policy chooses them when the model takes fewer (default BestImage).
	Images int
	Policy ImagePolicy
	// MaxImageSide downsizes larger figures before sending (default 1120,
	// LLaMA 3.2 Vision's largest tiling).
	MaxImageSide int
	// Rerank, when set, reorders the retrieved passages before the prompt.
	Rerank Reranker
	// Passages bounds the passages text hits are widened to
	// (retrieve.Passages); negative: the windows alone, as retrieved.
	Passages retrieve.PassageOptions
	// Extractive tunes the answer written without a model (its evidence
	// threshold included).
	Extractive generate.ExtractiveOptions
}

// Reranker reorders passages by relevance to a query: it returns one score
// per text, higher is better.
type Reranker interface {
	Score(ctx context.Context, query string, texts []string) ([]float64, error)
}

// Request is one question.
type Request struct {
	Question string
	// History holds earlier questions and answers of a chat.
	History []generate.Message
	// Strategy and Search override the engine's for this question.
	Strategy    Strategy
	Search      *retrieve.Options
	Temperature *float64
	MaxTokens   int
	// Results, when set, are the sources to answer from: the engine does
	// not search (a search by image or by a stored item's vector). The
	// strategy still applies: text and text+images drop the figures, and
	// text+images adds those of the passages' sections.
	Results *retrieve.Results
}

// Answer is an answer with everything needed to check it.
type Answer struct {
	Question string
	Text     string
	Model    string // the generator's name, or "extractive"
	Strategy Strategy
	Results  *retrieve.Results
	// Citations are the answer's own sources, numbered as its text cites
	// them: once the answer is written, the cited ones (Cited set) come
	// first, in the order the text first cites them, then the others.
	Citations []prompt.Citation
	// Abstained: the extractive answer found the evidence too weak and
	// says that the knowledge base does not answer.
	Abstained bool
	// Evidence is the extractive answer's measure of support: the share
	// of the question's content words the best source holds (see
	// generate.ExtractiveAnswer.Coverage); 0 for a model's answer.
	Evidence float64
	// PromptTokens is the prompt's size as prompt.Build counted it (the
	// same prompt the extractive answer reads its sources from).
	PromptTokens int
	// Sent lists the citation numbers of the figures sent as pictures.
	Sent []int
	// Notes are things the user should know: images not sent, a model
	// that failed and was replaced by the extractive answer…
	Notes []string
	// GenErr is the generator's error when it failed; the answer then
	// holds what was streamed, or the extractive answer.
	GenErr error
	// Retrieval and Took time the search and the whole answer.
	Retrieval, Took time.Duration
	Usage           generate.Response
}

// Ask answers req. onSources, when not nil, receives the answer with its
// results and citations before generation starts, so a UI can show the
// sources while the text streams; onToken receives the text as it comes.
// A failing generator is not an error: the answer says so in Notes and
// GenErr, keeps its sources, and holds the extractive answer if the model
// wrote nothing.
func (e *Engine) Ask(ctx context.Context, req Request, onSources func(*Answer) error, onToken func(string) error) (*Answer, error) {
	start := time.Now()
	q := strings.TrimSpace(req.Question)
	if q == "" {
		return nil, errors.New("ask: empty question")
	}
	strategy := cmpOr(req.Strategy, e.Strategy, DefaultStrategy)
	if !slices.Contains(Strategies(), strategy) {
		return nil, fmt.Errorf("ask: unknown strategy %q (want one of %v)", strategy, Strategies())
	}
	a := &Answer{Question: q, Strategy: strategy}
	res, err := req.Results, error(nil)
	if res == nil {
		res, err = e.retrieve(ctx, q, strategy, req.Search)
	} else if strategy != Multimodal {
		res.Images = nil
		if strategy == TextImages {
			err = e.sectionFigures(ctx, res)
		}
	}
	if err != nil {
		return nil, err
	}
	a.Results = res
	a.Retrieval = time.Since(start)
	if e.Rerank != nil && len(res.Text) > 1 {
		if err := e.rerank(ctx, q, res); err != nil {
			a.Notes = append(a.Notes, "reranking failed, retrieval order kept: "+err.Error())
		}
	}

	var caps generate.Capabilities
	if d, ok := e.Generator.(generate.Describer); ok && e.Generator != nil && strategy != TextOnly && len(res.Images) > 0 {
		if caps, err = d.Capabilities(ctx); err != nil {
			a.Notes = append(a.Notes, "could not read the model's capabilities: "+err.Error())
		}
	}
	popt := e.Prompt
	if caps.ContextTokens > 0 && popt.MaxTokens == 0 {
		// Leave a quarter of the window for the answer.
		popt.MaxTokens = caps.ContextTokens * 3 / 4
	}
	msgs, cites := prompt.Build(q, res, req.History, popt)
	a.Citations = cites
	a.PromptTokens = prompt.Tokens(msgs, popt.Counter)
	if onSources != nil {
		if err := onSources(a); err != nil {
			return nil, err
		}
	}

	if e.Generator == nil {
		if err := e.extractive(a, q, cites, onToken); err != nil {
			return nil, err
		}
	} else if err := e.generated(ctx, a, req, msgs, caps, onToken); err != nil {
		return nil, err
	}
	a.Citations = prompt.MarkCited(cites, a.Text)
	a.Took = time.Since(start)
	return a, nil
}

// extractive answers a from the sources alone.
func (e *Engine) extractive(a *Answer, q string, cites []prompt.Citation, onToken func(string) error) error {
	a.Model = Extractive
	ex := generate.Answer(q, prompt.Passages(cites), e.Extractive)
	a.Text, a.Abstained, a.Evidence = ex.Text, ex.Abstained, ex.Coverage
	if onToken != nil {
		return streamWords(a.Text, onToken)
	}
	return nil
}

// generated answers a with the generator, the figures attached as its
// capabilities allow; a failing model leaves the extractive answer.
func (e *Engine) generated(ctx context.Context, a *Answer, req Request, msgs []generate.Message, caps generate.Capabilities, onToken func(string) error) error {
	q, cites := a.Question, a.Citations
	a.Model = cmpOr(e.Model, "llm")
	if a.Strategy != TextOnly {
		imgs, notes, err := e.pictures(ctx, cites, caps)
		if err != nil {
			return err
		}
		a.Notes = append(a.Notes, notes...)
		if len(imgs.data) > 0 {
			last := &msgs[len(msgs)-1]
			last.Images = imgs.data
			a.Sent = imgs.sent
		}
	}
	var streamed strings.Builder
	tok := func(s string) error {
		streamed.WriteString(s)
		if onToken != nil {
			return onToken(s)
		}
		return nil
	}
	resp, err := e.Generator.Generate(ctx, generate.Request{Messages: msgs, Temperature: req.Temperature, MaxTokens: req.MaxTokens}, tok)
	a.Usage = resp
	switch {
	case err == nil:
		a.Text = cmpOr(resp.Text, streamed.String())
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		a.GenErr = err
		if s := streamed.String(); strings.TrimSpace(s) != "" {
			a.Text = s
			a.Notes = append(a.Notes, "the model stopped early: "+err.Error())
			return nil
		}
		a.Notes = append(a.Notes, "the model failed ("+err.Error()+"); this is an extractive answer from the sources")
		return e.extractive(a, q, cites, onToken)
	}
	return nil
}

// Retrieve runs only the search of req under its strategy.
func (e *Engine) Retrieve(ctx context.Context, req Request) (*retrieve.Results, error) {
	q := strings.TrimSpace(req.Question)
	if q == "" {
		return nil, errors.New("search: empty query")
	}
	strategy := cmpOr(req.Strategy, e.Strategy, DefaultStrategy)
	if !slices.Contains(Strategies(), strategy) {
		return nil, fmt.Errorf("search: unknown strategy %q (want one of %v)", strategy, Strategies())
	}
	return e.retrieve(ctx, q, strategy, req.Search)
}

func (e *Engine) retrieve(ctx context.Context, q string, strategy Strategy, override *retrieve.Options) (*retrieve.Results, error) {
	if e.Searcher == nil {
		return nil, errors.New("rag: engine has no searcher")
	}
	opt := e.Search
	if override != nil {
		opt = *override
	}
	switch strategy {
	case TextOnly, TextImages:
		opt.Modalities = []mmrag.Modality{mmrag.Text}
	case Multimodal:
		opt.Modalities = nil
	}
	res, err := e.Searcher.Search(ctx, q, opt)
	if err != nil {
		return nil, err
	}
	if e.Passages.MaxTokens >= 0 {
		if err := retrieve.Passages(ctx, e.Searcher.Store, res, e.Passages); err != nil {
			return nil, err
		}
	}
	if strategy == TextImages {
		if err := e.sectionFigures(ctx, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// sectionFigures fills res.Images with the figures that share a document
// and section with the retrieved passages, best passage first.
func (e *Engine) sectionFigures(ctx context.Context, res *retrieve.Results) error {
	limit := cmpOr(e.Images, 4)
	seen := map[string]bool{}
	items := map[string][]mmrag.Item{}
	for _, r := range res.Text {
		if len(res.Images) >= limit {
			break
		}
		list, ok := items[r.Item.DocID]
		if !ok {
			all, err := e.Store.Items(ctx, r.Item.DocID)
			if err != nil {
				return fmt.Errorf("figures of %s: %w", r.Item.DocID, err)
			}
			for _, it := range all {
				if it.Modality == mmrag.Image {
					list = append(list, it)
				}
			}
			items[r.Item.DocID] = list
		}
		for _, it := range list {
			if len(res.Images) >= limit {
				break
			}
			if seen[it.BlobHash] || !slices.Equal(it.Section, r.Item.Section) || r.Item.Page != it.Page {
				continue
			}
			seen[it.BlobHash] = true
			res.Images = append(res.Images, retrieve.Result{Item: it, Doc: r.Doc, Score: r.Score, Rank: len(res.Images) + 1})
		}
	}
	return nil
}

func (e *Engine) rerank(ctx context.Context, q string, res *retrieve.Results) error {
	texts := make([]string, len(res.Text))
	for i, r := range res.Text {
		texts[i] = cmpOr(r.Passage, r.Item.Text)
	}
	scores, err := e.Rerank.Score(ctx, q, texts)
	if err != nil {
		return err
	}
	if len(scores) != len(texts) {
		return fmt.Errorf("reranker returned %d scores for %d passages", len(scores), len(texts))
	}
	idx := make([]int, len(texts))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return 0
	})
	out := make([]retrieve.Result, len(idx))
	for rank, i := range idx {
		out[rank] = res.Text[i]
		out[rank].Rank = rank + 1
	}
	res.Text = out
	return nil
}

// streamWords hands an already written answer to onToken a few words at a
// time, so streaming clients render it the same way as a model's.
func streamWords(text string, onToken func(string) error) error {
	const chunk = 4
	words := strings.SplitAfter(text, " ")
	for i := 0; i < len(words); i += chunk {
		if err := onToken(strings.Join(words[i:min(i+chunk, len(words))], "")); err != nil {
			return err
		}
	}
	return nil
}

// cmpOr returns the first non-zero value.
func cmpOr[T comparable](vals ...T) T {
	var zero T
	for _, v := range vals {
		if v != zero {
			return v
		}
	}
	return zero
}
