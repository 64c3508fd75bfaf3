package retrieve

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"mmrag"
	"mmrag/store"
	"mmrag/store/storetest"
)

func TestReferenceScores(t *testing.T) {
	logistic := func(d float64) float64 { return 1 / (1 + math.Exp(-d)) }
	// d32 is a − b as the float32 scores hold them.
	d32 := func(a, b float32) float64 { return float64(a) - float64(b) }
	cases := []struct {
		name   string
		scores []float32
		temp   float64
		want   []float64 // nil: the textbook float64 computation
	}{
		{"three", []float32{0.9, 0.5, 0.1}, 0.25, nil},
		{"negative", []float32{-0.2, -0.7, 0.3, 0}, 0.5, nil},
		{"ties", []float32{0.4, 0.4, 0.4, 0.4}, 0.1, []float64{0.25, 0.25, 0.25, 0.25}},
		{"single", []float32{7.5}, 0.25, []float64{1}},
		{"raw query norm", []float32{8.1, 7.9, 6.4, 5.0, 2.2}, 0.25, nil},
		// exp(10/0.001) overflows float64: the max is subtracted first.
		{"overflow", []float32{10, 9.99}, 0.001, []float64{logistic(d32(10, 9.99) / 0.001), logistic(-d32(10, 9.99) / 0.001)}},
		{"underflow", []float32{-10, -10.01}, 0.001, []float64{logistic(d32(-10, -10.01) / 0.001), logistic(-d32(-10, -10.01) / 0.001)}},
		{"empty", nil, 0.25, []float64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hits := make([]mmrag.Hit, len(c.scores))
			for i, s := range c.scores {
				hits[i] = mmrag.Hit{ItemID: string(rune('a' + i)), Score: s}
			}
			want := c.want
			if want == nil {
				want = make([]float64, len(c.scores))
				var sum float64
				for i, s := range c.scores {
					want[i] = math.Exp(float64(s) / c.temp)
					sum += want[i]
				}
				for i := range want {
					want[i] /= sum
				}
			}
			got := ReferenceScores(hits, c.temp)
			if len(got) != len(want) {
				t.Fatalf("%d scores, want %d", len(got), len(want))
			}
			var sum float64
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-12 || math.IsNaN(got[i]) {
					t.Errorf("score %d = %.15g, want %.15g", i, got[i], want[i])
				}
				sum += got[i]
			}
			if len(got) > 0 && math.Abs(sum-1) > 1e-12 {
				t.Errorf("scores sum to %v", sum)
			}
		})
	}
}

// A small collection whose softmax the test computes directly.
func referenceFixture(t *testing.T) (*Searcher, []entry, []float32) {
	s := openStore(t)
	es := []entry{
		text("d1", 0, "alpha", 1, 0, 0, 0),
		text("d1", 1, "beta", 0.9, 0.3, 0, 0),
		text("d1", 2, "gamma", 0.7, 0.7, 0.1, 0),
		text("d1", 3, "delta", 0.2, 0.9, 0.3, 0.1),
		text("d1", 4, "epsilon", 0, 0.2, 1, 0),
		text("d1", 5, "zeta", -0.5, 0, 0, 1),
		img("d1", 6, "p1", "first figure", 0.8, 0.2, 0, 0.1),
		img("d1", 7, "p2", "second figure", 0.1, 0.1, 1, 0),
	}
	put(t, s, storetest.Doc("d1"), es...)
	q := []float32{7.2, 2.1, 0.5, -0.4} // a raw projection: norm ≈ 7.5
	clip := &fakeCLIP{id: testModel, vecs: map[string][]float32{"what is alpha?": q}}
	return &Searcher{Store: s, CLIP: clip}, es, q
}

// Reference mode is the softmax over the whole modality with the raw query,
// then the threshold, then k.
// everyHit hides a store's SearchSoftmax: the reference scoring then sums
// the softmax over every hit, as it does on stores without one (Weaviate).
type everyHit struct{ mmrag.Store }

// TestReferenceMode checks the reference scoring against a direct float64
// softmax, with the store summing the denominator in its scan and with
// every hit handed over.
func TestReferenceMode(t *testing.T) {
	scan, es, q := referenceFixture(t)
	if _, ok := scan.Store.(SoftmaxSearcher); !ok {
		t.Fatal("the SQLite store does not sum the softmax in its scan")
	}
	for name, srch := range map[string]*Searcher{"scan sums": scan, "every hit": {Store: everyHit{scan.Store}, CLIP: scan.CLIP}} {
		t.Run(name, func(t *testing.T) { testReferenceMode(t, srch, es, q) })
	}
}

func testReferenceMode(t *testing.T, srch *Searcher, es []entry, q []float32) {
	var textVecs [][]float32
	var textIDs []string
	for _, e := range es {
		if e.item.Modality == mmrag.Text {
			textVecs = append(textVecs, e.vec)
			textIDs = append(textIDs, e.item.ID)
		}
	}
	cases := []struct {
		name      string
		k         int
		threshold float64
		temp      float64
	}{
		{"reference defaults", 15, 0.01, 0.25},
		{"k cuts", 2, 0.01, 0.25},
		{"threshold cuts", 15, 0.2, 0.25},
		{"warm", 15, 0, 1},
		{"nothing passes", 15, 0.999, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opt := DefaultOptions(Reference)
			opt.Text = Params{K: c.k, Threshold: c.threshold, Temperature: c.temp}
			res, err := srch.Search(context.Background(), "what is alpha?", opt)
			if err != nil {
				t.Fatal(err)
			}
			probs := directSoftmax(q, textVecs, c.temp)
			type pair struct {
				id string
				p  float64
			}
			var want []pair
			for i, p := range probs {
				if p >= c.threshold {
					want = append(want, pair{textIDs[i], p})
				}
			}
			slices.SortFunc(want, func(a, b pair) int {
				if a.p > b.p {
					return -1
				}
				return 1
			})
			if len(want) > c.k {
				want = want[:c.k]
			}
			if len(res.Text) != len(want) {
				t.Fatalf("%d results %v, want %d %v", len(res.Text), ids(res.Text), len(want), want)
			}
			for i, r := range res.Text {
				if r.Item.ID != want[i].id || math.Abs(r.Score-want[i].p) > 1e-6 || r.Rank != i+1 {
					t.Errorf("result %d: %s %.8f rank %d, want %s %.8f", i, r.Item.ID, r.Score, r.Rank, want[i].id, want[i].p)
				}
				if r.Doc.Title != "Title of d1" {
					t.Errorf("result %d: document title %q", i, r.Doc.Title)
				}
			}
			if res.Scored[mmrag.Text] != 6 {
				t.Errorf("softmax over %d text items, want 6", res.Scored[mmrag.Text])
			}
		})
	}
}

// Quirk 1: the raw norm sharpens the softmax; NormalizeQuery removes it.
func TestNormalizeQuery(t *testing.T) {
	srch, _, _ := referenceFixture(t)
	opt := DefaultOptions(Reference)
	opt.Text.Threshold = 0
	raw, err := srch.Search(context.Background(), "what is alpha?", opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.NormalizeQuery = true
	norm, err := srch.Search(context.Background(), "what is alpha?", opt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(raw.Text), ids(norm.Text)) {
		t.Errorf("normalising changed the order: %v vs %v", ids(raw.Text), ids(norm.Text))
	}
	if !(raw.Text[0].Score > norm.Text[0].Score+0.1) {
		t.Errorf("top score raw %.3f, normalised %.3f: the raw norm should sharpen the softmax", raw.Text[0].Score, norm.Text[0].Score)
	}
	qn := math.Sqrt(store.Dot64([]float32{7.2, 2.1, 0.5, -0.4}, []float32{7.2, 2.1, 0.5, -0.4}))
	for i := range raw.Text {
		if math.Abs(raw.Text[i].Dense-qn*norm.Text[i].Dense) > 1e-5 || norm.Text[i].Dense > 1+1e-6 {
			t.Errorf("%s: dense %v raw, %v normalised: want a cosine and the cosine × %.3f", raw.Text[i].Item.ID, raw.Text[i].Dense, norm.Text[i].Dense, qn)
		}
	}
}

// collectionFixture: one target, one related item and 98 background items,
// all as close to one another as CLIP's text vectors are (cosines 0.8–0.9).
func collectionFixture(t *testing.T) (*Searcher, []float32) {
	s := openStore(t)
	es := []entry{
		text("a", 0, "target", 0.9, 0.436, 0, 0),
		text("a", 1, "related", 0.88, 0, 0.475, 0),
	}
	for i := 2; i < 100; i++ {
		es = append(es, text("a", i, "background", 0.8, 0, 0, 0.6))
	}
	put(t, s, storetest.Doc("a"), es...)
	q := []float32{8.5, 0, 0, 0}
	return &Searcher{Store: s, CLIP: &fakeCLIP{id: testModel, vecs: map[string][]float32{"q": q}}}, q
}

func scoreOf(rs []Result, id string) float64 {
	for _, r := range rs {
		if r.Item.ID == id {
			return r.Score
		}
	}
	return 0
}

// Quirk 2: doubling the collection with more of the same background lowers
// every reference score and drops "related" below a threshold it passed;
// a softmax pool of the original size keeps its score exactly.
func TestCollectionSizeQuirk(t *testing.T) {
	srch, _ := collectionFixture(t)
	ctx := context.Background()
	opt := DefaultOptions(Reference)
	opt.Text = Params{K: 15, Threshold: 0.08, Temperature: 0.25}
	pooled := opt
	pooled.Text.Pool = 100

	before, err := srch.Search(ctx, "q", opt)
	if err != nil {
		t.Fatal(err)
	}
	var more []entry
	for i := range 100 {
		more = append(more, text("b", i, "more background", 0.8, 0, 0, 0.6))
	}
	put(t, srch.Store, storetest.Doc("b"), more...)
	after, err := srch.Search(ctx, "q", opt)
	if err != nil {
		t.Fatal(err)
	}
	fixed, err := srch.Search(ctx, "q", pooled)
	if err != nil {
		t.Fatal(err)
	}
	rb, ra, rf := scoreOf(before.Text, "a#t1"), scoreOf(after.Text, "a#t1"), scoreOf(fixed.Text, "a#t1")
	t.Logf("related item: %.4f at 100 items, %.4f at 200, %.4f at 200 with pool 100", rb, ra, rf)
	if rb < 0.08 {
		t.Fatalf("related scores %.4f before growth, want ≥ 0.08", rb)
	}
	if ra != 0 {
		t.Errorf("related still passes after doubling (%.4f): the quirk is gone?", ra)
	}
	if got := after.Text[0].Score / before.Text[0].Score; got > 0.75 {
		t.Errorf("target score ratio after doubling %.3f, want well below 1", got)
	}
	if math.Abs(rf-rb) > 1e-6 || math.Abs(fixed.Text[0].Score-before.Text[0].Score) > 1e-6 {
		t.Errorf("pool 100 scores %.6f/%.6f, want the original %.6f/%.6f", fixed.Text[0].Score, rf, before.Text[0].Score, rb)
	}
	if after.Scored[mmrag.Text] != 200 || fixed.Scored[mmrag.Text] != 100 {
		t.Errorf("softmax sizes %d and %d, want 200 and 100", after.Scored[mmrag.Text], fixed.Scored[mmrag.Text])
	}
}

func TestCosineMode(t *testing.T) {
	s := openStore(t)
	q := []float32{3, 4, 0} // norm 5
	put(t, s, storetest.Doc("d"),
		text("d", 0, "one", 3, 4, 0),   // cosine 1
		text("d", 1, "two", 4, 3, 0),   // 0.96
		text("d", 2, "three", 0, 1, 0), // 0.8
		text("d", 3, "four", 1, 0, 1),  // 0.42
		text("d", 4, "five", 0, 0, 1),  // 0
		img("d", 5, "same", "copy one", 3, 4, 0.5),
		img("d", 6, "same", "copy two", 3, 4, 1),
		img("d", 7, "other", "other figure", 4, 3, 0),
		img("d", 8, "far", "far figure", 0, 0, 1),
	)
	srch := &Searcher{Store: s, CLIP: &fakeCLIP{id: testModel, vecs: map[string][]float32{"q": q}}}
	cases := []struct {
		name      string
		text      Params
		keepDups  bool
		wantText  []string
		wantScore []float64
		wantImgs  []string
	}{
		{"threshold", Params{K: 10, Threshold: 0.5}, false,
			[]string{"d#t0", "d#t1", "d#t2"}, []float64{1, 0.96, 0.8}, []string{"d#i5", "d#i7"}},
		{"k", Params{K: 2}, false, []string{"d#t0", "d#t1"}, []float64{1, 0.96}, []string{"d#i5", "d#i7"}},
		{"duplicates kept", Params{K: 1}, true, []string{"d#t0"}, []float64{1}, []string{"d#i5", "d#i6", "d#i7"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opt := DefaultOptions(Cosine)
			opt.Text = c.text
			opt.Images = Params{K: 3, Threshold: 0.5}
			opt.KeepDuplicateImages = c.keepDups
			res, err := srch.Search(context.Background(), "q", opt)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(res.Text), c.wantText) {
				t.Fatalf("text %v, want %v", ids(res.Text), c.wantText)
			}
			for i, r := range res.Text {
				if math.Abs(r.Score-c.wantScore[i]) > 1e-6 || r.Dense != r.Score {
					t.Errorf("%s: score %v dense %v, want cosine %v", r.Item.ID, r.Score, r.Dense, c.wantScore[i])
				}
			}
			if !slices.Equal(ids(res.Images), c.wantImgs) {
				t.Errorf("images %v, want %v", ids(res.Images), c.wantImgs)
			}
		})
	}
}

// Collapsing keeps k distinct figures even when the best-scored ones are
// many copies of one picture.
func TestCollapseLooksDeeper(t *testing.T) {
	s := openStore(t)
	var es []entry
	for i := range 30 {
		es = append(es, img("d", i, "dup", "same picture", 1, float32(i)*0.001, 0))
	}
	es = append(es, img("d", 30, "x", "x", 1, 0.5, 0), img("d", 31, "y", "y", 1, 0.6, 0), img("d", 32, "z", "z", 1, 0.7, 0))
	put(t, s, storetest.Doc("d"), es...)
	srch := &Searcher{Store: s, CLIP: &fakeCLIP{id: testModel, vecs: map[string][]float32{"q": {1, 0, 0}}}}
	opt := DefaultOptions(Cosine)
	opt.Images = Params{K: 3}
	res, err := srch.Search(context.Background(), "q", opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res.Images); !slices.Equal(got, []string{"d#i0", "d#i30", "d#i31"}) {
		t.Errorf("images %v, want the best copy then two other figures", got)
	}
}

// A passage stored twice (one file under two paths) is listed once, its
// better-scored copy, in every mode, while the next distinct passages fill
// the list; KeepDuplicatePassages lists both copies.
func TestCollapseDuplicatePassages(t *testing.T) {
	s := openStore(t)
	const copied = "The flux capacitor needs 1.21 gigawatts."
	put(t, s, storetest.Doc("a"),
		text("a", 0, copied, 1, 0.1, 0),
		text("a", 1, "Gigawatts are a billion watts.", 1, 0.3, 0))
	put(t, s, storetest.Doc("b"),
		text("b", 0, copied, 1, 0.05, 0),
		text("b", 1, "Capacitors store charge.", 1, 0.4, 0),
		text("b", 2, "  "+copied+"\n", 1, 0.2, 0)) // the same text, other white space
	eachCollapse(t, s, "flux capacitor gigawatts", 3, func(t *testing.T, mode Mode, keep bool, res Results) {
		copies := 0
		for _, r := range res.Text {
			if strings.TrimSpace(r.Item.Text) == copied {
				copies++
			}
		}
		want := 1
		if keep {
			want = 3
		}
		if copies != min(want, len(res.Text)) || len(res.Text) != 3 {
			t.Fatalf("%v: %d copies of the passage in %d results, want %d in 3", ids(res.Text), copies, len(res.Text), want)
		}
		if !keep && res.Text[0].Item.ID != "b#t0" && mode == Cosine {
			t.Fatalf("%v: want the copy closest to the query (b#t0) first", ids(res.Text))
		}
	})
}

// eachCollapse searches s for query's k best text items in every mode,
// with duplicates collapsed and kept, and hands each result to check.
func eachCollapse(t *testing.T, s mmrag.Store, query string, k int, check func(t *testing.T, mode Mode, keep bool, res Results)) {
	srch := &Searcher{Store: s, CLIP: &fakeCLIP{id: testModel, vecs: map[string][]float32{query: {1, 0, 0}}}}
	for _, mode := range []Mode{Cosine, Hybrid, Reference} {
		for _, keep := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/keep=%v", mode, keep), func(t *testing.T) {
				opt := DefaultOptions(mode)
				opt.Modalities = []mmrag.Modality{mmrag.Text}
				opt.Text.K, opt.Text.Threshold = k, 0
				opt.NormalizeQuery = true
				opt.KeepDuplicatePassages = keep
				res, err := srch.Search(context.Background(), query, opt)
				if err != nil {
					t.Fatal(err)
				}
				check(t, mode, keep, *res)
			})
		}
	}
}

// A file stored under two paths (two documents of one content hash) is
// cited from one of them only, whichever holds the best-scored passage, in
// every mode, even where the copies' passages interleave in the ranking;
// KeepDuplicatePassages lists both.
func TestCollapseCopies(t *testing.T) {
	s := openStore(t)
	texts := []string{"Flux capacitors store time.", "The capacitor needs gigawatts.", "Gigawatts come from lightning."}
	for _, id := range []string{"a", "copy"} {
		doc := storetest.Doc(id)
		doc.Hash = strings.Repeat("c0", 32) // one content
		var es []entry
		for i, tx := range texts {
			y := float32(i) * 0.1
			if id == "copy" { // the copy's last passage ranks above a's, its others below
				y += map[bool]float32{true: -0.05, false: 0.01}[i == 2]
			}
			es = append(es, text(id, i, tx, 1, y, 0))
		}
		put(t, s, doc, es...)
	}
	put(t, s, storetest.Doc("other"), text("other", 0, "Lightning strikes the clock tower.", 1, 0.5, 0))
	eachCollapse(t, s, "capacitor gigawatts lightning", 7, func(t *testing.T, _ Mode, keep bool, res Results) {
		docs := map[string]int{}
		for _, r := range res.Text {
			docs[r.Item.DocID]++
		}
		if keep && (docs["a"] != 3 || docs["copy"] != 3 || docs["other"] != 1) {
			t.Fatalf("%v: want every item of both copies and the other", ids(res.Text))
		}
		if !keep && (docs["a"]+docs["copy"] != 3 || docs["a"] > 0 && docs["copy"] > 0 || docs["other"] != 1) {
			t.Fatalf("%v: want the three passages from one copy only, and the other", ids(res.Text))
		}
	})
}

// Cosine search over many copies of one document looks deeper for k
// results, but not through the whole collection: maxDeepen·k hits at most.
func TestCosineDeepensBounded(t *testing.T) {
	s := openStore(t)
	const copies = 400
	for c := range copies {
		id := fmt.Sprintf("copy%03d", c)
		doc := storetest.Doc(id)
		doc.Hash = strings.Repeat("c0", 32) // one content
		put(t, s, doc, text(id, 0, "Flux capacitors store time.", 1, 0.1, 0), text(id, 1, "The capacitor needs gigawatts.", 1, 0.2, 0))
	}
	opt := DefaultOptions(Cosine)
	opt.Modalities = []mmrag.Modality{mmrag.Text}
	opt.Text.K = 3
	rec := &recordingStore{Store: s, approx: map[mmrag.Modality][]bool{}}
	srch := &Searcher{Store: rec, CLIP: &fakeCLIP{id: testModel, vecs: map[string][]float32{"capacitor": {1, 0.15, 0}}}}
	res, err := srch.Search(t.Context(), "capacitor", opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Text) == 0 || rec.maxK > maxDeepen*opt.Text.K {
		t.Errorf("%d results, searched %d deep (want ≤ %d of %d items)",
			len(res.Text), rec.maxK, maxDeepen*opt.Text.K, 2*copies)
	}
}

// Hybrid finds, through BM25, an item whose exact keyword CLIP misses.
func TestHybridFindsKeyword(t *testing.T) {
	s := openStore(t)
	es := []entry{text("d", 0, "The part number ZX-4471 is the flux capacitor.", 0, 0.2, 1)}
	for i := 1; i <= 20; i++ {
		es = append(es, text("d", i, fmt.Sprintf("Paragraph %d about capacitors in general.", i), 1, float32(i)*0.01, 0))
	}
	put(t, s, storetest.Doc("d"), es...)
	const query = "which part is ZX-4471"
	srch := &Searcher{Store: s, CLIP: &fakeCLIP{id: testModel, vecs: map[string][]float32{query: {5, 0.5, 0}}}}
	opt := DefaultOptions(Cosine)
	opt.Text.K = 5
	dense, err := srch.Search(context.Background(), query, opt)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ids(dense.Text), "d#t0") {
		t.Fatalf("cosine found the keyword item %v: the test no longer shows anything", ids(dense.Text))
	}
	opt.Mode = Hybrid
	hyb, err := srch.Search(context.Background(), query, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(hyb.Text) != 5 {
		t.Fatalf("%d hybrid results, want 5", len(hyb.Text))
	}
	i := slices.Index(ids(hyb.Text), "d#t0")
	if i < 0 || i > 1 {
		t.Fatalf("hybrid results %v: keyword item not in the first two", ids(hyb.Text))
	}
	r := hyb.Text[i]
	wantDense := store.Dot64(store.Normalized([]float32{5, 0.5, 0}), store.Normalized([]float32{0, 0.2, 1}))
	if r.BM25Rank != 1 || r.BM25 <= 0 || math.Abs(r.Dense-wantDense) > 1e-6 {
		t.Errorf("keyword item: bm25 %v rank %d dense %v (want %v)", r.BM25, r.BM25Rank, r.Dense, wantDense)
	}
	if want := 1/float64(60+1) + 1/float64(60+r.DenseRank); r.DenseRank > 0 && math.Abs(r.Score-want) > 1e-12 {
		t.Errorf("rrf score %v, want %v", r.Score, want)
	}
	for _, r := range hyb.Text {
		if r.DenseRank == 0 && r.BM25Rank == 0 {
			t.Errorf("%s is in neither list", r.Item.ID)
		}
	}
}

// A dedicated text embedder scores text items in its own space; images stay
// with CLIP.
func TestTextEmbedderSpace(t *testing.T) {
	s := openStore(t)
	doc := storetest.Doc("d")
	items := []mmrag.Item{storetest.TextItem("d", 0, "near"), storetest.TextItem("d", 1, "far")}
	vecs := []mmrag.Vector{
		{ItemID: "d#t0", Model: "minilm", Values: store.Normalized([]float32{1, 0})},
		{ItemID: "d#t1", Model: "minilm", Values: store.Normalized([]float32{0, 1})},
		{ItemID: "d#t0", Model: testModel, Values: store.Normalized([]float32{0, 1, 0})},
		{ItemID: "d#t1", Model: testModel, Values: store.Normalized([]float32{1, 0, 0})},
	}
	if err := s.PutDocument(context.Background(), doc, items, vecs, nil); err != nil {
		t.Fatal(err)
	}
	clip := &fakeCLIP{id: testModel, vecs: map[string][]float32{"q": {1, 0, 0}}}
	te := &fakeText{fakeCLIP{id: "minilm", vecs: map[string][]float32{"q": {1, 0}}}}
	srch := &Searcher{Store: s, CLIP: clip, Text: te}
	opt := DefaultOptions(Cosine)
	res, err := srch.Search(context.Background(), "q", opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Text) == 0 || res.Text[0].Item.ID != "d#t0" {
		t.Errorf("text space: %v, want d#t0 first", ids(res.Text))
	}
	opt.Text.Space = CLIPSpace
	res, err = srch.Search(context.Background(), "q", opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Text) == 0 || res.Text[0].Item.ID != "d#t1" {
		t.Errorf("clip space: %v, want d#t1 first", ids(res.Text))
	}
	// Reference mode reproduces the reference: CLIP, whatever is configured.
	res, err = srch.Search(context.Background(), "q", DefaultOptions(Reference))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Text) == 0 || res.Text[0].Item.ID != "d#t1" {
		t.Errorf("reference: %v, want d#t1 first (CLIP)", ids(res.Text))
	}
}

func TestFilters(t *testing.T) {
	s := openStore(t)
	d1, d2 := storetest.Doc("d1"), storetest.Doc("d2")
	d2.Type, d2.Source = "pdf", "/other/d2.pdf"
	put(t, s, d1, text("d1", 0, "shared words here", 1, 0), img("d1", 1, "a", "a", 1, 0))
	put(t, s, d2, text("d2", 0, "shared words there", 1, 0.1), img("d2", 1, "b", "b", 1, 0.1))
	srch := &Searcher{Store: s, CLIP: &fakeCLIP{id: testModel, vecs: map[string][]float32{"shared words": {1, 0}}}}
	filters := []struct {
		name string
		f    mmrag.Filter
		want string
	}{
		{"doc", mmrag.Filter{DocIDs: []string{"d2"}}, "d2"},
		{"type", mmrag.Filter{Types: []string{"html"}}, "d1"},
		{"prefix", mmrag.Filter{SourcePrefix: "/other/"}, "d2"},
	}
	for _, mode := range Modes() {
		for _, f := range filters {
			t.Run(string(mode)+"/"+f.name, func(t *testing.T) {
				opt := DefaultOptions(mode)
				opt.Filter = f.f
				opt.Images.Threshold = 0
				if mode == Reference {
					opt.Text.Threshold, opt.Images.Threshold = 0, 0
				}
				res, err := srch.Search(context.Background(), "shared words", opt)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Text) != 1 || len(res.Images) != 1 {
					t.Fatalf("%d text, %d images; want 1 and 1", len(res.Text), len(res.Images))
				}
				for _, r := range append(res.Text, res.Images...) {
					if r.Item.DocID != f.want {
						t.Errorf("%s passed filter %+v", r.Item.ID, f.f)
					}
				}
			})
		}
	}
}

func TestModalities(t *testing.T) {
	srch, _, _ := referenceFixture(t)
	opt := DefaultOptions(Cosine)
	opt.Modalities = []mmrag.Modality{mmrag.Image}
	res, err := srch.Search(context.Background(), "what is alpha?", opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Text) != 0 || len(res.Images) == 0 {
		t.Errorf("%d text, %d images; want only images", len(res.Text), len(res.Images))
	}
}

// Image as query, or a stored item's vector: used as given.
func TestSearchVector(t *testing.T) {
	srch, es, _ := referenceFixture(t)
	v := store.Normalized(es[3].vec)
	opt := DefaultOptions(Cosine)
	res, err := srch.SearchVector(context.Background(), "", v, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Query != "" || len(res.Text) == 0 || res.Text[0].Item.ID != es[3].item.ID || math.Abs(res.Text[0].Score-1) > 1e-6 {
		t.Errorf("first %v, want %s at cosine 1", ids(res.Text), es[3].item.ID)
	}
	// Hybrid without text: dense ranking alone.
	res2, err := srch.SearchVector(context.Background(), testModel, v, DefaultOptions(Hybrid))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(res.Text), ids(res2.Text)) {
		t.Errorf("hybrid vector search %v, want the cosine ranking %v", ids(res2.Text), ids(res.Text))
	}
}

func TestBadInput(t *testing.T) {
	srch, _, _ := referenceFixture(t)
	ctx := context.Background()
	long := strings.Repeat("word ", 10_000)
	srch.CLIP.(*fakeCLIP).vecs[strings.TrimSpace(long)] = []float32{1, 0, 0, 0}
	bad := []struct {
		name  string
		query string
		opt   func(*Options)
		want  string
	}{
		{"empty query", "  ", nil, "empty query"},
		{"k=0", "what is alpha?", func(o *Options) { o.Text.K = 0 }, "text k is 0"},
		{"negative temperature", "what is alpha?", func(o *Options) { o.Images.Temperature = -1 }, "image temperature -1"},
		{"zero temperature", "what is alpha?", func(o *Options) { o.Mode = Reference; o.Text = Params{K: 3, Threshold: 0.1} }, "temperature is 0"},
		{"threshold above 1", "what is alpha?", func(o *Options) { o.Text.Threshold = 1.5 }, "above 1"},
		{"NaN threshold", "what is alpha?", func(o *Options) { o.Text.Threshold = math.NaN() }, "not a number"},
		{"unknown mode", "what is alpha?", func(o *Options) { o.Mode = "bm25" }, "unknown scoring mode"},
		{"negative pool", "what is alpha?", func(o *Options) { o.Images.Pool = -1 }, "pool"},
		{"text space without embedder", "what is alpha?", func(o *Options) { o.Text.Space = TextSpace }, "none is configured"},
		{"embedder fails", "unknown question", nil, "embed query"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			opt := DefaultOptions(Cosine)
			if c.opt != nil {
				c.opt(&opt)
			}
			_, err := srch.Search(ctx, c.query, opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
	if _, err := srch.SearchVector(ctx, "", []float32{float32(math.NaN()), 0, 0, 0}, Options{}); err == nil {
		t.Error("NaN query vector accepted")
	}
	if _, err := srch.SearchVector(ctx, "", []float32{1, 0}, Options{}); err == nil || !strings.Contains(err.Error(), "dimensions") {
		t.Errorf("short vector: %v", err)
	}
	// A 10 000-word query is searched (the embedder truncates, BM25 caps
	// its terms), not refused.
	for _, mode := range Modes() {
		if _, err := srch.Search(ctx, long, DefaultOptions(mode)); err != nil {
			t.Errorf("%s: long query: %v", mode, err)
		}
	}
}

// An empty collection, or a model the store never saw, is no error.
func TestEmptyCollection(t *testing.T) {
	srch := &Searcher{Store: openStore(t), CLIP: &fakeCLIP{id: testModel, vecs: map[string][]float32{"q": {1, 2}}}}
	for _, mode := range Modes() {
		res, err := srch.Search(context.Background(), "q", Options{Mode: mode})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if len(res.Text)+len(res.Images) != 0 || res.Mode != mode {
			t.Errorf("%s: %d results from an empty store", mode, len(res.Text)+len(res.Images))
		}
	}
}

// A zero Options is the default mode with its defaults.
func TestDefaults(t *testing.T) {
	o, err := Options{}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultOptions("")
	if o.Mode != DefaultMode || o.Text != d.Text || o.Images != d.Images || o.RRFK != 60 {
		t.Errorf("resolved zero options %+v, want %+v", o, d)
	}
	r := DefaultOptions(Reference)
	if r.Text != (Params{K: 15, Threshold: 0.01, Temperature: 0.25}) || r.Images != (Params{K: 5, Threshold: 0.25, Temperature: 0.5}) {
		t.Errorf("reference defaults %+v %+v", r.Text, r.Images)
	}
}

func TestKeywordQuery(t *testing.T) {
	cases := []struct{ in, want string }{
		{"What is the contrastive loss of CLIP?", "contrastive loss CLIP"},
		{"which part is ZX-4471", "part ZX-4471"},
		{"to be or not to be", "to be or not to be"},
		{"LLaMA 3.2 Vision", "LLaMA 3.2 Vision"},
		{"", ""},
	}
	for _, c := range cases {
		if got := keywordQuery(c.in); got != c.want {
			t.Errorf("keywordQuery(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
