package tokenizer

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// This file reproduces the text preparation of OpenAI's CLIP tokenizer
// (clip/simple_tokenizer.py), which the reference ids were made with:
//
//	text = whitespace_clean(basic_clean(text)).lower()
//	basic_clean(t) = html.unescape(html.unescape(ftfy.fix_text(t))).strip()
//	whitespace_clean(t) = re.sub(r"\s+", " ", t).strip()
//
// ftfy.fix_text (ftfy 6.x defaults) is reproduced except for its mojibake
// repair (fix_encoding), which needs ftfy's statistical "badness" model;
// text that ftfy would judge to be mis-decoded (say "cafÃ©") is tokenised as
// written. Hugging Face's CLIPTokenizerFast does neither the ftfy fixes nor
// the HTML unescaping; the reference file follows OpenAI, so this does too.

// maxDecodeLength is ftfy's default max_decode_length, in code points.
const maxDecodeLength = 1_000_000

// maxFixRounds bounds ftfy's repeat-until-unchanged loop. Each round peels
// one level of nested HTML escaping ("&amp;amp;..."), so unbounded it is
// quadratic in adversarial input; real text settles in two or three.
const maxFixRounds = 32

// cleanText returns text as OpenAI's tokenizer sees it before splitting.
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = validUTF8(s)
	}
	if !plainASCII(s) {
		s = fixText(s)
		s = pyUnescape(pyUnescape(s))
	}
	return pyLower(collapseSpace(s))
}

// validUTF8 replaces each byte that is not part of valid UTF-8 with U+FFFD,
// as ranging over the string reads it. (A Python str cannot hold invalid
// UTF-8; for stray bytes this matches decode("utf-8", errors="replace").)
func validUTF8(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

// plainASCII reports whether none of the ftfy or HTML steps can change s:
// printable ASCII and the whitespace controls ftfy keeps, with no '&'.
// ("\r" is changed to "\n" by ftfy, but both are whitespace to what follows.)
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '&' || c >= 0x7f || (c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') {
			return false
		}
	}
	return true
}

// fixText is ftfy.fix_text without fix_encoding. Like ftfy it works line by
// line, and once a line contains '<' it stops unescaping HTML for that line
// and every later one (its unescape_html="auto" setting).
func fixText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	unescape := true
	for pos := 0; pos < len(s); {
		end := len(s)
		if i := strings.IndexByte(s[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		if end-pos > maxDecodeLength && utf8.RuneCountInString(s[pos:end]) > maxDecodeLength {
			end = pos
			for n := 0; n < maxDecodeLength; n++ {
				_, w := utf8.DecodeRuneInString(s[end:])
				end += w
			}
		}
		seg := s[pos:end]
		if unescape && strings.IndexByte(seg, '<') >= 0 {
			unescape = false
		}
		b.WriteString(fixSegment(seg, unescape))
		pos = end
	}
	return b.String()
}

// fixSegment is ftfy.fix_and_explain: the fixers in ftfy's order, repeated
// until the text stops changing (at most maxFixRounds times).
func fixSegment(s string, unescape bool) string {
	for range maxFixRounds {
		orig := s
		if unescape {
			s = ftfyUnescape(s)
		}
		// fix_c1_controls, fix_latin_ligatures, fix_character_width and
		// uncurl_quotes all translate one character at a time, so one pass
		// applying them in that order per character is the same.
		s = mapRunes(s)
		s = fixLineBreaks(s)
		s = removeTerminalEscapes(s)
		s = removeControlChars(s)
		s = norm.NFC.String(s)
		if s == orig {
			break
		}
	}
	return s
}

// cp1252 maps C1 controls U+0080..U+009F as ftfy's "sloppy-windows-1252"
// does: the Windows-1252 character, or the control itself where 1252 has
// none.
var cp1252 = [32]rune{
	0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
	0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
}

// ligatures is ftfy's LIGATURES table.
var ligatures = map[rune]string{
	'Ĳ': "IJ", 'ĳ': "ij", 'ŉ': "ʼn",
	'Ǳ': "DZ", 'ǲ': "Dz", 'ǳ': "dz", 'Ǆ': "DŽ", 'ǅ': "Dž", 'ǆ': "dž",
	'Ǉ': "LJ", 'ǈ': "Lj", 'ǉ': "lj", 'Ǌ': "NJ", 'ǋ': "Nj", 'ǌ': "nj",
	'ﬀ': "ff", 'ﬁ': "fi", 'ﬂ': "fl", 'ﬃ': "ffi", 'ﬄ': "ffl", 'ﬅ': "ſt", 'ﬆ': "st",
}

// widthForm is ftfy's WIDTH_MAP: U+3000 to a space, and U+FF01..U+FFEF to
// their NFKC forms where that differs.
func widthForm(r rune) (string, bool) {
	if r == 0x3000 {
		return " ", true
	}
	if r < 0xFF01 || r > 0xFFEF {
		return "", false
	}
	c := string(r)
	if n := norm.NFKC.String(c); n != c {
		return n, true
	}
	return "", false
}

// mapRunes applies fix_c1_controls, fix_latin_ligatures,
// fix_character_width and uncurl_quotes.
func mapRunes(s string) string {
	changed := false
	for _, r := range s {
		if needsMap(r) {
			changed = true
			break
		}
	}
	if !changed {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r >= 0x80 && r <= 0x9F {
			r = cp1252[r-0x80]
		}
		lig, ok := ligatures[r]
		if !ok {
			lig = string(r)
		}
		for _, r := range lig {
			w, ok := widthForm(r)
			if !ok {
				w = string(r)
			}
			for _, r := range w {
				b.WriteRune(uncurl(r))
			}
		}
	}
	return b.String()
}

func needsMap(r rune) bool {
	if r < 0x80 {
		return false
	}
	if r <= 0x9F || r == 0x02BC || (r >= 0x2018 && r <= 0x201F) || r == 0x3000 || (r >= 0xFF01 && r <= 0xFFEF) {
		return true
	}
	_, ok := ligatures[r]
	return ok
}

// uncurl is ftfy's uncurl_quotes for one character.
func uncurl(r rune) rune {
	switch {
	case r == 0x02BC || (r >= 0x2018 && r <= 0x201B):
		return '\''
	case r >= 0x201C && r <= 0x201F:
		return '"'
	}
	return r
}

// fixLineBreaks is ftfy's fix_line_breaks.
func fixLineBreaks(s string) string {
	if !strings.ContainsAny(s, "\r\u2028\u2029\u0085") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.NewReplacer("\r", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n").Replace(s)
}

// removeTerminalEscapes is ftfy's remove_terminal_escapes: it deletes
// matches of \033\[((?:\d|;)*)([a-zA-Z]), where \d is any Unicode digit.
func removeTerminalEscapes(s string) string {
	if strings.IndexByte(s, 0x1b) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) {
				r, w := utf8.DecodeRuneInString(s[j:])
				if r != ';' && !unicode.IsDigit(r) {
					break
				}
				j += w
			}
			if j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
				i = j + 1
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// isFtfyControl reports the characters ftfy's remove_control_chars deletes.
func isFtfyControl(r rune) bool {
	switch {
	case r <= 0x08, r == 0x0B, r >= 0x0E && r <= 0x1F, r == 0x7F,
		r >= 0x206A && r <= 0x206F, r == 0xFEFF, r >= 0xFFF9 && r <= 0xFFFC:
		return true
	}
	return false
}

func removeControlChars(s string) string {
	if strings.IndexFunc(s, isFtfyControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isFtfyControl(r) {
			return -1
		}
		return r
	}, s)
}

// ftfyUnescape is ftfy's unescape_html: it replaces matches of
// &#?[0-9A-Za-z]{1,24}; that are HTML5 named references ending in ';',
// all-caps spellings of lower-case ones ("&EACUTE;" -> "É"), or numeric
// references that decode completely.
func ftfyUnescape(s string) string {
	if strings.IndexByte(s, '&') < 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			continue
		}
		j := i + 1
		hash := j < len(s) && s[j] == '#'
		if hash {
			j++
		}
		k := j
		for k < len(s) && k-j < 25 && isASCIIAlnum(s[k]) {
			k++
		}
		if k == j || k-j > 24 || k >= len(s) || s[k] != ';' {
			continue
		}
		ref := s[i : k+1]
		repl, ok := ftfyEntity(ref, s[j:k], hash)
		if !ok {
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(repl)
		last = k + 1
		i = k
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func ftfyEntity(ref, name string, hash bool) (string, bool) {
	if hash {
		u := pyUnescape(ref)
		if strings.IndexByte(u, ';') >= 0 {
			return "", false
		}
		return u, true
	}
	if v, ok := entityWithSemicolon(name); ok {
		return v, true
	}
	// ftfy also decodes the upper-cased names of lower-case entities when
	// html.unescape would leave that spelling alone.
	if strings.IndexFunc(name, func(r rune) bool { return r >= 'a' && r <= 'z' }) >= 0 {
		return "", false
	}
	v, ok := entityWithSemicolon(strings.ToLower(name))
	if !ok || pyUnescape(ref) != ref {
		return "", false
	}
	return pyUpper(v), true
}

// pyUpper is Python's str.upper for HTML entity values: the only ones whose
// full upper-casing is not a per-character simple mapping are listed.
func pyUpper(s string) string {
	switch s {
	case "ß":
		return "SS"
	case "ﬀ":
		return "FF"
	case "ﬁ":
		return "FI"
	case "ﬂ":
		return "FL"
	case "ﬃ":
		return "FFI"
	case "ﬄ":
		return "FFL"
	case "ŉ":
		return "ʼN"
	}
	return strings.Map(unicode.ToUpper, s)
}

func isASCIIAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isASCIIAlnumString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isASCIIAlnum(s[i]) {
			return false
		}
	}
	return s != ""
}

// entityWithSemicolon returns the value of the HTML5 named character
// reference "&name;". Go's html package holds the same WHATWG table as
// Python's html.entities.html5 but does not export it, so this asks
// html.UnescapeString and rejects its fallback of matching a legacy name
// that is a prefix of name (whose result still ends in the ';').
func entityWithSemicolon(name string) (string, bool) {
	if !isASCIIAlnumString(name) {
		return "", false
	}
	switch name { // the two entries Go's table leaves out
	case "nLt":
		return "\u226A\u20D2", true
	case "nGt":
		return "\u226B\u20D2", true
	}
	in := "&" + name + ";"
	out := html.UnescapeString(in)
	if out == in || (strings.HasSuffix(out, ";") && name != "semi") {
		return "", false
	}
	return out, true
}

// entityLegacy returns the value of a legacy reference written without
// ';' ("&amp", "&eacute"): those names have 2 to 6 characters and a
// single-character value.
func entityLegacy(name string) (string, bool) {
	if len(name) < 2 || len(name) > 6 || !isASCIIAlnumString(name) {
		return "", false
	}
	in := "&" + name + "\x00"
	out := html.UnescapeString(in)
	if out == in {
		return "", false
	}
	v := strings.TrimSuffix(out, "\x00")
	if utf8.RuneCountInString(v) != 1 {
		return "", false
	}
	return v, true
}

// pyUnescape is Python's html.unescape.
func pyUnescape(s string) string {
	i := strings.IndexByte(s, '&')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		b.WriteString(s[:i])
		s = s[i+1:]
		repl, n := charref(s)
		if n == 0 {
			b.WriteByte('&')
		} else {
			b.WriteString(repl)
			s = s[n:]
		}
		i = strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
	}
}

// charref decodes the reference after an '&' as Python's html.unescape
// does, matching &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?).
// It returns the replacement and how many bytes of s it consumed (0: no
// reference).
func charref(s string) (string, int) {
	if s == "" {
		return "", 0
	}
	if s[0] == '#' {
		return numericCharref(s)
	}
	n, runes := 0, 0
	for n < len(s) && runes < 32 {
		r, w := utf8.DecodeRuneInString(s[n:])
		if r == '\t' || r == '\n' || r == '\f' || r == ' ' || r == '<' || r == '&' || r == '#' || r == ';' {
			break
		}
		n += w
		runes++
	}
	if n == 0 {
		return "", 0
	}
	name := s[:n]
	if n < len(s) && s[n] == ';' {
		n++
		if v, ok := entityWithSemicolon(name); ok {
			return v, n
		}
	} else if v, ok := entityLegacy(name); ok {
		return v, n
	}
	// The longest legacy name that is a proper prefix of what was matched.
	ref := s[:n]
	for x := min(len(ref)-1, 6); x >= 2; x-- {
		if v, ok := entityLegacy(ref[:x]); ok {
			return v + ref[x:], n
		}
	}
	return "&" + ref, n
}

func numericCharref(s string) (string, int) {
	hex := len(s) > 1 && (s[1] == 'x' || s[1] == 'X')
	start := 1
	if hex {
		start = 2
	}
	n := start
	num := 0
	for n < len(s) {
		c := s[n]
		var d int
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case hex && c >= 'a' && c <= 'f':
			d = int(c-'a') + 10
		case hex && c >= 'A' && c <= 'F':
			d = int(c-'A') + 10
		default:
			d = -1
		}
		if d < 0 {
			break
		}
		if num <= 0x10FFFF {
			if hex {
				num = num*16 + d
			} else {
				num = num*10 + d
			}
		}
		n++
	}
	if n == start {
		return "", 0
	}
	if n < len(s) && s[n] == ';' {
		n++
	}
	switch {
	case num == 0:
		return "\uFFFD", n
	case num == 0x0D:
		return "\r", n
	case num >= 0x80 && num <= 0x9F:
		return string(cp1252[num-0x80]), n
	case num >= 0xD800 && num <= 0xDFFF, num > 0x10FFFF:
		return "\uFFFD", n
	case num <= 0x08, num == 0x0B, num >= 0x0E && num <= 0x1F, num == 0x7F,
		num >= 0xFDD0 && num <= 0xFDEF, num&0xFFFE == 0xFFFE:
		// Python's _invalid_codepoints are dropped.
		return "", n
	}
	return string(rune(num)), n
}

// isPySpace is Python's str.isspace, which re's \s matches: Unicode
// White_Space plus U+001C..U+001F.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1C && r <= 0x1F)
}

// collapseSpace is whitespace_clean: runs of whitespace become one space,
// and the ends are trimmed.
func collapseSpace(s string) string {
	if spaceClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	pending := false
	for _, r := range s {
		if isPySpace(r) {
			pending = true
			continue
		}
		if pending && b.Len() > 0 {
			b.WriteByte(' ')
		}
		pending = false
		b.WriteRune(r)
	}
	return b.String()
}

// spaceClean reports whether s is ASCII with single spaces between words,
// which collapseSpace would return unchanged.
func spaceClean(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || (c <= ' ' && (c != ' ' || s[i+1] == ' ')) {
			return false
		}
	}
	return true
}

// pyLower is Python's str.lower: simple lower-case mappings plus the two
// language-independent special cases, U+0130 and final sigma.
func pyLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		switch r {
		case 0x130:
			b.WriteString("i\u0307")
		case 0x3A3:
			if finalSigma(s, i) {
				b.WriteRune(0x3C2)
			} else {
				b.WriteRune(0x3C3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma reports whether the capital sigma at byte i of s is in the
// Final_Sigma context: a cased letter before it and none after it, skipping
// case-ignorable characters either way.
func finalSigma(s string, i int) bool {
	j := i
	before := false
	for j > 0 {
		r, w := utf8.DecodeLastRuneInString(s[:j])
		j -= w
		if !isCaseIgnorable(r) {
			before = isCased(r)
			break
		}
	}
	if !before {
		return false
	}
	for _, r := range s[i+len("Σ"):] {
		if !isCaseIgnorable(r) {
			return !isCased(r)
		}
	}
	return true
}

func isCased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

func isCaseIgnorable(r rune) bool {
	switch r {
	// Word_Break MidLetter, MidNumLet and Single_Quote.
	case 0x27, 0x2E, 0x3A, 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024,
		0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
