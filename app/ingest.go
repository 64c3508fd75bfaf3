package app

import (
	"context"
	"errors"

	"mmrag/ingest"
)

// ErrNoIngest refuses ingests on a service without a pipeline.
var ErrNoIngest = errors.New("this service has no ingest pipeline")

// Ingest adds targets (files, folders, globs, URLs) to the knowledge
// base; progress, when not nil, is told what happens to each file. Calls
// run one at a time: each ingest already uses every core.
func (s *Service) Ingest(ctx context.Context, targets []string, walk ingest.WalkOptions, progress func(ingest.Event)) (ingest.Report, error) {
	if s.Pipeline == nil {
		return ingest.Report{}, ErrNoIngest
	}
	s.ingest.Lock()
	defer s.ingest.Unlock()
	s.Pipeline.Progress = progress
	defer func() { s.Pipeline.Progress = nil }()
	return s.Pipeline.Add(ctx, targets, walk)
}
