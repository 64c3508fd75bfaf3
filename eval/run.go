package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"mmrag"
)

// Ranked is one retrieved item, best first in the list a Searcher returns.
type Ranked struct {
	ItemID   string
	Modality mmrag.Modality // "" is looked up among the items the set was resolved against
}

// Searcher answers one question with its ranked items. Text and image items
// may come in one list or interleaved: each modality is ranked on its own
// (an item's rank is its position among the items of its modality), as
// mmrag shows them in two lists.
type Searcher func(ctx context.Context, question string) ([]Ranked, error)

// DefaultKs are the cut-offs reported when Run is given none: 15 is the
// reference's text k, 5 its image k.
var DefaultKs = []int{1, 5, 10, 15}

// Metrics are one slice of a report (all questions, one modality, one kind).
type Metrics struct {
	// Questions counted: those with at least one expectation in the slice.
	Questions int
	// Expected is how many expectations the slice holds.
	Expected int
	// Recall[k] is the mean over questions of the share of their expected
	// items found within the first k of their modality's list.
	Recall map[int]float64
	// MRR is the mean over questions of 1 / the best rank of an expected
	// item (0 when none is found at any depth).
	MRR float64
	// NotReturned: the searcher never returned an item of any modality
	// this slice expects (BM25 finds no figures): the numbers are 0 by
	// construction, not by ranking.
	NotReturned bool
}

// Latency summarises how long the searcher took per question.
type Latency struct {
	P50, P95, Mean, Max time.Duration
}

// QuestionResult is one question's outcome.
type QuestionResult struct {
	ID, Kind string
	// Ranks holds, per expectation in set order, the 1-based rank of its
	// first item in its modality's list; 0: not returned.
	Ranks []int
	Took  time.Duration
	Err   string // the searcher's error; the question then counts as all misses
}

// Report is the outcome of one Run.
type Report struct {
	// Name labels the strategy (set by the caller; Run leaves it empty).
	Name string
	Set  string
	Ks   []int
	// Questions asked; Failed of them returned an error (FirstError's).
	Questions, Failed int
	FirstError        string
	Overall           Metrics
	Modality          map[mmrag.Modality]Metrics
	Kind              map[string]Metrics
	// Returned counts the items returned per modality, over all questions.
	Returned map[mmrag.Modality]int
	Latency  Latency
	Results  []QuestionResult
}

// Run asks search every question of set, which must be resolved, and
// measures recall at each of ks (DefaultKs when empty), MRR and latency.
//
// The first question is asked once, untimed, before the timed pass, so
// that lazy loading (a store's vector matrix, a model the server loads on
// first use) is not billed to one question. Searcher errors do not stop the
// run: the question counts as all misses and the report counts it in
// Failed. Run itself fails only on an unresolved set, bad ks or a
// cancelled ctx.
func Run(ctx context.Context, set *Set, search Searcher, ks []int) (Report, error) {
	if set == nil || !set.resolved {
		return Report{}, errors.New("evaluate: the question set is not resolved against a knowledge base (call Set.Resolve)")
	}
	if search == nil {
		return Report{}, errors.New("evaluate: no searcher")
	}
	ks, err := normKs(ks)
	if err != nil {
		return Report{}, fmt.Errorf("evaluate %s: %w", set.Name, err)
	}
	rep := Report{Set: set.Name, Ks: ks, Questions: len(set.Questions), Returned: map[mmrag.Modality]int{}}
	if len(set.Questions) > 0 {
		_, _ = search(ctx, set.Questions[0].Question) // warm-up; its error recurs below
	}
	var took []time.Duration
	for _, q := range set.Questions {
		if err := ctx.Err(); err != nil {
			return Report{}, fmt.Errorf("evaluate %s: %w", set.Name, err)
		}
		start := time.Now()
		ranked, err := search(ctx, q.Question)
		d := time.Since(start)
		took = append(took, d)
		res := QuestionResult{ID: q.ID, Kind: q.Kind, Ranks: make([]int, len(q.Expect)), Took: d}
		if err != nil {
			if ctx.Err() != nil {
				return Report{}, fmt.Errorf("evaluate %s: %w", set.Name, ctx.Err())
			}
			res.Err = err.Error()
			rep.Failed++
			if rep.FirstError == "" {
				rep.FirstError = fmt.Sprintf("%s: %v", q.ID, err)
			}
		} else {
			ranks := set.rank(ranked, rep.Returned)
			for i, e := range q.Expect {
				res.Ranks[i] = bestRank(ranks, e.IDs)
			}
		}
		rep.Results = append(rep.Results, res)
	}
	rep.Latency = summarise(took)
	all := func(Question, Expect) bool { return true }
	rep.Overall = rep.metrics(set, all)
	rep.Modality = map[mmrag.Modality]Metrics{}
	for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
		rep.Modality[m] = rep.metrics(set, func(_ Question, e Expect) bool { return e.Modality == m })
	}
	rep.Kind = map[string]Metrics{}
	for _, k := range Kinds() {
		rep.Kind[k] = rep.metrics(set, func(q Question, _ Expect) bool { return q.Kind == k })
	}
	return rep, nil
}

func normKs(ks []int) ([]int, error) {
	if len(ks) == 0 {
		return slices.Clone(DefaultKs), nil
	}
	out := slices.Clone(ks)
	for _, k := range out {
		if k < 1 {
			return nil, fmt.Errorf("recall cut-off k=%d: it must be at least 1", k)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// rank turns a returned list into each item's 1-based rank within its
// modality (repeats keep their first place) and counts what came back.
func (s *Set) rank(ranked []Ranked, returned map[mmrag.Modality]int) map[string]int {
	pos := map[mmrag.Modality]int{}
	ranks := make(map[string]int, len(ranked))
	for _, r := range ranked {
		if _, dup := ranks[r.ItemID]; dup {
			continue
		}
		m := r.Modality
		if m == "" {
			m = s.modality[r.ItemID]
		}
		pos[m]++
		returned[m]++
		ranks[r.ItemID] = pos[m]
	}
	return ranks
}

func bestRank(ranks map[string]int, ids []string) int {
	best := 0
	for _, id := range ids {
		if r := ranks[id]; r > 0 && (best == 0 || r < best) {
			best = r
		}
	}
	return best
}

// metrics averages over the questions with an expectation that in keeps.
func (rep *Report) metrics(set *Set, in func(Question, Expect) bool) Metrics {
	m := Metrics{Recall: map[int]float64{}}
	modalities := map[mmrag.Modality]bool{}
	for qi, q := range set.Questions {
		res := rep.Results[qi]
		var ranks []int
		for ei, e := range q.Expect {
			if in(q, e) {
				ranks = append(ranks, res.Ranks[ei])
				modalities[e.Modality] = true
			}
		}
		if len(ranks) == 0 {
			continue
		}
		m.Questions++
		m.Expected += len(ranks)
		best := 0
		for _, r := range ranks {
			if r > 0 && (best == 0 || r < best) {
				best = r
			}
		}
		if best > 0 {
			m.MRR += 1 / float64(best)
		}
		for _, k := range rep.Ks {
			found := 0
			for _, r := range ranks {
				if r > 0 && r <= k {
					found++
				}
			}
			m.Recall[k] += float64(found) / float64(len(ranks))
		}
	}
	if m.Questions > 0 {
		m.MRR /= float64(m.Questions)
		for k := range m.Recall {
			m.Recall[k] /= float64(m.Questions)
		}
		m.NotReturned = true
		for mod := range modalities {
			if rep.Returned[mod] > 0 {
				m.NotReturned = false
			}
		}
	}
	return m
}

// summarise computes nearest-rank percentiles.
func summarise(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	pct := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Latency{P50: pct(0.50), P95: pct(0.95), Mean: sum / time.Duration(len(s)), Max: s[len(s)-1]}
}

// Markdown renders the report as a heading line and a table with one row
// per slice: all questions, each modality, each kind.
func (rep Report) Markdown() string {
	var b strings.Builder
	name := rep.Name
	if name == "" {
		name = "search"
	}
	fmt.Fprintf(&b, "**%s** on %s: %d questions", name, rep.Set, rep.Questions)
	if rep.Failed > 0 {
		fmt.Fprintf(&b, ", %d failed (first: %s)", rep.Failed, rep.FirstError)
	}
	fmt.Fprintf(&b, "; latency p50 %s, p95 %s\n\n", fmtDur(rep.Latency.P50), fmtDur(rep.Latency.P95))
	b.WriteString("| slice | questions |")
	for _, k := range rep.Ks {
		fmt.Fprintf(&b, " R@%d |", k)
	}
	b.WriteString(" MRR |\n|---|---:|")
	for range rep.Ks {
		b.WriteString("---:|")
	}
	b.WriteString("---:|\n")
	row := func(label string, m Metrics) {
		if m.Questions == 0 {
			return
		}
		fmt.Fprintf(&b, "| %s | %d |", label, m.Questions)
		b.WriteString(metricCells(m, rep.Ks))
		b.WriteString("\n")
	}
	row("all", rep.Overall)
	row("text items", rep.Modality[mmrag.Text])
	row("image items", rep.Modality[mmrag.Image])
	for _, k := range Kinds() {
		row(k+" questions", rep.Kind[k])
	}
	return b.String()
}

func metricCells(m Metrics, ks []int) string {
	var b strings.Builder
	if m.NotReturned {
		for range ks {
			b.WriteString(" – |")
		}
		b.WriteString(" – |")
		return b.String()
	}
	for _, k := range ks {
		fmt.Fprintf(&b, " %.3f |", m.Recall[k])
	}
	fmt.Fprintf(&b, " %.3f |", m.MRR)
	return b.String()
}

// Compare renders several reports (of one set and ks) as one table: a row
// per strategy and slice (all, text items, image items). A dash marks a
// slice whose modality the strategy never returns.
func Compare(reports []Report) string {
	if len(reports) == 0 {
		return ""
	}
	ks := reports[0].Ks
	var b strings.Builder
	b.WriteString("| strategy | items | questions |")
	for _, k := range ks {
		fmt.Fprintf(&b, " R@%d |", k)
	}
	b.WriteString(" MRR | p50 | p95 |\n|---|---|---:|")
	for range ks {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---:|\n")
	for _, r := range reports {
		rows := []struct {
			label string
			m     Metrics
		}{{"all", r.Overall}, {"text", r.Modality[mmrag.Text]}, {"image", r.Modality[mmrag.Image]}}
		for i, s := range rows {
			if s.m.Questions == 0 {
				continue
			}
			name, p50, p95 := "", "", ""
			if i == 0 {
				name, p50, p95 = r.Name, fmtDur(r.Latency.P50), fmtDur(r.Latency.P95)
				if r.Failed > 0 {
					name += fmt.Sprintf(" (%d failed)", r.Failed)
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %d |%s %s | %s |\n", name, s.label, s.m.Questions, metricCells(s.m, r.Ks), p50, p95)
		}
	}
	return b.String()
}

// fmtDur prints a latency in milliseconds with enough digits for
// sub-millisecond searches.
func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.2f ms", ms)
}
