package weaviate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/weaviate/weaviate/entities/models"

	"mmrag"
	"mmrag/internal/testenv"
	"mmrag/refkb"
	"mmrag/sqlite"
	"mmrag/store"
	"mmrag/store/storetest"
)

// The integration tests need a Weaviate server: scripts/weaviate.sh start
// prints the environment (MMRAG_WEAVIATE_URL, MMRAG_WEAVIATE_GRPC_PORT) and
// `scripts/weaviate.sh exec` runs the test binary inside the server's network
// namespace. Without MMRAG_WEAVIATE_URL they skip, unless
// MMRAG_REQUIRE_WEAVIATE=1 makes them fail.
func serverConfig(t testing.TB) Config {
	t.Helper()
	u, port := testenv.Weaviate(t)
	cfg := Config{URL: u, GRPCPort: port, Timeout: 30 * time.Second}
	// Searches read one replica: on a cluster, the conformance suite's
	// read-your-writes checks need writes at ALL (QUORUM writes become
	// visible to every replica's searches eventually, not at once).
	if c := os.Getenv("MMRAG_WEAVIATE_CONSISTENCY"); c != "" {
		cfg.Consistency = c
	}
	// The conformance suite may run replicated on a cluster.
	if r := os.Getenv("MMRAG_WEAVIATE_REPLICATION"); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil {
			t.Fatalf("MMRAG_WEAVIATE_REPLICATION=%q: %v", r, err)
		}
		cfg.Replication = n
	}
	return cfg
}

func randomPrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "T" + hex.EncodeToString(b[:])
}

// openTest opens a fresh knowledge base (a random prefix) and drops it when
// the test ends.
func openTest(t testing.TB, change func(*Config)) *Store {
	t.Helper()
	cfg := serverConfig(t)
	cfg.Prefix = randomPrefix()
	if change != nil {
		change(&cfg)
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Drop(context.Background()); err != nil {
			t.Errorf("drop: %v", err)
		}
		s.Close()
	})
	return s
}

func TestConformance(t *testing.T) {
	serverConfig(t)
	storetest.Run(t, func(t *testing.T) mmrag.Store { return openTest(t, nil) })
}

// Blobs in a local folder instead of the blob collection.
func TestConformanceBlobDir(t *testing.T) {
	serverConfig(t)
	storetest.Run(t, func(t *testing.T) mmrag.Store {
		dir := t.TempDir()
		return openTest(t, func(c *Config) { c.BlobDir = filepath.Join(dir, "blobs") })
	})
}

// The flat index: exact search by a scan of the collection.
func TestConformanceFlat(t *testing.T) {
	serverConfig(t)
	storetest.Run(t, func(t *testing.T) mmrag.Store { return openTest(t, func(c *Config) { c.Index = "flat" }) })
}

func TestOpenServerDown(t *testing.T) {
	// A port nothing listens on: Open must fail fast, naming the URL.
	const u = "http://127.0.0.1:9"
	start := time.Now()
	_, err := Open(context.Background(), Config{URL: u, Timeout: 5 * time.Second})
	if err == nil {
		t.Fatal("Open succeeded without a server")
	}
	if !strings.Contains(err.Error(), u) || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("error %q does not say that %s is not reachable", err, u)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Open took %v to notice", d)
	}
}

func TestOpenBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no URL", Config{}, "no Weaviate URL"},
		{"URL without scheme", Config{URL: "localhost:8080"}, "want http://host:port"},
		{"prefix with a dash", Config{URL: "http://127.0.0.1:9", Prefix: "my-kb"}, "collection prefix"},
		{"prefix starting with a digit", Config{URL: "http://127.0.0.1:9", Prefix: "1kb"}, "collection prefix"},
		{"consistency", Config{URL: "http://127.0.0.1:9", Consistency: "SOME"}, "consistency level"},
		{"index", Config{URL: "http://127.0.0.1:9", Index: "ivf"}, "vector index"},
		{"replication", Config{URL: "http://127.0.0.1:9", Replication: -1}, "replication factor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestQueryTerms(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"!!! \" * ( ) - ^ : ' \\", nil},
		{"NEAR(kiwi bird, 2)", []string{"near", "kiwi", "bird", "2"}},
		{"text:kiwi {text}:kiwi", []string{"text", "kiwi"}},
		{"🥝 Café naïve 日本語", []string{"café", "naïve", "日本語"}},
		{strings.Repeat("kiwi ", 500), []string{"kiwi"}},
	}
	for _, tc := range tests {
		if got := queryTerms(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("queryTerms(%.30q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("w%d", i))
	}
	if got := queryTerms(strings.Join(many, " ")); len(got) != maxQueryTerms {
		t.Errorf("%d terms kept, want %d", len(got), maxQueryTerms)
	}
}

// prefixRange selects exactly the hex strings of the sources with the
// prefix: checked against strings.HasPrefix on bytes around the edges.
func TestPrefixRange(t *testing.T) {
	sources := []string{"", "a", "ab", "abc", "abd", "ab\xff", "ab\xff\xff", "ac", "b", "a\x00", "\xff", "\xff\x00", "/data/x", "/data0"}
	prefixes := []string{"a", "ab", "ab\xff", "\xff", "/data/", "z"}
	for _, p := range prefixes {
		w := prefixRange("p", p)
		lo, hi := bounds(t, w)
		for _, s := range sources {
			h := hex.EncodeToString([]byte(s))
			got := h >= lo && (hi == "" || h < hi)
			if want := strings.HasPrefix(s, p); got != want {
				t.Errorf("prefix %q, source %q: range says %v, want %v", p, s, got, want)
			}
		}
	}
	if prefixRange("p", "") != nil {
		t.Error("an empty prefix must not filter")
	}
}

// bounds reads the lower and upper bound out of a prefixRange filter.
func bounds(t *testing.T, w interface{ String() string }) (lo, hi string) {
	t.Helper()
	s := w.String()
	for _, part := range strings.Split(s, "operator: ")[1:] {
		i := strings.Index(part, `valueText: "`)
		if i < 0 {
			continue
		}
		v := part[i+len(`valueText: "`):]
		v = v[:strings.Index(v, `"`)]
		switch {
		case strings.HasPrefix(part, "GreaterThanEqual"):
			lo = v
		case strings.HasPrefix(part, "LessThan"):
			hi = v
		}
	}
	return lo, hi
}

var regexpVector = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]{0,230}$`)

func TestVectorName(t *testing.T) {
	seen := map[string]string{}
	for _, m := range []string{"Xenova/clip-vit-base-patch16", "Xenova/clip_vit_base_patch16", "m", strings.Repeat("x", 300), "日本"} {
		n := vectorName(m)
		if !regexpVector.MatchString(n) || len(n) > 230 {
			t.Errorf("vectorName(%q) = %q: not a valid Weaviate vector name", m, n)
		}
		if other, dup := seen[n]; dup {
			t.Errorf("%q and %q share vector name %s", m, other, n)
		}
		seen[n] = m
	}
}

// An existing knowledge base with other settings is refused, and left as
// it is.
func TestOpenOtherSettings(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	cfg := s.cfg

	other := cfg
	other.Replication = 2
	_, err := Open(ctx, other)
	if err == nil || !strings.Contains(err.Error(), "replication factor 1") || !strings.Contains(err.Error(), cfg.Prefix) {
		t.Errorf("Open with replication 2 over a factor-1 knowledge base: %v, want a refusal naming the factor and the prefix", err)
	}
	class, err := s.client.Schema().ClassGetter().WithClassName(s.names.text).Do(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if class.ReplicationConfig.Factor != 1 {
		t.Errorf("the refused Open changed the replication factor to %d", class.ReplicationConfig.Factor)
	}

	// A model's named vector under another index type.
	must(t, s.PutDocument(ctx, storetest.Doc("d"), []mmrag.Item{storetest.TextItem("d", 0, "x")},
		[]mmrag.Vector{{ItemID: "d#t0", Model: "m", Values: []float32{1, 0}}}, nil))
	flat := cfg
	flat.Index = "flat"
	if _, err := Open(ctx, flat); err == nil || !strings.Contains(err.Error(), "hnsw index") {
		t.Errorf("Open with index flat over hnsw vectors: %v, want a refusal", err)
	}

	// A collection of the prefix that mmrag did not create.
	foreign := randomPrefix()
	err = s.client.Schema().ClassCreator().WithClass(&models.Class{
		Class:      foreign + "Document",
		Properties: []*models.Property{{Name: "title", DataType: []string{"text"}}},
	}).Do(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.client.Schema().ClassDeleter().WithClassName(foreign + "Document").Do(ctx)
	cfg2 := cfg
	cfg2.Prefix = foreign
	if _, err := Open(ctx, cfg2); err == nil || !strings.Contains(err.Error(), "not created by mmrag") {
		t.Errorf("Open over a foreign collection: %v, want a refusal", err)
	}
	exists, _ := s.client.Schema().ClassExistenceChecker().WithClassName(foreign + "Text").Do(ctx)
	if exists {
		t.Error("the refused Open created collections")
		s.client.Schema().ClassDeleter().WithClassName(foreign + "Text").Do(ctx)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Objects of an interrupted put (written, never committed) are invisible
// to every reader, and the next put of the document removes them.
func TestInterruptedPutInvisible(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	r := mrand.New(mrand.NewPCG(1, 2))
	doc := storetest.Doc("v")
	items := []mmrag.Item{storetest.TextItem("v", 0, "the original gecko text")}
	vecs := []mmrag.Vector{{ItemID: "v#t0", Model: storetest.Model, Values: storetest.RandomVector(r, 8)}}
	must(t, s.PutDocument(ctx, doc, items, vecs, nil))

	// What a crash after the item import of a second version leaves.
	ghost := []mmrag.Item{storetest.TextItem("v", 0, "ghost iguana text"), storetest.TextItem("v", 1, "another iguana")}
	gvecs := []mmrag.Vector{
		{ItemID: "v#t0", Model: storetest.Model, Values: storetest.RandomVector(r, 8)},
		{ItemID: "v#t1", Model: storetest.Model, Values: storetest.RandomVector(r, 8)},
	}
	p, err := preparePut(doc, ghost, gvecs, nil)
	must(t, err)
	info, err := s.ensureModel(ctx, storetest.Model, 8)
	must(t, err)
	var objs []*models.Object
	for i := range p.items {
		objs = append(objs, s.itemObject(p, i, docUUID("v"), "deadbeef", map[string]modelInfo{storetest.Model: info}))
	}
	must(t, s.insert(ctx, objs))

	got, err := s.Items(ctx, "v")
	must(t, err)
	if len(got) != 1 || got[0].Text != items[0].Text {
		t.Errorf("Items sees the uncommitted version: %+v", got)
	}
	it, err := s.Item(ctx, "v#t0")
	if err != nil || it.Text != items[0].Text {
		t.Errorf("Item = %q, %v; want the committed text", it.Text, err)
	}
	if _, err := s.Item(ctx, "v#t1"); !errors.Is(err, mmrag.ErrNotFound) {
		t.Errorf("Item of an uncommitted item: %v, want ErrNotFound", err)
	}
	v, err := s.Vector(ctx, storetest.Model, "v#t0")
	if err != nil || !slices.Equal(v, vecs[0].Values) {
		t.Errorf("Vector = %v, %v; want the committed vector", v, err)
	}
	hits, err := s.SearchText(ctx, mmrag.TextQuery{Query: "iguana"})
	must(t, err)
	if len(hits) != 0 {
		t.Errorf("uncommitted text is searchable: %v", hits)
	}
	hits, err = s.SearchVectors(ctx, mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: gvecs[1].Values, K: 1})
	must(t, err)
	if len(hits) != 1 || hits[0].ItemID != "v#t0" || math.Abs(float64(hits[0].Score)-float64(store.Dot(vecs[0].Values, gvecs[1].Values))) > 1e-5 {
		t.Errorf("SearchVectors K=1 = %v, want the committed v#t0 (the live hit, not a ghost)", hits)
	}

	// Sweep finds exactly the ghosts.
	n, err := s.Sweep(ctx)
	must(t, err)
	if n != 2 {
		t.Errorf("Sweep removed %d objects, want the 2 ghosts", n)
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Items[mmrag.Text] != 1 || st.Vectors[storetest.Model] != 1 {
		t.Errorf("Stats after Sweep: %+v", st)
	}

	// Ghosts again; the next put of the document removes them too.
	for _, o := range objs {
		o.ID = strfmt.UUID(strings.Replace(string(o.ID), string(o.ID)[:8], "00000000", 1))
	}
	must(t, s.insert(ctx, objs))
	must(t, s.PutDocument(ctx, doc, items, vecs, nil))
	st, err = s.Stats(ctx)
	must(t, err)
	if st.Items[mmrag.Text] != 1 {
		t.Errorf("after a put, %d text objects remain, want 1", st.Items[mmrag.Text])
	}
}

// A batch import reports the objects Weaviate refused, each with its item
// and reason.
func TestImportErrorPerObject(t *testing.T) {
	s := openTest(t, func(c *Config) { c.Retries = 1 })
	ctx := context.Background()
	must(t, s.PutDocument(ctx, storetest.Doc("d"), []mmrag.Item{storetest.TextItem("d", 0, "x")},
		[]mmrag.Vector{{ItemID: "d#t0", Model: "m", Values: []float32{1, 0, 0}}}, nil))
	info, _, err := s.lookupModel(ctx, "m")
	must(t, err)
	good := &models.Object{Class: s.names.text, ID: strfmt.UUID(itemUUID("x", "good")),
		Properties: map[string]any{pItemID: "good", pDocKey: "none", pVersion: "x"},
		Vectors:    models.Vectors{info.vector: []float32{0, 1, 0}}}
	bad := &models.Object{Class: s.names.text, ID: strfmt.UUID(itemUUID("x", "bad")),
		Properties: map[string]any{pItemID: "bad", pDocKey: "none", pVersion: "x"},
		Vectors:    models.Vectors{info.vector: []float32{0, 1, 0, 0, 0}}} // another length
	err = s.insert(ctx, []*models.Object{good, bad})
	var ie *ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("insert error %v, want an *ImportError", err)
	}
	if len(ie.Failed) != 1 || ie.Failed[0].Item != "item bad" || ie.Failed[0].Reason == "" {
		t.Errorf("failed objects %+v, want only item bad, with a reason", ie.Failed)
	}
	t.Logf("reported: %v", err)
}

// The seed-blog knowledge base gives the same rankings in Weaviate as in
// the embedded store for the same vectors.
func TestSeedBlogSameRanking(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "fixtures", "seed-blog")
	if _, err := os.Stat(filepath.Join(dir, refkb.TextFile)); err != nil {
		t.Skipf("fixture %s absent: %v", dir, err)
	}
	w := openTest(t, nil)
	ctx := context.Background()
	const model = "Xenova/clip-vit-base-patch16"
	kb, err := refkb.Read(ctx, dir, refkb.Options{Model: model})
	must(t, err)
	sq, err := sqlite.Open(ctx, t.TempDir())
	must(t, err)
	defer sq.Close()
	for _, d := range kb.Docs {
		must(t, sq.PutDocument(ctx, d.Doc, d.Items, d.Vectors, d.Blobs))
		must(t, w.PutDocument(ctx, d.Doc, d.Items, d.Vectors, d.Blobs))
	}
	ws, err := w.Stats(ctx)
	must(t, err)
	ss, err := sq.Stats(ctx)
	must(t, err)
	if ws.Documents != ss.Documents || ws.Items[mmrag.Text] != ss.Items[mmrag.Text] || ws.Items[mmrag.Image] != ss.Items[mmrag.Image] ||
		ws.Vectors[model] != ss.Vectors[model] || ws.Blobs != ss.Blobs || ws.BlobBytes != ss.BlobBytes {
		t.Errorf("stats differ: weaviate %+v, sqlite %+v", ws, ss)
	}

	filtersToTry := []mmrag.Filter{{}, {DocIDs: []string{kb.Docs[1].Doc.ID}}, {SourcePrefix: kb.Docs[0].Doc.Source}}
	queries := 0
	for _, d := range kb.Docs {
		for i, it := range d.Items {
			if i%3 != 0 {
				continue // a third of the items is plenty
			}
			for _, f := range filtersToTry {
				for _, k := range []int{0, 5} {
					q := mmrag.VectorQuery{Model: model, Modality: it.Modality, Vector: d.Vectors[i].Values, K: k, Filter: f}
					a, err := sq.SearchVectors(ctx, q)
					must(t, err)
					b, err := w.SearchVectors(ctx, q)
					must(t, err)
					compareRanking(t, fmt.Sprintf("%s item %d K=%d filter %+v", it.Modality, i, k, f), a, b)
					queries++
				}
			}
		}
	}
	t.Logf("%d vector queries ranked identically", queries)

	// Full text: both stores find the same items for a word (BM25 scores
	// differ: FTS5 stems, Weaviate does not).
	for _, word := range []string{"embedding", "model", "retrieval"} {
		a, err := sq.SearchText(ctx, mmrag.TextQuery{Query: word})
		must(t, err)
		b, err := w.SearchText(ctx, mmrag.TextQuery{Query: word})
		must(t, err)
		if len(b) == 0 || len(b) > len(a) {
			t.Errorf("SearchText(%q): weaviate %d hits, sqlite %d", word, len(b), len(a))
		}
	}
}

// compareRanking requires the same ids in the same order, except that
// items whose scores differ by float32 rounding only may swap.
func compareRanking(t *testing.T, what string, want, got []mmrag.Hit) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d hits, sqlite has %d", what, len(got), len(want))
		return
	}
	for i := range want {
		if math.Abs(float64(want[i].Score-got[i].Score)) > 1e-5 {
			t.Errorf("%s: rank %d scores %v (%s), sqlite %v (%s)", what, i, got[i].Score, got[i].ItemID, want[i].Score, want[i].ItemID)
			return
		}
		if want[i].ItemID != got[i].ItemID && !tie(want, i, got[i].ItemID) {
			t.Logf("want %v", want)
			t.Logf("got  %v", got)
			t.Errorf("%s: rank %d is %s, sqlite has %s", what, i, got[i].ItemID, want[i].ItemID)
			return
		}
	}
}

// tie reports whether id is among the hits scoring like want[i].
func tie(want []mmrag.Hit, i int, id string) bool {
	for _, h := range want {
		if h.ItemID == id && math.Abs(float64(h.Score-want[i].Score)) <= 1e-5 {
			return true
		}
	}
	return false
}

// scriptNode runs scripts/weaviate.sh with a subcommand (kill, restart).
func scriptNode(t *testing.T, args ...string) {
	t.Helper()
	script := os.Getenv("MMRAG_WEAVIATE_SCRIPT")
	if script == "" {
		script = filepath.Join("..", "scripts", "weaviate.sh")
	}
	out, err := exec.Command(script, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", script, args, err, out)
	}
}

// Searches for more hits than one query returns (Config.MaxResults) fall
// back to scanning: a store that believes the cap is 7 answers like one
// that does not, on the same collections.
func TestBeyondResultCap(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	cfg := s.cfg
	cfg.MaxResults = 7
	capped, err := Open(ctx, cfg)
	must(t, err)
	defer capped.Close()

	r := mrand.New(mrand.NewPCG(3, 3))
	for d := range 5 {
		id := fmt.Sprintf("cap%d", d)
		doc := storetest.Doc(id)
		doc.Ingested = storetest.Base.Add(time.Duration(d) * time.Hour)
		var items []mmrag.Item
		var vecs []mmrag.Vector
		for i := range 6 {
			it := storetest.TextItem(id, i, fmt.Sprintf("capped text %d", i))
			items = append(items, it)
			vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: storetest.Model, Values: storetest.RandomVector(r, 8)})
		}
		must(t, capped.PutDocument(ctx, doc, items, vecs, nil))
	}
	for _, f := range []mmrag.Filter{{}, {Since: storetest.Base.Add(time.Hour)}, {DocIDs: []string{"cap1", "cap3"}}} {
		for _, k := range []int{0, 3, 7, 8, 29, 30, 100} {
			q := mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: storetest.RandomVector(r, 8), K: k, Filter: f}
			want, err := s.SearchVectors(ctx, q)
			must(t, err)
			got, err := capped.SearchVectors(ctx, q)
			must(t, err)
			compareRanking(t, fmt.Sprintf("K=%d filter %+v", k, f), want, got)
		}
		want, err := s.Documents(ctx, f)
		must(t, err)
		got, err := capped.Documents(ctx, f)
		must(t, err)
		if len(got) != len(want) {
			t.Errorf("Documents(%+v): %d with the cap, %d without", f, len(got), len(want))
		}
	}
	items, err := capped.Items(ctx, "cap2")
	if err != nil || len(items) != 6 {
		t.Errorf("Items with the cap: %d, %v", len(items), err)
	}
}
