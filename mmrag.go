// Package mmrag holds the domain types shared by every step of the pipeline:
// extract → chunk → embed → store → retrieve → prompt → generate → serve.
//
// Each step lives in its own package and each external dependency (ONNX
// Runtime, SQLite, Weaviate, Ollama…) in a package named after it; cmd/mmrag
// wires them together. Interfaces are declared by the package that uses them;
// the few that every step shares are here.
package mmrag

import (
	"context"
	"errors"
	"image"
	"iter"
	"time"
)

// Embedder turns texts and images into vectors of one shared space.
//
// Implementations are safe for concurrent use. Returned vectors are
// L2-normalised and have Dim() components.
type Embedder interface {
	// ModelID names the model; vectors of different models never mix.
	ModelID() string
	// Dim is the vector length.
	Dim() int
	EmbedTexts(ctx context.Context, texts []string) ([][]float32, error)
	EmbedImages(ctx context.Context, images []image.Image) ([][]float32, error)
}

// Modality says what kind of content an item carries.
type Modality string

const (
	Text  Modality = "text"
	Image Modality = "image"
)

// Document is one ingested source: a file or a URL.
type Document struct {
	ID       string // stable: derived from Source
	Source   string // absolute path or URL
	Type     string // short kind, as extract.Result.Type ("html", "pdf", …)
	Title    string
	Hash     string // sha256 of the source bytes, hex
	Size     int64
	ModTime  time.Time // of the source, when known
	Ingested time.Time
	Meta     map[string]string
}

// Item is the unit of retrieval: a text chunk or an image of a document.
type Item struct {
	ID       string // stable: derived from the document, position and content
	DocID    string
	Modality Modality
	Kind     string   // paragraph, list, table, code, transcript, ocr, figure, frame…
	Text     string   // the chunk as embedded ("section: text"); for images the caption used for search
	Section  []string // heading path, outermost first
	Page     int      // 1-based page or slide; 0 when not paged
	Anchor   string   // fragment id of the nearest heading
	Time     time.Duration
	Position int // order within the document

	// Image items only.
	BlobHash string // sha256 of the image bytes: the content-addressed blob key
	MIME     string
	Alt      string
	Caption  string
	Context  string
	Width    int
	Height   int

	Meta map[string]string // keys: the Meta… constants, or a step's own
}

// Keys of Item.Meta that more than one step reads or writes.
const (
	// MetaText is a text item's chunk without the "section: " prefix it was
	// embedded with, when it differs from Item.Text; a caption item's caption.
	MetaText = "text"
	// MetaSrc is where an image was referenced from (a page's src).
	MetaSrc = "src"
	// MetaSheet names the spreadsheet sheet an item comes from.
	MetaSheet = "sheet"
	// MetaKind is what an extractor says an image is ("page", "frame"); it
	// becomes the item's Kind.
	MetaKind = "kind"
	// MetaFigure is, on a caption item, the ID of the figure it describes.
	MetaFigure = "figure"
	// MetaCaptionBy names the vision model that wrote a figure's caption.
	MetaCaptionBy = "caption_by"
	// MetaRow is, for an item of the reference pipeline's knowledge base,
	// the index of its record in its JSON file and tensor.
	MetaRow = "row"
	// MetaEmbedded is the text the reference pipeline embedded, where it
	// shortened the item's text.
	MetaEmbedded = "embedded"
	// MetaCaption is the reference pipeline's caption of an image as it
	// stored it ("No caption available" included).
	MetaCaption = "caption"
	// MetaImagePath is the reference pipeline's path of an image.
	MetaImagePath = "image_path"
	// MetaBlock is, on a text item made by chunking, the 0-based index of
	// the extracted block (paragraph, list, table, code block…) it comes
	// from: "7" when the block is the whole window; "3-5" when short
	// blocks were merged into one window; "7/4" on each of the 4 windows a
	// long block was split into. Retrieval rebuilds a hit's passage
	// (small-to-big) from the windows sharing it.
	MetaBlock = "block"
	// MetaRegion is, on a text item from a source laid out on pages (PDF),
	// where its text sits on its page (Item.Page): a Region as
	// Region.String writes it, read back by ParseRegion.
	MetaRegion = "region"
)

// Vector is one item's embedding under one model.
type Vector struct {
	ItemID string
	Model  string
	Values []float32
}

// Filter narrows a search or listing. Zero fields match everything.
type Filter struct {
	DocIDs       []string
	Types        []string // document types
	SourcePrefix string
	Since, Until time.Time // document ingest time
}

// Hit is an item with a raw score: a dot product for vector search, BM25 for
// full-text search (higher is better in both).
type Hit struct {
	ItemID string
	Score  float32
}

// VectorQuery asks for the items of one modality closest to Vector under
// Model. K ≤ 0 returns every item (the reference scoring needs the whole
// collection for its softmax).
type VectorQuery struct {
	Model    string
	Modality Modality
	Vector   []float32
	K        int
	Filter   Filter
	// Approximate lets a store answer from an approximate index (some of
	// the true K best may be missing). Set for top-K ranking only, never
	// where scores over the whole collection matter (the reference
	// scoring's softmax).
	Approximate bool
}

// TextQuery is a full-text (BM25) query over text items.
type TextQuery struct {
	Query  string
	K      int
	Filter Filter
}

// Model is an embedding model whose vectors filled a store.
type Model struct {
	ID      string
	Dim     int              // every vector of the model has Dim components
	Vectors map[Modality]int // how many it holds of each modality
}

// Stats counts what a store holds.
type Stats struct {
	Documents int
	Items     map[Modality]int
	Vectors   map[string]int // per model
	Blobs     int
	BlobBytes int64
}

// Store keeps documents, items, vectors and image blobs.
//
// PutDocument replaces a document with all its items and vectors in one
// transaction: readers see the old version or the new, never a mix, and a
// crash leaves the previous state intact. Lookups of absent ids return an
// error wrapping ErrNotFound. Package store holds the checks every
// implementation shares, store/storetest the conformance suite.
type Store interface {
	PutDocument(ctx context.Context, doc Document, items []Item, vectors []Vector, blobs map[string][]byte) error
	DeleteDocument(ctx context.Context, id string) error
	Document(ctx context.Context, id string) (Document, error)
	DocumentBySource(ctx context.Context, source string) (Document, error)
	Documents(ctx context.Context, f Filter) ([]Document, error)
	Items(ctx context.Context, docID string) ([]Item, error)
	Item(ctx context.Context, id string) (Item, error)
	ItemsByID(ctx context.Context, ids []string) ([]Item, error)
	Vector(ctx context.Context, model, itemID string) ([]float32, error)
	Blob(ctx context.Context, hash string) ([]byte, error)
	SearchVectors(ctx context.Context, q VectorQuery) ([]Hit, error)
	SearchText(ctx context.Context, q TextQuery) ([]Hit, error)
	Stats(ctx context.Context) (Stats, error)

	// Models lists the models whose vectors filled the store, by ID, with
	// their dimension and vectors per modality; a model stays listed (its
	// dimension fixed) after its vectors are all deleted.
	Models(ctx context.Context) ([]Model, error)
	// CountItems counts the items of every document f selects, per
	// modality, at once: document ID → modality → items. Documents without
	// items are absent.
	CountItems(ctx context.Context, f Filter) (map[string]map[Modality]int, error)
	// DocumentVectors returns the vectors of a document's items under every
	// model, ordered by item position, then model.
	DocumentVectors(ctx context.Context, docID string) ([]Vector, error)
	// ScanItems yields the items of the documents f selects, ordered by
	// document source, then position, reading them a batch of documents at
	// a time. Each document's items come from one version of it. The first
	// error ends the sequence.
	ScanItems(ctx context.Context, f Filter) iter.Seq2[Item, error]

	Close() error
}

// ErrNotFound is wrapped by lookups of absent documents, items and blobs.
var ErrNotFound = errors.New("not found")
