package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// safe makes an untrusted string (a file name, a title, a warning or error
// about a document) safe to print as part of one terminal line: C0 and C1
// control characters, DEL, bytes that are not UTF-8 and the Unicode
// bidirectional controls print as visible escapes (\n, \t, \x1b, \u202e),
// so that a file name can neither colour nor move the terminal's cursor,
// start a forged line ("evil\nadded fake.md") or reorder what follows it.
// Other text, Unicode included, is kept. A backslash is kept too: the
// output is for reading, not for parsing back.
func safe(s string) string { return escapeTerm(s, false) }

// safeText is safe for text of several lines (an answer): line feeds and
// tabs are kept.
func safeText(s string) string { return escapeTerm(s, true) }

func escapeTerm(s string, lines bool) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r, n, lines) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s // the common case: nothing to escape
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case !unsafeRune(r, n, lines):
			b.WriteString(s[i : i+n])
		case r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += n
	}
	return b.String()
}

// unsafeRune reports a rune (of n bytes) that escapeTerm escapes.
func unsafeRune(r rune, n int, lines bool) bool {
	switch {
	case r == utf8.RuneError && n == 1: // not UTF-8: 0x9b alone is CSI to some terminals
		return true
	case lines && (r == '\n' || r == '\t'):
		return false
	case r < 0x20, r >= 0x7f && r <= 0x9f: // C0, DEL, C1
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	case r == 0x200e, r == 0x200f, r == 0x061c: // bidi marks
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}
