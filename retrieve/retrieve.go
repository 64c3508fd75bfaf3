package retrieve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"mmrag"
	"mmrag/store"
)

// QueryEmbedder is CLIP's text tower as reference scoring needs it.
type QueryEmbedder interface {
	ModelID() string
	// TextProjections returns the raw, unnormalised text projections
	// (embed.CLIP.TextProjections).
	TextProjections(ctx context.Context, texts []string) ([][]float32, error)
}

// TextEmbedder is an optional dedicated text embedder (Ollama, OpenAI-
// compatible) whose vectors sit in the store under its ModelID.
type TextEmbedder interface {
	ModelID() string
	// EmbedTexts returns L2-normalised embeddings.
	EmbedTexts(ctx context.Context, texts []string) ([][]float32, error)
}

// QueryTextEmbedder is a TextEmbedder that embeds questions differently
// from the passages it stores (e5's "query: " prefix, bge's instruction).
// The Searcher embeds questions with EmbedQueries when the text embedder
// has it.
type QueryTextEmbedder interface {
	TextEmbedder
	EmbedQueries(ctx context.Context, texts []string) ([][]float32, error)
}

// EmbedQuestions embeds questions with e: EmbedQueries where e has it,
// else EmbedTexts.
func EmbedQuestions(ctx context.Context, e TextEmbedder, texts []string) ([][]float32, error) {
	if q, ok := e.(QueryTextEmbedder); ok {
		return q.EmbedQueries(ctx, texts)
	}
	return e.EmbedTexts(ctx, texts)
}

// Mode says how items are scored; see the package documentation.
type Mode string

const (
	Reference Mode = "reference"
	Cosine    Mode = "cosine"
	Hybrid    Mode = "hybrid"
)

// DefaultMode is the mode of an Options whose Mode is empty.
const DefaultMode = Hybrid

// Modes lists the valid modes.
func Modes() []Mode { return []Mode{Reference, Cosine, Hybrid} }

// Space names the embedding space a modality is scored in.
type Space string

const (
	// CLIPSpace scores with CLIP's vectors (Searcher.CLIP).
	CLIPSpace Space = "clip"
	// TextSpace scores with the dedicated text embedder's vectors
	// (Searcher.Text): text items by their text, image items by the
	// vectors of their captions or descriptions stored under its model.
	TextSpace Space = "text"
)

// Params tune one modality.
type Params struct {
	// K is how many items to return at most (≥ 1).
	K int
	// Threshold is the least score kept, at most 1: a softmax probability
	// where a softmax scores, a cosine in cosine mode and, for text in
	// hybrid mode, the least cosine of a dense candidate (BM25 matches need
	// none).
	Threshold float64
	// Temperature divides the dot products before the softmax (> 0; the
	// softmax scores both modalities in reference mode and images in
	// hybrid mode).
	Temperature float64
	// Pool runs the softmax over the Pool best dot products instead of the
	// whole collection (quirk 2's fix); 0 = the whole collection, as the
	// reference.
	Pool int
	// Space is the embedding space; "" picks CLIP, except for text items
	// outside reference mode when the Searcher has a TextEmbedder.
	Space Space
}

// Options tune a search. The zero value searches both modalities in
// DefaultMode with that mode's defaults.
type Options struct {
	Mode Mode
	// Text and Images tune each modality. A zero Params takes the mode's
	// defaults (DefaultOptions); any other value is used as given.
	Text, Images Params
	// Modalities restricts the search; nil searches both.
	Modalities []mmrag.Modality
	// NormalizeQuery scales the query to unit length in reference mode too
	// (quirk 1's fix). Cosine and hybrid modes always normalise.
	NormalizeQuery bool
	// KeepDuplicateImages lists every copy of a figure stored more than
	// once; by default only the best-scored copy of each BlobHash is kept.
	KeepDuplicateImages bool
	// KeepDuplicatePassages lists every passage of the same text; by
	// default only the best-scored passage of each text is kept (a file
	// stored under two paths, boilerplate repeated on every page), and the
	// items of a document that copies another (one content hash) give way
	// to those of the copy met first.
	KeepDuplicatePassages bool
	// Filter narrows both modalities (documents, types, source prefix,
	// ingest time).
	Filter mmrag.Filter
	// RRFK is the reciprocal-rank-fusion constant of hybrid mode; 0 = 60,
	// the value of Cormack et al. (2009): large enough that the first few
	// ranks of either list do not dominate.
	RRFK int
}

// Defaults of each mode (see the package tests for the measurements).
//
// Reference: the reference's settings.
//
// Cosine: CLIP's text–text cosines are compressed into 0.55–1.0 on the
// seed-blog passages, unrelated ones (median 0.77) overlapping related ones
// (median 0.86), so no fixed text threshold separates them: text keeps the
// k best (threshold 0). Passage→figure cosines lie in 0.11–0.42 (median
// 0.23) whether or not the figure belongs to the passage's section; 0.25
// drops the weakest figures and still shows one for 80 of 86 passages.
//
// Hybrid: text as cosine (the threshold is the dense candidates' floor).
// Figures through the reference's softmax made independent of both quirks:
// unit query, T = 0.06 (the reference's 0.5 over a raw norm of about 8.3),
// threshold 0.25 over the 20 best. On the seed-blog it shows a figure for
// the same 17 of 86 passages as the reference, 8 of them from the
// passage's own section (47%), where a cosine cut shows one for 80
// passages, 13 from the own section (16%): a softmax asks whether the best
// figure stands out from its competitors, which an absolute CLIP cosine
// cannot tell.
//
// The other modes ignore Temperature where they do not use it; it is kept
// at the reference's so that switching the Mode of a DefaultOptions to
// reference keeps working, and so that no default is the zero Params
// (k = 0 set on a default is refused, not mistaken for "use the defaults").
var (
	referenceText   = Params{K: 15, Threshold: 0.01, Temperature: 0.25}
	referenceImages = Params{K: 5, Threshold: 0.25, Temperature: 0.5}
	cosineText      = Params{K: 15, Threshold: 0, Temperature: referenceText.Temperature}
	cosineImages    = Params{K: 5, Threshold: 0.25, Temperature: referenceImages.Temperature}
	hybridImages    = Params{K: 5, Threshold: 0.25, Temperature: 0.06, Pool: 20}
)

// defaultRRFK is the reciprocal-rank-fusion constant.
const defaultRRFK = 60

// DefaultOptions returns mode's defaults with every field filled in; a
// caller overriding some settings (a CLI flag) starts from it.
func DefaultOptions(mode Mode) Options {
	if mode == "" {
		mode = DefaultMode
	}
	o := Options{Mode: mode, RRFK: defaultRRFK}
	o.Text, o.Images = defaultParams(mode)
	return o
}

func defaultParams(mode Mode) (text, images Params) {
	switch mode {
	case Reference:
		return referenceText, referenceImages
	case Hybrid:
		return cosineText, hybridImages
	}
	return cosineText, cosineImages
}

// resolve fills defaults and refuses settings that cannot be meant.
func (o Options) resolve() (Options, error) {
	if o.Mode == "" {
		o.Mode = DefaultMode
	}
	if !slices.Contains(Modes(), o.Mode) {
		return o, fmt.Errorf("unknown scoring mode %q (want %s, %s or %s)", o.Mode, Reference, Cosine, Hybrid)
	}
	dt, di := defaultParams(o.Mode)
	if o.Text == (Params{}) {
		o.Text = dt
	}
	if o.Images == (Params{}) {
		o.Images = di
	}
	if err := o.Text.check(o.Mode == Reference, "text"); err != nil {
		return o, err
	}
	if err := o.Images.check(o.Mode == Reference || o.Mode == Hybrid, "image"); err != nil {
		return o, err
	}
	if o.RRFK == 0 {
		o.RRFK = defaultRRFK
	}
	if o.RRFK < 0 {
		return o, fmt.Errorf("rrf constant %d is negative", o.RRFK)
	}
	if len(o.Modalities) == 0 {
		o.Modalities = []mmrag.Modality{mmrag.Text, mmrag.Image}
	}
	for _, m := range o.Modalities {
		if !store.ValidModality(m) {
			return o, fmt.Errorf("unknown modality %q (want %s or %s)", m, mmrag.Text, mmrag.Image)
		}
	}
	return o, nil
}

// check validates p; softmax says whether p's modality is scored by a
// softmax, which divides by the temperature.
func (p Params) check(softmax bool, name string) error {
	switch {
	case p.K < 1:
		return fmt.Errorf("%s k is %d: it must be at least 1", name, p.K)
	case math.IsNaN(p.Threshold) || math.IsInf(p.Threshold, 0):
		return fmt.Errorf("%s threshold %v is not a number", name, p.Threshold)
	case p.Threshold > 1:
		return fmt.Errorf("%s threshold %v is above 1: no score can reach it", name, p.Threshold)
	case math.IsNaN(p.Temperature) || math.IsInf(p.Temperature, 0) || p.Temperature < 0:
		return fmt.Errorf("%s temperature %v must be a positive number", name, p.Temperature)
	case softmax && p.Temperature == 0:
		return fmt.Errorf("%s temperature is 0: softmax scoring divides by it, it must be positive", name)
	case p.Pool < 0:
		return fmt.Errorf("%s softmax pool %d is negative", name, p.Pool)
	case p.Space != "" && p.Space != CLIPSpace && p.Space != TextSpace:
		return fmt.Errorf("%s embedding space %q is neither %q nor %q", name, p.Space, CLIPSpace, TextSpace)
	}
	return nil
}

// Result is one retrieved item.
type Result struct {
	Item mmrag.Item
	Doc  mmrag.Document // the item's document (title, source)
	// Score ranks the list: a softmax probability (reference; hybrid
	// images), a cosine (cosine) or an RRF score (hybrid text).
	Score float64
	// Dense is the dot product of the query with the item's vector: a
	// cosine when the query is normalised, the raw dot product in
	// reference mode.
	Dense float64
	// BM25 is the full-text score (higher is better; 0: no match or not
	// computed).
	BM25 float64
	// DenseRank and BM25Rank are the 1-based ranks in the fused lists of
	// hybrid mode; 0 where the item was not in that list.
	DenseRank, BM25Rank int
	// Rank is the 1-based position in its modality's list.
	Rank int
	// Passage is, once Passages has run, a text result's passage: the
	// block its window belongs to, or the window with its neighbours in a
	// long block. "" before. Windows are the IDs of the hits the result
	// stands for, best first (Item's own first).
	Passage string   `json:",omitempty"`
	Windows []string `json:",omitempty"`
}

// Results are a search's two ranked lists.
type Results struct {
	Query  string // the question; "" for a vector query
	Mode   Mode
	Text   []Result
	Images []Result
	// Scored counts, per modality, the items the softmax ran over in
	// reference mode (the collection, or the pool), and the candidates
	// the store returned in the other modes.
	Scored map[mmrag.Modality]int
	// Below says, for a modality searched that came back empty because
	// every item scored under its threshold, the best score and the
	// threshold ("no figure passed 0.25, best 0.18").
	Below map[mmrag.Modality]BelowThreshold
	Took  time.Duration

	best map[mmrag.Modality]float64 // each plan's best score before its threshold
	docs *docCache                  // the documents this search has read
}

// BelowThreshold is the best score of a modality none of whose items
// reached the threshold.
type BelowThreshold struct {
	Best, Threshold float64
}

// noteBest remembers a modality's best score before the threshold.
func (r *Results) noteBest(m mmrag.Modality, score float64) {
	if r.best == nil {
		r.best = map[mmrag.Modality]float64{}
	}
	if b, ok := r.best[m]; !ok || score > b {
		r.best[m] = score
	}
}

// noteBelow records in Below that p's modality found nothing because
// every item scored under the threshold.
func (r *Results) noteBelow(p plan, found int) {
	best, ok := r.best[p.modality]
	if found > 0 || !ok || best >= p.params.Threshold {
		return
	}
	if r.Below == nil {
		r.Below = map[mmrag.Modality]BelowThreshold{}
	}
	r.Below[p.modality] = BelowThreshold{Best: best, Threshold: p.params.Threshold}
}

// Searcher searches a Store. CLIP is required for text queries; Text is
// optional.
type Searcher struct {
	Store mmrag.Store
	CLIP  QueryEmbedder
	Text  TextEmbedder
}

// maxLogQuery caps how much of a query error messages quote.
const maxLogQuery = 60

func quote(q string) string {
	if r := []rune(q); len(r) > maxLogQuery {
		q = string(r[:maxLogQuery]) + "…"
	}
	return fmt.Sprintf("%q", q)
}

// Search embeds query and searches both modalities. A long query is not
// refused: CLIP keeps its first 77 tokens and BM25 its first 64 terms.
func (s *Searcher) Search(ctx context.Context, query string, opt Options) (*Results, error) {
	start := time.Now()
	query = strings.TrimSpace(query)
	if query == "" {
		return nil, errors.New("search: empty query")
	}
	opt, err := opt.resolve()
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", quote(query), err)
	}
	plans := make([]plan, 0, len(opt.Modalities))
	vecs := map[Space][]float32{}
	for _, m := range opt.Modalities {
		p := opt.params(m)
		sp, err := s.space(m, p, opt.Mode)
		if err != nil {
			return nil, fmt.Errorf("search %s: %w", quote(query), err)
		}
		if vecs[sp] == nil {
			if vecs[sp], err = s.embed(ctx, sp, query); err != nil {
				return nil, fmt.Errorf("search %s: %w", quote(query), err)
			}
		}
		plans = append(plans, plan{modality: m, params: p, model: s.model(sp), vector: vecs[sp]})
	}
	res, err := s.run(ctx, query, plans, opt)
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", quote(query), err)
	}
	res.Took = time.Since(start)
	return res, nil
}

// SearchVector searches both modalities with q, a vector of model ("" means
// CLIP's), used as given: an image's embedding, or a stored item's vector.
// In hybrid mode there is no text for BM25, so text items are ranked by
// their dense scores alone.
func (s *Searcher) SearchVector(ctx context.Context, model string, q []float32, opt Options) (*Results, error) {
	start := time.Now()
	if model == "" {
		if s.CLIP == nil {
			return nil, errors.New("search by vector: no model named and no CLIP embedder")
		}
		model = s.CLIP.ModelID()
	}
	if len(q) == 0 {
		return nil, errors.New("search by vector: empty query vector")
	}
	if !store.Finite(q) {
		return nil, errors.New("search by vector: query vector holds NaN or Inf")
	}
	opt, err := opt.resolve()
	if err != nil {
		return nil, fmt.Errorf("search by vector: %w", err)
	}
	var plans []plan
	for _, m := range opt.Modalities {
		plans = append(plans, plan{modality: m, params: opt.params(m), model: model, vector: q})
	}
	res, err := s.run(ctx, "", plans, opt)
	if err != nil {
		return nil, fmt.Errorf("search by vector: %w", err)
	}
	res.Took = time.Since(start)
	return res, nil
}

func (o *Options) params(m mmrag.Modality) Params {
	if m == mmrag.Image {
		return o.Images
	}
	return o.Text
}

// space resolves the embedding space of a modality.
func (s *Searcher) space(m mmrag.Modality, p Params, mode Mode) (Space, error) {
	sp := p.Space
	if sp == "" {
		sp = CLIPSpace
		if m == mmrag.Text && mode != Reference && s.Text != nil {
			sp = TextSpace
		}
	}
	if sp == TextSpace && s.Text == nil {
		return "", fmt.Errorf("%s items: the %q space needs a text embedder, and none is configured", m, TextSpace)
	}
	if sp == CLIPSpace && s.CLIP == nil {
		return "", fmt.Errorf("%s items: no CLIP embedder", m)
	}
	return sp, nil
}

func (s *Searcher) model(sp Space) string {
	if sp == TextSpace {
		return s.Text.ModelID()
	}
	return s.CLIP.ModelID()
}

func (s *Searcher) embed(ctx context.Context, sp Space, query string) ([]float32, error) {
	var (
		v   [][]float32
		err error
	)
	if sp == TextSpace {
		v, err = EmbedQuestions(ctx, s.Text, []string{query})
	} else {
		v, err = s.CLIP.TextProjections(ctx, []string{query})
	}
	if err == nil && len(v) != 1 {
		err = fmt.Errorf("embedder returned %d vectors for 1 text", len(v))
	}
	if err != nil {
		return nil, fmt.Errorf("embed query with %s: %w", s.model(sp), err)
	}
	if len(v[0]) == 0 || !store.Finite(v[0]) {
		return nil, fmt.Errorf("embed query with %s: empty vector or one holding NaN or Inf", s.model(sp))
	}
	return v[0], nil
}

// plan is one modality's search.
type plan struct {
	modality mmrag.Modality
	params   Params
	model    string
	vector   []float32
}

// candidate is a scored item before its record is loaded.
type candidate struct {
	id                  string
	score, dense, bm25  float64
	denseRank, bm25Rank int
	hasDense            bool
}

func (s *Searcher) run(ctx context.Context, query string, plans []plan, opt Options) (*Results, error) {
	if s.Store == nil {
		return nil, errors.New("no store")
	}
	res := &Results{Query: query, Mode: opt.Mode, Scored: map[mmrag.Modality]int{}}
	res.docs = &docCache{store: s.Store, docs: map[string]mmrag.Document{}}
	for _, p := range plans {
		var (
			list []Result
			err  error
		)
		switch {
		case opt.Mode == Reference:
			list, err = s.softmax(ctx, p, opt, res, opt.NormalizeQuery)
		case opt.Mode == Hybrid && p.modality == mmrag.Image:
			list, err = s.softmax(ctx, p, opt, res, true)
		case opt.Mode == Hybrid && query != "":
			list, err = s.hybrid(ctx, query, p, opt, res)
		default:
			list, err = s.cosine(ctx, p, opt, res)
		}
		if err != nil {
			return nil, fmt.Errorf("%s items: %w", p.modality, err)
		}
		if err := attachDocs(ctx, list, res.docs); err != nil {
			return nil, err
		}
		res.noteBelow(p, len(list))
		if p.modality == mmrag.Image {
			res.Images = list
		} else {
			res.Text = list
		}
	}
	return res, nil
}

// softmax scores as the reference did: softmax(q·E/T) over the whole
// collection (or the Pool best), threshold, first k. normalize scales the
// query to unit length first.
//
// The store's dot products are float32 sums, off by up to about 1e-7 of the
// query's norm, which T = 0.25 turns into score errors of a few 1e-6. The
// items that may be kept are therefore rescored in float64 from their
// stored vectors; the others only enter the denominator, where the error
// they bring to any kept score p is at most p × (their share of the mass)
// × (their logit error) ≤ ¼ × 4e-6 = 1e-6 at the reference's temperatures.
// The tests measure 1.4e-8 on the seed-blog vectors.
func (s *Searcher) softmax(ctx context.Context, p plan, opt Options, res *Results, normalize bool) ([]Result, error) {
	q := p.vector
	if normalize {
		q = store.Normalized(q)
	}
	// The head: every hit the float32 scores keep, with a margin far above
	// their error, and at least the best one, whose term dominates the
	// denominator. 2k+8 leaves room for near-ties and duplicate figures.
	limit := 2*p.params.K + 8
	hits, sum, err := s.searchSoftmax(ctx, mmrag.VectorQuery{
		Model: p.model, Modality: p.modality, Vector: q, K: p.params.Pool, Filter: opt.Filter,
	}, p.params.Temperature, limit)
	if err != nil {
		return nil, err
	}
	res.Scored[p.modality] = sum.N
	head := 0
	for head < min(len(hits), limit) && (head == 0 || sum.Term(float64(hits[head].Score))/sum.Sum >= p.params.Threshold-1e-5) {
		head++
	}
	dots := make([]float64, head)
	for i, h := range hits[:head] {
		dots[i] = float64(h.Score)
		v, err := s.Store.Vector(ctx, p.model, h.ItemID)
		if errors.Is(err, mmrag.ErrNotFound) {
			continue // replaced since the search: pick drops it
		}
		if err != nil {
			return nil, err
		}
		d := store.Dot64(q, v)
		sum.Replace(dots[i], d)
		dots[i] = d
	}
	probs := make([]float64, head)
	for i, d := range dots {
		probs[i] = sum.Term(d) / sum.Sum
	}
	// Rounding may have swapped near-ties: reorder the rescored head.
	order := make([]int, head)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if dots[a] != dots[b] {
			if dots[a] > dots[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(hits[a].ItemID, hits[b].ItemID)
	})
	if head > 0 {
		res.noteBest(p.modality, probs[order[0]])
	}
	// The softmax is monotonic, so the kept items are a prefix.
	cands := make([]candidate, 0, head)
	for _, i := range order {
		if probs[i] < p.params.Threshold {
			break
		}
		cands = append(cands, candidate{id: hits[i].ItemID, score: probs[i], dense: dots[i], hasDense: true})
	}
	return s.pick(ctx, cands, p, opt, res.docs)
}

// SoftmaxSearcher is a store whose exact scan also sums the softmax's
// denominator over every row it scores (sqlite.Store): the reference
// scoring then asks it for the head of the ranking, not for every hit of
// the collection sorted.
type SoftmaxSearcher interface {
	SearchSoftmax(ctx context.Context, q mmrag.VectorQuery, temperature float64) ([]mmrag.Hit, store.Softmax, error)
}

// searchSoftmax returns the best hits of q, best first, at least the head
// first ones, with the softmax denominator over every hit q scores (the
// whole collection, or its q.K best). A SoftmaxSearcher store sums it in
// its scan; any other store hands over every hit, summed here.
func (s *Searcher) searchSoftmax(ctx context.Context, q mmrag.VectorQuery, temperature float64, head int) ([]mmrag.Hit, store.Softmax, error) {
	if ss, ok := s.Store.(SoftmaxSearcher); ok && q.K <= 0 {
		q.K = head
		return ss.SearchSoftmax(ctx, q, temperature)
	}
	hits, err := s.Store.SearchVectors(ctx, q)
	if err != nil {
		return nil, store.Softmax{}, err
	}
	sum := store.Softmax{T: temperature}
	for _, h := range hits {
		sum.Add(h.Score)
	}
	return hits, sum, nil
}

// maxDeepen bounds how deep cosine looks for k results after collapsing
// duplicates: maxDeepen·k hits.
const maxDeepen = 64

// cosine scores by cosine similarity with a fixed threshold.
func (s *Searcher) cosine(ctx context.Context, p plan, opt Options, res *Results) ([]Result, error) {
	q := store.Normalized(p.vector)
	fetch := p.params.K
	if collapses(p.modality, opt) {
		fetch = 2*p.params.K + 8 // room for duplicates
	}
	for {
		hits, err := s.Store.SearchVectors(ctx, mmrag.VectorQuery{
			Model: p.model, Modality: p.modality, Vector: q, K: fetch, Filter: opt.Filter, Approximate: true,
		})
		if err != nil {
			return nil, err
		}
		if len(hits) > 0 {
			res.noteBest(p.modality, float64(hits[0].Score))
		}
		cands := make([]candidate, 0, len(hits))
		for _, h := range hits {
			if float64(h.Score) < p.params.Threshold {
				break
			}
			cands = append(cands, candidate{id: h.ItemID, score: float64(h.Score), dense: float64(h.Score), hasDense: true})
		}
		list, err := s.pick(ctx, cands, p, opt, res.docs)
		if err != nil {
			return nil, err
		}
		// Fewer than k after collapsing duplicates, while the store may hold
		// more above the threshold: look deeper, to maxDeepen·k hits (a
		// collection of many copies of one document would otherwise be
		// read whole, exactly, at every search).
		if len(list) < p.params.K && len(hits) == fetch && len(cands) == len(hits) && fetch < maxDeepen*p.params.K {
			fetch = min(4*fetch, maxDeepen*p.params.K)
			continue
		}
		res.Scored[p.modality] = max(res.Scored[p.modality], len(hits))
		return list, nil
	}
}

// hybrid fuses the dense and BM25 rankings of text items by RRF.
func (s *Searcher) hybrid(ctx context.Context, query string, p plan, opt Options, res *Results) ([]Result, error) {
	q := store.Normalized(p.vector)
	depth := max(4*p.params.K, 50)
	// The two searches are independent: run them side by side (BM25 over a
	// large collection can take as long as the vector scan).
	var (
		bm    []mmrag.Hit
		bmErr error
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		bm, bmErr = s.Store.SearchText(ctx, mmrag.TextQuery{Query: keywordQuery(query), K: depth, Filter: opt.Filter})
	})
	dense, err := s.Store.SearchVectors(ctx, mmrag.VectorQuery{
		Model: p.model, Modality: p.modality, Vector: q, K: depth, Filter: opt.Filter, Approximate: true,
	})
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if bmErr != nil {
		return nil, bmErr
	}
	byID := map[string]*candidate{}
	var order []*candidate
	get := func(id string) *candidate {
		c := byID[id]
		if c == nil {
			c = &candidate{id: id}
			byID[id] = c
			order = append(order, c)
		}
		return c
	}
	rank := 0
	for _, h := range dense {
		if float64(h.Score) < p.params.Threshold {
			break
		}
		rank++
		c := get(h.ItemID)
		c.dense, c.hasDense, c.denseRank = float64(h.Score), true, rank
		c.score += 1 / float64(opt.RRFK+rank)
	}
	for i, h := range bm {
		c := get(h.ItemID)
		c.bm25, c.bm25Rank = float64(h.Score), i+1
		c.score += 1 / float64(opt.RRFK+i+1)
	}
	res.Scored[p.modality] = len(order)
	cands := make([]candidate, len(order))
	for i, c := range order {
		cands[i] = *c
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
	list, err := s.pick(ctx, cands, p, opt, res.docs)
	if err != nil {
		return nil, err
	}
	// Items found by BM25 alone still get their dense score, so every
	// result shows both components. Items below the dense threshold, or
	// beyond the dense depth, have one; an item without a vector keeps 0.
	for i := range list {
		if list[i].DenseRank != 0 {
			continue
		}
		v, err := s.Store.Vector(ctx, p.model, list[i].Item.ID)
		if errors.Is(err, mmrag.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		list[i].Dense = store.Dot64(q, v)
	}
	return list, nil
}

// collapses says whether duplicates of modality m are collapsed.
func collapses(m mmrag.Modality, opt Options) bool {
	if m == mmrag.Image {
		return !opt.KeepDuplicateImages
	}
	return !opt.KeepDuplicatePassages
}

// duplicateKey is what two items share when one duplicates the other: a
// figure's image bytes (BlobHash), a passage's text. "" never collapses.
func duplicateKey(it mmrag.Item) string {
	if it.Modality == mmrag.Image {
		return it.BlobHash
	}
	if t := strings.TrimSpace(it.Text); t != "" {
		return "text:" + t
	}
	return ""
}

// docCopies tells the documents that are byte-for-byte copies (one
// content hash) of a document met before: a file stored under two paths.
// Their items would only repeat the first copy's, and mixing copies
// (one passage from each, as their ranks interleave) cites one file twice.
type docCopies struct {
	docs  *docCache
	first map[string]string // content hash → the first document met
	known map[string]bool   // document id → a copy
}

// of reports whether document id copies a document met before.
func (c *docCopies) of(ctx context.Context, id string) (bool, error) {
	if copyOf, ok := c.known[id]; ok {
		return copyOf, nil
	}
	d, err := c.docs.get(ctx, id) // removed since: no hash, its items are gone too
	if err != nil {
		return false, err
	}
	copyOf := false
	if d.Hash != "" {
		if f, ok := c.first[d.Hash]; ok && f != id {
			copyOf = true
		} else {
			c.first[d.Hash] = id
		}
	}
	c.known[id] = copyOf
	return copyOf, nil
}

// pick loads the candidates' items in order, collapsing duplicates (see
// collapses: figures of one picture, passages of one text, and the items
// of documents that copy one met before), until k are found.
func (s *Searcher) pick(ctx context.Context, cands []candidate, p plan, opt Options, docs *docCache) ([]Result, error) {
	k := p.params.K
	collapse := collapses(p.modality, opt)
	out := make([]Result, 0, min(k, len(cands)))
	seen := map[string]bool{}
	copies := docCopies{docs: docs, first: map[string]string{}, known: map[string]bool{}}
	for lo := 0; lo < len(cands) && len(out) < k; {
		// Load a little more than needed: collapsing and items deleted
		// since the search may drop some.
		hi := min(len(cands), lo+2*(k-len(out))+4)
		ids := make([]string, hi-lo)
		for i := range ids {
			ids[i] = cands[lo+i].id
		}
		items, err := s.Store.ItemsByID(ctx, ids)
		if err != nil {
			return nil, err
		}
		got := make(map[string]mmrag.Item, len(items))
		for _, it := range items {
			got[it.ID] = it
		}
		for _, c := range cands[lo:hi] {
			it, ok := got[c.id]
			if !ok {
				continue // replaced since the search
			}
			if collapse {
				copyOf, err := copies.of(ctx, it.DocID)
				if err != nil {
					return nil, err
				}
				if copyOf {
					continue
				}
				if key := duplicateKey(it); key != "" {
					if seen[key] {
						continue
					}
					seen[key] = true
				}
			}
			out = append(out, Result{Item: it, Score: c.score, Dense: c.dense, BM25: c.bm25,
				DenseRank: c.denseRank, BM25Rank: c.bm25Rank, Rank: len(out) + 1})
			if len(out) == k {
				break
			}
		}
		lo = hi
	}
	return out, nil
}

// attachDocs sets the document of every result.
func attachDocs(ctx context.Context, list []Result, docs *docCache) error {
	for i := range list {
		d, err := docs.get(ctx, list[i].Item.DocID)
		if err != nil {
			return fmt.Errorf("item %s: %w", list[i].Item.ID, err)
		}
		list[i].Doc = d
	}
	return nil
}

// docCache holds the documents one search has read, so that collapsing
// copies and attaching documents to the results read each once.
type docCache struct {
	store mmrag.Store
	docs  map[string]mmrag.Document // the zero Document: not found
}

// get returns document id, the zero Document when the store has none.
func (c *docCache) get(ctx context.Context, id string) (mmrag.Document, error) {
	if d, ok := c.docs[id]; ok {
		return d, nil
	}
	d, err := c.store.Document(ctx, id)
	if err != nil && !errors.Is(err, mmrag.ErrNotFound) {
		return mmrag.Document{}, fmt.Errorf("document %s: %w", id, err)
	}
	c.docs[id] = d
	return d, nil
}

// ReferenceScores returns softmax(score/T) over hits: the reference's
// scores when the hits are the dot products of the raw query with every
// item of a modality. It computes in float64 relative to the largest
// logit (store.Softmax), so no exponential overflows whatever the norm of
// the query or the temperature. temperature must be positive; an empty
// hits yields an empty slice.
func ReferenceScores(hits []mmrag.Hit, temperature float64) []float64 {
	sum := store.Softmax{T: temperature}
	for _, h := range hits {
		sum.Add(h.Score)
	}
	out := make([]float64, len(hits))
	for i, h := range hits {
		out[i] = sum.Term(float64(h.Score)) / sum.Sum
	}
	return out
}
