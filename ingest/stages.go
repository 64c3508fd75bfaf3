package ingest

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"mmrag"
	"mmrag/chunk"
	"mmrag/extract"
	"mmrag/imageprep"
)

// run is the state of one Add.
type run struct {
	p        *Pipeline
	rec      *recorder
	fetcher  *Fetcher
	maxBytes int64
	model    string
	chunking string
}

// work is one document on its way through the stages.
type work struct {
	job     job
	typ     string
	doc     mmrag.Document
	updated bool
	items   []mmrag.Item
	blobs   map[string][]byte // image bytes by sha256
	start   time.Time

	texts  []string // distinct texts to embed
	images []string // distinct blob hashes to embed

	vecText map[string][]float32 // by item text: reused or embedded
	vecBlob map[string][]float32 // by blob hash
	reused  map[string]bool      // keys (text, or blob hash) whose vector was carried over
	size    map[string]image.Point
	embeds  int // vectors computed
	done    int // vectors computed so far, for Embedding events
	err     error
}

// source is a source's bytes and what is known about them.
type source struct {
	data    []byte
	mime    string
	base    string
	modTime time.Time
	typ     string
}

// prepare reads, detects, extracts and chunks one source and finds the
// vectors it can reuse. It returns nil when nothing is left to do (the
// source is unchanged, skipped or failed; the event is recorded).
func (r *run) prepare(ctx context.Context, j job) *work {
	start := time.Now()
	src, skip, err := r.load(ctx, j)
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		r.rec.event(Event{Kind: Failed, Source: j.source, Type: src.typ, Err: err, Bytes: int64(len(src.data)), Elapsed: time.Since(start)})
		return nil
	case skip != "":
		r.rec.event(Event{Kind: Skipped, Source: j.source, Message: skip})
		return nil
	}
	fail := func(err error) *work {
		if ctx.Err() == nil {
			r.rec.event(Event{Kind: Failed, Source: j.source, Type: src.typ, Err: err, Bytes: int64(len(src.data)), Elapsed: time.Since(start)})
		}
		return nil
	}

	id := DocID(j.source)
	hash := sha256Hex(src.data)
	old, err := r.p.Store.Document(ctx, id)
	exists := err == nil
	if err != nil && !errors.Is(err, mmrag.ErrNotFound) {
		return fail(fmt.Errorf("read stored version: %w", err))
	}
	var oldItems []mmrag.Item
	if exists {
		if oldItems, err = r.p.Store.Items(ctx, id); err != nil && !errors.Is(err, mmrag.ErrNotFound) {
			return fail(fmt.Errorf("read stored items: %w", err))
		}
		if old.Hash == hash && old.Meta[MetaChunking] == chunkingOf(r.chunking, src.typ) && r.complete(ctx, oldItems) {
			r.rec.event(Event{Kind: Unchanged, Source: j.source, Type: src.typ, Items: len(oldItems), Bytes: int64(len(src.data)), Elapsed: time.Since(start)})
			return nil
		}
	}

	r.rec.event(Event{Kind: Started, Source: j.source, Type: src.typ, Bytes: int64(len(src.data))})
	res, err := r.extract(ctx, src.typ, extract.Source{Path: j.source, Data: src.data, MIME: src.mime, Base: src.base, Root: j.root, MaxText: r.p.Limits.textBytes()})
	if err != nil {
		return fail(extractError(err))
	}
	for _, w := range res.Warnings {
		r.rec.warn(j.source, w)
	}
	if err := r.p.Limits.checkText(res); err != nil {
		return fail(err)
	}
	if err := r.p.Limits.checkImages(res); err != nil {
		return fail(err)
	}
	r.rec.event(Event{Kind: Extracted, Source: j.source, Type: src.typ, TextBytes: textBytes(res), Images: len(res.Images), Elapsed: time.Since(start)})
	chunks, err := split(res, r.p.Chunk)
	if err != nil {
		return fail(err)
	}
	if err := r.p.Limits.checkChunks(len(chunks)); err != nil {
		return fail(err)
	}

	doc := mmrag.Document{
		ID:       id,
		Source:   j.source,
		Type:     res.Type,
		Title:    res.Title,
		Hash:     hash,
		Size:     int64(len(src.data)),
		ModTime:  src.modTime,
		Ingested: time.Now(),
		Meta:     map[string]string{},
	}
	if doc.Type == "" {
		doc.Type = src.typ
	}
	if doc.Title == "" {
		doc.Title = defaultTitle(j.source)
	}
	maps.Copy(doc.Meta, res.Meta)
	doc.Meta[MetaChunking] = chunkingOf(r.chunking, src.typ)
	if src.mime != "" {
		doc.Meta[MetaMIME] = src.mime
	}
	if j.path == "" && src.base != j.source {
		doc.Meta[MetaURL] = src.base
	}
	if j.root != "" {
		doc.Meta[MetaRoot] = j.root
	}

	wk := &work{job: j, typ: src.typ, doc: doc, updated: exists, start: start}
	wk.build(chunks, res.Images, func(msg string) { r.rec.warn(j.source, msg) })
	if err := r.reuse(ctx, wk, oldItems); err != nil {
		return fail(err)
	}
	r.rec.event(Event{Kind: Chunked, Source: j.source, Type: src.typ, Items: len(wk.items), Reused: len(wk.reused),
		Total: wk.toEmbed(), Elapsed: time.Since(start)})
	return wk
}

// textBytes is the size of the text of res.
func textBytes(res *extract.Result) int64 {
	var n int64
	for _, b := range res.Blocks {
		n += int64(len(b.Text))
	}
	return n
}

// toEmbed is how many vectors the document needs computed.
func (wk *work) toEmbed() int { return len(wk.texts) + len(wk.images) }

// progress records that n more vectors of the document were computed and
// tells Progress.
func (r *run) progress(wk *work, n int) {
	if n <= 0 {
		return
	}
	wk.done = min(wk.done+n, wk.toEmbed())
	r.rec.event(Event{Kind: Embedding, Source: wk.job.source, Type: wk.typ, Done: wk.done, Total: wk.toEmbed(), Elapsed: time.Since(wk.start)})
}

// load reads a file or downloads a URL and detects its type. skip is set
// (and err nil) for a walked file of no supported type.
func (r *run) load(ctx context.Context, j job) (src source, skip string, err error) {
	if j.path == "" {
		page, err := r.fetcher.get(ctx, j.source)
		if err != nil {
			return src, "", err
		}
		src = source{data: page.Data, mime: page.MIME, base: page.URL, modTime: page.ModTime}
		src.typ = Detect(page.URL, page.Data)
		switch {
		case src.typ == TypeText && page.MIME == "text/markdown":
			src.typ = TypeMarkdown
		case src.typ == "" && page.MIME == "text/html":
			src.typ = TypeHTML
		}
		if r.p.Extractors[src.typ] == nil {
			return src, "", fmt.Errorf("%w (content type %q)", ErrUnsupported, firstNonEmpty(page.MIME, detectMIME(page.Data)))
		}
		return src, "", nil
	}

	f, err := os.Open(j.path)
	if err != nil {
		return src, "", fmt.Errorf("cannot read: %w", unwrapPath(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return src, "", fmt.Errorf("cannot read: %w", unwrapPath(err))
	}
	src.modTime = info.ModTime()
	unsupported := func(data []byte) (source, string, error) {
		msg := fmt.Sprintf("%s (%s)", ErrUnsupported, detectMIME(data))
		if j.explicit {
			return src, "", fmt.Errorf("%w (%s)", ErrUnsupported, detectMIME(data))
		}
		return src, msg, nil
	}
	if info.Size() > r.maxBytes {
		// Type first: an unsupported big file in a walked folder is
		// skipped quietly, a supported one is a failure worth reporting.
		head := make([]byte, 4096)
		n, _ := io.ReadFull(f, head)
		src.typ = Detect(j.path, head[:n])
		if r.p.Extractors[src.typ] == nil {
			return unsupported(head[:n])
		}
		return src, "", fmt.Errorf("file is %d bytes, limit %d: %w", info.Size(), r.maxBytes, ErrTooLarge)
	}
	src.data, err = io.ReadAll(io.LimitReader(f, r.maxBytes+1))
	if err != nil {
		return src, "", fmt.Errorf("cannot read: %w", unwrapPath(err))
	}
	if int64(len(src.data)) > r.maxBytes {
		return src, "", fmt.Errorf("file grew over the %d-byte limit while read: %w", r.maxBytes, ErrTooLarge)
	}
	if len(src.data) == 0 {
		if t := byExt[strings.ToLower(extOf(j.path))]; t != "" && !textual(t) {
			// An empty text is an empty document; an empty PDF, picture
			// or Office file is a broken one.
			return src, "", fmt.Errorf("empty file (0 bytes): not a valid %s", t)
		}
	}
	src.typ = Detect(j.path, src.data)
	if r.p.Extractors[src.typ] == nil {
		return unsupported(src.data)
	}
	src.mime = detectMIME(src.data)
	return src, "", nil
}

// textual says whether a type is plain text, whose empty file is an
// empty document rather than a broken one.
func textual(typ string) bool {
	return typ == TypeText || typ == TypeMarkdown || typ == TypeHTML || typ == TypeCSV
}

// complete reports whether every stored item has a vector of the model.
func (r *run) complete(ctx context.Context, items []mmrag.Item) bool {
	for _, it := range items {
		if _, err := r.p.Store.Vector(ctx, r.model, it.ID); err != nil {
			return false
		}
	}
	return true
}

// extract runs the extractor, turning a panic of third-party parsing code
// into an error naming the file rather than ending the process.
func (r *run) extract(ctx context.Context, typ string, src extract.Source) (res *extract.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = nil, fmt.Errorf("%s extractor panicked: %v\n%s", typ, v, debug.Stack())
		}
	}()
	res, err = r.p.Extractors[typ].Extract(ctx, src)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, fmt.Errorf("%s extractor returned no result", typ)
	}
	return res, nil
}

// split chunks res, with the same protection as extract.
func split(res *extract.Result, opts chunk.Options) (chunks []chunk.Chunk, err error) {
	defer func() {
		if v := recover(); v != nil {
			chunks, err = nil, fmt.Errorf("chunking panicked: %v\n%s", v, debug.Stack())
		}
	}()
	return chunk.Split(res, opts), nil
}

// reuse carries over the vectors, under the current model, of the previous
// version's items whose content the new version still has.
func (r *run) reuse(ctx context.Context, wk *work, old []mmrag.Item) error {
	wantText := map[string]bool{}
	wantBlob := map[string]bool{}
	for _, it := range wk.items {
		if it.Modality == mmrag.Image {
			wantBlob[it.BlobHash] = true
		} else {
			wantText[it.Text] = true
		}
	}
	for _, it := range old {
		var key string
		var dst map[string][]float32
		switch {
		case it.Modality == mmrag.Image && wantBlob[it.BlobHash] && wk.vecBlob[it.BlobHash] == nil:
			key, dst = it.BlobHash, wk.vecBlob
		case it.Modality == mmrag.Text && wantText[it.Text] && wk.vecText[it.Text] == nil:
			key, dst = it.Text, wk.vecText
		default:
			continue
		}
		v, err := r.p.Store.Vector(ctx, r.model, it.ID)
		if errors.Is(err, mmrag.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read stored vector: %w", err)
		}
		dst[key] = v
		wk.reused[key] = true
	}
	for t := range wantText {
		if wk.vecText[t] == nil {
			wk.texts = append(wk.texts, t)
		}
	}
	for h := range wantBlob {
		if wk.vecBlob[h] == nil {
			wk.images = append(wk.images, h)
		}
	}
	// Map order is random; embedding order need not be, and the tests
	// read more easily when it is not.
	sortStrings(wk.texts)
	sortStrings(wk.images)
	return nil
}

// embedStage embeds the texts and images of the documents in, batching
// those of every document already waiting, and passes them on to out.
func (r *run) embedStage(ctx context.Context, in <-chan *work, out chan<- *work) {
	for wk := range in {
		batch := []*work{wk}
		nt, ni := len(wk.texts), len(wk.images)
	fill:
		for nt < r.p.textBatch() && ni < r.p.imageBatch() {
			select {
			case more, ok := <-in:
				if !ok {
					break fill
				}
				batch = append(batch, more)
				nt += len(more.texts)
				ni += len(more.images)
			default:
				break fill
			}
		}
		if ctx.Err() == nil {
			r.embedTexts(ctx, batch)
			r.embedImages(ctx, batch)
		}
		for _, wk := range batch {
			select {
			case out <- wk:
			case <-ctx.Done():
			}
		}
	}
}

// embedTexts embeds the texts of batch in one run of calls; when that fails
// each document is tried alone, so that one bad document fails alone.
func (r *run) embedTexts(ctx context.Context, batch []*work) {
	var all []string
	var owners []*work // the document of each text of all
	for _, wk := range batch {
		all = append(all, wk.texts...)
		for range wk.texts {
			owners = append(owners, wk)
		}
	}
	if len(all) == 0 {
		return
	}
	vecs, err := r.textVectors(ctx, all, func(from, to int) { r.credit(owners[from:to]) })
	if err == nil {
		for _, wk := range batch {
			for _, t := range wk.texts {
				wk.vecText[t] = vecs[0]
				vecs = vecs[1:]
			}
			wk.embeds += len(wk.texts)
		}
		return
	}
	for _, wk := range batch {
		if len(wk.texts) == 0 {
			continue
		}
		if len(batch) == 1 || ctx.Err() != nil {
			wk.err = err
			continue
		}
		wk.done = 0 // its vectors of the failed run are gone: count again
		vecs, err := r.textVectors(ctx, wk.texts, func(from, to int) { r.progress(wk, to-from) })
		if err != nil {
			wk.err = err
			continue
		}
		for i, t := range wk.texts {
			wk.vecText[t] = vecs[i]
		}
		wk.embeds += len(wk.texts)
	}
}

// credit tells Progress about vectors computed, given the document of each
// (consecutive vectors of one document make one event).
func (r *run) credit(owners []*work) {
	for len(owners) > 0 {
		n := 1
		for n < len(owners) && owners[n] == owners[0] {
			n++
		}
		r.progress(owners[0], n)
		owners = owners[n:]
	}
}

// textVectors calls the embedder TextBatch texts at a time and checks what
// it returns; done is told the range of texts of each call that succeeded.
func (r *run) textVectors(ctx context.Context, texts []string, done func(from, to int)) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += r.p.textBatch() {
		part := texts[start:min(start+r.p.textBatch(), len(texts))]
		vecs, err := r.p.Embedder.EmbedTexts(ctx, part)
		if err != nil {
			return nil, fmt.Errorf("embed texts: %w", err)
		}
		if err := r.checkVectors(vecs, len(part)); err != nil {
			return nil, fmt.Errorf("embed texts: %w", err)
		}
		out = append(out, vecs...)
		done(start, start+len(part))
	}
	return out, nil
}

func (r *run) checkVectors(vecs [][]float32, n int) error {
	if len(vecs) != n {
		return fmt.Errorf("embedder returned %d vectors for %d inputs", len(vecs), n)
	}
	dim := r.p.Embedder.Dim()
	for _, v := range vecs {
		if len(v) != dim {
			return fmt.Errorf("embedder returned a %d-dimensional vector, its Dim is %d", len(v), dim)
		}
	}
	return nil
}

// imageRef is one distinct image of one document.
type imageRef struct {
	wk   *work
	hash string
	img  image.Image
}

// embedImages decodes and embeds the images of batch, ImageBatch at a time.
// An image that cannot be decoded or embedded is dropped with a warning;
// its document is stored without it.
func (r *run) embedImages(ctx context.Context, batch []*work) {
	// An image found in several documents of the batch is embedded once.
	var refs []*imageRef
	shared := map[string][]*work{} // hash → the other documents holding it
	for _, wk := range batch {
		if wk.err != nil {
			continue
		}
		for _, h := range wk.images {
			if _, seen := shared[h]; seen {
				shared[h] = append(shared[h], wk)
				continue
			}
			shared[h] = nil
			refs = append(refs, &imageRef{wk: wk, hash: h})
		}
	}
	defer func() {
		for _, ref := range refs {
			v := ref.wk.vecBlob[ref.hash]
			if v == nil {
				continue
			}
			for _, wk := range shared[ref.hash] {
				wk.vecBlob[ref.hash] = v
				wk.size[ref.hash] = ref.wk.size[ref.hash]
				wk.reused[ref.hash] = true
			}
		}
	}()
	cfg := r.imageConfig()
	for start := 0; start < len(refs); start += r.p.imageBatch() {
		if ctx.Err() != nil {
			for _, ref := range refs[start:] {
				ref.wk.err = ctx.Err()
			}
			return
		}
		group := refs[start:min(start+r.p.imageBatch(), len(refs))]
		r.decode(cfg, group)
		var ok []*imageRef
		for _, ref := range group {
			if ref.img != nil {
				ok = append(ok, ref)
			}
		}
		if err := r.embedGroup(ctx, ok); err != nil {
			for _, ref := range refs[start:] {
				ref.wk.err = err
			}
			return
		}
		var owners []*work // embedded or dropped: done with either way
		for _, ref := range group {
			ref.img = nil // let the pixels go before the next group is decoded
			owners = append(owners, ref.wk)
			owners = append(owners, shared[ref.hash]...)
		}
		r.credit(owners)
	}
}

// embedGroup embeds the decoded images of one group; when that fails it
// embeds them one by one, dropping with a warning those that fail alone.
// The error is ctx's, when it ended.
func (r *run) embedGroup(ctx context.Context, ok []*imageRef) error {
	if len(ok) == 0 {
		return nil
	}
	if err := r.imageVectors(ctx, ok); err == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Find the culprit: embed one by one.
	for _, ref := range ok {
		if err := r.imageVectors(ctx, []*imageRef{ref}); err != nil {
			r.rec.warn(ref.wk.job.source, fmt.Sprintf("image %s dropped: %v", ref.wk.imageName(ref.hash), err))
		}
	}
	return nil
}

// decode decodes the images of group in parallel.
func (r *run) decode(cfg imageprep.Config, group []*imageRef) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, r.p.workers())
	for _, ref := range group {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			img, _, err := cfg.Load(ref.wk.blobs[ref.hash], r.p.ImageLimits)
			if err != nil {
				r.rec.warn(ref.wk.job.source, fmt.Sprintf("image %s dropped: %v", ref.wk.imageName(ref.hash), err))
				return
			}
			ref.img = img
		})
	}
	wg.Wait()
}

func (r *run) imageVectors(ctx context.Context, refs []*imageRef) error {
	imgs := make([]image.Image, len(refs))
	for i, ref := range refs {
		imgs[i] = ref.img
	}
	vecs, err := r.p.Embedder.EmbedImages(ctx, imgs)
	if err == nil {
		err = r.checkVectors(vecs, len(imgs))
	}
	if err != nil {
		return fmt.Errorf("embed images: %w", err)
	}
	for i, ref := range refs {
		ref.wk.vecBlob[ref.hash] = vecs[i]
		ref.wk.size[ref.hash] = ref.img.Bounds().Size()
		ref.wk.embeds++
	}
	return nil
}

// preprocessor is implemented by embedders that know how their model wants
// images loaded (embed.CLIP: EXIF orientation per its preprocessor config).
type preprocessor interface {
	Preprocessor() imageprep.Config
}

func (r *run) imageConfig() imageprep.Config {
	if pp, ok := r.p.Embedder.(preprocessor); ok {
		return pp.Preprocessor()
	}
	return imageprep.DefaultCLIP()
}

// store writes a document whose vectors are all known.
func (r *run) store(ctx context.Context, wk *work) {
	ev := Event{Source: wk.job.source, Type: wk.typ, Bytes: wk.doc.Size}
	if wk.err != nil {
		if ctx.Err() == nil {
			ev.Kind, ev.Err, ev.Elapsed = Failed, wk.err, time.Since(wk.start)
			r.rec.event(ev)
		}
		return
	}
	items := make([]mmrag.Item, 0, len(wk.items))
	vectors := make([]mmrag.Vector, 0, len(wk.items))
	blobs := map[string][]byte{}
	reused := 0
	for _, it := range wk.items {
		var v []float32
		key := it.Text
		if it.Modality == mmrag.Image {
			key = it.BlobHash
			v = wk.vecBlob[key]
			if v == nil {
				continue // could not be decoded or embedded: warned
			}
			if it.Width == 0 || it.Height == 0 {
				if sz, ok := wk.size[key]; ok {
					it.Width, it.Height = sz.X, sz.Y
				}
			}
			blobs[key] = wk.blobs[key]
		} else {
			v = wk.vecText[key]
		}
		if v == nil {
			ev.Kind, ev.Err = Failed, fmt.Errorf("internal error: no vector for item %s", it.ID)
			r.rec.event(ev)
			return
		}
		if wk.reused[key] {
			reused++
		}
		items = append(items, it)
		vectors = append(vectors, mmrag.Vector{ItemID: it.ID, Model: r.model, Values: v})
	}
	if err := r.p.Store.PutDocument(ctx, wk.doc, items, vectors, blobs); err != nil {
		if ctx.Err() == nil {
			ev.Kind, ev.Err, ev.Elapsed = Failed, err, time.Since(wk.start)
			r.rec.event(ev)
		}
		return
	}
	ev.Kind = Added
	if wk.updated {
		ev.Kind = Updated
	}
	ev.Items, ev.Embedded, ev.Reused, ev.Elapsed = len(items), wk.embeds, reused, time.Since(wk.start)
	r.rec.event(ev)
}

// prune removes the documents stored under the walked folders whose files
// are gone.
func (r *run) prune(ctx context.Context, roots []string) {
	for _, root := range roots {
		docs, err := r.p.Store.Documents(ctx, mmrag.Filter{SourcePrefix: root + string(filepath.Separator)})
		if err != nil {
			r.rec.fail(root, fmt.Errorf("prune: %w", err))
			continue
		}
		for _, d := range docs {
			if _, err := os.Lstat(d.Source); !errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err := r.p.Store.DeleteDocument(ctx, d.ID); err != nil {
				r.rec.fail(d.Source, fmt.Errorf("prune: %w", err))
				continue
			}
			r.rec.event(Event{Kind: Removed, Source: d.Source, Type: d.Type})
		}
	}
}

// defaultTitle is the file name without its extension, for sources whose
// extractor found no title.
func defaultTitle(source string) string {
	name := source
	if isURL(source) {
		name = strings.TrimRight(source, "/")
	}
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	if ext := filepath.Ext(name); ext != "" && ext != name {
		name = strings.TrimSuffix(name, ext)
	}
	return name
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
