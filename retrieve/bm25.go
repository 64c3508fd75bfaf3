package retrieve

import (
	"strings"
	"unicode"
)

// stopWords are English function words. BM25's IDF already gives them
// almost no weight, but each one in a query makes the full-text index score
// nearly every item: "what is the loss of CLIP" over 100 000 passages costs
// seconds with them and milliseconds without.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about above after again against all am an and any are as at be
		because been before being below between both but by can could did do does doing down during
		each few for from further had has have having he her here hers herself him himself his how i
		if in into is it its itself just me more most my myself no nor not now of off on once only or
		other our ours ourselves out over own same she should so some such than that the their theirs
		them themselves then there these they this those through to too under until up very was we
		were what when where which while who whom why will with would you your yours yourself
		yourselves tell show explain describe give please`) {
		m[w] = true
	}
	return m
}()

// keywordQuery is the query BM25 gets: its words without stop words, or
// the query itself when it holds nothing else ("to be or not to be").
func keywordQuery(q string) string {
	words := strings.FieldsFunc(q, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.IsMark(r) && r != '-' && r != '_' && r != '.'
	})
	kept := words[:0:0]
	for _, w := range words {
		if !stopWords[strings.ToLower(strings.Trim(w, "-_."))] {
			kept = append(kept, w)
		}
	}
	if len(kept) == 0 {
		return q
	}
	return strings.Join(kept, " ")
}
