package weaviate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/weaviate/weaviate-go-client/v5/weaviate/fault"
	"github.com/weaviate/weaviate/entities/models"
)

// schemaMark starts the description of every collection this package
// creates; Open refuses collections of the prefix without it.
const schemaMark = "mmrag knowledge base, schema 1: "

// Property names. Item collections hold every Item field plus the document
// fields filters need (type, source, ingest time) and the bookkeeping of
// versions (docKey, version, ord, models).
const (
	pDocID    = "docId"
	pSource   = "source"
	pSrcHex   = "sourceHex"
	pType     = "type"
	pTitle    = "title"
	pHash     = "hash"
	pSize     = "size"
	pModTime  = "modTime"
	pIngested = "ingested"
	pMeta     = "meta"
	pVersion  = "version"
	pBlobs    = "blobs"

	pItemID    = "itemId"
	pDocKey    = "docKey"
	pOrd       = "ord"
	pKind      = "kind"
	pText      = "text"
	pSection   = "section"
	pPage      = "page"
	pAnchor    = "anchor"
	pTimeNs    = "timeNs"
	pPosition  = "position"
	pBlobHash  = "blobHash"
	pMIME      = "mime"
	pAlt       = "alt"
	pCaption   = "caption"
	pContext   = "context"
	pWidth     = "width"
	pHeight    = "height"
	pModels    = "models"
	pDocType   = "docType"
	pDocSrcHex = "docSourceHex"
	pDocIngest = "docIngested"

	pModel  = "model"
	pVector = "vector"
	pDim    = "dim"
	pIndex  = "index"

	pData = "data"
)

// placeholderVector is the named vector item collections are created with:
// Weaviate adds named vectors only to collections that already have one,
// and the models are not known when the collections are created. No object
// ever fills it.
const placeholderVector = "none"

type propSpec struct {
	name, dataType, tokenization string
	filterable, searchable       bool
}

func (p propSpec) model() *models.Property {
	f, s := p.filterable, p.searchable
	no := false
	return &models.Property{
		Name:              p.name,
		DataType:          []string{p.dataType},
		Tokenization:      p.tokenization,
		IndexFilterable:   &f,
		IndexSearchable:   &s,
		IndexRangeFilters: &no,
	}
}

func text(name string, filterable bool) propSpec {
	return propSpec{name: name, dataType: "text", tokenization: "field", filterable: filterable}
}
func num(name string, filterable bool) propSpec {
	return propSpec{name: name, dataType: "int", filterable: filterable}
}
func date(name string, filterable bool) propSpec {
	return propSpec{name: name, dataType: "date", filterable: filterable}
}

var docProps = []propSpec{
	text(pDocID, true), text(pSource, false), text(pSrcHex, true), text(pType, true),
	text(pTitle, false), text(pHash, false), num(pSize, false), date(pModTime, false),
	date(pIngested, true), text(pMeta, false), text(pVersion, false),
	{name: pBlobs, dataType: "text[]", tokenization: "field"},
}

func itemProps(fullText bool) []propSpec {
	return []propSpec{
		text(pItemID, true), text(pDocID, false), text(pDocKey, true), text(pVersion, true),
		num(pOrd, true), text(pKind, true),
		// BM25 runs over text and section, words lowercased and split at
		// anything neither letter nor digit, like the query.
		{name: pText, dataType: "text", tokenization: "word", searchable: fullText},
		{name: pSection, dataType: "text[]", tokenization: "word", searchable: fullText},
		num(pPage, false), text(pAnchor, false), num(pTimeNs, false), num(pPosition, false),
		text(pBlobHash, true), text(pMIME, false), text(pAlt, false), text(pCaption, false),
		text(pContext, false), num(pWidth, false), num(pHeight, false), text(pMeta, false),
		{name: pModels, dataType: "text[]", tokenization: "field", filterable: true},
		text(pDocType, true), text(pDocSrcHex, true), date(pDocIngest, true),
	}
}

var modelProps = []propSpec{text(pModel, true), text(pVector, false), num(pDim, false), text(pIndex, false)}

var blobProps = []propSpec{
	text(pHash, true), num(pSize, true), text(pMIME, false),
	{name: pData, dataType: "blob"},
}

type classSpec struct {
	name, what string
	props      []propSpec
	items      bool // item collection: named vectors
}

func (s *Store) classSpecs() []classSpec {
	specs := []classSpec{
		{name: s.names.doc, what: "documents", props: docProps},
		{name: s.names.text, what: "text items", props: itemProps(true), items: true},
		{name: s.names.image, what: "image items", props: itemProps(false), items: true},
		{name: s.names.model, what: "embedding models", props: modelProps},
	}
	if s.cfg.BlobDir == "" {
		specs = append(specs, classSpec{name: s.names.blob, what: "image blobs", props: blobProps})
	}
	return specs
}

func (s *Store) classModel(c classSpec) *models.Class {
	props := make([]*models.Property, len(c.props))
	for i, p := range c.props {
		props[i] = p.model()
	}
	r := int64(s.cfg.Replication)
	class := &models.Class{
		Class:       c.name,
		Description: schemaMark + c.what,
		Properties:  props,
		InvertedIndexConfig: &models.InvertedIndexConfig{
			// FTS5's defaults, and no stopwords: the embedded store has none.
			Bm25:      &models.BM25Config{K1: 1.2, B: 0.75},
			Stopwords: &models.StopwordConfig{Preset: "none"},
		},
		// One shard, replicated: BM25 statistics are per shard, so
		// spreading a knowledge base over shards would rank full-text
		// hits by whichever shard holds them (and differently from the
		// embedded store). Replication, not sharding, is what serves
		// availability here; Config.Shards raises it for write-heavy use.
		ShardingConfig: map[string]any{"desiredCount": s.cfg.Shards},
		ReplicationConfig: &models.ReplicationConfig{
			Factor: r,
			// A node that missed writes while down catches up in the
			// background; a deletion it missed wins over its stale copy.
			AsyncEnabled:     r > 1,
			DeletionStrategy: "TimeBasedResolution",
		},
	}
	if c.items {
		class.VectorConfig = map[string]models.VectorConfig{
			placeholderVector: {
				Vectorizer:      map[string]any{"none": map[string]any{}},
				VectorIndexType: "flat",
			},
		}
	} else {
		class.Vectorizer = "none"
		class.VectorIndexType = "flat"
	}
	return class
}

// ensureSchema creates the missing collections of the knowledge base and
// checks that existing ones have the settings this store would give them.
// It never changes an existing collection.
func (s *Store) ensureSchema(ctx context.Context) error {
	dump, err := s.client.Schema().Getter().Do(ctx)
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	existing := map[string]*models.Class{}
	for _, c := range dump.Classes {
		existing[c.Class] = c
	}
	// Check every existing collection before creating any missing one, so
	// that a refusal leaves the server as it was.
	var problems []string
	var missing []classSpec
	for _, spec := range s.classSpecs() {
		if c, ok := existing[spec.name]; ok {
			problems = append(problems, s.compareClass(spec, c)...)
		} else {
			missing = append(missing, spec)
		}
	}
	for _, spec := range missing {
		if len(problems) > 0 {
			break
		}
		err := s.client.Schema().ClassCreator().WithClass(s.classModel(spec)).Do(ctx)
		if err == nil {
			continue
		}
		// Another process may have created it meanwhile.
		if c, err2 := s.client.Schema().ClassGetter().WithClassName(spec.name).Do(ctx); err2 == nil && c != nil {
			problems = append(problems, s.compareClass(spec, c)...)
			continue
		}
		return fmt.Errorf("create collection %s: %w", spec.name, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("knowledge base %q exists with other settings; delete its collections or choose another prefix (nothing was changed):\n  %s",
			s.cfg.Prefix, strings.Join(problems, "\n  "))
	}
	return nil
}

// compareClass lists how an existing collection differs from spec.
func (s *Store) compareClass(spec classSpec, c *models.Class) []string {
	var d []string
	add := func(format string, args ...any) { d = append(d, spec.name+": "+fmt.Sprintf(format, args...)) }
	if !strings.HasPrefix(c.Description, schemaMark) {
		add("was not created by mmrag (description %q)", c.Description)
		return d
	}
	if c.ReplicationConfig != nil && c.ReplicationConfig.Factor != int64(s.cfg.Replication) {
		add("replication factor %d, this store is configured for %d", c.ReplicationConfig.Factor, s.cfg.Replication)
	}
	if ic := c.InvertedIndexConfig; ic != nil {
		if ic.Stopwords != nil && ic.Stopwords.Preset != "none" {
			add("stopword preset %q, want \"none\"", ic.Stopwords.Preset)
		}
		if ic.Bm25 != nil && (ic.Bm25.K1 != 1.2 || ic.Bm25.B != 0.75) {
			add("BM25 k1=%v b=%v, want k1=1.2 b=0.75", ic.Bm25.K1, ic.Bm25.B)
		}
	}
	have := map[string]*models.Property{}
	for _, p := range c.Properties {
		have[p.Name] = p
	}
	for _, want := range spec.props {
		p, ok := have[want.name]
		switch {
		case !ok:
			add("property %s is missing", want.name)
		case !slices.Equal(p.DataType, []string{want.dataType}):
			add("property %s has type %v, want %s", want.name, p.DataType, want.dataType)
		case want.tokenization != "" && p.Tokenization != want.tokenization:
			add("property %s has tokenization %q, want %q", want.name, p.Tokenization, want.tokenization)
		case want.searchable && (p.IndexSearchable == nil || !*p.IndexSearchable):
			add("property %s is not full-text indexed", want.name)
		case want.filterable && (p.IndexFilterable == nil || !*p.IndexFilterable):
			add("property %s is not filterable", want.name)
		}
	}
	if spec.items {
		if _, ok := c.VectorConfig[placeholderVector]; !ok {
			add("has no named vector %q: not an mmrag item collection", placeholderVector)
		}
		for name, vc := range c.VectorConfig {
			if name == placeholderVector {
				continue
			}
			if vc.VectorIndexType != s.cfg.Index {
				add("named vector %s uses a %s index, this store is configured for %s", name, vc.VectorIndexType, s.cfg.Index)
			}
			if dist := vectorDistance(vc.VectorIndexConfig); dist != "" && dist != "dot" {
				add("named vector %s uses distance %s, want dot", name, dist)
			}
		}
	}
	return d
}

func vectorDistance(cfg any) string {
	m, ok := cfg.(map[string]any)
	if !ok {
		return ""
	}
	d, _ := m["distance"].(string)
	return d
}

// isStatus reports whether err is a Weaviate answer with the given HTTP status.
func isStatus(err error, code int) bool {
	var we *fault.WeaviateClientError
	return errors.As(err, &we) && we.StatusCode == code
}

// rest sends one request to the REST API outside the client: the class
// update must round-trip fields the client's models do not know.
func (s *Store) rest(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+"/v1"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if s.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.APIKey)
	}
	resp, err := (&http.Client{Timeout: s.cfg.Timeout}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &fault.WeaviateClientError{IsUnexpectedStatusCode: true, StatusCode: resp.StatusCode, Msg: strings.TrimSpace(string(data))}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// addVector adds a named vector to an item collection unless present.
func (s *Store) addVector(ctx context.Context, class, name string) error {
	var raw map[string]any
	if err := s.rest(ctx, http.MethodGet, "/schema/"+class, nil, &raw); err != nil {
		return fmt.Errorf("read collection %s: %w", class, err)
	}
	vc, _ := raw["vectorConfig"].(map[string]any)
	if vc == nil {
		return fmt.Errorf("collection %s has no named vectors: not an mmrag item collection", class)
	}
	if _, ok := vc[name]; ok {
		return nil
	}
	vc[name] = map[string]any{
		"vectorizer":        map[string]any{"none": map[string]any{}},
		"vectorIndexType":   s.cfg.Index,
		"vectorIndexConfig": map[string]any{"distance": "dot"},
	}
	if err := s.rest(ctx, http.MethodPut, "/schema/"+class, raw, nil); err != nil {
		return fmt.Errorf("add named vector %s to collection %s: %w", name, class, err)
	}
	return nil
}

// hasVector reports whether an item collection has a named vector.
func (s *Store) hasVector(ctx context.Context, class, name string) (bool, error) {
	var raw struct {
		VectorConfig map[string]json.RawMessage `json:"vectorConfig"`
	}
	if err := s.rest(ctx, http.MethodGet, "/schema/"+class, nil, &raw); err != nil {
		return false, fmt.Errorf("read collection %s: %w", class, err)
	}
	_, ok := raw.VectorConfig[name]
	return ok, nil
}
