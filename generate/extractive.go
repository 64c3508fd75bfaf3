package generate

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Passage is a retrieved source as the extractive answer sees it: a text
// passage, or a figure described by its caption. Passages come best first.
type Passage struct {
	N       int // citation number, shown as [N]
	Figure  bool
	Text    string // a text passage's text
	Caption string // a figure's caption
	Place   string // where it is ("Article: T — Section: S"), for an abstention
}

// DefaultSentences is how many sentences Extractive quotes when asked for
// none.
const DefaultSentences = 4

// rankBonus/(rank+1) is added to a sentence's score for its passage's
// rank: retrieval's order counts as much as a few shared words.
const rankBonus = 0.5

// DefaultMinCoverage is the evidence below which the extractive answer
// abstains: the IDF-weighted share of the question's content words that
// the best source holds. Calibrated on eval/testdata/seed-blog.jsonl (see
// docs/QUALITY.md, "Answers").
const DefaultMinCoverage = 0.25

// NoAnswer opens an abstention: the knowledge base does not answer.
const NoAnswer = "The knowledge base does not answer this question."

// maxSentenceChars caps one quoted sentence: a table row or a list run
// together is no sentence.
const maxSentenceChars = 400

// ExtractiveOptions tune Answer.
type ExtractiveOptions struct {
	// Sentences is how many sentences to quote at most; 0 means
	// DefaultSentences.
	Sentences int
	// MinCoverage is the evidence below which the answer abstains (see
	// DefaultMinCoverage); 0 means the default, a negative value never
	// abstains.
	MinCoverage float64
}

// ExtractiveAnswer is an answer written without a model.
type ExtractiveAnswer struct {
	Text string
	// Abstained: the evidence was too weak; Text says so and names the
	// closest sources.
	Abstained bool
	// Coverage is the evidence: the IDF-weighted share of the question's
	// content words held by the best source (0–1).
	Coverage float64
	// Why says why the answer abstained.
	Why string
	// Cited lists the citation numbers the text cites, in order of first
	// citation.
	Cited []int
}

// Extractive is Answer's text with the default evidence threshold.
func Extractive(question string, passages []Passage, maxSentences int) string {
	return Answer(question, passages, ExtractiveOptions{Sentences: maxSentences}).Text
}

// Answer answers without a language model: it quotes the whole sentences
// of the text passages that best match the question, each once and with
// its citation, in the order they appear in the sources, then lists the
// figures with their captions (credits dropped, one line per caption).
//
// It abstains instead — says that the knowledge base does not answer and
// cites the closest sources — when the evidence is weak: no source holds
// MinCoverage of the question's words (Coverage); or the question names
// something (a word with a digit or an inner capital) that no source
// names; or it asks for an amount and no sentence with a number holds
// enough of its words. Thresholds: docs/QUALITY.md, "Answers".
//
// A sentence scores the IDF-weighted share of the question's content words
// it holds (IDF over all the passages' sentences and captions, so words
// every passage repeats count little and words no source holds count
// most) plus a bonus of 0.5/(rank+1) for its passage's rank, which favours
// the better passages. Fragments are never quoted: a sentence
// cut at the length cap, one starting in lower case, or a passage's
// unterminated last words.
func Answer(question string, passages []Passage, opt ExtractiveOptions) ExtractiveAnswer {
	maxSentences := opt.Sentences
	if maxSentences <= 0 {
		maxSentences = DefaultSentences
	}
	minCoverage := opt.MinCoverage
	if minCoverage == 0 {
		minCoverage = DefaultMinCoverage
	}
	e := gatherEvidence(question, passages)
	ans := ExtractiveAnswer{Coverage: e.coverage()}
	if len(passages) == 0 {
		ans.Text = "No relevant passages were found in the documents."
		ans.Abstained = true
		return ans
	}
	if minCoverage > 0 {
		ans.Why = e.weak(question, ans.Coverage, minCoverage)
	}
	if ans.Why == "" {
		ans.Text, ans.Cited = compose(chooseSentences(e.sents, maxSentences), e.figures)
	}
	if ans.Text == "" {
		ans.Abstained = true
		ans.Text, ans.Cited = abstain(e.texts, e.figures)
	}
	return ans
}

// evidence is what the passages offer an answer to a question.
type evidence struct {
	q           map[string]bool // the question's terms
	sents       []sentence      // quotable, scored
	texts       []Passage
	figures     []Passage
	sourceTerms []map[string]bool // of each passage and caption, for the coverage
	// idf weighs a term by the sentences and captions holding it: words
	// every passage repeats count little, words no source holds most.
	idf   func(t string) float64
	total float64 // the idf of all of q
}

// gatherEvidence splits the passages into text and figures, cuts the text
// into quotable sentences and scores them for question.
func gatherEvidence(question string, passages []Passage) *evidence {
	e := &evidence{q: termSet(question)}
	rank := 0
	for _, p := range passages {
		if p.Figure {
			e.figures = append(e.figures, p)
			e.sourceTerms = append(e.sourceTerms, termSet(p.Caption))
			continue
		}
		e.texts = append(e.texts, p)
		e.sourceTerms = append(e.sourceTerms, termSet(p.Text))
		e.sents = append(e.sents, quotable(p, rank)...)
		rank++
	}
	df := map[string]int{}
	for _, s := range e.sents {
		for t := range s.terms {
			df[t]++
		}
	}
	for _, f := range e.figures {
		for t := range termSet(f.Caption) {
			df[t]++
		}
	}
	docs := len(e.sents) + len(e.figures)
	e.idf = func(t string) float64 { return math.Log(1 + float64(docs)/float64(1+df[t])) }
	for t := range e.q {
		e.total += e.idf(t)
	}
	for i := range e.sents {
		s := &e.sents[i]
		if got := s.coverage(e.q, e.idf, e.total); got > 0 {
			s.score, s.hits = got, true
		}
		s.score += rankBonus / float64(s.rank+1)
	}
	return e
}

// quotable returns the sentences of text passage p, of rank rank among
// the text passages, that may be quoted: not a list of the document's own
// reference marks (they would read as ours), not too short, not a
// fragment.
func quotable(p Passage, rank int) []sentence {
	var out []sentence
	all := Sentences(p.Text)
	oneLine := !strings.Contains(strings.TrimSpace(p.Text), "\n")
	for i, s := range all {
		if len(sourceMarks.FindAllStringIndex(s, 3)) >= 3 {
			continue
		}
		s = strings.TrimSpace(sourceMarks.ReplaceAllString(s, ""))
		if len(strings.Fields(s)) < minWords || fragment(s, oneLine && i == len(all)-1) {
			continue
		}
		out = append(out, sentence{text: s, n: p.N, rank: rank, pos: i, terms: termSet(s)})
	}
	return out
}

// coverage is the weighted share of the question's words held by the
// source holding most of them.
func (e *evidence) coverage() float64 {
	var best float64
	if e.total > 0 {
		for _, terms := range e.sourceTerms {
			var got float64
			for t := range e.q {
				if terms[t] {
					got += e.idf(t)
				}
			}
			best = max(best, got/e.total)
		}
	}
	return best
}

// weak says why the evidence is too weak to answer, or "".
func (e *evidence) weak(question string, coverage, minCoverage float64) string {
	switch {
	case coverage < minCoverage:
		return fmt.Sprintf("the best source holds %.0f%% of the question's words", 100*coverage)
	case unknownName(question, e.sourceTerms) != "":
		return fmt.Sprintf("no source names %q", unknownName(question, e.sourceTerms))
	case quantity.MatchString(strings.ToLower(question)):
		for _, s := range e.sents {
			if s.numberBeyond(e.q) && s.coverage(e.q, e.idf, e.total) >= max(minCoverage, quantityCoverage) {
				return ""
			}
		}
		return "no source sentence about it holds a number"
	}
	return ""
}

// chooseSentences picks the n best-scoring sentences that hold a word of
// the question, each once, in the order of their passages.
func chooseSentences(sents []sentence, n int) []sentence {
	best := slices.DeleteFunc(slices.Clone(sents), func(s sentence) bool { return !s.hits })
	slices.SortStableFunc(best, func(a, b sentence) int { return cmp.Compare(b.score, a.score) })
	var chosen []sentence
	var keys []string
	for _, s := range best {
		key := strings.ToLower(strings.Join(strings.Fields(s.text), " "))
		// A sentence quoted already, or a part of one (overlapping
		// windows), or one holding a quoted one, is not quoted again.
		if slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, key) || strings.Contains(key, k) }) {
			continue
		}
		keys = append(keys, key)
		chosen = append(chosen, s)
		if len(chosen) == n {
			break
		}
	}
	slices.SortFunc(chosen, func(a, b sentence) int {
		if a.rank != b.rank {
			return cmp.Compare(a.rank, b.rank)
		}
		return cmp.Compare(a.pos, b.pos)
	})
	return chosen
}

// compose writes the chosen sentences with their citations, then the
// figures, one line per caption: a picture stored twice, or two with one
// caption, is listed once with all its numbers. It returns the citation
// numbers in order of first citation.
func compose(chosen []sentence, figures []Passage) (string, []int) {
	var b strings.Builder
	var cited []int
	cite := func(n int) {
		if !slices.Contains(cited, n) {
			cited = append(cited, n)
		}
	}
	for i, s := range chosen {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s [%d]", s.text, s.n)
		cite(s.n)
	}
	if len(figures) == 0 {
		return b.String(), cited
	}
	if b.Len() > 0 {
		b.WriteString("\n\n")
	}
	b.WriteString("Figures:")
	var captions []string
	nums := map[string]string{}
	for _, f := range figures {
		c := captionText(f.Caption)
		if _, ok := nums[c]; !ok {
			captions = append(captions, c)
		}
		nums[c] += fmt.Sprintf("[%d]", f.N)
		cite(f.N)
	}
	for _, c := range captions {
		fmt.Fprintf(&b, "\n%s %s", nums[c], c)
	}
	return b.String(), cited
}

// sentence is a quotable sentence of a passage.
type sentence struct {
	text  string
	n     int // citation
	rank  int // the passage's rank among text passages
	pos   int // position within the passage
	terms map[string]bool
	score float64
	hits  bool
}

// coverage is the weighted share of the question's terms q the sentence
// holds.
func (s sentence) coverage(q map[string]bool, weight func(string) float64, total float64) float64 {
	if total == 0 {
		return 0
	}
	var got float64
	for t := range q {
		if s.terms[t] {
			got += weight(t)
		}
	}
	return got / total
}

// numberBeyond reports whether the sentence holds a number (a numeral or
// a number word) that the question q does not.
func (s sentence) numberBeyond(q map[string]bool) bool {
	for t := range s.terms {
		if !q[t] && (numeral(t) || numberWords[t]) {
			return true
		}
	}
	return false
}

// numeral reports a term of digits only: 250, 2024. A term mixing digits
// and letters is a name ("11b" in LLaMA 3.2 Vision 11B, "gpt4"), not an
// amount.
func numeral(t string) bool {
	for _, r := range t {
		if r < '0' || r > '9' {
			return false
		}
	}
	return t != ""
}

// numberWords are numbers written out (as termSet stems them).
var numberWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`one two three four five six seven eight nine ten eleven twelve
		thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty
		seventy eighty ninety hundred thousand million billion trillion dozen half first second third
		once twice several`) {
		m[stem(w)] = true
		m[stem(w+"s")] = true
	}
	return m
}()

// quantityCoverage is the least share of a quantity question's words that
// a sentence holding a number must hold to answer it ("how many pairs was
// CLIP trained on" is not answered by "0-shot image classification with
// CLIP"). Calibrated with DefaultMinCoverage.
const quantityCoverage = 0.35

// quantity matches questions whose answer is a number: a source that
// answers holds one.
var quantity = regexp.MustCompile(`\b(how (many|much|long|old|big|large|often)|(what|which) (year|percentage|number))\b`)

// unknownName returns a name of the question that no source holds: a
// word with a digit ("90B") or a capital inside the question ("GPUs",
// "Stable"). A knowledge base that never names the thing asked about does
// not answer the question, however many of its other words it shares.
func unknownName(question string, sources []map[string]bool) string {
	words := strings.FieldsFunc(question, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
	for i, w := range words {
		r, _ := utf8.DecodeRuneInString(w)
		if !strings.ContainsAny(w, "0123456789") && (i == 0 || !unicode.IsUpper(r)) {
			continue
		}
		low := strings.ToLower(w)
		if stopWords[low] {
			continue
		}
		t := stem(low)
		if !slices.ContainsFunc(sources, func(m map[string]bool) bool { return m[t] }) {
			return w
		}
	}
	return ""
}

// credit matches a caption's credit line ("Image by author.", "Photo by X
// on Unsplash"): it says nothing about the picture and reads as a
// repeated sentence when every figure has it.
var credit = regexp.MustCompile(`(?i)^(image|photo|picture|illustration|figure|graphic)s?( \w+)? (by|from|courtesy of|via|credit)\b`)

// captionText is a figure's caption on one line, without credit lines;
// "(no caption)" when nothing else is left.
func captionText(c string) string {
	var kept []string
	for _, s := range Sentences(oneLine(c)) {
		if !credit.MatchString(s) {
			kept = append(kept, s)
		}
	}
	if len(kept) == 0 {
		return "(no caption)"
	}
	return strings.Join(kept, " ")
}

// closest is how many sources an abstention names.
const closest = 3

// abstain says that the sources do not answer and names the closest ones.
func abstain(texts, figures []Passage) (string, []int) {
	var b strings.Builder
	b.WriteString(NoAnswer)
	var cited []int
	list := append(slices.Clone(texts), figures...)
	if len(list) > 0 {
		b.WriteString(" The closest sources:")
	}
	for _, p := range list[:min(closest, len(list))] {
		what := p.Place
		if what == "" {
			what = firstSentence(p.Text + p.Caption)
		}
		fmt.Fprintf(&b, "\n[%d] %s", p.N, oneLine(what))
		cited = append(cited, p.N)
	}
	return b.String(), cited
}

// firstSentence is a text's first sentence, for naming a source.
func firstSentence(s string) string {
	if all := Sentences(oneLine(s)); len(all) > 0 {
		return all[0]
	}
	return strings.TrimSpace(s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// fragment reports a sentence that is not whole: cut at the length cap,
// starting in lower case (the tail of a sentence a window cut), or, when
// last says it ends its passage, stopping on a function word (the head of
// one).
func fragment(s string, last bool) bool {
	if strings.HasSuffix(s, "…") {
		return true
	}
	if r, _ := utf8.DecodeRuneInString(s); unicode.IsLower(r) {
		return true
	}
	if last {
		// Ending on a function word ("… by aligning text and") is a cut,
		// not a heading or a list item without a full stop.
		f := strings.Fields(s)
		return stopWords[strings.ToLower(f[len(f)-1])]
	}
	return false
}

// sourceMarks are bracketed reference numbers in the documents' own text.
var sourceMarks = regexp.MustCompile(`\s*\[\d{1,3}\]`)

// minWords is the fewest words a quoted sentence has.
const minWords = 4

// abbreviations end with a period that ends no sentence.
var abbreviations = map[string]bool{
	"e.g.": true, "i.e.": true, "etc.": true, "vs.": true, "cf.": true, "al.": true, "fig.": true,
	"dr.": true, "mr.": true, "mrs.": true, "ms.": true, "prof.": true, "no.": true, "approx.": true,
}

// Sentences splits text into sentences: after ., ! or ? followed by a space
// and an upper-case letter, digit, quote or bracket; and at line breaks
// (lists, headings). Abbreviations (e.g., i.e., Dr.) and initials ("J. R.")
// do not end a sentence. Sentences longer than 400 characters are cut.
func Sentences(text string) []string {
	var out []string
	emit := func(s string) {
		s = strings.Join(strings.Fields(s), " ")
		s = strings.TrimLeft(s, "-*•· ")
		if s == "" {
			return
		}
		if utf8.RuneCountInString(s) > maxSentenceChars {
			r := []rune(s)[:maxSentenceChars]
			s = strings.TrimRightFunc(string(r), unicode.IsSpace) + "…"
		}
		out = append(out, s)
	}
	for _, line := range strings.Split(text, "\n") {
		start := 0
		for i, r := range line {
			if r != '.' && r != '!' && r != '?' {
				continue
			}
			end := i + 1
			for end < len(line) && strings.ContainsRune(`"'”’)]`, rune(line[end])) {
				end++
			}
			if end >= len(line) || line[end] != ' ' {
				continue
			}
			next, _ := utf8.DecodeRuneInString(strings.TrimLeft(line[end:], " "))
			if !(unicode.IsUpper(next) || unicode.IsDigit(next) || strings.ContainsRune(`"'“‘([`, next)) {
				continue
			}
			if r == '.' {
				word := strings.TrimLeft(line[strings.LastIndexByte(line[:i], ' ')+1:i+1], `("'“‘[`)
				if abbreviations[strings.ToLower(word)] || (utf8.RuneCountInString(word) == 2 && unicode.IsUpper([]rune(word)[0])) {
					continue
				}
			}
			emit(line[start:end])
			start = end
		}
		emit(line[start:])
	}
	return out
}

// stopWords carry no topic: they neither match nor weigh.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about above after again against all am an and any are as at be
		because been before being below between both but by can could did do does doing down during
		each few for from further had has have having he her here hers herself him himself his how i
		if in into is it its itself just me more most my myself no nor not now of off on once only or
		other our ours ourselves out over own same she should so some such than that the their theirs
		them themselves then there these they this those through to too under until up very was we
		were what when where which while who whom why will with would you your yours yourself
		yourselves tell show explain describe give please use used using one two also like get`) {
		m[w] = true
	}
	return m
}()

// termSet is a text's content words, lower-cased and lightly stemmed.
func termSet(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	}) {
		if stopWords[w] {
			continue
		}
		out[stem(w)] = true
	}
	return out
}

// stem folds the commonest English inflections (models → model,
// embeddings → embedding, trained → train, baked → bak) so that a question and a passage
// agree on them; it is no full stemmer and needs not be.
func stem(w string) string {
	s := stem0(w)
	// A final e goes too, so that bake, baked and bakes agree.
	if utf8.RuneCountInString(s) > 3 && strings.HasSuffix(s, "e") {
		s = strings.TrimSuffix(s, "e")
	}
	return s
}

func stem0(w string) string {
	if utf8.RuneCountInString(w) <= 3 {
		return w
	}
	for _, suf := range []string{"ies", "es", "s", "ed"} {
		if strings.HasSuffix(w, suf) && utf8.RuneCountInString(w)-len(suf) >= 3 {
			switch suf {
			case "ies":
				return strings.TrimSuffix(w, suf) + "y"
			case "es":
				base := strings.TrimSuffix(w, suf)
				if strings.HasSuffix(base, "s") || strings.HasSuffix(base, "x") || strings.HasSuffix(base, "ch") || strings.HasSuffix(base, "sh") {
					return base
				}
				return strings.TrimSuffix(w, "s")
			case "s":
				if strings.HasSuffix(w, "ss") {
					return w
				}
			}
			return strings.TrimSuffix(w, suf)
		}
	}
	return w
}
