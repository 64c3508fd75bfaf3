package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"mmrag"
	"mmrag/embed/sbert"
	"mmrag/hub"
	"mmrag/onnx"
	"mmrag/retrieve"
)

// This file wires the dedicated text embedder: --text-embedder names one
// (onnx:ID|DIR in-process, ollama:MODEL, openai:MODEL) or none; unset, the
// default in-process sentence embedder serves new knowledge bases and
// those that already hold its vectors. The default never fails a command:
// without the model (offline, never pulled) search is CLIP-only, with one
// line saying so.

// defaultTextEmbedder is the spec of the default text embedder.
const defaultTextEmbedder = "onnx:" + sbert.DefaultModel

// textUse says what a command needs the text embedder for, which decides
// whether the default applies to an existing knowledge base.
type textUse int

const (
	// textForIngest embeds passages: the default applies to a new (empty)
	// knowledge base and to one that already holds its vectors.
	textForIngest textUse = iota
	// textForSearch embeds questions: the default applies only where the
	// knowledge base holds its vectors (else text search would find
	// nothing in its space).
	textForSearch
)

// noClose is the closer of embedders that hold nothing.
type noClose struct{}

func (noClose) Close() error { return nil }

// openTextEmbedder returns the text embedder of --text-embedder, or the
// default one where it applies, or nil for CLIP-only text search. The
// closer is never nil. Errors come only from an explicit --text-embedder;
// the default's problems are one note on warn.
func (g *globals) openTextEmbedder(ctx context.Context, st mmrag.Store, use textUse, warn io.Writer) (retrieve.TextEmbedder, io.Closer, error) {
	switch spec := g.llm.textEmbedder; {
	case spec == "none":
		return nil, noClose{}, nil
	case spec == "":
		e, c := g.defaultText(ctx, st, use, warn)
		return e, c, nil
	case strings.HasPrefix(spec, "onnx:"):
		e, err := g.loadSentenceEmbedder(strings.TrimPrefix(spec, "onnx:"))
		if err != nil {
			return nil, noClose{}, fmt.Errorf("--text-embedder %s: %w", spec, err)
		}
		return e, e, nil
	default:
		e, err := g.llm.embedder()
		return e, noClose{}, err
	}
}

// defaultText opens the default text embedder where it applies.
func (g *globals) defaultText(ctx context.Context, st mmrag.Store, use textUse, warn io.Writer) (retrieve.TextEmbedder, io.Closer) {
	id := sentenceModelID(sbert.DefaultModel)
	applies, err := defaultApplies(ctx, st, id, use)
	if err != nil {
		fmt.Fprintf(warn, "note: text search uses CLIP only: cannot tell whether the knowledge base holds %s vectors: %v\n", sbert.DefaultModel, err)
		return nil, noClose{}
	}
	if !applies {
		if use == textForIngest {
			fmt.Fprintf(warn, "note: this knowledge base was built without a text embedder, so text search stays CLIP-only; "+
				"`mmrag ingest --text-embedder %s PATH` adds one\n", defaultTextEmbedder)
		}
		return nil, noClose{}
	}
	e, err := g.loadSentenceEmbedder(sbert.DefaultModel)
	if errors.Is(err, hub.ErrNotCached) {
		fmt.Fprintf(warn, "note: text embedder %s is not in the cache, so text search uses CLIP only; "+
			"fetch it with: mmrag models pull %s (or --text-embedder none)\n", sbert.DefaultModel, defaultTextEmbedder)
		return nil, noClose{}
	}
	if err != nil {
		fmt.Fprintf(warn, "note: text search uses CLIP only: text embedder %s: %v\n", sbert.DefaultModel, err)
		return nil, noClose{}
	}
	return e, e
}

// defaultApplies reports whether the default text embedder, whose vectors
// are stored under id, serves st for use.
func defaultApplies(ctx context.Context, st mmrag.Store, id string, use textUse) (bool, error) {
	stats, err := st.Stats(ctx)
	if err != nil {
		return false, err
	}
	if stats.Vectors[id] > 0 {
		return true, nil
	}
	total := 0
	for _, n := range stats.Vectors {
		total += n
	}
	return use == textForIngest && total == 0, nil
}

// loadSentenceEmbedder loads an in-process sentence embedder from a hub id
// (pulled before) or a folder.
func (g *globals) loadSentenceEmbedder(arg string) (*sbert.Embedder, error) {
	dir, err := hub.Resolve(onnx.Home(), arg)
	var nc *hub.NotCachedError
	if errors.As(err, &nc) {
		return nil, textNotCached{nc}
	}
	if err != nil {
		return nil, err
	}
	if err := onnx.Init(g.ortLib); err != nil {
		return nil, err
	}
	return sbert.Load(dir, sbert.Options{ID: sentenceModelID(arg), Name: arg, Threads: g.threads, Quantized: g.quantized})
}

// textNotCached is hub.NotCachedError with the command that pulls a text
// embedder (`models pull ID` would pull a CLIP model's files).
type textNotCached struct{ *hub.NotCachedError }

func (e textNotCached) Error() string {
	return fmt.Sprintf("model %q is not in the cache (%s); fetch it with: mmrag models pull onnx:%s", e.ID, e.Dir, e.ID)
}

func (e textNotCached) Unwrap() error { return e.NotCachedError }

// sentenceModelID names an in-process sentence embedder's stored vectors:
// "onnx/" and the hub id, or the folder's absolute path, so "./m" and "m"
// are one model.
func sentenceModelID(arg string) string {
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		if abs, err := filepath.Abs(arg); err == nil {
			arg = abs
		}
	}
	return "onnx/" + arg
}

// ingestModels opens the text embedder of an ingest into st and checks
// that st holds vectors of no model but model (CLIP) and that embedder.
func (g *globals) ingestModels(ctx context.Context, st mmrag.Store, model string, warn io.Writer) (retrieve.TextEmbedder, io.Closer, error) {
	text, closeText, err := g.openTextEmbedder(ctx, st, textForIngest, warn)
	if err != nil {
		return nil, nil, err
	}
	var allowed []string
	if text != nil {
		allowed = append(allowed, text.ModelID())
	}
	if err := g.checkModel(ctx, st, model, allowed...); err != nil {
		closeText.Close()
		return nil, nil, err
	}
	return text, closeText, nil
}
