// Package markdown extracts Markdown (CommonMark with GitHub's tables,
// strikethrough and task lists, and YAML front matter) into blocks under
// their headings, with the images it references.
package markdown

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	gtext "github.com/yuin/goldmark/text"
	"go.yaml.in/yaml/v3"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"mmrag/extract"
	"mmrag/extract/markup"
)

// Markdown extracts CommonMark with the GitHub extensions (tables, task
// lists, strikethrough, autolinks) and YAML front matter.
//
// Front matter between "---" lines at the top goes to Meta (nested keys as
// "a.b", lists joined by ", "); its title is the document title, else the
// first h1, else the first heading. Section paths come from headings, anchors
// from {#id} attributes or GitHub-style slugs. Each top-level list, table,
// code block and quote is one block. Images (![alt](src "title"), and <img>
// in raw HTML) get Caption = title, else the text of the paragraph around
// them; they load like HTML images (see html.HTML), relative to Source.Base or the
// file's folder and only from inside Source.Root. Raw HTML blocks are read
// with the HTML rules.
//
// Encoding is handled as for plain text (see text.Text); binary content is an error and an empty
// file gives an empty Result with a warning. The zero value is ready to use
// and never touches the network.
type Markdown struct {
	// Fetch downloads remote images; see html.HTML.Fetch. Nil: not fetched, warned.
	Fetch func(ctx context.Context, url string) (data []byte, mime string, err error)
	// MaxImageBytes caps one image; 0 means 20 MiB.
	MaxImageBytes int64
}

var mdParser = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithParserOptions(parser.WithAttribute()),
).Parser()

// Extract implements Extractor.
func (m Markdown) Extract(ctx context.Context, src extract.Source) (*extract.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	text, warns, err := markup.DecodePlain(src.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: not Markdown: %w", src.Name(), err)
	}
	res := &extract.Result{Type: "markdown", Meta: map[string]string{}, Warnings: warns}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	if fm, body, ok := mdSplitFrontMatter(text); ok {
		text = body
		if err := mdFrontMatter(fm, res.Meta); err != nil {
			res.Warnings = append(res.Warnings, "front matter ignored: "+err.Error())
		}
	}
	if strings.TrimSpace(text) == "" {
		res.Title = res.Meta["title"]
		res.Warnings = append(res.Warnings, "empty document")
		return res, nil
	}

	source := []byte(text)
	doc := mdParser.Parse(gtext.NewReader(source))
	w := &mdWalker{Out: markup.NewOut(ctx, res, markup.NewImages(m.Fetch, m.MaxImageBytes, src)), src: source}
	w.block(doc)
	if err := w.Finish(); err != nil {
		return nil, err
	}
	res.Title = res.Meta["title"]
	if res.Title == "" {
		res.Title = w.firstH1
	}
	if res.Title == "" {
		res.Title = w.firstHeading
	}
	return res, nil
}

// mdSplitFrontMatter separates YAML front matter: a first line "---" up to
// a line "---" or "...".
func mdSplitFrontMatter(s string) (fm, body string, ok bool) {
	first, rest, found := strings.Cut(s, "\n")
	if !found || strings.TrimRight(first, " \t") != "---" {
		return "", s, false
	}
	for off := 0; off <= len(rest); {
		line, _, _ := strings.Cut(rest[off:], "\n")
		if l := strings.TrimRight(line, " \t"); l == "---" || l == "..." {
			end := off + len(line)
			if end < len(rest) {
				end++ // the newline
			}
			return rest[:off], rest[end:], true
		}
		off += len(line) + 1
	}
	return "", s, false
}

func mdFrontMatter(fm string, meta map[string]string) error {
	var v map[string]any
	if err := yaml.Unmarshal([]byte(fm), &v); err != nil {
		return fmt.Errorf("invalid YAML: %w", err)
	}
	mdFlattenMeta("", v, meta)
	return nil
}

func mdFlattenMeta(prefix string, v map[string]any, meta map[string]string) {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		key := prefix + k
		if sub, ok := v[k].(map[string]any); ok {
			mdFlattenMeta(key+".", sub, meta)
			continue
		}
		if s := mdMetaString(v[k]); s != "" {
			meta[key] = s
		}
	}
}

func mdMetaString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(v)
	case time.Time:
		if v.Hour() == 0 && v.Minute() == 0 && v.Second() == 0 && v.Nanosecond() == 0 {
			return v.Format(time.DateOnly)
		}
		return v.Format(time.RFC3339)
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			if s := mdMetaString(e); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		return "" // flattened by the caller; nested inside lists it is dropped
	}
	return fmt.Sprint(v)
}

type mdWalker struct {
	*markup.Out
	src          []byte
	firstH1      string
	firstHeading string
}

// mdImageRef is an image met in inline content, loaded once the text around
// it is known.
type mdImageRef struct {
	cands                    []string
	alt, title, attrW, attrH string
}

func (w *mdWalker) block(n ast.Node) {
	if w.Err() != nil {
		return
	}
	switch n := n.(type) {
	case *ast.Heading:
		var imgs []mdImageRef
		text := markup.OneLine(w.inline(n, &imgs))
		if text == "" {
			return
		}
		if w.firstHeading == "" {
			w.firstHeading = text
		}
		if n.Level == 1 && w.firstH1 == "" {
			w.firstH1 = text
		}
		id := ""
		if v, ok := n.AttributeString("id"); ok {
			if b, ok := v.([]byte); ok {
				id = string(b)
			}
		}
		w.OpenSection(n.Level, text, id)
		w.images(imgs, "")
	case *ast.Paragraph, *ast.TextBlock:
		var imgs []mdImageRef
		text := markup.NormLines(w.inline(n, &imgs))
		w.images(imgs, text)
		w.Emit(extract.Paragraph, text)
	case *ast.List:
		var imgs []mdImageRef
		var sb strings.Builder
		w.list(n, 0, &sb, &imgs)
		w.images(imgs, "")
		w.Emit(extract.List, strings.TrimRight(sb.String(), "\n"))
	case *east.Table:
		var imgs []mdImageRef
		text := w.table(n, &imgs)
		w.images(imgs, "")
		w.Emit(extract.Table, text)
	case *ast.FencedCodeBlock, *ast.CodeBlock:
		w.Emit(extract.Code, markup.TrimCode(w.lines(n)))
	case *ast.Blockquote:
		var imgs []mdImageRef
		text := markup.NormLines(w.blockText(n, &imgs))
		w.images(imgs, "")
		w.Emit(extract.Quote, text)
	case *ast.HTMLBlock:
		w.htmlBlock(w.lines(n))
	case *ast.ThematicBreak:
	default:
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			w.block(c)
		}
	}
}

// images loads the images of a block; paraText is the caption for those
// without a title.
func (w *mdWalker) images(refs []mdImageRef, paraText string) {
	for _, r := range refs {
		caption := r.title
		if caption == "" {
			caption = markup.OneLine(paraText)
		}
		w.AddImage(r.cands, r.alt, caption, r.attrW, r.attrH)
	}
}

func (w *mdWalker) lines(n ast.Node) string {
	var sb strings.Builder
	lines := n.Lines()
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		sb.Write(seg.Value(w.src))
	}
	if hb, ok := n.(*ast.HTMLBlock); ok && hb.HasClosure() {
		sb.Write(hb.ClosureLine.Value(w.src))
	}
	return sb.String()
}

// inline returns the text of inline content; images are left out of the
// text and reported in imgs.
func (w *mdWalker) inline(n ast.Node, imgs *[]mdImageRef) string {
	var sb strings.Builder
	w.inlineTo(n, &sb, imgs)
	return sb.String()
}

func (w *mdWalker) inlineTo(n ast.Node, sb *strings.Builder, imgs *[]mdImageRef) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			sb.WriteString(markup.FlatText(string(c.Value(w.src))))
			switch {
			case c.HardLineBreak():
				sb.WriteByte('\n')
			case c.SoftLineBreak():
				sb.WriteByte(' ')
			}
		case *ast.String:
			sb.WriteString(markup.FlatText(string(c.Value)))
		case *ast.AutoLink:
			sb.Write(c.Label(w.src))
		case *ast.Image:
			*imgs = append(*imgs, mdImageRef{
				cands: []string{string(c.Destination)},
				alt:   markup.OneLine(w.inline(c, new([]mdImageRef))),
				title: markup.OneLine(string(c.Title)),
			})
		case *ast.RawHTML:
			var raw strings.Builder
			for i := 0; i < c.Segments.Len(); i++ {
				seg := c.Segments.At(i)
				raw.Write(seg.Value(w.src))
			}
			w.rawInline(raw.String(), sb, imgs)
		case *east.TaskCheckBox:
			if c.IsChecked {
				sb.WriteString("[x] ")
			} else {
				sb.WriteString("[ ] ")
			}
		default:
			w.inlineTo(c, sb, imgs)
		}
	}
}

// rawInline handles inline HTML tags: <br> breaks the line, <img> is an image.
func (w *mdWalker) rawInline(raw string, sb *strings.Builder, imgs *[]mdImageRef) {
	z := html.NewTokenizer(strings.NewReader(raw))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		switch tok.DataAtom {
		case atom.Br:
			sb.WriteByte('\n')
		case atom.Img:
			n := &html.Node{Type: html.ElementNode, DataAtom: tok.DataAtom, Data: tok.Data, Attr: tok.Attr}
			*imgs = append(*imgs, mdImageRef{
				cands: markup.ImageCandidates(n),
				alt:   markup.OneLine(markup.Attr(n, "alt")),
				title: markup.OneLine(markup.Attr(n, "title")),
				attrW: markup.Attr(n, "width"),
				attrH: markup.Attr(n, "height"),
			})
		}
	}
}

// htmlBlock reads a raw HTML block with the HTML rules, sharing this
// document's sections and output.
func (w *mdWalker) htmlBlock(raw string) {
	body := &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body}
	nodes, warn, err := markup.ParseDeep(raw, func(r io.Reader) ([]*html.Node, error) {
		return html.ParseFragment(r, body)
	})
	if err != nil {
		w.Warn(fmt.Sprintf("raw HTML block skipped: %v", err))
		return
	}
	if warn != "" {
		w.Warn("raw HTML block: " + warn)
	}
	hw := &markup.HTMLWalker{Out: w.Out}
	for _, n := range nodes {
		hw.Walk(n)
	}
	hw.Flush()
}

// list writes a list as "- item" lines ("1. item" when ordered), nested
// lists indented by two spaces per level.
func (w *mdWalker) list(l *ast.List, depth int, sb *strings.Builder, imgs *[]mdImageRef) {
	num := l.Start
	if num == 0 {
		num = 1
	}
	indent := strings.Repeat("  ", depth)
	for item := l.FirstChild(); item != nil; item = item.NextSibling() {
		var parts []string
		var nested []*ast.List
		for c := item.FirstChild(); c != nil; c = c.NextSibling() {
			switch c := c.(type) {
			case *ast.List:
				nested = append(nested, c)
			case *ast.Paragraph, *ast.TextBlock:
				parts = append(parts, markup.OneLine(w.inline(c, imgs)))
			case *ast.FencedCodeBlock, *ast.CodeBlock:
				parts = append(parts, markup.OneLine(w.lines(c)))
			default:
				parts = append(parts, markup.OneLine(w.blockText(c, imgs)))
			}
		}
		marker := "- "
		if l.IsOrdered() {
			marker = strconv.Itoa(num) + ". "
			num++
		}
		if text := markup.OneLine(strings.Join(parts, " ")); text != "" {
			sb.WriteString(indent + marker + text + "\n")
		}
		for _, n := range nested {
			w.list(n, depth+1, sb, imgs)
		}
	}
}

func (w *mdWalker) table(t *east.Table, imgs *[]mdImageRef) string {
	var lines []string
	for row := t.FirstChild(); row != nil; row = row.NextSibling() {
		var cells []string
		for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
			cells = append(cells, markup.OneLine(w.inline(cell, imgs)))
		}
		if strings.TrimSpace(strings.Join(cells, "")) != "" {
			lines = append(lines, strings.Join(cells, " | "))
		}
	}
	return strings.Join(lines, "\n")
}

// blockText flattens block content (a quote, a list item's extra blocks)
// into lines.
func (w *mdWalker) blockText(n ast.Node, imgs *[]mdImageRef) string {
	var parts []string
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Paragraph, *ast.TextBlock, *ast.Heading:
			parts = append(parts, w.inline(c, imgs))
		case *ast.List:
			var sb strings.Builder
			w.list(c, 0, &sb, imgs)
			parts = append(parts, sb.String())
		case *east.Table:
			parts = append(parts, w.table(c, imgs))
		case *ast.FencedCodeBlock, *ast.CodeBlock, *ast.HTMLBlock:
			parts = append(parts, w.lines(c))
		default:
			parts = append(parts, w.blockText(c, imgs))
		}
	}
	return strings.Join(parts, "\n")
}
