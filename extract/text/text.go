// Package text extracts plain text files: paragraphs, lists of marked
// lines, and a title from a short first line.
package text

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"mmrag/extract"
	"mmrag/extract/markup"
)

// Text extracts plain-text files.
//
// Paragraphs are separated by blank lines (or form feeds); the lines of a
// paragraph are joined with spaces, except in a paragraph whose every line
// starts with a list marker ("- ", "* ", "• ", "1. ", "a) "), which becomes a
// List block with its lines kept. The first line is the title when it is
// short (at most 100 characters); when it is a paragraph of its own and more
// text follows, it is not repeated as a block.
//
// Encoding: UTF-8 (a BOM is dropped), UTF-16 with a BOM, else, when the bytes
// are not valid UTF-8, Windows-1252 (Latin-1) with a warning; a file that is
// mostly UTF-8 with a few bad bytes keeps its UTF-8 and gets U+FFFD instead.
// Binary content is an error; an empty file gives an empty Result with a
// warning. The zero value is ready to use.
type Text struct{}

// txtTitleMax bounds a first line that may serve as the title.
const txtTitleMax = 100

var (
	txtBlankLine  = regexp.MustCompile(`\n[ \t\f\v\p{Zs}]*\n|\f`)
	txtListMarker = regexp.MustCompile(`^\s*([-*+•–]|\d{1,3}[.)]|[a-zA-Z][.)])\s+\S`)
)

// Extract implements Extractor.
func (Text) Extract(ctx context.Context, src extract.Source) (*extract.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, warns, err := markup.DecodePlain(src.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: not text: %w", src.Name(), err)
	}
	res := &extract.Result{Type: "text", Meta: map[string]string{}, Warnings: warns}
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	var paras []string
	for _, p := range txtBlankLine.Split(s, -1) {
		if strings.TrimSpace(p) != "" {
			paras = append(paras, p)
		}
	}
	if len(paras) == 0 {
		res.Warnings = append(res.Warnings, "empty document")
		return res, nil
	}

	first := strings.TrimSpace(paras[0])
	line, _, multi := strings.Cut(first, "\n")
	if line = markup.OneLine(line); utf8.RuneCountInString(line) <= txtTitleMax {
		res.Title = line
		if !multi && len(paras) > 1 {
			paras = paras[1:]
		}
	}
	for _, p := range paras {
		if txtIsList(p) {
			res.Blocks = append(res.Blocks, extract.Block{Kind: extract.List, Text: markup.NormLines(p)})
			continue
		}
		res.Blocks = append(res.Blocks, extract.Block{Kind: extract.Paragraph, Text: markup.OneLine(p)})
	}
	return res, nil
}

// txtIsList reports a paragraph of two or more lines that all start with a
// list marker.
func txtIsList(p string) bool {
	lines := strings.Split(strings.TrimSpace(p), "\n")
	if len(lines) < 2 {
		return false
	}
	for _, l := range lines {
		if !txtListMarker.MatchString(l) {
			return false
		}
	}
	return true
}
