package eval

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"mmrag"
)

// tinySet is three questions over five items with known answers.
func tinySet(t *testing.T) *Set {
	t.Helper()
	in := `{"id":"f1","question":"fact one","expect":[{"modality":"text","match":"alpha"}],"kind":"fact"}
{"id":"g1","question":"figure one","expect":[{"modality":"image","match":"images/1.png"}],"kind":"figure"}
{"id":"m1","question":"multi one","expect":[{"modality":"text","match":"beta"},{"modality":"image","match":"images/2.png"}],"kind":"multi"}
`
	s, err := Read(strings.NewReader(in), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	items := []mmrag.Item{
		{ID: "ta", Modality: mmrag.Text, Text: "alpha"},
		{ID: "tb", Modality: mmrag.Text, Text: "beta"},
		{ID: "tc", Modality: mmrag.Text, Text: "gamma"},
		{ID: "i1", Modality: mmrag.Image, Meta: map[string]string{mmrag.MetaImagePath: "images/1.png"}},
		{ID: "i2", Modality: mmrag.Image, Meta: map[string]string{mmrag.MetaImagePath: "images/2.png"}},
	}
	if err := s.Resolve(items); err != nil {
		t.Fatal(err)
	}
	return s
}

// fixed answers each question with a fixed list.
func fixed(lists map[string][]Ranked, errs map[string]error) Searcher {
	return func(_ context.Context, q string) ([]Ranked, error) {
		if err := errs[q]; err != nil {
			return nil, err
		}
		return lists[q], nil
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestRunMetrics(t *testing.T) {
	T, I := mmrag.Text, mmrag.Image
	type want struct {
		r1, r5, mrr float64
	}
	tests := []struct {
		name                   string
		lists                  map[string][]Ranked
		errs                   map[string]error
		all, text, image, mult want
		failed                 int
		imageNotReturned       bool
	}{
		{
			name: "perfect",
			lists: map[string][]Ranked{
				"fact one":   {{"ta", T}, {"tb", T}},
				"figure one": {{"i1", I}},
				"multi one":  {{"tb", T}, {"i2", I}},
			},
			all: want{1, 1, 1}, text: want{1, 1, 1}, image: want{1, 1, 1}, mult: want{1, 1, 1},
		},
		{
			// Images ranked among themselves: i1 is the first image though
			// third in the list; m1's text is 2nd, its image missing.
			name: "per-modality ranks",
			lists: map[string][]Ranked{
				"fact one":   {{"tc", T}, {"tb", T}, {"ta", T}},
				"figure one": {{"tc", T}, {"ta", T}, {"i1", I}},
				"multi one":  {{"ta", T}, {"tb", T}, {"i1", I}},
			},
			// all: f1 recall@1 0, @5 1, rr 1/3; g1 1,1,1; m1 @1 0, @5 .5, rr 1/2.
			all:   want{1.0 / 3, (1 + 1 + 0.5) / 3, (1.0/3 + 1 + 0.5) / 3},
			text:  want{0, 1, (1.0/3 + 0.5) / 2},
			image: want{0.5, 0.5, 0.5},
			mult:  want{0, 0.5, 0.5},
		},
		{
			name: "duplicates and missing modality",
			lists: map[string][]Ranked{
				// A repeat keeps its first place; an empty modality is
				// looked up from the resolved items.
				"fact one":   {{"tc", ""}, {"tc", T}, {"ta", ""}},
				"figure one": {},
				"multi one":  {{"tb", T}},
			},
			all:   want{0.5 / 3, (1 + 0 + 0.5) / 3, (0.5 + 0 + 1) / 3},
			text:  want{0.5, 1, 0.75},
			image: want{0, 0, 0},
			mult:  want{0.5, 0.5, 1},

			imageNotReturned: true,
		},
		{
			name:   "searcher error counts as misses",
			lists:  map[string][]Ranked{"fact one": {{"ta", T}}, "multi one": {{"tb", T}, {"i2", I}}},
			errs:   map[string]error{"figure one": errors.New("boom")},
			all:    want{2.0 / 3, 2.0 / 3, 2.0 / 3},
			text:   want{1, 1, 1},
			image:  want{0.5, 0.5, 0.5},
			mult:   want{1, 1, 1},
			failed: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tinySet(t)
			rep, err := Run(context.Background(), s, fixed(tc.lists, tc.errs), []int{5, 1, 5})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Ks) != 2 || rep.Ks[0] != 1 || rep.Ks[1] != 5 {
				t.Errorf("ks %v, want [1 5]", rep.Ks)
			}
			check := func(label string, m Metrics, w want) {
				t.Helper()
				if !near(m.Recall[1], w.r1) || !near(m.Recall[5], w.r5) || !near(m.MRR, w.mrr) {
					t.Errorf("%s: R@1 %.4f R@5 %.4f MRR %.4f, want %.4f %.4f %.4f", label, m.Recall[1], m.Recall[5], m.MRR, w.r1, w.r5, w.mrr)
				}
			}
			check("all", rep.Overall, tc.all)
			check("text", rep.Modality[mmrag.Text], tc.text)
			check("image", rep.Modality[mmrag.Image], tc.image)
			check("multi", rep.Kind[KindMulti], tc.mult)
			if rep.Failed != tc.failed || (tc.failed > 0) != strings.Contains(rep.FirstError, "boom") {
				t.Errorf("failed %d (%q), want %d", rep.Failed, rep.FirstError, tc.failed)
			}
			if got := rep.Modality[mmrag.Image].NotReturned; got != tc.imageNotReturned {
				t.Errorf("image NotReturned %v, want %v", got, tc.imageNotReturned)
			}
			if n := rep.Overall.Questions; n != 3 || rep.Modality[mmrag.Text].Questions != 2 || rep.Modality[mmrag.Image].Questions != 2 {
				t.Errorf("question counts all %d text %d image %d, want 3 2 2", n, rep.Modality[mmrag.Text].Questions, rep.Modality[mmrag.Image].Questions)
			}
			md := rep.Markdown()
			for _, want := range []string{"| all | 3 |", "| R@1 | R@5 | MRR |", "| figure questions | 1 |"} {
				if !strings.Contains(md, want) {
					t.Errorf("markdown lacks %q:\n%s", want, md)
				}
			}
			if tc.imageNotReturned && !strings.Contains(md, "| image items | 2 | – | – | – |") {
				t.Errorf("markdown does not mark images as never returned:\n%s", md)
			}
		})
	}
}

func TestRunBadInput(t *testing.T) {
	s := tinySet(t)
	ok := fixed(nil, nil)
	if _, err := Run(context.Background(), s, ok, []int{0}); err == nil || !strings.Contains(err.Error(), "k=0") {
		t.Errorf("k=0: error %v", err)
	}
	if _, err := Run(context.Background(), s, nil, nil); err == nil {
		t.Error("nil searcher accepted")
	}
	if _, err := Run(context.Background(), nil, ok, nil); err == nil {
		t.Error("nil set accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, s, ok, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: error %v", err)
	}
	rep, err := Run(context.Background(), s, ok, nil)
	if err != nil || len(rep.Ks) != len(DefaultKs) {
		t.Errorf("default ks: %v, %v", rep.Ks, err)
	}
}

// The first question is asked once more, untimed, before the timed pass.
func TestRunWarmUp(t *testing.T) {
	s := tinySet(t)
	calls := map[string]int{}
	_, err := Run(context.Background(), s, func(_ context.Context, q string) ([]Ranked, error) {
		calls[q]++
		return nil, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if calls["fact one"] != 2 || calls["figure one"] != 1 || calls["multi one"] != 1 {
		t.Errorf("calls %v, want the first question twice and the others once", calls)
	}
}

func TestCompare(t *testing.T) {
	s := tinySet(t)
	a, err := Run(context.Background(), s, fixed(map[string][]Ranked{"fact one": {{"ta", mmrag.Text}}}, nil), []int{1})
	if err != nil {
		t.Fatal(err)
	}
	a.Name = "first"
	b := a
	b.Name = "second"
	md := Compare([]Report{a, b})
	if strings.Count(md, "| first |") != 1 || strings.Count(md, "| second |") != 1 || !strings.Contains(md, "| image | 2 | – | – |") {
		t.Errorf("comparison table:\n%s", md)
	}
	if Compare(nil) != "" {
		t.Error("Compare(nil) is not empty")
	}
}

func TestSummarise(t *testing.T) {
	var d []time.Duration
	for i := 20; i >= 1; i-- {
		d = append(d, time.Duration(i))
	}
	l := summarise(d)
	if l.P50 != 10 || l.P95 != 19 || l.Max != 20 || l.Mean != 10 {
		t.Errorf("latency %+v, want p50 10, p95 19, max 20, mean 10", l)
	}
	if (summarise(nil) != Latency{}) {
		t.Error("empty latencies are not zero")
	}
}
