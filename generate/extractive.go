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
}

// DefaultSentences is how many sentences Extractive quotes when asked for
// none.
const DefaultSentences = 3

// maxSentenceChars caps one quoted sentence: a table row or a list run
// together is no sentence.
const maxSentenceChars = 400

// Extractive answers without a language model: it quotes the maxSentences
// sentences of the text passages that best match the question, each with
// its citation, in the order they appear in the sources, then lists the
// figures with their captions.
//
// A sentence scores the IDF-weighted share of the question's content words
// it holds (IDF over all the passages' sentences, so words every passage
// repeats count little) plus a bonus of 0.25/(rank+1) for its passage's
// rank, which breaks ties toward the better passage. When no sentence
// shares a word with the question, the best passage's first sentences
// stand in: retrieval found it for a reason (a paraphrase, a figure).
func Extractive(question string, passages []Passage, maxSentences int) string {
	if maxSentences <= 0 {
		maxSentences = DefaultSentences
	}
	type sentence struct {
		text     string
		n        int // citation
		rank     int // the passage's rank among text passages
		pos      int // position within the passage
		terms    map[string]bool
		score    float64
		overlaps bool
	}
	var sents []sentence
	var figures []Passage
	rank := 0
	for _, p := range passages {
		if p.Figure {
			figures = append(figures, p)
			continue
		}
		for i, s := range Sentences(p.Text) {
			// The documents' own reference marks would read as ours; many
			// of them make a reference list, not a statement.
			if len(sourceMarks.FindAllStringIndex(s, 3)) >= 3 {
				continue
			}
			s = strings.TrimSpace(sourceMarks.ReplaceAllString(s, ""))
			if len(strings.Fields(s)) < minWords {
				continue // a heading, a list of names
			}
			sents = append(sents, sentence{text: s, n: p.N, rank: rank, pos: i, terms: termSet(s)})
		}
		rank++
	}
	df := map[string]int{}
	for _, s := range sents {
		for t := range s.terms {
			df[t]++
		}
	}
	idf := func(t string) float64 { return math.Log(1 + float64(len(sents))/float64(1+df[t])) }
	q := termSet(question)
	var total float64
	for t := range q {
		total += idf(t)
	}
	anyOverlap := false
	for i := range sents {
		var got float64
		for t := range q {
			if sents[i].terms[t] {
				got += idf(t)
			}
		}
		if total > 0 && got > 0 {
			sents[i].score = got / total
			sents[i].overlaps = true
			anyOverlap = true
		}
		sents[i].score += 0.25 / float64(sents[i].rank+1)
	}
	best := slices.Clone(sents)
	if anyOverlap {
		best = slices.DeleteFunc(best, func(s sentence) bool { return !s.overlaps })
	} else {
		// No shared word: the best passage's opening.
		best = slices.DeleteFunc(best, func(s sentence) bool { return s.rank != 0 })
	}
	slices.SortStableFunc(best, func(a, b sentence) int { return cmp.Compare(b.score, a.score) })
	var chosen []sentence
	seen := map[string]bool{}
	for _, s := range best {
		key := strings.ToLower(strings.Join(strings.Fields(s.text), " "))
		if seen[key] {
			continue
		}
		seen[key] = true
		chosen = append(chosen, s)
		if len(chosen) == maxSentences {
			break
		}
	}
	slices.SortFunc(chosen, func(a, b sentence) int {
		if a.rank != b.rank {
			return cmp.Compare(a.rank, b.rank)
		}
		return cmp.Compare(a.pos, b.pos)
	})

	var b strings.Builder
	for i, s := range chosen {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s [%d]", s.text, s.n)
	}
	if len(figures) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString("Figures:")
		for _, f := range figures {
			c := strings.Join(strings.Fields(f.Caption), " ")
			if c == "" {
				c = "(no caption)"
			}
			fmt.Fprintf(&b, "\n[%d] %s", f.N, c)
		}
	}
	if b.Len() == 0 {
		return "No relevant passages were found in the documents."
	}
	return b.String()
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
				word := line[strings.LastIndexByte(line[:i], ' ')+1 : i+1]
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
// embeddings → embedding, trained → train) so that a question and a passage
// agree on them; it is no full stemmer and needs not be.
func stem(w string) string {
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
