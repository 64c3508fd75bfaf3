package app

import (
	"context"
	"errors"
	"fmt"

	"mmrag/ingest"
	"mmrag/rag"
)

// ErrNoIngest refuses ingests on a service without a pipeline.
var ErrNoIngest = errors.New("this service has no ingest pipeline")

// IngestReport is what one ingest did: the pipeline's report, and the
// texts the dedicated text embedder embedded afterwards.
type IngestReport struct {
	ingest.Report
	TextEmbedded int
	// Documents are the ids of the documents stored or found unchanged.
	Documents []string
}

// Ingest adds targets (files, folders, globs, URLs) to the knowledge
// base; progress, when not nil, is told what happens to each file. With a
// dedicated text embedder (Text), the texts of the documents stored are
// embedded with it too, so that text–text search finds them at once, from
// the CLI and from uploads alike. Calls run one at a time: each ingest
// already uses every core.
func (s *Service) Ingest(ctx context.Context, targets []string, walk ingest.WalkOptions, progress func(ingest.Event)) (IngestReport, error) {
	if s.Pipeline == nil {
		return IngestReport{}, ErrNoIngest
	}
	s.ingest.Lock()
	defer s.ingest.Unlock()
	var stored []string
	s.Pipeline.Progress = func(e ingest.Event) {
		// Unchanged documents too: they may lack the text embedder's
		// vectors (a knowledge base that had none before).
		if e.Kind == ingest.Added || e.Kind == ingest.Updated || e.Kind == ingest.Unchanged {
			stored = append(stored, ingest.DocID(e.Source))
		}
		if progress != nil {
			progress(e)
		}
	}
	defer func() { s.Pipeline.Progress = nil }()
	rep, err := s.Pipeline.Add(ctx, targets, walk)
	out := IngestReport{Report: rep, Documents: stored}
	if err != nil || s.Text == nil || len(stored) == 0 {
		return out, err
	}
	// The dedicated text embedder's vectors sit beside CLIP's.
	out.TextEmbedded, err = rag.IndexText(ctx, s.Store, s.Text, []string{s.Pipeline.Embedder.ModelID()}, stored)
	if err != nil {
		return out, fmt.Errorf("embed the stored texts with %s: %w", s.Text.ModelID(), err)
	}
	return out, nil
}
