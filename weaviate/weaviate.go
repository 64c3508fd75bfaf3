// Package weaviate is mmrag's distributed store: a mmrag.Store kept in a
// Weaviate server or cluster (1.35), through the official Go client (REST for
// schema, aggregates and deletes; gRPC for batch import and every search). It
// owns the mapping of mmrag's documents, items, vectors and blobs onto
// Weaviate collections, the translation of filters and full-text queries,
// and the versioning that approximates PutDocument's transaction.
//
// # Collections
//
// A knowledge base is a set of collections sharing a name prefix (Config.Prefix,
// default "Mmrag"), not a tenant: tenants cannot hold different named vectors
// or replication factors, a prefix costs nothing, and several knowledge bases
// can live side by side in one cluster and be deleted independently.
//
//	<Prefix>Document  one object per document (no vector)
//	<Prefix>Text      text items: BM25 over text and section, named vectors
//	<Prefix>Image     image items: named vectors, no full-text index
//	<Prefix>Model     one object per embedding model: its vector name and dimension
//	<Prefix>Blob      image bytes, one object per sha256 (unless Config.BlobDir)
//
// One collection per modality rather than one for all items: a vector search
// asks for one modality, and a filter on modality would turn every search into
// a filtered HNSW search (slower, and approximate in another way); BM25 then
// naturally covers text items only. Within a modality every embedding model
// is a named vector ("m_<model>_<hash>"), added to both item collections the
// first time a model is stored, so that an item exists once whatever the
// number of models, items without vectors are still stored and searchable by
// BM25, and models of different dimensions never share an index. The
// distance is "dot", so a hit's score is exactly -distance, the dot product
// the embedded store ranks by. Vectors are brought by mmrag (vectorizer
// "none").
//
// Every Item field is a property; documents' type, source and ingest time are
// copied onto their items so that filters run inside Weaviate. Sources are
// filtered through their hex encoding (a byte-exact prefix becomes a range of
// hex strings), never through Like patterns, whose wildcards and trimming
// would change the meaning of a prefix.
//
// # Versions instead of transactions
//
// Weaviate has no multi-object transaction. PutDocument therefore writes the
// new version's items as new objects (their UUID includes a random version
// id), then switches the document object to the new version — the commit
// point, one object write — and only then deletes the previous version's
// objects by version marker. Readers accept an item only when its version is
// the current version of its document, so they see the old version or the
// new, never a mix, and a failure at any step never leaves a document without
// items: before the switch the new objects are invisible (and removed again),
// after it the old ones are. Objects left by a crash are invisible too; the
// next put or delete of the document, or Sweep, removes them. What is only
// approximate: Stats counts such leftovers while they exist, and two
// processes writing the same document at once are not serialised (one
// process is: writes of one document take a lock).
//
// # Images
//
// Image bytes go to the <Prefix>Blob collection (a blob property,
// content-addressed by sha256, stored once however many items reference it,
// read only by Blob) unless Config.BlobDir names a local folder. The
// collection is the default because it makes the knowledge base one
// replicated unit: any machine that reaches the cluster can serve images, and
// a node's loss loses no image. A local folder is faster and keeps large
// images out of Weaviate, but only the machine that holds it can serve them.
// Either way a blob is removed once no item references it.
//
// # Limits
//
// Weaviate caps offset+limit of a query at QUERY_MAXIMUM_RESULTS (default
// 10 000; Config.MaxResults must match the server's). A vector search with
// K ≤ 0 asks for all matches in one filtered (hence brute-force, exact)
// query; when there are more than the cap, or K exceeds it, the collection
// is scanned through the cursor API and scored in Go. Either way K ≤ 0 costs
// an object load per item on the server (about 0.1 ms each), so the
// reference scoring's softmax over the whole collection does not scale here
// the way K > 0 does. A full-text search with K ≤ 0 returns at most
// MaxResults hits. Vector searches with K > 0 run on HNSW (Config.Index
// "hnsw", the default): exact below Weaviate's flatSearchCutoff (40 000
// matches) when filtered and in practice on small collections, approximate
// on large unfiltered ones; "flat" is exact always, at the cost of a scan
// per query. Answers are limited to 4 MiB by the client's gRPC settings:
// listings page down until they fit.
package weaviate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	wv "github.com/weaviate/weaviate-go-client/v5/weaviate"
	"github.com/weaviate/weaviate-go-client/v5/weaviate/auth"
	wvgrpc "github.com/weaviate/weaviate-go-client/v5/weaviate/grpc"

	"mmrag"
)

// Config says which Weaviate to use and how.
type Config struct {
	// URL is the REST endpoint, e.g. http://127.0.0.1:8080. Required.
	URL string
	// GRPCHost and GRPCPort locate the gRPC endpoint. Defaults: the host
	// of URL and 50051. TLS is used when URL is https.
	GRPCHost string
	GRPCPort int
	// APIKey, when set, is sent as a bearer token.
	APIKey string
	// Prefix starts the name of every collection of the knowledge base:
	// an ASCII letter, then letters, digits or underscores. Default "Mmrag".
	Prefix string
	// Replication is the replication factor of new collections; an
	// existing knowledge base must have been created with the same one.
	// Default 1.
	Replication int
	// Shards is the shard count of new collections. Default 1: BM25 ranks
	// within a shard, so one shard keeps full-text ranking exact; more
	// spread writes over nodes at that cost.
	Shards int
	// Consistency is the consistency level of reads and writes: ONE,
	// QUORUM or ALL. Default QUORUM.
	Consistency string
	// BlobDir, when set, keeps image bytes in this local folder instead of
	// the <Prefix>Blob collection.
	BlobDir string
	// Index is the vector index of new embedding models: "hnsw" (default)
	// or "flat".
	Index string
	// Timeout bounds each request. Default 60s.
	Timeout time.Duration
	// MaxResults is the server's QUERY_MAXIMUM_RESULTS. Default 10000.
	MaxResults int
	// BatchSize is the number of objects per batch import request.
	// Default 200.
	BatchSize int
	// Retries is how often a failed batch (or the failed objects of one)
	// is sent again, with exponential backoff from 250ms. Default 4.
	Retries int
}

// Store is a mmrag.Store kept in Weaviate. Create it with Open. It is safe
// for concurrent use.
type Store struct {
	cfg      Config
	url      string // REST URL, for messages
	grpcAddr string
	client   *wv.Client
	cl       string // consistency level
	names    names
	blobs    blobStore

	// models caches the model registry: an entry never changes once
	// written, so it is never invalidated.
	modelsMu sync.Mutex
	models   map[string]modelInfo
	schemaMu sync.Mutex // held while adding a named vector

	// docLocks serialises writes of one document in this process.
	docLocksMu sync.Mutex
	docLocks   map[string]*docLock

	// gcMu keeps blob collection (Lock) apart from puts between checking
	// that a blob exists and writing the items that reference it (RLock).
	gcMu sync.RWMutex

	closeOnce sync.Once
}

var _ mmrag.Store = (*Store)(nil)

type docLock struct {
	mu   sync.Mutex
	refs int
}

// names are the collection names of one knowledge base.
type names struct {
	doc, text, image, model, blob string
}

func newNames(prefix string) names {
	return names{
		doc:   prefix + "Document",
		text:  prefix + "Text",
		image: prefix + "Image",
		model: prefix + "Model",
		blob:  prefix + "Blob",
	}
}

func (n names) item(m mmrag.Modality) string {
	if m == mmrag.Image {
		return n.image
	}
	return n.text
}

var prefixRE = regexp.MustCompile(`^[A-Za-z][_0-9A-Za-z]{0,200}$`)

func (c *Config) setDefaults() error {
	if c.URL == "" {
		return errors.New("no Weaviate URL")
	}
	if c.Prefix == "" {
		c.Prefix = "Mmrag"
	}
	if !prefixRE.MatchString(c.Prefix) {
		return fmt.Errorf("collection prefix %q: want an ASCII letter followed by letters, digits or underscores", c.Prefix)
	}
	// Weaviate capitalises the first letter of a collection name.
	c.Prefix = strings.ToUpper(c.Prefix[:1]) + c.Prefix[1:]
	if c.Replication == 0 {
		c.Replication = 1
	}
	if c.Replication < 1 {
		return fmt.Errorf("replication factor %d: want at least 1", c.Replication)
	}
	if c.Shards == 0 {
		c.Shards = 1
	}
	if c.Shards < 1 {
		return fmt.Errorf("shard count %d: want at least 1", c.Shards)
	}
	c.Consistency = strings.ToUpper(c.Consistency)
	switch c.Consistency {
	case "":
		c.Consistency = "QUORUM"
	case "ONE", "QUORUM", "ALL":
	default:
		return fmt.Errorf("consistency level %q: want ONE, QUORUM or ALL", c.Consistency)
	}
	switch c.Index {
	case "":
		c.Index = "hnsw"
	case "hnsw", "flat":
	default:
		return fmt.Errorf("vector index %q: want hnsw or flat", c.Index)
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.MaxResults <= 0 {
		c.MaxResults = 10000
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 200
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = 4
	}
	return nil
}

// Open connects to the Weaviate at cfg.URL and prepares the knowledge base
// named by cfg.Prefix, creating its collections when absent. It fails with
// an error naming the URL when the server does not answer, and refuses (and
// changes nothing) when collections of that prefix exist with other
// settings: another replication factor, other properties, a non-mmrag
// collection of the same name.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("open weaviate store: %w", err)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("open weaviate store: URL %q: want http://host:port or https://host:port", cfg.URL)
	}
	restURL := u.Scheme + "://" + u.Host
	grpcHost := cfg.GRPCHost
	if grpcHost == "" {
		grpcHost = u.Hostname()
	}
	grpcPort := cfg.GRPCPort
	if grpcPort == 0 {
		grpcPort = 50051
	}
	grpcAddr := net.JoinHostPort(grpcHost, strconv.Itoa(grpcPort))

	if err := checkReady(ctx, restURL, cfg.Timeout); err != nil {
		return nil, fmt.Errorf("open weaviate store: %w", err)
	}

	wcfg := wv.Config{
		Host:           u.Host,
		Scheme:         u.Scheme,
		Timeout:        cfg.Timeout,
		StartupTimeout: min(cfg.Timeout, 10*time.Second), // also health-checks gRPC
		GrpcConfig:     &wvgrpc.Config{Host: grpcAddr, Secured: u.Scheme == "https"},
	}
	if cfg.APIKey != "" {
		wcfg.AuthConfig = auth.ApiKey{Value: cfg.APIKey}
	}
	client, err := wv.NewClient(wcfg)
	if err != nil {
		return nil, fmt.Errorf("open weaviate store at %s (gRPC %s): %w", restURL, grpcAddr, err)
	}
	s := &Store{
		cfg:      cfg,
		url:      restURL,
		grpcAddr: grpcAddr,
		client:   client,
		cl:       cfg.Consistency,
		names:    newNames(cfg.Prefix),
		models:   map[string]modelInfo{},
		docLocks: map[string]*docLock{},
	}
	if err := s.ensureSchema(ctx); err != nil {
		return nil, fmt.Errorf("open weaviate store at %s: %w", restURL, err)
	}
	if cfg.BlobDir != "" {
		b, err := newDirBlobs(cfg.BlobDir)
		if err != nil {
			return nil, fmt.Errorf("open weaviate store at %s: %w", restURL, err)
		}
		s.blobs = b
	} else {
		s.blobs = &collectionBlobs{s: s}
	}
	return s, nil
}

// checkReady asks the server's readiness endpoint, so that a server that is
// down or starting fails Open at once with the URL in the message instead
// of a client retrying for a minute.
func checkReady(ctx context.Context, restURL string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, min(timeout, 10*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, restURL+"/v1/.well-known/ready", nil)
	if err != nil {
		return fmt.Errorf("weaviate at %s: %w", restURL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("weaviate at %s is not reachable (is the server running?): %w", restURL, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("weaviate at %s is not ready: %s", restURL, resp.Status)
	}
	return nil
}

// Close releases the store; it is idempotent. The Go client offers no way
// to close its gRPC connection, which therefore lives until the process
// ends: open one Store per knowledge base and process, not per request.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {})
	return nil
}

// Prefix is the collection prefix of the knowledge base.
func (s *Store) Prefix() string { return s.cfg.Prefix }

// Drop deletes every collection of the knowledge base and, with BlobDir,
// the blobs in it. Irreversible; tests and `mmrag` admin commands use it.
func (s *Store) Drop(ctx context.Context) error {
	var errs []error
	for _, c := range []string{s.names.doc, s.names.text, s.names.image, s.names.model, s.names.blob} {
		if err := s.client.Schema().ClassDeleter().WithClassName(c).Do(ctx); err != nil && !isStatus(err, http.StatusNotFound) {
			errs = append(errs, fmt.Errorf("delete collection %s: %w", c, err))
		}
	}
	if d, ok := s.blobs.(*dirBlobs); ok {
		errs = append(errs, d.removeAll())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("drop knowledge base %s at %s: %w", s.cfg.Prefix, s.url, err)
	}
	return nil
}

// lockDoc takes the in-process write lock of a document.
func (s *Store) lockDoc(id string) func() {
	s.docLocksMu.Lock()
	l := s.docLocks[id]
	if l == nil {
		l = &docLock{}
		s.docLocks[id] = l
	}
	l.refs++
	s.docLocksMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.docLocksMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.docLocks, id)
		}
		s.docLocksMu.Unlock()
	}
}

// Object ids. Every object's UUID derives from what it stands for, so that
// a retried write overwrites instead of duplicating.
var uuidNS = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://mmrag/weaviate"))

func docUUID(id string) string      { return uuid.NewSHA1(uuidNS, []byte("doc\x00"+id)).String() }
func modelUUID(model string) string { return uuid.NewSHA1(uuidNS, []byte("model\x00"+model)).String() }
func blobUUID(hash string) string   { return uuid.NewSHA1(uuidNS, []byte("blob\x00"+hash)).String() }
func itemUUID(version, id string) string {
	return uuid.NewSHA1(uuidNS, []byte("item\x00"+version+"\x00"+id)).String()
}

// vectorName is the named vector of a model: Weaviate allows
// [_A-Za-z][_0-9A-Za-z]*, so the model id is folded into that alphabet and a
// hash of the original keeps two models from folding onto one name.
func vectorName(model string) string {
	var b strings.Builder
	b.WriteString("m_")
	for _, r := range model {
		if b.Len() >= 42 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(model))
	return b.String() + "_" + hex.EncodeToString(sum[:4])
}
