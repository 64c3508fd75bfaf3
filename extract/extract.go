// Package extract defines what extraction turns files into: text blocks
// with their section path and place, and images with their captions. It
// holds these types, the Extractor interface and small helpers shared by the
// extractors, and needs nothing outside the standard library, so that the
// steps that consume Results (chunking, ingest) do not pull in the formats'
// parsers. The extractors live in one sub-package per family of formats:
// html, markdown and text (sharing markup), pdf, office (DOCX, PPTX, XLSX),
// csv, picture (images and OCR) and media (audio and video); cmd/mmrag wires
// them together. They know nothing about chunking, embedding or storage.
package extract

import (
	"context"
	"time"
)

// BlockKind says what a text block was in its source.
type BlockKind string

const (
	Paragraph  BlockKind = "paragraph"
	List       BlockKind = "list"
	Table      BlockKind = "table"
	Code       BlockKind = "code"
	Quote      BlockKind = "quote"
	Transcript BlockKind = "transcript"
	Notes      BlockKind = "notes" // speaker notes of a slide
	OCR        BlockKind = "ocr"   // text recognised in an image or scanned page
)

// Place locates content inside its source, so that every item can cite where
// it came from. Zero fields are unknown.
type Place struct {
	Section []string      // heading path, outermost first
	Page    int           // 1-based page (PDF) or slide (PPTX) or sheet index (XLSX)
	Anchor  string        // fragment identifier of the nearest heading (HTML id, Markdown slug)
	Time    time.Duration // offset into audio or video
	Sheet   string        // spreadsheet sheet name
}

// Block is a unit of text that chunking never merges across sections.
type Block struct {
	Kind BlockKind
	Text string
	Place
	// Box is where the block sits on its page (Place.Page), for sources
	// laid out on pages (PDF); zero when unknown.
	Box Box
}

// Box is a rectangle on a page in fractions of the page's width and height,
// measured from its top left corner as the page is shown (y grows
// downwards): 0 ≤ X0 ≤ X1 ≤ 1 and 0 ≤ Y0 ≤ Y1 ≤ 1. Fractions fit a render
// of the page at any size. The zero Box is unknown.
type Box struct{ X0, Y0, X1, Y1 float64 }

// IsZero reports whether b is unknown.
func (b Box) IsZero() bool { return b == Box{} }

// Union is the smallest Box holding b and c; a zero Box adds nothing.
func (b Box) Union(c Box) Box {
	switch {
	case b.IsZero():
		return c
	case c.IsZero():
		return b
	}
	return Box{X0: min(b.X0, c.X0), Y0: min(b.Y0, c.Y0), X1: max(b.X1, c.X1), Y1: max(b.Y1, c.Y1)}
}

// Image is a picture found in a source, with its own bytes.
type Image struct {
	Data    []byte // the original encoded bytes (PNG, JPEG, …)
	MIME    string
	Src     string // where it was referenced from (URL, relative path, PDF object); informative
	Alt     string
	Caption string // figcaption, PDF/DOCX caption, …
	Context string // text near the image
	Width   int
	Height  int
	Meta    map[string]string // EXIF and other facts (camera, date, gps)
	Place
}

// Result is what one extractor returns for one source.
type Result struct {
	Title    string
	Type     string // short kind: "html", "markdown", "text", "pdf", "docx", "pptx", "xlsx", "csv", "image", "audio", "video"
	Meta     map[string]string
	Blocks   []Block
	Images   []Image
	Warnings []string // recoverable problems (e.g. a remote image that could not be fetched, OCR absent)
}

// Source is one input: a local file or a downloaded URL, fully read.
type Source struct {
	Path string // local path, or the URL it was fetched from
	Data []byte
	MIME string // detected content type, may be empty
	// MaxText, when > 0, bounds the bytes of text extracted: the CSV and
	// XLSX extractors stop reading with a *TextLimitError once past it.
	MaxText int64
	// Base is the folder or URL that relative links in the source resolve against.
	Base string
	// Root is the folder that the local files a document references (its
	// images) must stay inside; "" means the document's own folder (a local
	// Base, else the folder of Path). References that leave it — by "..",
	// an absolute path or a symbolic link — are refused with a warning, and
	// file: URLs are never read. Documents from the web never read local
	// files, whatever Root says.
	Root string
}

// Extractor reads one kind of source.
type Extractor interface {
	Extract(ctx context.Context, src Source) (*Result, error)
}
