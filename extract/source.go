package extract

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// This file holds the small helpers every format's extractor shares; they
// need nothing outside the standard library.

// Name names the source in messages: its Path, or "input" when it has none.
func (s Source) Name() string {
	if s.Path == "" {
		return "input"
	}
	return s.Path
}

// FileTitle is the title of last resort: the file name of Path without its
// extension (and, for a URL, its query); "" when there is no Path.
func (s Source) FileTitle() string {
	if s.Path == "" {
		return ""
	}
	b := filepath.Base(s.Path)
	if i := strings.LastIndexByte(b, '?'); i > 0 { // a URL with a query
		b = b[:i]
	}
	return strings.TrimSuffix(b, filepath.Ext(b))
}

// Interrupted returns ctx's error, prefixed with name (see Source.Name),
// once ctx is done, else nil: extractors check it between the parts of a
// long extraction.
func Interrupted(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Clip shortens s to at most n bytes at a word boundary (or mid-word when
// the last space is in the first half), never inside a UTF-8 sequence, and
// marks the cut with "…". Image.Context is clipped with it.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndexByte(s[:n], ' ')
	if cut < n/2 {
		cut = n
	}
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}
