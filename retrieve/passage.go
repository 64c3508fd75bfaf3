package retrieve

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"mmrag"
)

// Small-to-big retrieval.
//
// Windows (chunks of at most 77 CLIP tokens) are what is embedded and
// ranked; a reader wants the passage a window belongs to: its paragraph,
// list, table or code block. Passages gives each text hit its passage and
// collapses the hits of one passage into one result with the best score.
// It runs after the search, so the ranking of windows (reference scoring's
// included) is untouched.

// DefaultPassageTokens bounds a passage rebuilt from the windows of a long
// block: about a paragraph, three to four windows.
const DefaultPassageTokens = 256

// PassageOptions tune Passages.
type PassageOptions struct {
	// MaxTokens bounds a passage put together from several windows of one
	// block, counted as one token per four characters; 0 means
	// DefaultPassageTokens. A block that fits is returned whole; a longer
	// one as the hit's window with its neighbours up to the bound, cut at
	// sentence ends.
	MaxTokens int
}

// Passages fills the Passage of every text result of res with the passage
// its window belongs to and collapses the results of one passage into the
// best-ranked of them (whose Windows then list them all); the remaining
// text results are ranked 1… again. Items without mmrag.MetaBlock (a
// reference knowledge base's paragraphs, items stored before blocks were
// recorded) and windows that hold whole blocks are their own passage; the
// document's items are read only for a window of a split block
// (mmrag.MetaBlock "7/4").
// Image results are left as they are.
func Passages(ctx context.Context, st mmrag.Store, res *Results, opt PassageOptions) error {
	if res == nil || len(res.Text) == 0 {
		return nil
	}
	budget := opt.MaxTokens
	if budget <= 0 {
		budget = DefaultPassageTokens
	}
	siblings := map[string][]mmrag.Item{} // doc|block → its windows by position
	type span struct {
		result int // index in out
		key    string
		lo, hi int // positions of the first and last window
	}
	var spans []span
	out := make([]Result, 0, len(res.Text))
	for _, r := range res.Text {
		it := r.Item
		win := WindowText(it)
		block := it.Meta[mmrag.MetaBlock]
		if !strings.Contains(block, "/") {
			// Its own passage: a whole block, whole merged blocks, or an
			// item that names no block.
			r.Passage, r.Windows = win, []string{it.ID}
			out = append(out, r)
			continue
		}
		key := it.DocID + "|" + block
		if i := slices.IndexFunc(spans, func(s span) bool {
			return s.key == key && s.lo <= it.Position && it.Position <= s.hi
		}); i >= 0 {
			o := &out[spans[i].result]
			o.Windows = append(o.Windows, it.ID)
			continue
		}
		wins, ok := siblings[key]
		if !ok {
			var err error
			if wins, err = blockWindows(ctx, st, it, block); err != nil {
				return err
			}
			siblings[key] = wins
		}
		h := slices.IndexFunc(wins, func(s mmrag.Item) bool { return s.ID == it.ID })
		if h < 0 || len(wins) == 1 {
			r.Passage, r.Windows = win, []string{it.ID}
			out = append(out, r)
			continue
		}
		lo, hi := grow(wins, h, budget)
		r.Passage = stitch(wins[lo:hi+1], it.Kind)
		if !lineBased(it.Kind) { // lines are whole units: nothing to trim
			r.Passage = trimToSentences(r.Passage, lo > 0, hi < len(wins)-1)
		}
		r.Windows = []string{it.ID}
		spans = append(spans, span{result: len(out), key: key, lo: wins[lo].Position, hi: wins[hi].Position})
		out = append(out, r)
	}
	for i := range out {
		out[i].Rank = i + 1
	}
	res.Text = out
	return nil
}

// neighbourSpan is how far from a window its block's other windows are
// read: a passage holds at most DefaultPassageTokens, four windows or so.
const neighbourSpan = 16

// itemsAround is implemented by stores that read a range of positions of
// a document (sqlite); others are read whole.
type itemsAround interface {
	ItemsAround(ctx context.Context, docID string, lo, hi int) ([]mmrag.Item, error)
}

// blockWindows reads the windows of it's block near it, by position.
func blockWindows(ctx context.Context, st mmrag.Store, it mmrag.Item, block string) ([]mmrag.Item, error) {
	var items []mmrag.Item
	var err error
	if r, ok := st.(itemsAround); ok {
		items, err = r.ItemsAround(ctx, it.DocID, it.Position-neighbourSpan, it.Position+neighbourSpan)
	} else {
		items, err = st.Items(ctx, it.DocID)
	}
	if err != nil {
		return nil, fmt.Errorf("passage of item %s: %w", it.ID, err)
	}
	var wins []mmrag.Item
	for _, s := range items {
		if s.Modality == mmrag.Text && s.Meta[mmrag.MetaBlock] == block {
			wins = append(wins, s)
		}
	}
	slices.SortFunc(wins, func(a, b mmrag.Item) int { return a.Position - b.Position })
	return wins, nil
}

// WindowText is a text item's window as users read it: without the
// "section: " prefix it was embedded with.
func WindowText(it mmrag.Item) string {
	if t := strings.TrimSpace(it.Meta[mmrag.MetaText]); t != "" {
		return t
	}
	return strings.TrimSpace(it.Text)
}

// approxTokens counts a token per four characters.
func approxTokens(s string) int { return (utf8.RuneCountInString(s) + 3) / 4 }

// grow returns the whole block when it fits budget tokens, else widens
// [h, h] over wins, right then left in turn, while the windows together
// stay within it (overlaps counted twice: a bound, not a measure).
func grow(wins []mmrag.Item, h, budget int) (lo, hi int) {
	if approxTokens(stitch(wins, wins[h].Kind)) <= budget {
		return 0, len(wins) - 1
	}
	lo, hi = h, h
	used := approxTokens(WindowText(wins[h]))
	for {
		grew := false
		if hi+1 < len(wins) {
			if n := approxTokens(WindowText(wins[hi+1])); used+n <= budget {
				used += n
				hi++
				grew = true
			}
		}
		if lo > 0 {
			if n := approxTokens(WindowText(wins[lo-1])); used+n <= budget {
				used += n
				lo--
				grew = true
			}
		}
		if !grew {
			return lo, hi
		}
	}
}

// lineBased kinds are split at line ends, and overlap by whole lines.
func lineBased(kind string) bool {
	switch kind {
	case "list", "code", "table", "transcript":
		return true
	}
	return false
}

// stitch joins consecutive windows of one block, dropping what each
// repeats of the previous one: the overlap chunking leaves (whole lines for
// line-based kinds, words for prose) and a table's repeated header row.
func stitch(wins []mmrag.Item, kind string) string {
	if lineBased(kind) {
		lines := strings.Split(WindowText(wins[0]), "\n")
		head := lines[0]
		for _, w := range wins[1:] {
			next := strings.Split(WindowText(w), "\n")
			if kind == "table" && len(next) > 1 && next[0] == head {
				next = next[1:]
			}
			lines = append(lines, next[overlap(lines, next):]...)
		}
		return strings.Join(lines, "\n")
	}
	words := strings.Fields(WindowText(wins[0]))
	for _, w := range wins[1:] {
		next := strings.Fields(WindowText(w))
		words = append(words, next[overlap(words, next):]...)
	}
	return strings.Join(words, " ")
}

// overlap is the length of the longest suffix of a that is a prefix of b.
func overlap(a, b []string) int {
	for k := min(len(a), len(b)); k > 0; k-- {
		if slices.Equal(a[len(a)-k:], b[:k]) {
			return k
		}
	}
	return 0
}

// sentenceEnd matches the end of a sentence and the start of the next.
var sentenceEnd = regexp.MustCompile(`[.!?]["'”’)\]]*\s+["“‘(\[]?[\p{Lu}\p{N}]`)

// trimToSentences drops the partial sentence a passage cut out of a longer
// block starts (head) or ends (tail) with, unless nothing would be left.
func trimToSentences(s string, head, tail bool) string {
	if head {
		if loc := sentenceEnd.FindStringIndex(s); loc != nil {
			// The next sentence starts after the whitespace the match holds.
			m := s[loc[0]:loc[1]]
			start := loc[0] + strings.IndexAny(m, " \t\n")
			if rest := strings.TrimSpace(s[start:]); rest != "" {
				s = rest
			}
		}
	}
	if tail {
		if last := strings.LastIndexAny(s, ".!?"); last > 0 && last < len(s)-1 {
			end := last + 1
			for end < len(s) && strings.ContainsRune(`"'”’)]`, rune(s[end])) {
				end++
			}
			if kept := strings.TrimSpace(s[:end]); utf8.RuneCountInString(kept) >= utf8.RuneCountInString(s)/3 {
				s = kept
			}
		}
	}
	return s
}
