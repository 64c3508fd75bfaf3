// Package migrate copies a knowledge base from one mmrag.Store to another —
// the embedded store to Weaviate or back, or between two of either — and
// verifies the copy. It owns nothing but the copy loop: it speaks only the
// Store interface, so any pair of backends works.
//
// A copy is resumable: a document whose ID and content hash the destination
// already holds is skipped, so re-running an interrupted copy finishes it
// without writing anything twice (and PutDocument replaces, so a document
// copied again is never duplicated). Documents of the destination that the
// source lacks are left alone: Copy adds, it does not mirror.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"mmrag"
)

// Options tune Copy.
type Options struct {
	// Workers is the number of documents copied at once. Default 4: a
	// remote store is latency bound.
	Workers int
	// Progress, when set, is called after each document (copied or
	// skipped) with the number done and the total. Calls never overlap.
	Progress func(done, total int)
	// Filter selects the source documents to copy. Default all.
	Filter mmrag.Filter
}

// Copy copies every document of src, with its items, vectors (of every
// model) and image blobs, into dst. See CopyWith.
func Copy(ctx context.Context, dst, src mmrag.Store, progress func(done, total int)) error {
	_, err := CopyWith(ctx, dst, src, Options{Progress: progress})
	return err
}

// Result counts what a copy did.
type Result struct {
	Documents, Skipped, Items, Vectors, Blobs int
}

// CopyWith copies the documents of src that opt.Filter selects into dst,
// skipping those dst already holds with the same content hash. It stops at
// the first error, naming the document; copied documents stay copied, so
// running it again resumes.
func CopyWith(ctx context.Context, dst, src mmrag.Store, opt Options) (Result, error) {
	var res Result
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	docs, err := src.Documents(ctx, opt.Filter)
	if err != nil {
		return res, fmt.Errorf("migrate: list source documents: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		done     int
		firstErr error
	)
	jobs := make(chan mmrag.Document)
	var wg sync.WaitGroup
	for range min(opt.Workers, max(1, len(docs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range jobs {
				r, err := copyDoc(ctx, dst, src, d)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				res.Documents += r.Documents
				res.Skipped += r.Skipped
				res.Items += r.Items
				res.Vectors += r.Vectors
				res.Blobs += r.Blobs
				done++
				if opt.Progress != nil && err == nil {
					opt.Progress(done, len(docs))
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, d := range docs {
		select {
		case jobs <- d:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	return res, nil
}

func copyDoc(ctx context.Context, dst, src mmrag.Store, d mmrag.Document) (Result, error) {
	var r Result
	have, err := dst.Document(ctx, d.ID)
	switch {
	case err == nil && d.Hash != "" && have.Hash == d.Hash && have.Source == d.Source:
		r.Skipped = 1
		return r, nil
	case err != nil && !errors.Is(err, mmrag.ErrNotFound):
		return r, fmt.Errorf("migrate document %s (%s): read destination: %w", d.ID, d.Source, err)
	}
	items, err := src.Items(ctx, d.ID)
	if err != nil {
		return r, fmt.Errorf("migrate document %s (%s): read items: %w", d.ID, d.Source, err)
	}
	vectors, err := src.DocumentVectors(ctx, d.ID)
	if err != nil {
		return r, fmt.Errorf("migrate document %s (%s): read vectors: %w", d.ID, d.Source, err)
	}
	blobs := map[string][]byte{}
	for _, it := range items {
		if it.BlobHash == "" || blobs[it.BlobHash] != nil {
			continue
		}
		b, err := src.Blob(ctx, it.BlobHash)
		if err != nil {
			return r, fmt.Errorf("migrate document %s (%s): blob %s of item %s: %w", d.ID, d.Source, it.BlobHash, it.ID, err)
		}
		blobs[it.BlobHash] = b
	}
	if err := dst.PutDocument(ctx, d, items, vectors, blobs); err != nil {
		return r, fmt.Errorf("migrate document %s (%s): %w", d.ID, d.Source, err)
	}
	return Result{Documents: 1, Items: len(items), Vectors: len(vectors), Blobs: len(blobs)}, nil
}

// Verify compares dst with src: the counts of Stats (documents, items per
// modality, vectors per model, blobs) must be equal, and so must every
// field and vector of a sample of about samples items spread over all
// documents, and their blobs. It returns an error listing the differences.
func Verify(ctx context.Context, dst, src mmrag.Store, samples int) error {
	var diffs []string
	a, err := src.Stats(ctx)
	if err != nil {
		return fmt.Errorf("verify: source stats: %w", err)
	}
	b, err := dst.Stats(ctx)
	if err != nil {
		return fmt.Errorf("verify: destination stats: %w", err)
	}
	if a.Documents != b.Documents {
		diffs = append(diffs, fmt.Sprintf("documents: source %d, destination %d", a.Documents, b.Documents))
	}
	for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
		if a.Items[m] != b.Items[m] {
			diffs = append(diffs, fmt.Sprintf("%s items: source %d, destination %d", m, a.Items[m], b.Items[m]))
		}
	}
	for _, m := range slices.Sorted(maps.Keys(a.Vectors)) {
		if a.Vectors[m] != b.Vectors[m] {
			diffs = append(diffs, fmt.Sprintf("vectors of %s: source %d, destination %d", m, a.Vectors[m], b.Vectors[m]))
		}
	}
	if a.Blobs != b.Blobs || a.BlobBytes != b.BlobBytes {
		diffs = append(diffs, fmt.Sprintf("blobs: source %d (%d bytes), destination %d (%d bytes)", a.Blobs, a.BlobBytes, b.Blobs, b.BlobBytes))
	}

	docs, err := src.Documents(ctx, mmrag.Filter{})
	if err != nil {
		return fmt.Errorf("verify: list source documents: %w", err)
	}
	total := 0
	for _, m := range a.Items {
		total += m
	}
	step := 1
	if samples > 0 && total > samples {
		step = total / samples
	}
	models := slices.Sorted(maps.Keys(a.Vectors))
	n := 0
	for _, d := range docs {
		got, err := dst.Document(ctx, d.ID)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("document %s: %v", d.ID, err))
			continue
		}
		if got.Hash != d.Hash || got.Source != d.Source || got.Title != d.Title {
			diffs = append(diffs, fmt.Sprintf("document %s differs", d.ID))
		}
		items, err := src.Items(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("verify: items of %s: %w", d.ID, err)
		}
		for _, it := range items {
			n++
			if samples <= 0 || n%step != 0 {
				continue
			}
			diffs = append(diffs, compareItem(ctx, dst, src, it, models)...)
		}
		if len(diffs) > 20 {
			break
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("verify: %d differences: %v", len(diffs), diffs)
	}
	return nil
}

func compareItem(ctx context.Context, dst, src mmrag.Store, want mmrag.Item, models []string) []string {
	got, err := dst.Item(ctx, want.ID)
	if err != nil {
		return []string{fmt.Sprintf("item %s: %v", want.ID, err)}
	}
	var d []string
	if got.DocID != want.DocID || got.Modality != want.Modality || got.Text != want.Text || got.Position != want.Position ||
		got.BlobHash != want.BlobHash || got.Kind != want.Kind || !slices.Equal(got.Section, want.Section) || !maps.Equal(got.Meta, want.Meta) {
		d = append(d, fmt.Sprintf("item %s differs", want.ID))
	}
	for _, m := range models {
		a, errA := src.Vector(ctx, m, want.ID)
		b, errB := dst.Vector(ctx, m, want.ID)
		if errors.Is(errA, mmrag.ErrNotFound) && errors.Is(errB, mmrag.ErrNotFound) {
			continue
		}
		if errA != nil || errB != nil || !slices.Equal(a, b) {
			d = append(d, fmt.Sprintf("vector of item %s under %s differs (%v, %v)", want.ID, m, errA, errB))
		}
	}
	if want.BlobHash != "" {
		a, errA := src.Blob(ctx, want.BlobHash)
		b, errB := dst.Blob(ctx, want.BlobHash)
		if errA != nil || errB != nil || string(a) != string(b) {
			d = append(d, fmt.Sprintf("blob %s of item %s differs (%v, %v)", want.BlobHash, want.ID, errA, errB))
		}
	}
	return d
}
