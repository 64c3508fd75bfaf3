package weaviate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/go-openapi/strfmt"
	"github.com/weaviate/weaviate-go-client/v5/weaviate/filters"
	"github.com/weaviate/weaviate/entities/models"

	"mmrag"
	"mmrag/store"
)

// testHookAfterItems, when set by a test, runs in PutDocument after the new
// version's items are written, before the document object names it.
var testHookAfterItems func(docID string)

// put is a validated PutDocument call.
type put struct {
	doc      mmrag.Document
	items    []mmrag.Item
	modality map[string]mmrag.Modality       // item id → modality
	vectors  map[string]map[string][]float32 // item id → model → values
	dims     map[string]int                  // model → dim
	refs     map[string]string               // blob hash referenced by an item → MIME of its first item
	blobs    map[string][]byte               // referenced hashes whose bytes were given
}

// preparePut checks a PutDocument call before anything is written: the
// contract's checks (store.CheckPut), then the times Weaviate can hold.
func preparePut(doc mmrag.Document, items []mmrag.Item, vectors []mmrag.Vector, blobs map[string][]byte) (*put, error) {
	c, err := store.CheckPut(doc, items, vectors, blobs)
	if err != nil {
		return nil, err
	}
	if err := storable(doc.ModTime); err != nil {
		return nil, fmt.Errorf("mod time: %w", err)
	}
	if err := storable(doc.Ingested); err != nil {
		return nil, fmt.Errorf("ingest time: %w", err)
	}
	p := &put{
		doc:      c.Doc,
		items:    c.Items,
		modality: c.Modality,
		vectors:  map[string]map[string][]float32{},
		dims:     c.Dims,
		refs:     c.Refs,
		blobs:    c.Blobs,
	}
	for _, v := range c.Vectors {
		byModel := p.vectors[v.ItemID]
		if byModel == nil {
			byModel = map[string][]float32{}
			p.vectors[v.ItemID] = byModel
		}
		byModel[v.Model] = v.Values
	}
	return p, nil
}

// PutDocument stores doc with its items, their vectors and the image bytes
// they reference (blobs, keyed by sha256 hex), replacing any earlier version
// of the document. The rules are every store's (store.CheckPut): items get
// doc.ID as DocID; a vector must belong to one of items and have the
// dimension its model was first stored with; every referenced blob must be
// given or stored; blobs no item references are ignored. Everything is
// checked before anything is written. See the package comment for how the
// replacement approximates a transaction.
func (s *Store) PutDocument(ctx context.Context, doc mmrag.Document, items []mmrag.Item, vectors []mmrag.Vector, blobs map[string][]byte) error {
	p, err := preparePut(doc, items, vectors, blobs)
	if err == nil {
		err = s.put(ctx, p)
	}
	if err != nil {
		return fmt.Errorf("put document %s (%s) into weaviate %s: %w", doc.ID, doc.Source, s.url, err)
	}
	return nil
}

func (s *Store) put(ctx context.Context, p *put) error {
	defer s.lockDoc(p.doc.ID)()
	key := docUUID(p.doc.ID)

	modelIDs := slices.Sorted(maps.Keys(p.dims))
	for _, m := range modelIDs {
		info, ok, err := s.lookupModel(ctx, m)
		if err != nil {
			return err
		}
		if ok {
			if err := store.CheckDim(m, p.dims[m], info.dim); err != nil {
				return err
			}
		}
	}
	res, err := s.run(ctx, query{class: s.names.doc, where: eq(pSrcHex, hex.EncodeToString([]byte(p.doc.Source))), limit: 2, props: []string{pDocID}})
	if err != nil {
		return fmt.Errorf("look up source: %w", err)
	}
	for _, r := range res {
		if other := r.props.str(pDocID); other != p.doc.ID {
			return fmt.Errorf("source %s is already stored as document %s", p.doc.Source, other)
		}
	}
	if err := s.checkItemOwners(ctx, p, key); err != nil {
		return err
	}
	old, err := s.docState(ctx, key)
	if err != nil {
		return err
	}

	// From checking that a blob exists until the items referencing it are
	// written, no blob collection may run.
	s.gcMu.RLock()
	gcLocked := true
	unlockGC := func() {
		if gcLocked {
			s.gcMu.RUnlock()
			gcLocked = false
		}
	}
	defer unlockGC()
	var missing, written []string
	for _, h := range slices.Sorted(maps.Keys(p.refs)) {
		has, err := s.blobs.has(ctx, h)
		if err != nil {
			return err
		}
		_, given := p.blobs[h]
		switch {
		case !has && !given:
			return fmt.Errorf("blob %s is referenced by an item but neither given nor stored", h)
		case !has:
			missing = append(missing, h)
		}
	}
	for _, h := range missing {
		if err := s.blobs.put(ctx, h, p.blobs[h], p.refs[h]); err != nil {
			unlockGC()
			s.collectBlobs(ctx, written)
			return err
		}
		written = append(written, h)
	}

	infos := map[string]modelInfo{}
	for _, m := range modelIDs {
		info, err := s.ensureModel(ctx, m, p.dims[m])
		if err != nil {
			unlockGC()
			s.collectBlobs(ctx, written)
			return err
		}
		infos[m] = info
	}

	version := newVersion()
	objs := make([]*models.Object, len(p.items))
	for i := range p.items {
		objs[i] = s.itemObject(p, i, key, version, infos)
	}
	rollback := func() {
		s.deleteWhere(ctx, []string{s.names.text, s.names.image}, and(eq(pDocKey, key), eq(pVersion, version)))
		s.collectBlobs(ctx, written)
	}
	if err := s.insert(ctx, objs); err != nil {
		unlockGC()
		rollback()
		return fmt.Errorf("write items: %w", err)
	}
	unlockGC()
	if testHookAfterItems != nil {
		testHookAfterItems(p.doc.ID)
	}

	// The commit point: the document object names the new version.
	if err := s.insert(ctx, []*models.Object{s.docObject(p, key, version)}); err != nil {
		// The write may have landed though its answer was lost: only undo
		// when the document provably does not name the new version.
		if now, err2 := s.docState(ctx, key); err2 == nil && now.version != version {
			rollback()
			return fmt.Errorf("write document: %w", err)
		} else if err2 != nil {
			return fmt.Errorf("write document: %w (its state is unknown: the new version is visible only if the write landed)", err)
		}
	}

	// Everything of the document that is not the new version: the old
	// version, and whatever an interrupted earlier put left.
	err = s.deleteWhere(ctx, []string{s.names.text, s.names.image}, and(eq(pDocKey, key), where(pVersion, filters.NotEqual).WithValueText(version)))
	var gone []string
	for _, h := range old.blobs {
		if _, still := p.refs[h]; !still {
			gone = append(gone, h)
		}
	}
	s.collectBlobs(ctx, gone)
	if err != nil {
		return fmt.Errorf("document stored, but removing its previous version failed (readers do not see it; the next put or Sweep removes it): %w", err)
	}
	return nil
}

// DeleteDocument removes a document with its items, vectors and the blobs
// no other item references. The document object goes first, which hides
// its items at once; then the items are deleted.
func (s *Store) DeleteDocument(ctx context.Context, id string) error {
	defer s.lockDoc(id)()
	key := docUUID(id)
	old, err := s.docState(ctx, key)
	if err != nil {
		return fmt.Errorf("delete document %s from weaviate %s: %w", id, s.url, err)
	}
	if !old.exists {
		return fmt.Errorf("delete document %s: %w", id, mmrag.ErrNotFound)
	}
	err = s.retry(ctx, func() error {
		err := s.client.Data().Deleter().WithClassName(s.names.doc).WithID(key).WithConsistencyLevel(s.cl).Do(ctx)
		if isStatus(err, http.StatusNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete document %s from weaviate %s: %w", id, s.url, err)
	}
	err = s.deleteWhere(ctx, []string{s.names.text, s.names.image}, eq(pDocKey, key))
	s.collectBlobs(ctx, old.blobs)
	if err != nil {
		return fmt.Errorf("document %s deleted, but removing its items failed (readers do not see them; Sweep removes them): %w", id, err)
	}
	return nil
}

// docState is what a write needs to know of a stored document.
type docState struct {
	exists  bool
	version string
	blobs   []string // hashes its version references
}

func (s *Store) docState(ctx context.Context, key string) (docState, error) {
	res, err := s.run(ctx, query{class: s.names.doc, where: eq("_id", key), limit: 1, props: []string{pVersion, pBlobs}})
	if err != nil {
		return docState{}, fmt.Errorf("read document state: %w", err)
	}
	if len(res) == 0 {
		return docState{}, nil
	}
	return docState{exists: true, version: res[0].props.str(pVersion), blobs: res[0].props.strs(pBlobs)}, nil
}

// checkItemOwners refuses item ids that a live version of another document
// holds.
func (s *Store) checkItemOwners(ctx context.Context, p *put, key string) error {
	ids := make([]string, len(p.items))
	for i, it := range p.items {
		ids[i] = it.ID
	}
	for chunk := range slices.Chunk(ids, 500) {
		for _, class := range []string{s.names.text, s.names.image} {
			res, err := s.run(ctx, query{
				class: class,
				where: and(anyOf(pItemID, chunk), where(pDocKey, filters.NotEqual).WithValueText(key)),
				limit: min(s.cfg.MaxResults, 4*len(chunk)),
				props: []string{pItemID, pDocID, pDocKey, pVersion},
			})
			if err != nil {
				return fmt.Errorf("check item ids: %w", err)
			}
			live, err := s.live(ctx, res)
			if err != nil {
				return err
			}
			for _, r := range live {
				if id := r.props.str(pItemID); contains(chunk, id) {
					return fmt.Errorf("item %s already belongs to document %s", id, r.props.str(pDocID))
				}
			}
		}
	}
	return nil
}

func newVersion() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Store) itemObject(p *put, i int, key, version string, infos map[string]modelInfo) *models.Object {
	it := p.items[i]
	pr := map[string]any{
		pItemID: it.ID, pDocID: it.DocID, pDocKey: key, pVersion: version, pOrd: i,
		pKind: it.Kind, pText: it.Text, pPage: it.Page, pAnchor: it.Anchor, pTimeNs: int64(it.Time),
		pPosition: it.Position, pBlobHash: it.BlobHash, pMIME: it.MIME, pAlt: it.Alt,
		pCaption: it.Caption, pContext: it.Context, pWidth: it.Width, pHeight: it.Height,
		pDocType: p.doc.Type, pDocSrcHex: hex.EncodeToString([]byte(p.doc.Source)),
	}
	if len(it.Section) > 0 {
		pr[pSection] = slices.Clone(it.Section)
	}
	if len(it.Meta) > 0 {
		pr[pMeta] = encJSON(it.Meta)
	}
	if !p.doc.Ingested.IsZero() {
		pr[pDocIngest] = fmtTime(p.doc.Ingested)
	}
	obj := &models.Object{
		Class:      s.names.item(it.Modality),
		ID:         strfmt.UUID(itemUUID(version, it.ID)),
		Properties: pr,
	}
	if vecs := p.vectors[it.ID]; len(vecs) > 0 {
		obj.Vectors = models.Vectors{}
		var names []string
		for m, v := range vecs {
			obj.Vectors[infos[m].vector] = v
			names = append(names, infos[m].vector)
		}
		slices.Sort(names)
		pr[pModels] = names
	}
	return obj
}

func (s *Store) docObject(p *put, key, version string) *models.Object {
	d := p.doc
	pr := map[string]any{
		pDocID: d.ID, pSource: d.Source, pSrcHex: hex.EncodeToString([]byte(d.Source)), pType: d.Type,
		pTitle: d.Title, pHash: d.Hash, pSize: d.Size, pVersion: version,
	}
	if !d.ModTime.IsZero() {
		pr[pModTime] = fmtTime(d.ModTime)
	}
	if !d.Ingested.IsZero() {
		pr[pIngested] = fmtTime(d.Ingested)
	}
	if len(d.Meta) > 0 {
		pr[pMeta] = encJSON(d.Meta)
	}
	if len(p.refs) > 0 {
		pr[pBlobs] = slices.Sorted(maps.Keys(p.refs))
	}
	return &models.Object{Class: s.names.doc, ID: strfmt.UUID(key), Properties: pr}
}

// ImportError reports the objects a batch import could not write, after
// its retries, each with Weaviate's reason.
type ImportError struct {
	Failed []ObjectError
}

// ObjectError is one object a batch import could not write.
type ObjectError struct {
	Collection string
	UUID       string
	Item       string // mmrag item or document id
	Reason     string
}

func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d objects not written:", len(e.Failed))
	for i, f := range e.Failed {
		if i == 5 {
			fmt.Fprintf(&b, " … and %d more", len(e.Failed)-i)
			break
		}
		fmt.Fprintf(&b, " [%s %s: %s]", f.Collection, f.Item, f.Reason)
	}
	return b.String()
}

// batchBytes caps the estimated size of one batch request, well below
// Weaviate's gRPC message limit.
const batchBytes = 8 << 20

// insert writes objects (creating or overwriting them by UUID) in batches.
// A batch that fails as a whole is sent again, and so are the objects a
// batch reports as failed, up to Config.Retries times with backoff; what
// still fails is returned as an *ImportError.
func (s *Store) insert(ctx context.Context, objs []*models.Object) error {
	var failed []ObjectError
	start := 0
	for start < len(objs) {
		end, size := start, 0
		for end < len(objs) && end-start < s.cfg.BatchSize && (end == start || size < batchBytes) {
			size += approxSize(objs[end])
			end++
		}
		f, err := s.insertBatch(ctx, objs[start:end])
		if err != nil {
			return err
		}
		failed = append(failed, f...)
		start = end
	}
	if len(failed) > 0 {
		return &ImportError{Failed: failed}
	}
	return nil
}

func (s *Store) insertBatch(ctx context.Context, pending []*models.Object) ([]ObjectError, error) {
	var failed []ObjectError
	err := s.retry(ctx, func() error {
		resp, err := s.client.Batch().ObjectsBatcher().WithObjects(pending...).WithConsistencyLevel(s.cl).Do(ctx)
		if err != nil {
			return err
		}
		var again []*models.Object
		failed = failed[:0]
		for i, r := range resp {
			if i >= len(pending) || r.Result == nil || r.Result.Errors == nil || len(r.Result.Errors.Error) == 0 {
				continue
			}
			var msgs []string
			for _, e := range r.Result.Errors.Error {
				msgs = append(msgs, e.Message)
			}
			o := pending[i]
			again = append(again, o)
			failed = append(failed, ObjectError{Collection: o.Class, UUID: string(o.ID), Item: objectName(o), Reason: strings.Join(msgs, "; ")})
		}
		if len(again) == 0 {
			return nil
		}
		pending = again
		return errObjectsFailed
	})
	if errors.Is(err, errObjectsFailed) {
		return failed, nil
	}
	if err != nil {
		return nil, fmt.Errorf("batch import of %d objects: %w", len(pending), err)
	}
	return nil, nil
}

// errObjectsFailed makes retry send the failed objects of a batch again.
var errObjectsFailed = errors.New("some objects of the batch failed")

func objectName(o *models.Object) string {
	if m, ok := o.Properties.(map[string]any); ok {
		if id, ok := m[pItemID].(string); ok {
			return "item " + id
		}
		if id, ok := m[pDocID].(string); ok {
			return "document " + id
		}
		if h, ok := m[pHash].(string); ok {
			return "blob " + h
		}
	}
	return string(o.ID)
}

func approxSize(o *models.Object) int {
	n := 256
	if m, ok := o.Properties.(map[string]any); ok {
		for k, v := range m {
			n += len(k) + 8
			switch v := v.(type) {
			case string:
				n += len(v)
			case []string:
				for _, s := range v {
					n += len(s) + 4
				}
			}
		}
	}
	for _, v := range o.Vectors {
		if f, ok := v.([]float32); ok {
			n += 4 * len(f)
		}
	}
	return n
}

// deleteWhere deletes the objects matching w from each class, in as many
// requests as the server's per-request cap needs.
func (s *Store) deleteWhere(ctx context.Context, classes []string, w *filters.WhereBuilder) error {
	for _, class := range classes {
		for {
			var res *models.BatchDeleteResponse
			err := s.retry(ctx, func() error {
				var err error
				res, err = s.client.Batch().ObjectsBatchDeleter().WithClassName(class).WithWhere(w).
					WithOutput("minimal").WithConsistencyLevel(s.cl).Do(ctx)
				return err
			})
			if err != nil {
				return fmt.Errorf("delete from %s: %w", class, err)
			}
			if res == nil || res.Results == nil {
				break
			}
			r := res.Results
			if r.Failed > 0 {
				return fmt.Errorf("delete from %s: %d of %d objects failed", class, r.Failed, r.Matches)
			}
			if r.Matches == 0 || r.Limit == 0 || r.Matches < r.Limit {
				break
			}
		}
	}
	return nil
}

// collectBlobs removes the given blobs when no item references them any
// more, best effort: a blob left behind is an orphan Sweep removes.
func (s *Store) collectBlobs(ctx context.Context, hashes []string) {
	if len(hashes) == 0 {
		return
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	for _, h := range hashes {
		n, err := s.blobRefs(ctx, h)
		if err != nil || n > 0 {
			continue
		}
		s.blobs.delete(ctx, h)
	}
}

// blobRefs counts the item objects referencing a blob, of any version: an
// item being written counts.
func (s *Store) blobRefs(ctx context.Context, h string) (int, error) {
	total := 0
	for _, class := range []string{s.names.text, s.names.image} {
		n, err := s.count(ctx, class, eq(pBlobHash, h))
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// encJSON encodes a map without HTML escaping.
func encJSON(v map[string]string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v) // a map of strings always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

func decMeta(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode meta: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// Sweep removes what interrupted writes left behind: item objects that are
// not the current version of a stored document, and blobs no item
// references. It scans every collection, so it costs a pass over the
// knowledge base; run it after a crash or from maintenance jobs, not per
// request. It returns how many objects it removed.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	removed := 0
	for _, class := range []string{s.names.text, s.names.image} {
		var stale []string
		err := s.scan(ctx, class, hitProps, nil, func(res []result) error {
			live, err := s.live(ctx, res)
			if err != nil {
				return err
			}
			ok := make(map[string]bool, len(live))
			for _, r := range live {
				ok[r.id] = true
			}
			for _, r := range res {
				if !ok[r.id] {
					stale = append(stale, r.id)
				}
			}
			return nil
		})
		if err != nil {
			return removed, fmt.Errorf("sweep %s: %w", class, err)
		}
		for chunk := range slices.Chunk(stale, 500) {
			if err := s.deleteWhere(ctx, []string{class}, anyOf("_id", chunk)); err != nil {
				return removed, fmt.Errorf("sweep %s: %w", class, err)
			}
			removed += len(chunk)
		}
	}
	n, err := sweepBlobs(ctx, s, s.blobs)
	removed += n
	if err != nil {
		return removed, fmt.Errorf("sweep blobs: %w", err)
	}
	return removed, nil
}
