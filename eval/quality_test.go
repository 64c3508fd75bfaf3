package eval

// The measurements behind docs/QUALITY.md:
//
//	go test -run TestQuality -v ./eval/                  BM25 and the CLIP proxies
//	eval "$(scripts/ollama.sh start)"
//	go test -run TestQuality -v ./eval/                  adds all-MiniLM-L6-v2 and hybrid
//
// The MiniLM part runs only when MMRAG_OLLAMA_URL names a real Ollama
// server with the embedding model MMRAG_OLLAMA_EMBED_MODEL (default
// mmrag-minilm, which scripts/ollama.sh creates); MMRAG_REQUIRE_OLLAMA=1
// makes its absence a failure. TestQualityInProcess measures the same
// MiniLM weights run in-process (embed/sbert), converted from the GGUF the
// server runs (embed/sbert/sberttest), without any server. Thresholds are
// the measured values less a margin: they catch a regression, not a
// different rounding.

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"mmrag"
	"mmrag/embed/sbert"
	"mmrag/embed/sbert/sberttest"
	"mmrag/internal/testenv"
	"mmrag/ollama"
	"mmrag/onnx/onnxtest"
	"mmrag/retrieve"
	"mmrag/sqlite"
)

// sentenceEmbedder is a dedicated text embedder: Ollama's or in-process.
type sentenceEmbedder interface {
	ModelID() string
	EmbedTexts(ctx context.Context, texts []string) ([][]float32, error)
}

// rawNorm stands in for the norm of CLIP ViT-B/16's raw text projection
// (8–10 on real queries): a stored passage vector scaled by it plays the
// raw query of a question about that passage (see ProxyOptions.Scale).
const rawNorm = 8.5

type qualityKB struct {
	store *sqlite.Store
	items []mmrag.Item
	text  sentenceEmbedder // nil without one
}

// minilm returns the real sentence embedder of the test server, or nil.
func minilm(t *testing.T) *ollama.Embedder {
	t.Helper()
	u := testenv.OptionalOllamaURL(t)
	if u == "" {
		return nil
	}
	return &ollama.Embedder{Client: &ollama.Client{BaseURL: u}, Model: testenv.OllamaEmbedModel()}
}

// openQualityKB stores the seed-blog with its CLIP vectors and, when emb is
// set, emb's vectors of every passage (its text as shown, "section: text")
// and of every figure's caption: the "everything as text" strategy.
func openQualityKB(t *testing.T, emb sentenceEmbedder) *qualityKB {
	t.Helper()
	kb, items := seedBlogItems(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, d := range kb.Docs {
		vecs := d.Vectors
		if emb != nil {
			var ids, texts []string
			for _, it := range d.Items {
				s := it.Text
				if it.Modality == mmrag.Image {
					s = it.Caption
				}
				if strings.TrimSpace(s) != "" {
					ids, texts = append(ids, it.ID), append(texts, s)
				}
			}
			v, err := emb.EmbedTexts(ctx, texts)
			if err != nil {
				t.Fatalf("embed the seed-blog with %s: %v", emb.ModelID(), err)
			}
			for i := range v {
				vecs = append(vecs, mmrag.Vector{ItemID: ids[i], Model: emb.ModelID(), Values: v[i]})
			}
		}
		if err := st.PutDocument(ctx, d.Doc, d.Items, vecs, d.Blobs); err != nil {
			t.Fatal(err)
		}
	}
	return &qualityKB{store: st, items: items, text: emb}
}

// textSpace puts both modalities of o in the dedicated text embedder's
// space: passages by their text, figures by their captions.
func textSpace(o retrieve.Options) retrieve.Options {
	o.Text.Space, o.Images.Space = retrieve.TextSpace, retrieve.TextSpace
	return o
}

// floor is what a test asserts of a measured value: the value less a margin.
type floor struct {
	name          string
	got, measured float64
}

func checkFloors(t *testing.T, fs []floor, margin float64) {
	t.Helper()
	for _, f := range fs {
		if f.got < f.measured-margin {
			t.Errorf("%s = %.3f, below the measured %.3f less %.2f", f.name, f.got, f.measured, margin)
		}
	}
}

// TestQuality runs the labeled set against every strategy that can run
// offline for real: BM25 always, all-MiniLM-L6-v2 (dense and fused with
// BM25) with a real Ollama server.
func TestQuality(t *testing.T) {
	var emb sentenceEmbedder
	if o := minilm(t); o != nil {
		emb = o
	}
	measureQuality(t, emb, "through Ollama's /api/embed")
}

// TestQualityInProcess runs the MiniLM strategies with the in-process
// embedder on the real weights: `mmrag eval` without a server.
func TestQualityInProcess(t *testing.T) {
	measureQuality(t, inProcessMiniLM(t), "in-process (ONNX Runtime)")
}

// inProcessMiniLM is the shipped default text embedder, all-MiniLM-L6-v2
// in-process on the real weights, closed when t ends.
func inProcessMiniLM(t *testing.T) *sbert.Embedder {
	t.Helper()
	needSeedBlog(t)
	onnxtest.Init(t)
	e, err := sbert.Load(sberttest.MiniLM(t), sbert.Options{Name: "all-MiniLM-L6-v2"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// measureQuality runs the labeled set against BM25 and, with emb, the
// dense and hybrid strategies, logs the tables and checks the floors.
func measureQuality(t *testing.T, emb sentenceEmbedder, how string) {
	q := openQualityKB(t, emb)
	ctx := context.Background()
	set, err := ReadFile(seedBlogSet)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Resolve(q.items); err != nil {
		t.Fatal(err)
	}
	const depth = 15
	// Each question is embedded once, timed, and served from memory to
	// every strategy: search latency then measures the store and the
	// fusion, and the model server's latency is reported on its own.
	var qemb *MemoText
	if emb != nil {
		qemb = NewMemoText(emb)
		l, err := qemb.Prime(ctx, set)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("question embedding by %s %s: p50 %s, p95 %s", emb.ModelID(), how, fmtDur(l.P50), fmtDur(l.P95))
	}
	type strategy struct {
		name   string
		search Searcher
	}
	strategies := []strategy{{"bm25 (sqlite FTS5)", BM25(q.store, depth, mmrag.Filter{})}}
	if emb != nil {
		srch := &retrieve.Searcher{Store: q.store, Text: qemb}
		strategies = append(strategies,
			strategy{"minilm (cosine)", Retrieve(srch, textSpace(RankingOptions(retrieve.Cosine, depth)))},
			strategy{"hybrid bm25+minilm (RRF)", Retrieve(srch, textSpace(RankingOptions(retrieve.Hybrid, depth)))},
			strategy{"hybrid, shipped defaults", Retrieve(srch, textSpace(retrieve.DefaultOptions(retrieve.Hybrid)))},
			strategy{"minilm, eval.Dense", Dense(q.store, qemb, depth, mmrag.Text, mmrag.Image)},
		)
	} else {
		t.Log("MMRAG_OLLAMA_URL not set: MiniLM and hybrid skipped (scripts/ollama.sh start runs a real server)")
	}
	reports := map[string]Report{}
	var list []Report
	for _, s := range strategies {
		rep, err := Run(ctx, set, s.search, DefaultKs)
		if err != nil {
			t.Fatal(err)
		}
		rep.Name = s.name
		if rep.Failed > 0 {
			t.Errorf("%s: %d questions failed, first: %s", s.name, rep.Failed, rep.FirstError)
		}
		reports[s.name] = rep
		list = append(list, rep)
	}
	t.Logf("labeled set %s: %d questions %v\n\n%s", set.Name, len(set.Questions), set.KindCounts(), Compare(list))
	for _, r := range list {
		// Expected items not in the first 5 of their modality: what to
		// look at when a number moves.
		var miss []string
		for qi, res := range r.Results {
			for ei, rank := range res.Ranks {
				if rank == 0 || rank > 5 {
					e := set.Questions[qi].Expect[ei]
					miss = append(miss, fmt.Sprintf("%s/%s@%d", res.ID, e.Modality, rank))
				}
			}
		}
		t.Logf("\n%s\nnot in the first 5 (question/modality@rank, 0 = not returned): %s", r.Markdown(), strings.Join(miss, " "))
	}

	bm := reports["bm25 (sqlite FTS5)"]
	checkFloors(t, []floor{
		{"bm25 text R@1", bm.Modality[mmrag.Text].Recall[1], 0.562},
		{"bm25 text R@5", bm.Modality[mmrag.Text].Recall[5], 0.812},
		{"bm25 text R@10", bm.Modality[mmrag.Text].Recall[10], 0.875},
		{"bm25 text MRR", bm.Modality[mmrag.Text].MRR, 0.684},
	}, 0.05)
	if !bm.Modality[mmrag.Image].NotReturned {
		t.Error("BM25 returned figures, which the full-text index does not hold")
	}
	if emb == nil {
		return
	}
	dense, hyb := reports["minilm (cosine)"], reports["hybrid bm25+minilm (RRF)"]
	checkFloors(t, []floor{
		{"minilm text R@5", dense.Modality[mmrag.Text].Recall[5], 0.854},
		{"minilm text MRR", dense.Modality[mmrag.Text].MRR, 0.677},
		{"minilm image MRR", dense.Modality[mmrag.Image].MRR, 0.873},
		{"hybrid text R@15", hyb.Modality[mmrag.Text].Recall[15], 0.979},
		{"hybrid text MRR", hyb.Modality[mmrag.Text].MRR, 0.705},
	}, 0.05)
	// eval.Dense is plain vector search without package retrieve: its
	// passage ranking must be retrieve's cosine ranking.
	if d := reports["minilm, eval.Dense"].Modality[mmrag.Text]; d.MRR != dense.Modality[mmrag.Text].MRR {
		t.Errorf("text MRR of eval.Dense %.4f differs from retrieve's cosine %.4f", d.MRR, dense.Modality[mmrag.Text].MRR)
	}
}

// TestQualityCLIPProxies measures cross-modal retrieval with the real CLIP
// vectors of the reference knowledge base, stored vectors standing in for
// questions (no real CLIP text tower is available offline).
func TestQualityCLIPProxies(t *testing.T) {
	q := openQualityKB(t, nil)
	ctx := context.Background()
	srch := &retrieve.Searcher{Store: q.store}
	run := func(o ProxyOptions) ProxyResult {
		t.Helper()
		o.Model = clipModel
		r, err := SectionProxy(ctx, srch, q.items, o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var b strings.Builder
	b.WriteString("| query → ranked | scoring | queries | ranked | top-1 own section | MRR | pairwise AUC |\n|---|---|---:|---:|---:|---:|---:|\n")
	rank := map[string]ProxyResult{}
	for _, c := range []struct {
		name     string
		from, to mmrag.Modality
		mode     retrieve.Mode
	}{
		{"figure → passages", mmrag.Image, mmrag.Text, retrieve.Reference},
		{"figure → passages", mmrag.Image, mmrag.Text, retrieve.Cosine},
		{"passage → figures", mmrag.Text, mmrag.Image, retrieve.Reference},
		{"passage → figures", mmrag.Text, mmrag.Image, retrieve.Cosine},
	} {
		r := run(ProxyOptions{From: c.from, To: c.to, Scale: rawNorm, Search: RankingOptions(c.mode, 100)})
		rank[c.name+" "+string(c.mode)] = r
		fmt.Fprintf(&b, "| %s | %s, full ranking | %d | %d | %d (%.0f%%) | %.3f | %.3f |\n",
			c.name, c.mode, r.Queries, r.Ranked, r.Top1, 100*r.Top1Rate(), r.MRR, r.AUC)
	}
	t.Logf("CLIP ViT-B/16 vectors of seed-blog, stored vectors as queries (×%.1f):\n\n%s", rawNorm, b.String())

	// Within one modality reference and cosine rank alike (a softmax is
	// monotonic); only their thresholds differ.
	for _, n := range []string{"figure → passages", "passage → figures"} {
		if a, c := rank[n+" reference"], rank[n+" cosine"]; a.Top1 != c.Top1 || a.AUC != c.AUC {
			t.Errorf("%s: reference ranking %+v differs from cosine %+v", n, a, c)
		}
	}

	// The figure gate: which passages are shown a figure at all, under the
	// reference's settings and the shipped defaults.
	b.Reset()
	b.WriteString("| scoring (images) | passages shown a figure | first figure from own section | figures per passage |\n|---|---:|---:|---:|\n")
	gate := map[retrieve.Mode]ProxyResult{}
	for _, m := range retrieve.Modes() {
		o := retrieve.DefaultOptions(m)
		r := run(ProxyOptions{From: mmrag.Text, To: mmrag.Image, Scale: rawNorm, Search: o})
		gate[m] = r
		fmt.Fprintf(&b, "| %s (k %d, threshold %g, T %g, pool %d) | %d / %d | %d (%.0f%%) | %.2f |\n",
			m, o.Images.K, o.Images.Threshold, o.Images.Temperature, o.Images.Pool,
			r.Shown, r.Queries, r.ShownOwn, 100*r.ShownOwnRate(), float64(r.Results)/float64(r.Queries))
	}
	// Quirk 1 seen from the other side: a figure's unit vector as the
	// query (mmrag search --like) under the reference's text settings.
	like := run(ProxyOptions{From: mmrag.Image, To: mmrag.Text, Scale: 1, Search: retrieve.DefaultOptions(retrieve.Reference)})
	t.Logf("passage (×%.1f) → figures, each mode's defaults:\n\n%s\nfigure (unit vector) → passages, reference text settings: %.1f passages per figure pass the 0.01 threshold of 86",
		rawNorm, b.String(), float64(like.Results)/float64(like.Queries))

	fig, pas := rank["figure → passages reference"], rank["passage → figures reference"]
	checkFloors(t, []floor{
		{"figure → passages top-1 rate", fig.Top1Rate(), 7.0 / 17},
		{"figure → passages MRR", fig.MRR, 0.622},
		{"figure → passages AUC", fig.AUC, 0.761},
		{"passage → figures top-1 rate", pas.Top1Rate(), 13.0 / 61},
		{"passage → figures AUC", pas.AUC, 0.543},
		{"reference gate: own-section share", gate[retrieve.Reference].ShownOwnRate(), 8.0 / 17},
	}, 0.05)
	if fig.Queries != 17 || fig.Ranked != 17 {
		t.Errorf("figure queries %d, ranked %d: want all 17 figure records", fig.Queries, fig.Ranked)
	}
}
