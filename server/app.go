package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"mmrag"
	"mmrag/app"
	"mmrag/generate"
	"mmrag/ingest"
	"mmrag/prompt"
	"mmrag/rag"
	"mmrag/retrieve"
)

// App serves an application service: it turns the API's requests into
// the service's and its answers into the API's. It is the Engine and the
// Ingester of a server over a real knowledge base.
type App struct {
	Svc  *app.Service
	Walk ingest.WalkOptions // of every ingest job (file size limit…)
}

var (
	_ Engine   = App{}
	_ Ingester = App{}
	_ Catalog  = App{}
)

// Generators lists the generators the service offers.
func (a App) Generators(ctx context.Context) []Generator {
	ms := a.Svc.Models(ctx)
	out := make([]Generator, len(ms))
	for i, m := range ms {
		out[i] = Generator{ID: m.Spec, Capabilities: m.Capabilities, Default: m.Default}
	}
	return out
}

// searchOptions maps the API's options to the service's.
func searchOptions(o SearchOptions) app.SearchOptions {
	return app.SearchOptions{
		Mode: o.Mode, TextK: o.TextK, ImageK: o.ImageK,
		TextThreshold: o.TextThreshold, ImageThreshold: o.ImageThreshold,
		Filter:      mmrag.Filter{DocIDs: o.DocIDs, Types: o.Types, SourcePrefix: o.SourcePrefix},
		Collections: o.Collections,
	}
}

func (a App) Search(ctx context.Context, req SearchRequest) (*SearchResponse, error) {
	res, err := a.Svc.Search(ctx, app.Query{Text: req.Query, Image: req.Image, Like: req.Like}, searchOptions(req.SearchOptions))
	if err != nil {
		return nil, err
	}
	out := &SearchResponse{Text: []Source{}, Images: []Source{}, TookMS: ms(res.Took)}
	for _, r := range res.Text {
		src := SourceFrom(r.Item, r.Doc, r.Score)
		src.withPassage(r.Passage)
		out.Text = append(out.Text, src)
	}
	for _, r := range res.Images {
		out.Images = append(out.Images, SourceFrom(r.Item, r.Doc, r.Score))
	}
	out.ImagesNote = imagesNote(res, len(out.Images))
	return out, nil
}

func (a App) Ask(ctx context.Context, req AskRequest, onSources func(*SearchResponse) error, onToken func(string) error) (*Answer, error) {
	ar := app.AskRequest{
		Question: req.Question, Strategy: req.Strategy, Search: searchOptions(req.SearchOptions),
		Temperature: req.Temperature, MaxTokens: req.MaxTokens, Model: req.Model,
		Image: req.Image, Like: req.Like,
	}
	for _, t := range req.History {
		ar.History = append(ar.History, generate.Message{Role: t.Role, Content: t.Content})
	}
	var sent func(*rag.Answer) error
	if onSources != nil {
		sent = func(ans *rag.Answer) error { return onSources(citedSources(ans)) }
	}
	ans, err := a.Svc.Ask(ctx, ar, sent, onToken)
	if err != nil {
		return nil, err
	}
	promptTokens, outputTokens := usage(ans)
	return &Answer{
		Answer: ans.Text, Sources: *citedSources(ans), Model: ans.Model, Strategy: string(ans.Strategy),
		Notes: ans.Notes, PromptTokens: promptTokens, OutputTokens: outputTokens, TookMS: ms(ans.Took),
	}, nil
}

// usage is an answer's token counts: the model server's when it counted
// them, else the approximate counts of the prompt package (the extractive
// answer, and servers that do not say).
func usage(ans *rag.Answer) (promptTokens, outputTokens int) {
	promptTokens, outputTokens = ans.Usage.PromptTokens, ans.Usage.OutputTokens
	if promptTokens == 0 {
		promptTokens = ans.PromptTokens
	}
	if outputTokens == 0 {
		outputTokens = prompt.Approx{}.Count(ans.Text)
	}
	return promptTokens, outputTokens
}

// citedSources lists the sources the answer can cite, numbered as the
// prompt numbered them: retrieval results the token budget left out are
// not shown, as the answer cannot refer to them.
func citedSources(ans *rag.Answer) *SearchResponse {
	out := &SearchResponse{Text: []Source{}, Images: []Source{}}
	byID := map[string]retrieve.Result{}
	if ans.Results != nil {
		for _, r := range slices.Concat(ans.Results.Text, ans.Results.Images) {
			byID[r.Item.ID] = r
		}
		out.TookMS = ms(ans.Results.Took)
	}
	for _, c := range ans.Citations {
		var s Source
		if r, ok := byID[c.ItemID]; ok {
			s = SourceFrom(r.Item, r.Doc, r.Score)
			s.withPassage(c.Text)
		} else {
			s = Source{ItemID: c.ItemID, DocID: c.DocID, Modality: string(c.Modality), Title: c.Title,
				Page: c.Page, Anchor: c.Anchor, Source: c.Source, Text: c.Text, Caption: c.Caption, Score: c.Score}
			s.Section = c.Section
		}
		s.N, s.Cited = c.N, c.Cited
		if c.Modality == mmrag.Image {
			out.Images = append(out.Images, s)
		} else {
			out.Text = append(out.Text, s)
		}
	}
	out.ImagesNote = imagesNote(ans.Results, len(out.Images))
	return out
}

// maxJobWarnings bounds the warnings one job keeps.
const maxJobWarnings = 200

func (a App) Ingest(ctx context.Context, sources []string, progress func(Progress)) ([]string, error) {
	t := jobTracker{p: Progress{Total: len(sources)}, started: map[string]bool{}, report: progress}
	_, err := a.Svc.Ingest(ctx, sources, a.Walk, t.event)
	switch {
	case errors.Is(err, app.ErrNoIngest):
		return t.ids, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case err != nil && !errors.Is(err, context.Canceled):
		return t.ids, fmt.Errorf("ingest: %w", err)
	}
	return t.ids, err
}

// jobTracker turns ingest events into a job's running totals.
type jobTracker struct {
	p       Progress
	started map[string]bool
	ids     []string
	report  func(Progress)
}

func (t *jobTracker) event(e ingest.Event) {
	p := &t.p
	switch e.Kind {
	case ingest.Started:
		p.Current, p.Stage, p.Step, p.Steps = e.Source, "extracting", 0, 0
		t.started[e.Source] = true
		p.Total = max(p.Total, len(t.started))
	case ingest.Extracted:
		p.Current, p.Stage = e.Source, "chunking"
	case ingest.Chunked:
		p.Current, p.Stage, p.Step, p.Steps = e.Source, "embedding", 0, e.Total
	case ingest.Embedding:
		p.Current, p.Stage, p.Step, p.Steps = e.Source, "embedding", e.Done, e.Total
		if e.Done == e.Total {
			p.Stage = "storing"
		}
	case ingest.Warning:
		if len(p.Warnings) < maxJobWarnings {
			p.Warnings = append(p.Warnings, JobError{Source: e.Source, Error: e.Message})
		}
	case ingest.Added, ingest.Updated, ingest.Unchanged:
		p.Done++
		p.Stage, p.Step, p.Steps = "", 0, 0
		t.ids = append(t.ids, ingest.DocID(e.Source))
	case ingest.Failed:
		p.Failed++
		p.Stage, p.Step, p.Steps = "", 0, 0
		p.Errors = append(p.Errors, JobError{Source: e.Source, Error: ingest.FileError{Source: e.Source, Err: e.Err}.Error()})
	default:
		return
	}
	if t.report != nil {
		t.report(*p)
	}
}
