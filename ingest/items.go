package ingest

import (
	"image"
	"maps"
	"slices"
	"strconv"
	"strings"

	"mmrag"
	"mmrag/chunk"
	"mmrag/extract"
)

// build turns chunks and images into the document's items. Text items come
// first, in chunk order, then image items in the order the extractor found
// them. Item.Text of a text item is the chunk as embedded (with its section
// prefix), the bare chunk going to Meta["text"] when it differs; an image
// item's Text is what describes it best: its caption, else its alt text,
// else the text around it.
func (wk *work) build(chunks []chunk.Chunk, images []extract.Image, warn func(string)) {
	id := wk.doc.ID
	wk.blobs = map[string][]byte{}
	wk.vecText = map[string][]float32{}
	wk.vecBlob = map[string][]float32{}
	wk.reused = map[string]bool{}
	wk.size = map[string]image.Point{}
	pos := 0
	for _, c := range chunks {
		text := c.Embed
		if strings.TrimSpace(text) == "" {
			text = c.Text
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		it := mmrag.Item{
			ID:       itemID(id, mmrag.Text, pos, text),
			DocID:    id,
			Modality: mmrag.Text,
			Kind:     string(c.Kind),
			Text:     text,
			Section:  c.Place.Section,
			Page:     c.Place.Page,
			Anchor:   c.Place.Anchor,
			Time:     c.Place.Time,
			Position: pos,
		}
		if c.Text != "" && c.Text != text {
			it.Meta = map[string]string{mmrag.MetaText: c.Text}
		}
		if it.Meta == nil {
			it.Meta = map[string]string{}
		}
		it.Meta[mmrag.MetaBlock] = blockKey(c)
		if !c.Box.IsZero() {
			it.Meta[mmrag.MetaRegion] = mmrag.Region(c.Box).String()
		}
		if c.Place.Sheet != "" {
			if it.Meta == nil {
				it.Meta = map[string]string{}
			}
			it.Meta[mmrag.MetaSheet] = c.Place.Sheet
		}
		if it.Kind == "" {
			it.Kind = string(extract.Paragraph)
		}
		wk.items = append(wk.items, it)
		pos++
	}
	for i, im := range images {
		if len(im.Data) == 0 {
			warn("image " + firstNonEmpty(im.Src, "#"+strconv.Itoa(i+1)) + " dropped: no bytes")
			continue
		}
		hash := sha256Hex(im.Data)
		mime := im.MIME
		if mime == "" || !strings.HasPrefix(mime, "image/") {
			mime = detectMIME(im.Data)
		}
		it := mmrag.Item{
			ID:       itemID(id, mmrag.Image, pos, hash),
			DocID:    id,
			Modality: mmrag.Image,
			Kind:     "figure",
			Text:     firstNonEmpty(im.Caption, im.Alt, im.Context),
			Section:  im.Place.Section,
			Page:     im.Place.Page,
			Anchor:   im.Place.Anchor,
			Time:     im.Place.Time,
			Position: pos,
			BlobHash: hash,
			MIME:     mime,
			Alt:      im.Alt,
			Caption:  im.Caption,
			Context:  im.Context,
			Width:    im.Width,
			Height:   im.Height,
		}
		if len(im.Meta) > 0 || im.Src != "" || im.Place.Sheet != "" {
			it.Meta = maps.Clone(im.Meta)
			if it.Meta == nil {
				it.Meta = map[string]string{}
			}
			if im.Src != "" {
				it.Meta[mmrag.MetaSrc] = im.Src
			}
			if im.Place.Sheet != "" {
				it.Meta[mmrag.MetaSheet] = im.Place.Sheet
			}
		}
		// Extractors mark what an image is (a scanned "page", a video
		// "frame"); a picture file is a "picture", one in a document a
		// "figure".
		switch {
		case im.Meta[mmrag.MetaKind] != "":
			it.Kind = im.Meta[mmrag.MetaKind]
		case wk.doc.Type == TypeImage:
			it.Kind = "picture"
		}
		wk.blobs[hash] = im.Data
		wk.items = append(wk.items, it)
		pos++
	}
}

// imageName names an image of the document in a warning: where it was
// referenced from, else its hash.
func (wk *work) imageName(hash string) string {
	for _, it := range wk.items {
		if it.BlobHash == hash {
			if src := it.Meta[mmrag.MetaSrc]; src != "" {
				return src
			}
		}
	}
	return "sha256:" + hash[:12]
}

func sortStrings(s []string) { slices.Sort(s) }

// blockKey is a chunk's mmrag.MetaBlock: its block ("7"), the first and
// last of the blocks merged into it ("3-5"), or its block and how many
// windows that block was split into ("7/4").
func blockKey(c chunk.Chunk) string {
	switch {
	case c.BlockEnd > c.Block:
		return strconv.Itoa(c.Block) + "-" + strconv.Itoa(c.BlockEnd)
	case c.Pieces > 1:
		return strconv.Itoa(c.Block) + "/" + strconv.Itoa(c.Pieces)
	}
	return strconv.Itoa(c.Block)
}
