// Package refkb reads the knowledge base built by the reference (Python)
// pipeline — its text chunks, image records, figures and CLIP embeddings —
// and turns it into mmrag documents, items, vectors and blobs ready for a
// Store. It owns the reference's file layout and the PyTorch .pt tensor
// format (pt.go); it computes no embeddings.
//
// A reference knowledge base is a folder holding:
//
//	data/text_content.json     [{article_title, section, text}]
//	data/text_embeddings.pt    float32 [len(text records), dim]
//	data/image_content.json    [{article_title, section, image_path, caption}] (optional with its .pt)
//	data/image_embeddings.pt   float32 [len(image records), dim]
//	<image_path>…              the figures, image_path being relative to the folder
//
// Row i of a tensor is the embedding of record i of its JSON file.
package refkb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // registered for image.DecodeConfig
	_ "image/jpeg"
	_ "image/png"
	"io/fs"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "golang.org/x/image/webp"

	"mmrag"
	"mmrag/store"
)

// Files of a reference knowledge base, relative to its folder.
const (
	TextFile    = "data/text_content.json"
	TextTensor  = "data/text_embeddings.pt"
	ImageFile   = "data/image_content.json"
	ImageTensor = "data/image_embeddings.pt"
)

// DocType is the Document.Type of every document Read returns.
const DocType = "reference"

// noCaption is what the reference stored for an image with neither alt
// text nor figcaption.
const noCaption = "No caption available"

// maxEmbedChars is the reference's cut: it embedded
// section + ": " + text[:maxEmbedChars-len(section)].
const maxEmbedChars = 256

// Options says how to label what Read returns.
type Options struct {
	// Model is the embedding model id the vectors are stored under, e.g.
	// "Xenova/clip-vit-base-patch16". Required: the .pt files do not say.
	Model string
	// Source prefixes every Document.Source: a document's source is
	// Source + "#" + its article title. Default "reference:" + the base name
	// of the folder (e.g. "reference:seed-blog"), so that the same knowledge
	// base read from another path keeps its document ids, and
	// Filter.SourcePrefix = Source selects all of it.
	Source string
}

// KB is a reference knowledge base, one Doc per article.
type KB struct {
	Docs []Doc
}

// Doc is one article with everything Store.PutDocument takes.
type Doc struct {
	Doc     mmrag.Document
	Items   []mmrag.Item
	Vectors []mmrag.Vector
	Blobs   map[string][]byte // image bytes by sha256 hex
}

type textRecord struct {
	ArticleTitle string `json:"article_title"`
	Section      string `json:"section"`
	Text         string `json:"text"`
}

type imageRecord struct {
	ArticleTitle string `json:"article_title"`
	Section      string `json:"section"`
	ImagePath    string `json:"image_path"`
	Caption      string `json:"caption"`
}

// Read reads the reference knowledge base in dir.
//
// Documents come in the order their titles first appear (text records,
// then image records). Each gets:
//
//   - ID: 32 hex digits of sha256(Source); Type "reference"; Title: the
//     article title; Hash: sha256 over the article's records (as JSON),
//     image digests and vectors, so it changes whenever any of them does;
//     Size: the bytes of those records, images and vectors; ModTime: the
//     newest of the files read; Ingested: now.
//   - Items: the text records in file order (Position 0…), then the image
//     records. Text items are Kind "paragraph" with Text "section: text"
//     in full — what search and prompts show — while Meta["embedded"]
//     holds the string the reference actually embedded when its cut
//     shortened it, and Meta["text"] the bare text. Image items are Kind
//     "figure" with Caption = Text = the caption ("" for the reference's
//     "No caption available", kept in Meta["caption"]), their bytes in
//     Blobs. Meta["row"] is the record's index in its JSON file and tensor.
//     Item IDs are 32 hex digits of sha256(doc ID, modality, position).
//   - Vectors: the tensor row of each item, under opt.Model.
//
// Missing files, malformed records, images that cannot be read or decoded
// and tensors whose row count differs from their records are errors that
// name the file.
func Read(ctx context.Context, dir string, opt Options) (*KB, error) {
	if opt.Model == "" {
		return nil, errors.New("read reference kb: no model id given for its vectors")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("read reference kb %s: %w", dir, err)
	}
	if opt.Source == "" {
		opt.Source = "reference:" + filepath.Base(abs)
	}
	r := &reader{ctx: ctx, dir: dir}
	kb, err := r.read(opt)
	if err != nil {
		return nil, fmt.Errorf("read reference kb %s: %w", dir, err)
	}
	return kb, nil
}

type reader struct {
	ctx     context.Context
	dir     string
	modTime time.Time
}

func (r *reader) read(opt Options) (*KB, error) {
	var texts []textRecord
	if err := r.readJSON(TextFile, &texts); err != nil {
		return nil, err
	}
	textVecs, err := r.readTensor(TextTensor, len(texts))
	if err != nil {
		return nil, err
	}
	var images []imageRecord
	var imageVecs [][]float32
	switch _, err := os.Stat(filepath.Join(r.dir, ImageFile)); {
	case err == nil:
		if err := r.readJSON(ImageFile, &images); err != nil {
			return nil, err
		}
		if imageVecs, err = r.readTensor(ImageTensor, len(images)); err != nil {
			return nil, err
		}
	case errors.Is(err, fs.ErrNotExist):
		// A text-only knowledge base; a stray image tensor means a lost file.
		if _, err := os.Stat(filepath.Join(r.dir, ImageTensor)); err == nil {
			return nil, fmt.Errorf("%s exists but %s does not", ImageTensor, ImageFile)
		}
	default:
		return nil, err
	}
	if len(textVecs) > 0 && len(imageVecs) > 0 && len(textVecs[0]) != len(imageVecs[0]) {
		return nil, fmt.Errorf("%s has %d-d vectors, %s %d-d: not one embedding space",
			TextTensor, len(textVecs[0]), ImageTensor, len(imageVecs[0]))
	}

	type article struct {
		title  string
		texts  []int // record indexes
		images []int
	}
	var order []*article
	byTitle := map[string]*article{}
	get := func(title string) *article {
		a := byTitle[title]
		if a == nil {
			a = &article{title: title}
			byTitle[title] = a
			order = append(order, a)
		}
		return a
	}
	for i, t := range texts {
		switch {
		case strings.TrimSpace(t.ArticleTitle) == "":
			return nil, fmt.Errorf("%s: record %d has no article_title", TextFile, i)
		case strings.TrimSpace(t.Text) == "":
			return nil, fmt.Errorf("%s: record %d has no text", TextFile, i)
		}
		a := get(t.ArticleTitle)
		a.texts = append(a.texts, i)
	}
	for i, im := range images {
		switch {
		case strings.TrimSpace(im.ArticleTitle) == "":
			return nil, fmt.Errorf("%s: record %d has no article_title", ImageFile, i)
		case im.ImagePath == "":
			return nil, fmt.Errorf("%s: record %d has no image_path", ImageFile, i)
		}
		a := get(im.ArticleTitle)
		a.images = append(a.images, i)
	}

	ingested := time.Now().Round(0) // no monotonic reading: the value is stored
	imgCache := map[string]*imageFile{}
	kb := &KB{Docs: make([]Doc, 0, len(order))}
	for _, a := range order {
		source := opt.Source + "#" + a.title
		doc := Doc{
			Doc: mmrag.Document{
				ID:       shortHash(source),
				Source:   source,
				Type:     DocType,
				Title:    a.title,
				Ingested: ingested,
			},
			Blobs: map[string][]byte{},
		}
		h := sha256.New()
		var size int64
		hashPart := func(b []byte) {
			// Length-prefixed, so that moving bytes between parts changes the hash.
			var n [8]byte
			binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
			h.Write(n[:])
			h.Write(b)
		}
		hashVec := func(v []float32) {
			b := make([]byte, 4*len(v))
			for i, f := range v {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
			}
			hashPart(b)
			size += int64(len(b))
		}
		pos := 0
		addItem := func(it mmrag.Item, vec []float32) {
			it.DocID = doc.Doc.ID
			it.Position = pos
			it.ID = shortHash(doc.Doc.ID + "\x00" + string(it.Modality) + "\x00" + strconv.Itoa(pos))
			pos++
			doc.Items = append(doc.Items, it)
			doc.Vectors = append(doc.Vectors, mmrag.Vector{ItemID: it.ID, Model: opt.Model, Values: vec})
			hashVec(vec)
		}
		for _, i := range a.texts {
			t := texts[i]
			rec, _ := json.Marshal(t)
			hashPart(rec)
			size += int64(len(rec))
			full := t.Section + ": " + t.Text
			meta := map[string]string{mmrag.MetaRow: strconv.Itoa(i), mmrag.MetaText: t.Text}
			if e := EmbeddedText(t.Section, t.Text); e != full {
				meta[mmrag.MetaEmbedded] = e
			}
			addItem(mmrag.Item{
				Modality: mmrag.Text,
				Kind:     "paragraph",
				Text:     full,
				Section:  section(t.Section),
				Meta:     meta,
			}, textVecs[i])
		}
		for _, i := range a.images {
			if err := r.ctx.Err(); err != nil {
				return nil, err
			}
			im := images[i]
			f, err := r.readImage(imgCache, im.ImagePath, i)
			if err != nil {
				return nil, err
			}
			rec, _ := json.Marshal(im)
			hashPart(rec)
			hashPart([]byte(f.hash)) // the image's bytes, by their digest
			size += int64(len(rec) + len(f.data))
			caption := strings.TrimSpace(im.Caption)
			if caption == noCaption {
				caption = ""
			}
			doc.Blobs[f.hash] = f.data
			addItem(mmrag.Item{
				Modality: mmrag.Image,
				Kind:     "figure",
				Text:     caption,
				Caption:  caption,
				Section:  section(im.Section),
				BlobHash: f.hash,
				MIME:     f.mime,
				Width:    f.width,
				Height:   f.height,
				Meta:     map[string]string{mmrag.MetaRow: strconv.Itoa(i), mmrag.MetaCaption: im.Caption, mmrag.MetaImagePath: im.ImagePath},
			}, imageVecs[i])
		}
		doc.Doc.Hash = hex.EncodeToString(h.Sum(nil))
		doc.Doc.Size = size
		kb.Docs = append(kb.Docs, doc)
	}
	for i := range kb.Docs {
		kb.Docs[i].Doc.ModTime = r.modTime
	}
	return kb, nil
}

// EmbeddedText is the string the reference pipeline embedded for a text
// record: section + ": " + text cut to 256 - len(section) characters, with
// Python's slice semantics (characters are code points; a negative bound
// counts from the end).
func EmbeddedText(section, text string) string {
	r := []rune(text)
	n := maxEmbedChars - len([]rune(section))
	if n < 0 {
		n = max(0, len(r)+n)
	}
	if n < len(r) {
		r = r[:n]
	}
	return section + ": " + string(r)
}

func section(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// shortHash is 32 hex digits (128 bits) of sha256(s): plenty for ids.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func (r *reader) stat(rel string) error {
	st, err := os.Stat(filepath.Join(r.dir, rel))
	if err != nil {
		return err
	}
	if st.ModTime().After(r.modTime) {
		r.modTime = st.ModTime()
	}
	return nil
}

func (r *reader) readJSON(rel string, v any) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if err := r.stat(rel); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(r.dir, rel))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}

// readTensor reads a tensor whose row count must equal n, the number of
// records it embeds.
func (r *reader) readTensor(rel string, n int) ([][]float32, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.stat(rel); err != nil {
		return nil, err
	}
	rows, err := ReadTensor(filepath.Join(r.dir, rel))
	if err != nil {
		return nil, err
	}
	if len(rows) != n {
		return nil, fmt.Errorf("%s has %d rows but its JSON has %d records", rel, len(rows), n)
	}
	if n > 0 && len(rows[0]) == 0 {
		return nil, fmt.Errorf("%s has 0-d vectors", rel)
	}
	for i, row := range rows {
		if !store.Finite(row) {
			return nil, fmt.Errorf("%s: row %d holds NaN or Inf", rel, i)
		}
	}
	return rows, nil
}

type imageFile struct {
	data          []byte
	hash, mime    string
	width, height int
}

// readImage reads an image record's file once, however many records name it.
func (r *reader) readImage(cache map[string]*imageFile, rel string, row int) (*imageFile, error) {
	if f := cache[rel]; f != nil {
		return f, nil
	}
	where := fmt.Sprintf("%s record %d: image %s", ImageFile, row, rel)
	// The path comes from the JSON: keep it inside the folder.
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		return nil, fmt.Errorf("%s: path is not inside the knowledge base folder", where)
	}
	if err := r.stat(filepath.FromSlash(rel)); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	data, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	mime := http.DetectContentType(data)
	if !strings.HasPrefix(mime, "image/") {
		return nil, fmt.Errorf("%s: not an image (content looks like %s)", where, strings.SplitN(mime, ";", 2)[0])
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: decode image header: %w", where, err)
	}
	sum := sha256.Sum256(data)
	f := &imageFile{data: data, hash: hex.EncodeToString(sum[:]), mime: mime, width: cfg.Width, height: cfg.Height}
	cache[rel] = f
	return f, nil
}

// Summary describes kb in a few lines: counts per modality and document,
// vector dimension and the range of vector norms (≈1 for CLIP).
func Summary(kb *KB) string {
	if kb == nil {
		return "no knowledge base"
	}
	var b strings.Builder
	var nText, nImage, nVec, dim int
	blobs := map[string]int{}
	minN, maxN := math.Inf(1), math.Inf(-1)
	models := map[string]bool{}
	for _, d := range kb.Docs {
		for _, it := range d.Items {
			if it.Modality == mmrag.Image {
				nImage++
			} else {
				nText++
			}
		}
		for h, data := range d.Blobs {
			blobs[h] = len(data)
		}
		for _, v := range d.Vectors {
			nVec++
			dim = len(v.Values)
			models[v.Model] = true
			n := store.Norm(v.Values)
			minN, maxN = min(minN, n), max(maxN, n)
		}
	}
	var blobBytes int
	for _, n := range blobs {
		blobBytes += n
	}
	fmt.Fprintf(&b, "%d documents, %d text items, %d image items (%d distinct images, %d bytes)\n",
		len(kb.Docs), nText, nImage, len(blobs), blobBytes)
	if nVec > 0 {
		ms := slices.Sorted(maps.Keys(models))
		fmt.Fprintf(&b, "%d vectors, %d-d, model %s, norms %.4f–%.4f\n", nVec, dim, strings.Join(ms, ", "), minN, maxN)
	}
	for _, d := range kb.Docs {
		var t, i int
		for _, it := range d.Items {
			if it.Modality == mmrag.Image {
				i++
			} else {
				t++
			}
		}
		fmt.Fprintf(&b, "  %s  %s: %d text, %d image\n", d.Doc.ID, d.Doc.Title, t, i)
	}
	return b.String()
}
