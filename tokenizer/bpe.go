package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// byteRunes is GPT-2's bytes_to_unicode: every byte maps to a printable
// character, so BPE works on text without spaces or control characters.
// Printable Latin-1 bytes map to themselves; the rest to U+0100 onwards.
var byteRunes, runeBytes = func() ([256]rune, map[rune]byte) {
	var fwd [256]rune
	back := make(map[rune]byte, 256)
	n := rune(0)
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			fwd[b] = rune(b)
		} else {
			fwd[b] = 256 + n
			n++
		}
		back[fwd[b]] = byte(b)
	}
	return fwd, back
}()

// endOfWord marks the last symbol of every pre-token in CLIP's vocabulary.
const endOfWord = "</w>"

// merge is one BPE merge rule: its priority (lower first) and the id of
// the symbol it makes.
type merge struct {
	rank int32
	id   int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// bpe turns one pre-token into vocabulary ids: it starts from one symbol
// per byte, the last carrying "</w>", and merges adjacent pairs lowest rank
// first, as CLIP's bpe() does.
//
// CLIP's bpe() merges every occurrence of the best pair, left to right
// without overlaps, then looks again: quadratic in the word, and a page of
// CJK text is one word. This does the same merges in O(n log n) with a heap
// of candidate pairs ordered by (rank, position): rank-r merges still run
// left to right before any later rank, because a merge only makes a symbol
// that later-ranked merges use (true of any learned merge list, and checked
// against the straightforward algorithm in the tests).
func (t *Tokenizer) bpe(word string) []int32 {
	n := len(word)
	if n == 0 {
		return nil
	}
	sym := make([]int32, n)  // symbol id at each position; -1 once merged away
	next := make([]int32, n) // next live position, or n
	prev := make([]int32, n) // previous live position, or -1
	for i := 0; i < n; i++ {
		sym[i], next[i], prev[i] = t.byteSym[word[i]], int32(i+1), int32(i-1)
	}
	sym[n-1] = t.byteEnd[word[n-1]]
	h := make(pairHeap, 0, n)
	push := func(pos int32) {
		if nx := next[pos]; int(nx) < n {
			if m, ok := t.merges[pairKey(sym[pos], sym[nx])]; ok {
				h.push(candidate{m, pos})
			}
		}
	}
	for i := 0; i+1 < n; i++ {
		push(int32(i))
	}
	for len(h) > 0 {
		c := h.pop()
		p := c.pos
		if sym[p] < 0 || int(next[p]) >= n {
			continue
		}
		if m, ok := t.merges[pairKey(sym[p], sym[next[p]])]; !ok || m != c.m {
			continue // stale: a neighbour has changed since it was pushed
		}
		r := next[p]
		sym[p], sym[r] = c.m.id, -1
		next[p] = next[r]
		if int(next[r]) < n {
			prev[next[r]] = p
		}
		if prev[p] >= 0 {
			push(prev[p])
		}
		push(p)
	}
	out := make([]int32, 0, 4)
	for i := int32(0); int(i) < n; i = next[i] {
		out = append(out, sym[i])
	}
	return out
}

// candidate is a mergeable pair: the rule and the left symbol's position.
type candidate struct {
	m   merge
	pos int32
}

func (a candidate) less(b candidate) bool {
	return a.m.rank < b.m.rank || a.m.rank == b.m.rank && a.pos < b.pos
}

// pairHeap is a binary min-heap of candidates.
type pairHeap []candidate

func (h *pairHeap) push(c candidate) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		up := (i - 1) / 2
		if !s[i].less(s[up]) {
			break
		}
		s[i], s[up] = s[up], s[i]
		i = up
	}
}

func (h *pairHeap) pop() candidate {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, small := 2*i+1, i
		if l < len(s) && s[l].less(s[small]) {
			small = l
		}
		if l+1 < len(s) && s[l+1].less(s[small]) {
			small = l + 1
		}
		if small == i {
			break
		}
		s[i], s[small] = s[small], s[i]
		i = small
	}
	*h = s
	return top
}

// Special-token spellings recognised in the text itself, as CLIP's
// pre-tokenizer pattern does.
const (
	sotText = "<|startoftext|>"
	eotText = "<|endoftext|>"
)

// splitWords calls fn with each pre-token of cleaned text, matching CLIP's
// pattern (Python regex module, IGNORECASE):
//
//	<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// fn returns false to stop early.
func splitWords(s string, fn func(word string) bool) {
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		n := 0
		switch {
		case r == '<':
			if n = foldPrefix(s[i:], sotText); n == 0 {
				n = foldPrefix(s[i:], eotText)
			}
		case r == '\'':
			for _, c := range contractions {
				if n = foldPrefix(s[i:], c); n > 0 {
					break
				}
			}
		}
		if n == 0 {
			switch cl := classOf(r); cl {
			case classSpace, classNone:
				i += w
				continue
			case classNumber:
				n = w
			default:
				n = w
				for i+n < len(s) {
					r, w := utf8.DecodeRuneInString(s[i+n:])
					if classOf(r) != cl {
						break
					}
					n += w
				}
			}
		}
		if !fn(s[i : i+n]) {
			return
		}
		i += n
	}
}

var contractions = [...]string{"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"}

type class uint8

const (
	classSpace class = iota
	classLetter
	classNumber
	classOther
	classNone
)

func classOf(r rune) class {
	switch {
	case r < utf8.RuneSelf:
		switch {
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			return classLetter
		case r >= '0' && r <= '9':
			return classNumber
		case r == ' ' || r >= '\t' && r <= '\r':
			return classSpace
		}
		return classOther
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	case r == 0x345:
		// COMBINING GREEK YPOGEGRAMMENI is no letter, but case-folds to
		// iota, so under IGNORECASE the regex module's negated class
		// rejects it while [\p{L}] does not take it either: it is dropped.
		return classNone
	}
	return classOther
}

// foldPrefix returns len(lit) in s's bytes if s starts with lit under
// simple case folding (so 'ſ' matches 's'), else 0.
func foldPrefix(s, lit string) int {
	n := 0
	for _, l := range lit {
		if n >= len(s) {
			return 0
		}
		r, w := utf8.DecodeRuneInString(s[n:])
		if !foldEq(r, l) {
			return 0
		}
		n += w
	}
	return n
}

func foldEq(r, l rune) bool {
	if r == l {
		return true
	}
	for f := unicode.SimpleFold(l); f != l; f = unicode.SimpleFold(f) {
		if f == r {
			return true
		}
	}
	return false
}
