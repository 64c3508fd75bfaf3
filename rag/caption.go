package rag

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"mmrag"
	"mmrag/generate"
)

// TextEmbedder embeds texts (CLIP's text tower for caption items).
type TextEmbedder interface {
	ModelID() string
	EmbedTexts(ctx context.Context, texts []string) ([][]float32, error)
}

// DefaultCaptionPrompt asks a vision model for a description that serves
// search: what the figure shows and any text in it.
const DefaultCaptionPrompt = "Describe this figure in two or three sentences for a search index: what it shows, its type (photo, diagram, chart, table, screenshot) and any important text or labels in it. Answer with the description only."

// KindCaption marks the text items Captioner writes.
const KindCaption = "caption"

// Captioner writes descriptions of figures that have no caption with a
// vision model: the description becomes the figure's caption and a text
// item of its own, so that strategy TextOnly can find the figure.
type Captioner struct {
	Store  mmrag.Store
	Vision generate.Generator
	Model  string // the vision model's name, kept in the item's Meta
	// Embed embeds the new caption items; Models lists every model whose
	// vectors the documents hold, carried over unchanged.
	Embed  TextEmbedder
	Models []string
	Prompt string
	// Force describes figures that already have a caption or alt text too.
	Force bool
}

// CaptionEvent reports one figure.
type CaptionEvent struct {
	DocID, ItemID string
	Caption       string
	Err           error
}

// Run describes the figures of the documents docIDs (all documents when
// empty) and reports each through progress. One figure failing does not
// stop the others; the error returned joins every failure.
func (c *Captioner) Run(ctx context.Context, docIDs []string, progress func(CaptionEvent)) (int, error) {
	if c.Vision == nil || c.Embed == nil {
		return 0, errors.New("caption: a vision model and a text embedder are required")
	}
	if len(docIDs) == 0 {
		docs, err := c.Store.Documents(ctx, mmrag.Filter{})
		if err != nil {
			return 0, err
		}
		for _, d := range docs {
			docIDs = append(docIDs, d.ID)
		}
	}
	var errs []error
	n := 0
	for _, id := range docIDs {
		k, err := c.document(ctx, id, progress)
		n += k
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

func (c *Captioner) document(ctx context.Context, docID string, progress func(CaptionEvent)) (int, error) {
	doc, err := c.Store.Document(ctx, docID)
	if err != nil {
		return 0, err
	}
	items, err := c.Store.Items(ctx, docID)
	if err != nil {
		return 0, err
	}
	report := func(ev CaptionEvent) {
		if progress != nil {
			progress(ev)
		}
	}
	captions := map[string]string{} // figure item id → new caption
	var errs []error
	for _, it := range items {
		if it.Modality != mmrag.Image || (!c.Force && (it.Caption != "" || it.Alt != "")) {
			continue
		}
		data, err := c.Store.Blob(ctx, it.BlobHash)
		if err == nil {
			var resp generate.Response
			resp, err = c.Vision.Generate(ctx, generate.Request{Messages: []generate.Message{{
				Role: generate.User, Content: cmpOr(c.Prompt, DefaultCaptionPrompt), Images: [][]byte{data},
			}}}, nil)
			if err == nil {
				if text := strings.Join(strings.Fields(resp.Text), " "); text != "" {
					captions[it.ID] = text
				} else {
					err = errors.New("the model returned an empty description")
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			err = fmt.Errorf("caption figure %s of %s: %w", it.ID, doc.Source, err)
			errs = append(errs, err)
		}
		report(CaptionEvent{DocID: docID, ItemID: it.ID, Caption: captions[it.ID], Err: err})
	}
	if len(captions) == 0 {
		return 0, errors.Join(errs...)
	}

	// Rebuild the document: figures with their captions, caption items
	// replaced, every stored vector carried over.
	var keep []mmrag.Item
	for _, it := range items {
		if it.Kind == KindCaption && captions[it.Meta[mmrag.MetaFigure]] != "" {
			continue // replaced below
		}
		keep = append(keep, it)
	}
	var added []mmrag.Item
	var texts []string
	for i, it := range keep {
		cap, ok := captions[it.ID]
		if !ok {
			continue
		}
		it.Meta = cloneMeta(it.Meta)
		it.Meta[mmrag.MetaCaptionBy] = cmpOr(c.Model, "vision model")
		it.Caption = cap
		it.Text = cap
		keep[i] = it
		text := "Figure: " + cap
		if n := len(it.Section); n > 0 && it.Section[n-1] != "" {
			text = it.Section[n-1] + ": " + text
		}
		sum := sha256.Sum256([]byte(it.ID + "\x00caption"))
		added = append(added, mmrag.Item{
			ID: hex.EncodeToString(sum[:16]), DocID: docID, Modality: mmrag.Text, Kind: KindCaption,
			Text: text, Section: it.Section, Page: it.Page, Anchor: it.Anchor, Time: it.Time, Position: it.Position,
			Meta: map[string]string{mmrag.MetaFigure: it.ID, mmrag.MetaText: cap, mmrag.MetaCaptionBy: it.Meta[mmrag.MetaCaptionBy]},
		})
		texts = append(texts, text)
	}
	stored, err := c.Store.DocumentVectors(ctx, docID)
	if err != nil {
		return 0, fmt.Errorf("caption %s: read vectors: %w", doc.Source, err)
	}
	vectors := keepVectors(stored, c.Models, keep)
	vecs, err := c.Embed.EmbedTexts(ctx, texts)
	if err != nil {
		return 0, fmt.Errorf("caption %s: embed captions: %w", doc.Source, err)
	}
	for i, it := range added {
		vectors = append(vectors, mmrag.Vector{ItemID: it.ID, Model: c.Embed.ModelID(), Values: vecs[i]})
	}
	if err := c.Store.PutDocument(ctx, doc, append(keep, added...), vectors, nil); err != nil {
		return 0, fmt.Errorf("caption %s: %w", doc.Source, err)
	}
	return len(captions), errors.Join(errs...)
}

func cloneMeta(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
