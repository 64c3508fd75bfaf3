// Package eval measures retrieval quality: it reads labeled question sets
// (JSON Lines), resolves their expected passages and figures to the item ids
// of a knowledge base, asks a search strategy every question and reports
// recall@k, MRR and latency per modality and question kind. It owns the
// labeled-set format, the metrics and adapters that turn mmrag's searchers
// (retrieve.Searcher, a store's BM25 index, a dense text embedder) into the
// one function shape it evaluates; the strategies themselves are built by
// the caller.
//
// # Labeled sets
//
// One JSON object per line:
//
//	{"id": "emb-cl", "question": "…", "kind": "fact",
//	 "expect": [{"modality": "text", "match": "contrastive learning"}]}
//
// A match is a short exact substring of the expected item: of a text item's
// Text (or Meta["text"]), of an image item's Caption or Meta["image_path"]
// ("images/8.png"). Expectations name content, not item ids, so that a set
// survives re-ingestion and id changes; Resolve turns them into ids. Kind is
// "fact" (answered by a passage), "figure" (answered only by a figure) or
// "multi" (a passage and a figure, or several passages).
//
// A question may also carry "answer_keywords": case-insensitive substrings
// that a correct answer contains (RunAnswers measures answers with them).
// A question of kind "unanswerable" has no expectations and no keywords:
// the documents do not answer it, and a good answer says so.
package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"mmrag"
)

// Kinds of questions.
const (
	KindFact   = "fact"
	KindFigure = "figure"
	KindMulti  = "multi"
	// KindUnanswerable questions are not answered by the documents: they
	// have no expectations, and an answer should abstain.
	KindUnanswerable = "unanswerable"
)

// Kinds lists the valid question kinds.
func Kinds() []string { return []string{KindFact, KindFigure, KindMulti, KindUnanswerable} }

// maxLine bounds one JSONL line; a question is a few hundred bytes.
const maxLine = 1 << 20

// Expect is one expected item of a question.
type Expect struct {
	Modality mmrag.Modality `json:"modality"`
	// Match is an exact, case-sensitive substring of the expected item's
	// text, caption or image path.
	Match string `json:"match"`
	// IDs are the items Match resolved to (Set.Resolve); finding any one
	// of them counts. A figure stored twice resolves to both copies.
	IDs []string `json:"-"`
}

// Question is one labeled question.
type Question struct {
	ID       string   `json:"id"`
	Question string   `json:"question"`
	Expect   []Expect `json:"expect,omitempty"`
	Kind     string   `json:"kind"`
	// AnswerKeywords are case-insensitive substrings a correct answer
	// contains, all of them; none: the answer is not measured.
	AnswerKeywords []string `json:"answer_keywords,omitempty"`
	// Line is the 1-based line of the question in its file.
	Line int `json:"-"`
}

// Set is a labeled question set.
type Set struct {
	// Name is where the set came from (its file), for messages.
	Name      string
	Questions []Question

	resolved bool
	modality map[string]mmrag.Modality // item id → modality, for Run
}

// ReadFile reads a labeled set from a JSONL file.
func ReadFile(name string) (*Set, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read question set: %w", err)
	}
	defer f.Close()
	return Read(f, name)
}

// Read reads a labeled set in JSON Lines from r; name labels errors. Blank
// lines and lines starting with # or // are skipped. Every question must
// have an id (unique in the set), a question, a known kind and at least one
// expectation with a modality of text or image and a non-empty match;
// unknown fields are refused, so that a misspelt "expect" is not silently
// an unlabeled question.
func Read(r io.Reader, name string) (*Set, error) {
	set := &Set{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	seen := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' || bytes.HasPrefix(line, []byte("//")) {
			continue
		}
		var q Question
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s:%d: more than one JSON value on the line", name, n)
		}
		q.Line = n
		if err := q.check(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if prev, dup := seen[q.ID]; dup {
			return nil, fmt.Errorf("%s:%d: question id %q already used on line %d", name, n, q.ID, prev)
		}
		seen[q.ID] = n
		set.Questions = append(set.Questions, q)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s: a line is longer than %d bytes", name, maxLine)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(set.Questions) == 0 {
		return nil, fmt.Errorf("%s: no questions", name)
	}
	return set, nil
}

func (q *Question) check() error {
	switch {
	case strings.TrimSpace(q.ID) == "":
		return errors.New("question has no id")
	case strings.TrimSpace(q.Question) == "":
		return fmt.Errorf("question %s: empty question", q.ID)
	case !slices.Contains(Kinds(), q.Kind):
		return fmt.Errorf("question %s: kind %q is not one of %s", q.ID, q.Kind, strings.Join(Kinds(), ", "))
	case q.Kind == KindUnanswerable && (len(q.Expect) > 0 || len(q.AnswerKeywords) > 0):
		return fmt.Errorf("question %s: an unanswerable question expects no items and no answer keywords", q.ID)
	case q.Kind == KindUnanswerable:
		return nil
	case len(q.Expect) == 0:
		return fmt.Errorf("question %s: no expected items", q.ID)
	}
	for i, k := range q.AnswerKeywords {
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("question %s: answer keyword %d is empty", q.ID, i+1)
		}
	}
	var text, image int
	for i, e := range q.Expect {
		switch e.Modality {
		case mmrag.Text:
			text++
		case mmrag.Image:
			image++
		default:
			return fmt.Errorf("question %s: expectation %d: modality %q is neither %q nor %q", q.ID, i+1, e.Modality, mmrag.Text, mmrag.Image)
		}
		if strings.TrimSpace(e.Match) == "" {
			return fmt.Errorf("question %s: expectation %d: empty match", q.ID, i+1)
		}
	}
	// The kind is a promise about the expectations; hold the set to it so
	// that per-kind numbers mean what they say.
	switch {
	case q.Kind == KindFigure && (image == 0 || text > 0):
		return fmt.Errorf("question %s: a figure question expects only images", q.ID)
	case q.Kind == KindFact && (text == 0 || image > 0):
		return fmt.Errorf("question %s: a fact question expects only text", q.ID)
	case q.Kind == KindMulti && len(q.Expect) < 2:
		return fmt.Errorf("question %s: a multi question expects at least two items", q.ID)
	}
	return nil
}

// Matches reports whether it is an item e names: same modality, and
// e.Match a substring of its text (Text or Meta["text"]) for text items, or
// of its Caption, Meta["caption"] or Meta["image_path"] for image items.
func (e Expect) Matches(it mmrag.Item) bool {
	if it.Modality != e.Modality {
		return false
	}
	var fields []string
	if it.Modality == mmrag.Image {
		fields = []string{it.Caption, it.Meta[mmrag.MetaCaption], it.Meta[mmrag.MetaImagePath]}
	} else {
		fields = []string{it.Text, it.Meta[mmrag.MetaText]}
	}
	for _, f := range fields {
		if f != "" && strings.Contains(f, e.Match) {
			return true
		}
	}
	return false
}

// UnresolvedError lists the expectations that matched no item.
type UnresolvedError struct {
	Set     string
	Missing []string // "question id: modality \"match\""
}

func (e *UnresolvedError) Error() string {
	const show = 5
	m := e.Missing
	more := ""
	if len(m) > show {
		more = fmt.Sprintf(" and %d more", len(m)-show)
		m = m[:show]
	}
	return fmt.Sprintf("%s: %d expectations match no item of the knowledge base (is it the one the set was written for?): %s%s",
		e.Set, len(e.Missing), strings.Join(m, "; "), more)
}

// Resolve fills every expectation's IDs with the items it matches, and
// remembers each item's modality for Run. An expectation that matches
// nothing is an *UnresolvedError naming them all; the set is then not
// usable by Run.
func (s *Set) Resolve(items []mmrag.Item) error {
	s.modality = make(map[string]mmrag.Modality, len(items))
	for _, it := range items {
		s.modality[it.ID] = it.Modality
	}
	var missing []string
	for qi := range s.Questions {
		q := &s.Questions[qi]
		for ei := range q.Expect {
			e := &q.Expect[ei]
			e.IDs = e.IDs[:0]
			for _, it := range items {
				if e.Matches(it) {
					e.IDs = append(e.IDs, it.ID)
				}
			}
			if len(e.IDs) == 0 {
				missing = append(missing, fmt.Sprintf("%s: %s %q", q.ID, e.Modality, e.Match))
			}
		}
	}
	s.resolved = len(missing) == 0
	if !s.resolved {
		return &UnresolvedError{Set: s.Name, Missing: missing}
	}
	return nil
}

// Answerable reports whether the documents answer q.
func (q Question) Answerable() bool { return q.Kind != KindUnanswerable }

// KindCounts counts the questions of each kind.
func (s *Set) KindCounts() map[string]int {
	m := map[string]int{}
	for _, q := range s.Questions {
		m[q.Kind]++
	}
	return m
}
