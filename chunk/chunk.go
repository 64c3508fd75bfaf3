// Package chunk owns structure-aware chunking: it turns the blocks of an
// extract.Result into texts that fit an embedder's context window, each
// keeping the place (section, page, sheet, time) it came from.
//
// Rules, in order:
//   - Blocks are never merged across places: consecutive blocks with equal
//     Place form a run, and chunks never span two runs.
//   - Within a run, consecutive short paragraphs and lists are merged while
//     the merged chunk still fits; other kinds stand alone.
//   - A block that does not fit is split. Prose is cut at the last sentence
//     end in the second half of a piece, else at a word boundary; lists,
//     code, tables and transcripts at the last line end, else likewise.
//     Successive pieces share about Options.Overlap tokens (whole lines for
//     the line-based kinds; none for tables, whose header row is repeated at
//     the top of every piece instead, as extract's officeTable does).
//   - A word longer than the window (a URL, base64) is cut between runes.
//
// The innermost heading prefixes each chunk's Embed ("section: text"); when
// it would take more than half of the window it is shortened with "…".
//
// Every chunk's Embed fits Options.MaxTokens as counted by Options.Counter,
// except in one degenerate case: a window so small that not even a single
// rune fits beside the section prefix (and table header). That rune is then
// emitted bare, as Text and Embed, so that splitting always makes progress;
// it may still exceed a window smaller than the special tokens plus one
// rune. Output is deterministic; chunks are never empty.
package chunk

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"mmrag/extract"
)

// Defaults for the zero Options.
const (
	DefaultMaxTokens = 77 // CLIP's text context, special tokens included
	DefaultOverlap   = 12
)

// bytesPerToken bounds how many bytes of text one token covers. Texts
// longer than MaxTokens*(bytesPerToken+1) bytes are taken not to fit without
// being counted, so that no Count call ever sees more than a few kilobytes:
// BPE on a multi-megabyte word is slow. CLIP's longest tokens are well
// under 32 bytes; with a counter whose tokens are longer, an overlong word
// would merely be cut a little earlier than necessary.
const bytesPerToken = 32

// maxIndent caps the indentation kept on a code or list line, in bytes.
const maxIndent = 32

// Counter counts the tokens a text takes in the embedder, special tokens
// included. *tokenizer.Tokenizer satisfies it.
type Counter interface{ Count(text string) int }

// Options tune Split. The zero value chunks for CLIP with the word-based
// approximation of its tokenizer.
type Options struct {
	// MaxTokens is the window, special tokens included; 0 means 77.
	MaxTokens int
	// Overlap is how many tokens of a split block's piece are repeated at
	// the start of the next; 0 means 12, a negative value means none. It is
	// capped at half of the room a piece has.
	Overlap int
	// Counter counts tokens; nil means Approx.
	Counter Counter
	// MinChars drops blocks shorter than this many characters (after
	// trimming) unless every block of their run (same Place) is that short,
	// so that a section is never lost; 0 keeps every non-empty block.
	MinChars int
}

// Chunk is one text to embed.
type Chunk struct {
	// Text is the chunk's own text, without section prefix: what users and
	// prompts see.
	Text string
	// Embed is what gets embedded: "section: text" where section is the
	// innermost heading (shortened when it would take more than half of the
	// window), or Text when there is no section.
	Embed string
	// Kind is the block's kind; Paragraph for merged blocks of mixed kinds.
	Kind extract.BlockKind
	// Place is the block's; it shares its Section slice with the Result.
	Place extract.Place
	// Position is the 0-based order of the chunk within the document.
	Position int
	// Block is the 0-based index in Result.Blocks of the block the chunk
	// comes from; BlockEnd the last one when short blocks were merged
	// (else equal to Block). The pieces of a split block share Block: a
	// reader can put the block (the passage) back together.
	Block, BlockEnd int
	// Pieces is how many chunks the block was split into: 1 when it fits
	// one window (alone or merged with others).
	Pieces int
	// Box is where the chunk's blocks sit on their page: the union of
	// their boxes (the pieces of a split block share the block's); zero
	// when unknown.
	Box extract.Box
}

// Approx is the Counter used when Options.Counter is nil. It mimics CLIP's
// pre-tokeniser and errs on the high side: two special tokens; for a run of
// ASCII letters, one token per started five letters, a lower-to-upper case
// change starting a new run (random-case text such as base64 splits into
// short tokens); one token per digit and per other ASCII character; one
// per UTF-8 byte of other characters (CJK, Cyrillic, emoji: CLIP falls back
// to byte tokens for most of them). On the seed blog it counts 6238 tokens
// where CLIP counts 5057 (+23%), and no block less than CLIP does; base64
// is its known weak spot (about 30% under CLIP). A word of
// any length costs more the longer it is, so an overlong word can always be
// cut to fit.
type Approx struct{}

// Count implements Counter.
func (Approx) Count(text string) int {
	n, run := 2, 0 // run: ASCII letters in the current run
	lower := false // the previous letter was lower case
	for _, r := range text {
		switch {
		case 'a' <= r && r <= 'z':
			run++
			lower = true
			continue
		case 'A' <= r && r <= 'Z':
			if lower {
				n += (run + 4) / 5
				run = 0
			}
			run++
			lower = false
			continue
		}
		n += (run + 4) / 5
		run, lower = 0, false
		switch {
		case r >= utf8.RuneSelf:
			n += utf8.RuneLen(r)
		case !unicode.IsSpace(r):
			n++
		}
	}
	return n + (run+4)/5
}

// Split chunks a Result's blocks. A nil or empty Result gives no chunks.
func Split(res *extract.Result, opt Options) []Chunk {
	if res == nil || len(res.Blocks) == 0 {
		return nil
	}
	s := newSplitter(opt)
	blocks := make([]extract.Block, 0, len(res.Blocks))
	index := make([]int, 0, len(res.Blocks)) // of each kept block in res.Blocks
	for i, b := range res.Blocks {
		if b.Text = normalise(b.Kind, b.Text); b.Text != "" {
			blocks = append(blocks, b)
			index = append(index, i)
		}
	}
	for start := 0; start < len(blocks); {
		end := start + 1
		for end < len(blocks) && samePlace(blocks[start].Place, blocks[end].Place) {
			end++
		}
		s.run(blocks[start:end], index[start:end])
		start = end
	}
	for i := range s.out {
		s.out[i].Box = blockBox(res.Blocks, s.out[i])
	}
	return s.out
}

// blockBox is the union of the boxes of a chunk's blocks on its page.
func blockBox(blocks []extract.Block, c Chunk) extract.Box {
	var box extract.Box
	for _, b := range blocks[c.Block : c.BlockEnd+1] {
		if b.Page == c.Place.Page {
			box = box.Union(b.Box)
		}
	}
	return box
}

type splitter struct {
	max, overlap, minChars int
	maxBytes               int // longer texts do not fit (see bytesPerToken)
	counter                Counter
	base                   int // tokens of the empty text: the special tokens

	secKey, secPrefix string // cache of the last section's prefix
	secOK             bool
	first, last       int // the blocks of the chunk being emitted
	out               []Chunk
}

func newSplitter(opt Options) *splitter {
	s := &splitter{max: opt.MaxTokens, overlap: opt.Overlap, minChars: opt.MinChars, counter: opt.Counter}
	if s.max <= 0 {
		s.max = DefaultMaxTokens
	}
	switch {
	case s.overlap == 0:
		s.overlap = DefaultOverlap
	case s.overlap < 0:
		s.overlap = 0
	}
	if s.counter == nil {
		s.counter = Approx{}
	}
	s.maxBytes = s.max * (bytesPerToken + 1)
	s.base = s.counter.Count("")
	return s
}

// fits reports whether text, as embedded, fits the window.
func (s *splitter) fits(text string) bool {
	return len(text) <= s.maxBytes && s.counter.Count(text) <= s.max
}

// tokens counts text without the special tokens.
func (s *splitter) tokens(text string) int { return s.counter.Count(text) - s.base }

func embed(prefix, text string) string {
	if prefix == "" {
		return text
	}
	return prefix + ": " + text
}

func samePlace(a, b extract.Place) bool {
	return a.Page == b.Page && a.Anchor == b.Anchor && a.Time == b.Time && a.Sheet == b.Sheet &&
		slices.Equal(a.Section, b.Section)
}

func (s *splitter) emit(text, prefix string, kind extract.BlockKind, place extract.Place) {
	s.out = append(s.out, Chunk{Text: text, Embed: embed(prefix, text), Kind: kind, Place: place, Position: len(s.out),
		Block: s.first, BlockEnd: s.last, Pieces: 1})
}

// run chunks the blocks of one place.
func (s *splitter) run(blocks []extract.Block, index []int) {
	if s.minChars > 0 {
		var kept []extract.Block
		var keptIndex []int
		for i, b := range blocks {
			if utf8.RuneCountInString(b.Text) >= s.minChars {
				kept = append(kept, b)
				keptIndex = append(keptIndex, index[i])
			}
		}
		if len(kept) > 0 {
			blocks, index = kept, keptIndex
		}
	}
	prefix := s.prefix(blocks[0].Section)
	place := blocks[0].Place

	// Merged paragraphs and lists waiting to be emitted.
	var acc strings.Builder
	var accKind extract.BlockKind
	accFirst, accLast := 0, 0
	flush := func() {
		if acc.Len() > 0 {
			s.first, s.last = accFirst, accLast
			s.emit(acc.String(), prefix, accKind, place)
			acc.Reset()
		}
	}
	for bi, b := range blocks {
		mergeable := b.Kind == extract.Paragraph || b.Kind == extract.List
		if !s.fits(embed(prefix, b.Text)) {
			flush()
			s.first, s.last = index[bi], index[bi]
			s.split(b, prefix)
			continue
		}
		if !mergeable {
			flush()
			s.first, s.last = index[bi], index[bi]
			s.emit(b.Text, prefix, b.Kind, place)
			continue
		}
		if acc.Len() > 0 && s.fits(embed(prefix, acc.String()+"\n"+b.Text)) {
			acc.WriteByte('\n')
			acc.WriteString(b.Text)
			accLast = index[bi]
			if accKind != b.Kind {
				accKind = extract.Paragraph
			}
			continue
		}
		flush()
		acc.WriteString(b.Text)
		accKind = b.Kind
		accFirst, accLast = index[bi], index[bi]
	}
	flush()
}

// prefix returns the section prefix for a heading path: its innermost
// non-empty heading, shortened at a word boundary (else between runes) with
// "…" when it would take more than half of the window's room, or dropped
// when even one rune of it would.
func (s *splitter) prefix(section []string) string {
	title := ""
	for i := len(section) - 1; i >= 0 && title == ""; i-- {
		title = strings.Join(strings.Fields(section[i]), " ")
	}
	if s.secOK && title == s.secKey {
		return s.secPrefix
	}
	s.secKey, s.secOK = title, true
	s.secPrefix = s.shorten(title)
	return s.secPrefix
}

func (s *splitter) shorten(title string) string {
	if title == "" {
		return ""
	}
	limit := (s.max - s.base) / 2
	ok := func(p string) bool { return len(p) <= s.maxBytes && s.tokens(p+":") <= limit }
	if ok(title) {
		return title
	}
	if len(title) > s.maxBytes {
		title = cutBytes(title, s.maxBytes)
	}
	words := strings.Fields(title)
	// The largest number of whole words that fit; counts grow with words.
	n := largest(len(words)-1, func(n int) bool { return ok(strings.Join(words[:n], " ") + "…") })
	if n > 0 {
		return strings.Join(words[:n], " ") + "…"
	}
	r := []rune(words[0])
	m := largest(len(r)-1, func(m int) bool { return ok(string(r[:m]) + "…") })
	if m > 0 {
		return string(r[:m]) + "…"
	}
	return ""
}

// largest returns the largest n in [1, hi] with ok(n), assuming ok is
// monotone (true then false), or 0 when ok(1) is false. It gallops from 1 so
// that its cost follows the answer rather than hi.
func largest(hi int, ok func(int) bool) int {
	if hi < 1 || !ok(1) {
		return 0
	}
	lo, step := 1, 1 // ok(lo)
	for {
		next := lo + step
		if next > hi {
			next = hi
		}
		if next == lo {
			return lo
		}
		if !ok(next) {
			hi = next - 1
			break
		}
		lo, step = next, 2*step
	}
	for lo < hi { // ok(lo), and every n > hi fails
		mid := lo + (hi-lo+1)/2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// cutBytes shortens s to at most n bytes at a rune boundary.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// lineKind reports the kinds split on line boundaries.
func lineKind(k extract.BlockKind) bool {
	return k == extract.Table || k == extract.Code || k == extract.Transcript || k == extract.List
}

// normalise collapses white space: prose into one line; line-based kinds
// line by line, dropping empty lines, and keeping the indentation of code
// and list lines (it carries nesting) and single blank lines in code.
func normalise(kind extract.BlockKind, text string) string {
	if !lineKind(kind) {
		return strings.Join(strings.Fields(text), " ")
	}
	keepIndent := kind == extract.Code || kind == extract.List
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	var b strings.Builder
	blank := false
	for line := range strings.SplitSeq(text, "\n") {
		words := strings.Fields(line)
		if len(words) == 0 {
			blank = b.Len() > 0
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
			if blank && kind == extract.Code {
				b.WriteByte('\n')
			}
		}
		blank = false
		if keepIndent {
			// Deeper indentation carries no more meaning and would eat
			// the window.
			b.WriteString(cutBytes(indentOf(line), maxIndent))
		}
		b.WriteString(strings.Join(words, " "))
	}
	if kind != extract.Code {
		return strings.TrimLeftFunc(b.String(), unicode.IsSpace)
	}
	return b.String()
}

func indentOf(line string) string {
	i := strings.IndexFunc(line, func(r rune) bool { return !unicode.IsSpace(r) })
	if i < 0 {
		return ""
	}
	return line[:i]
}

// unit is a word of a block being split, or a piece of an overlong word.
type unit struct {
	sep     string // white space before it: " ", "\n" plus indentation, or "" inside a cut word
	text    string
	sentEnd bool // ends a sentence
	lineEnd bool // ends a line
}

// units splits normalised text into words.
func units(text string) []unit {
	var us []unit
	pending := ""
	for li, line := range strings.Split(text, "\n") {
		if li > 0 {
			pending += "\n"
		}
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		for wi, w := range words {
			sep := " "
			if wi == 0 {
				sep = pending + indentOf(line)
				pending = ""
			}
			us = append(us, unit{sep: sep, text: w, sentEnd: sentenceEnd(w)})
		}
		us[len(us)-1].lineEnd = true
	}
	return us
}

// sentenceEnd reports words that end a sentence: terminal punctuation,
// possibly followed by closing quotes or brackets.
func sentenceEnd(w string) bool {
	w = strings.TrimRight(w, "\"')]}»”’")
	r, _ := utf8.DecodeLastRuneInString(w)
	switch r {
	case '.', '!', '?', '…', '。', '！', '？':
		return true
	}
	return false
}

// join renders units; the first one's separator is dropped, except for the
// indentation of a code line.
func join(us []unit, code bool) string {
	var b strings.Builder
	for i, u := range us {
		switch {
		case i > 0:
			b.WriteString(u.sep)
		case code:
			b.WriteString(strings.TrimLeft(u.sep, "\n"))
		}
		b.WriteString(u.text)
	}
	return b.String()
}

// tableHead returns a table's header (the first row, or a caption line and
// the first row, as extract writes them) and the rest.
func tableHead(text string) (head, body string) {
	lines := strings.SplitN(text, "\n", 3)
	if len(lines) < 2 {
		return "", text
	}
	if len(lines) == 3 && !strings.Contains(lines[0], " | ") && strings.Contains(lines[1], " | ") {
		return lines[0] + "\n" + lines[1], lines[2]
	}
	return lines[0], strings.SplitN(text, "\n", 2)[1]
}

// split emits the pieces of a block that does not fit whole.
func (s *splitter) split(b extract.Block, prefix string) {
	start := len(s.out)
	defer func() {
		for i := start; i < len(s.out); i++ {
			s.out[i].Pieces = len(s.out) - start
		}
	}()
	lead, body := "", b.Text
	if b.Kind == extract.Table {
		// The header goes on top of every piece, unless it would take
		// more than half of the room.
		if head, rest := tableHead(b.Text); head != "" && len(head) <= s.maxBytes/2 &&
			s.tokens(embed(prefix, head)) <= (s.max-s.base)/2 {
			lead, body = head+"\n", rest
		}
	}
	us := units(body)
	code := b.Kind == extract.Code
	lines := lineKind(b.Kind)
	overlap := s.overlap
	if b.Kind == extract.Table {
		overlap = 0
	}
	if room := s.max - s.counter.Count(embed(prefix, lead)); overlap > room/2 {
		overlap = max(room/2, 0)
	}
	piece := func(i, j int) string { return embed(prefix, lead+join(us[i:j], code)) }
	fit := func(i, j int) bool {
		// Sizes first: a unit may be a megabyte-long word.
		n := len(prefix) + 2 + len(lead)
		for _, u := range us[i:j] {
			if n += len(u.sep) + len(u.text); n > s.maxBytes {
				return false
			}
		}
		return s.fits(piece(i, j))
	}

	cut := false // overlong words are cut
	for i := 0; i < len(us); {
		if !fit(i, i+1) {
			if !cut {
				// Cut every overlong word from here on in one pass:
				// splicing them in one by one would be quadratic.
				cut = true
				rest := make([]unit, 0, len(us))
				for _, u := range us[i:] {
					if s.fits(embed(prefix, lead+u.text)) {
						rest = append(rest, u)
					} else {
						rest = append(rest, s.cutWord(u, prefix, lead)...)
					}
				}
				us = append(us[:i:i], rest...)
			}
			if !fit(i, i+1) {
				// Not even one rune fits: emit it bare to make progress.
				s.emit(us[i].text, "", b.Kind, b.Place)
				i++
				continue
			}
		}
		j := i + largest(len(us)-i, func(n int) bool { return fit(i, i+n) })
		k := j
		if j < len(us) {
			if c := cutAt(us, i, j, lines); c != j && fit(i, c) {
				k = c
			}
		}
		s.emit(lead+join(us[i:k], code), prefix, b.Kind, b.Place)
		if k == len(us) {
			return
		}
		next := k
		if overlap > 0 {
			next = s.overlapStart(us, i, k, overlap, lines && us[k-1].lineEnd)
			// The next piece must bring something new.
			if next < k && !fit(next, k+1) {
				next = k
			}
		}
		i = next
	}
}

// cutAt chooses where a piece [i, j) that cannot take unit j ends: after the
// last line end for line-based kinds, else after the last sentence end in
// the piece's second half, else at j.
func cutAt(us []unit, i, j int, lines bool) int {
	if lines {
		for m := j; m > i; m-- {
			if us[m-1].lineEnd {
				return m
			}
		}
	}
	for m := j; m > i+(j-i)/2; m-- {
		if us[m-1].sentEnd {
			return m
		}
	}
	return j
}

// overlapStart returns where the piece after [i, k) starts: as far back as
// `overlap` tokens reach, never at i, and at a line start when wholeLines.
func (s *splitter) overlapStart(us []unit, i, k, overlap int, wholeLines bool) int {
	start := k
	for start-1 > i && s.tokens(join(us[start-1:k], false)) <= overlap {
		start--
	}
	if wholeLines {
		for start < k && !us[start-1].lineEnd {
			start++
		}
	}
	return start
}

// cutWord cuts a unit that does not fit alone into pieces that do, each as
// long as possible; a piece is one rune when not even that fits.
func (s *splitter) cutWord(u unit, prefix, lead string) []unit {
	r := []rune(u.text)
	var out []unit
	for len(r) > 0 {
		// Bound the search: no fitting piece is longer than maxBytes.
		hi := min(len(r), s.maxBytes)
		n := max(largest(hi, func(n int) bool { return s.fits(embed(prefix, lead+string(r[:n]))) }), 1)
		p := unit{sep: "", text: string(r[:n])}
		if len(out) == 0 {
			p.sep = u.sep
		}
		out = append(out, p)
		r = r[n:]
	}
	out[len(out)-1].sentEnd, out[len(out)-1].lineEnd = u.sentEnd, u.lineEnd
	return out
}
