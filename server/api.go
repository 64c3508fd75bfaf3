package server

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"mmrag"
	"mmrag/app"
	"mmrag/ingest"
	"mmrag/retrieve"
)

// Engine answers searches and questions. cmd/mmrag adapts the retrieve,
// prompt and generate packages to it; the server only adds transport.
type Engine interface {
	// Search returns the ranked items of each modality.
	Search(ctx context.Context, req SearchRequest) (*SearchResponse, error)
	// Ask retrieves sources for req.Question and answers it. onSources,
	// when not nil, is called once with the sources before generation
	// starts (a UI shows them while the answer streams); onToken, when not
	// nil, receives the answer as it is generated. An error from either
	// stops the answer and is returned.
	Ask(ctx context.Context, req AskRequest, onSources func(*SearchResponse) error, onToken func(string) error) (*Answer, error)
}

// Ingester adds sources (absolute file paths or http(s) URLs) to the
// knowledge base. progress, when not nil, is called as sources finish, with
// running totals; calls are serialised. Per-source failures are reported in
// Progress.Errors, not as the returned error, which is for failures of the
// whole run (a closed store, a cancelled context). It returns the ids of
// the documents stored or found unchanged.
type Ingester interface {
	Ingest(ctx context.Context, sources []string, progress func(Progress)) ([]string, error)
}

// Progress is an ingest's running totals.
type Progress struct {
	Total   int // sources known so far (folders expand while walking)
	Done    int // stored, updated or unchanged
	Failed  int
	Current string // source being worked on, when known
	// Stage is what happens to Current (extracting, chunking, embedding,
	// storing); Step of Steps counts its items embedded.
	Stage       string
	Step, Steps int
	Errors      []JobError
	Warnings    []JobError // recoverable problems of sources that were stored
}

// JobError is why one source of a job failed.
type JobError struct {
	Source string `json:"source"`
	Error  string `json:"error"`
}

// Errors an Engine or Ingester wraps to choose the HTTP status.
var (
	// ErrInvalid marks a request the engine refuses as malformed (400);
	// it is the application service's.
	ErrInvalid = app.ErrInvalid
	// ErrUnavailable marks a dependency that is down, such as the LLM
	// server (503).
	ErrUnavailable = errors.New("service unavailable")
)

// SearchOptions tune retrieval; zero fields take the server's defaults.
type SearchOptions struct {
	Mode string `json:"mode,omitempty"` // reference, cosine or hybrid
	// TextK and ImageK cap each list; 0 leaves that modality out.
	TextK          *int     `json:"text_k,omitempty"`
	ImageK         *int     `json:"image_k,omitempty"`
	TextThreshold  *float64 `json:"text_threshold,omitempty"`
	ImageThreshold *float64 `json:"image_threshold,omitempty"`
	DocIDs         []string `json:"doc_ids,omitempty"`
	Types          []string `json:"types,omitempty"`
	SourcePrefix   string   `json:"source_prefix,omitempty"`
	// Collections keeps to the documents of these collections (any of
	// them), within DocIDs when both are set.
	Collections []string `json:"collections,omitempty"`
}

// SearchRequest is the body of POST /v1/search.
type SearchRequest struct {
	SearchOptions
	// Query is the text to search with; ImageQuery a picture or an item
	// instead.
	Query string `json:"query"`
	ImageQuery
}

// Turn is one earlier message of a conversation.
type Turn struct {
	Role    string `json:"role"` // user or assistant
	Content string `json:"content"`
}

// AskRequest is the body of POST /v1/ask.
type AskRequest struct {
	SearchOptions
	Question string `json:"question"`
	History  []Turn `json:"history,omitempty"`
	// ConversationID names a stored conversation: its turns are the
	// history (History is ignored), and the question and the answer are
	// appended to it when the answer ends.
	ConversationID string `json:"conversation_id,omitempty"`
	// Strategy is text, text+images or multimodal; "" is the default.
	Strategy    string   `json:"strategy,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	MaxTokens   int      `json:"max_tokens,omitempty"`
	// Model asks for a generator model other than the default; an engine
	// that cannot switch refuses with ErrInvalid.
	Model  string `json:"model,omitempty"`
	Stream bool   `json:"stream,omitempty"`
	// ImageQuery, when set, is what the sources are searched with instead
	// of the question; the question may then be empty.
	ImageQuery
}

// Source is one retrieved item as the API shows it. N is its citation
// number: the answer cites it as [N].
type Source struct {
	N        int      `json:"n"`
	ItemID   string   `json:"item_id"`
	DocID    string   `json:"doc_id"`
	Modality string   `json:"modality"`
	Kind     string   `json:"kind,omitempty"`
	Title    string   `json:"title,omitempty"`
	Section  []string `json:"section,omitempty"`
	Page     int      `json:"page,omitempty"`
	Anchor   string   `json:"anchor,omitempty"`
	Source   string   `json:"source,omitempty"`
	// Text is a text source's passage: the paragraph, list, table or
	// code block the retrieved window belongs to (small-to-big); Window
	// the window itself, when it differs.
	Text     string  `json:"text,omitempty"`
	Window   string  `json:"window,omitempty"`
	Caption  string  `json:"caption,omitempty"`
	Score    float64 `json:"score"`
	ImageURL string  `json:"image_url,omitempty"`
	ThumbURL string  `json:"thumb_url,omitempty"`
	// Cited: the answer cites [N]. An answer's cited sources come first.
	Cited bool `json:"cited,omitempty"`
	// root is the folder the document was ingested under, for displaySource.
	root string
}

// withPassage makes s's Text the passage and keeps the window beside it.
func (s *Source) withPassage(passage string) {
	if passage = strings.TrimSpace(passage); passage != "" && passage != s.Text {
		s.Window, s.Text = s.Text, passage
	}
}

// SourceFrom makes the Source of a retrieved item; adapters use it so that
// every route shows items alike. The citation number is left 0: the server
// numbers text sources first, then images, unless the engine set them.
func SourceFrom(it mmrag.Item, doc mmrag.Document, score float64) Source {
	s := Source{
		ItemID:   it.ID,
		DocID:    it.DocID,
		Modality: string(it.Modality),
		Kind:     it.Kind,
		Title:    doc.Title,
		Section:  it.Section,
		Page:     it.Page,
		Anchor:   it.Anchor,
		Source:   doc.Source,
		root:     doc.Meta[ingest.MetaRoot],
		Text:     itemText(it),
		Caption:  it.Caption,
		Score:    score,
	}
	if s.Caption == "" && it.Modality == mmrag.Image {
		s.Caption = it.Alt
	}
	return s
}

// itemText is the chunk as written: ingest stores the text without its
// section prefix in Meta["text"] when the two differ.
func itemText(it mmrag.Item) string {
	if t := it.Meta[mmrag.MetaText]; t != "" {
		return t
	}
	return it.Text
}

// SearchResponse holds the ranked sources of each modality.
type SearchResponse struct {
	Text   []Source `json:"text"`
	Images []Source `json:"images"`
	TookMS float64  `json:"took_ms,omitempty"`
	// ImagesNote, when set, says why Images is empty: every figure
	// scored under the image threshold.
	ImagesNote *ImagesNote `json:"images_note,omitempty"`
}

// ImagesNote is the best figure score of a search none of whose figures
// passed the threshold ("no figure passed 0.25 (best 0.18)").
type ImagesNote struct {
	BestScore float64 `json:"best_score"`
	Threshold float64 `json:"threshold"`
}

// imagesNote reads the retrieval's note on figures, for a response that
// shows none.
func imagesNote(res *retrieve.Results, shown int) *ImagesNote {
	if res == nil || shown > 0 {
		return nil
	}
	b, ok := res.Below[mmrag.Image]
	if !ok {
		return nil
	}
	return &ImagesNote{BestScore: b.Best, Threshold: b.Threshold}
}

// Answer is the result of POST /v1/ask.
type Answer struct {
	Answer       string         `json:"answer"`
	Sources      SearchResponse `json:"sources"`
	Model        string         `json:"model,omitempty"` // "extractive" without an LLM
	Strategy     string         `json:"strategy,omitempty"`
	Notes        []string       `json:"notes,omitempty"`
	PromptTokens int            `json:"prompt_tokens,omitempty"`
	OutputTokens int            `json:"output_tokens,omitempty"`
	TookMS       float64        `json:"took_ms,omitempty"`
	// Conversation is the stored conversation the ask named, with this
	// question and answer appended (its title set by the first question).
	Conversation *ConversationView `json:"conversation,omitempty"`
}

// Settings are the defaults the UI starts from (GET /v1/settings).
type Settings struct {
	Strategy       string   `json:"strategy,omitempty"`
	Mode           string   `json:"mode,omitempty"`
	TextK          int      `json:"text_k,omitempty"`
	ImageK         int      `json:"image_k,omitempty"`
	TextThreshold  float64  `json:"text_threshold,omitempty"`
	ImageThreshold float64  `json:"image_threshold,omitempty"`
	Temperature    *float64 `json:"temperature,omitempty"`
	Generator      string   `json:"generator,omitempty"`
	EmbeddingModel string   `json:"embedding_model,omitempty"`
	MaxUploadBytes int64    `json:"max_upload_bytes,omitempty"`
	MaxUploadFiles int      `json:"max_upload_files,omitempty"`
	// Ready is false while the models load at start ("loading models…");
	// WarmupError says why loading them ahead failed (they then load on
	// first use).
	Ready       bool   `json:"ready"`
	WarmupError string `json:"warmup_error,omitempty"`
}

// DocumentView is a document as the API shows it.
type DocumentView struct {
	ID       string     `json:"id"`
	Source   string     `json:"source"`
	Type     string     `json:"type,omitempty"`
	Title    string     `json:"title,omitempty"`
	Items    *int       `json:"items,omitempty"`
	Size     int64      `json:"size,omitempty"`
	Ingested *time.Time `json:"ingested,omitempty"`
	// Uploaded says the source is a file uploaded to the server (kept in
	// its upload folder), not a path or URL the user named.
	Uploaded bool `json:"uploaded,omitempty"`
	// Modified is the source's own modification time, when known.
	Modified *time.Time `json:"modified,omitempty"`
	// Collections are the collections the document belongs to.
	Collections []string `json:"collections"`
}

func (s *Server) documentView(d mmrag.Document, items int) DocumentView {
	v := DocumentView{ID: d.ID, Source: s.displaySource(d.Source, d.Meta[ingest.MetaRoot]), Type: d.Type, Title: d.Title, Size: d.Size, Uploaded: s.uploadPath(d.Source)}
	if items >= 0 {
		v.Items = &items
	}
	if !d.Ingested.IsZero() {
		t := d.Ingested.UTC()
		v.Ingested = &t
	}
	if !d.ModTime.IsZero() {
		t := d.ModTime.UTC()
		v.Modified = &t
	}
	v.Collections = []string{}
	return v
}

// ItemView is an item as the API shows it.
type ItemView struct {
	ID       string   `json:"id"`
	DocID    string   `json:"doc_id"`
	Modality string   `json:"modality"`
	Kind     string   `json:"kind,omitempty"`
	Text     string   `json:"text,omitempty"`
	Section  []string `json:"section,omitempty"`
	Page     int      `json:"page,omitempty"`
	Anchor   string   `json:"anchor,omitempty"`
	TimeMS   int64    `json:"time_ms,omitempty"`
	Position int      `json:"position"`
	Caption  string   `json:"caption,omitempty"`
	Alt      string   `json:"alt,omitempty"`
	Width    int      `json:"width,omitempty"`
	Height   int      `json:"height,omitempty"`
	ImageURL string   `json:"image_url,omitempty"`
	ThumbURL string   `json:"thumb_url,omitempty"`
	// Region is where a text item sits on its PDF page (Page).
	Region *Region `json:"region,omitempty"`
}

func itemView(it mmrag.Item) ItemView {
	v := ItemView{
		ID: it.ID, DocID: it.DocID, Modality: string(it.Modality), Kind: it.Kind,
		Text: itemText(it), Section: it.Section, Page: it.Page, Anchor: it.Anchor,
		TimeMS: it.Time.Milliseconds(), Position: it.Position,
		Caption: it.Caption, Alt: it.Alt, Width: it.Width, Height: it.Height,
		Region: itemRegion(it),
	}
	if it.Modality == mmrag.Image && it.BlobHash != "" {
		v.ImageURL, v.ThumbURL = imageURLs(it.ID)
	}
	return v
}

// PassageView is a unit of a document as the reader shows it: a whole
// passage (the windows of a split block stitched together) or a figure.
type PassageView struct {
	ItemView
	// Items are the items it holds: a citation of any of them lands here.
	Items []string `json:"items"`
}

// passageViews rebuilds a document's passages from its items.
func passageViews(items []mmrag.Item) []PassageView {
	rs := retrieve.Readings(items)
	out := make([]PassageView, len(rs))
	for i, r := range rs {
		v := itemView(r.Item)
		if r.Item.Modality == mmrag.Text {
			v.Text = r.Text
		}
		out[i] = PassageView{ItemView: v, Items: r.Items}
	}
	return out
}

// ThumbSize is the longest edge of the thumbnails the API links to.
const ThumbSize = 256

func imageURLs(itemID string) (orig, thumb string) {
	orig = "/v1/items/" + url.PathEscape(itemID) + "/image"
	return orig, orig + "?thumb=" + strconv.Itoa(ThumbSize)
}

// decorate numbers sources the engine left unnumbered and adds the image
// links, so that every route shows sources alike.
func (s *Server) decorate(r *SearchResponse) {
	if r == nil {
		return
	}
	if r.Text == nil {
		r.Text = []Source{}
	}
	if r.Images == nil {
		r.Images = []Source{}
	}
	n := 0
	for _, list := range [][]Source{r.Text, r.Images} {
		for i := range list {
			n++
			if list[i].N == 0 {
				list[i].N = n
			}
			list[i].Source = s.displaySource(list[i].Source, list[i].root)
			if list[i].Modality == string(mmrag.Image) && list[i].ImageURL == "" {
				list[i].ImageURL, list[i].ThumbURL = imageURLs(list[i].ItemID)
			}
		}
	}
}
