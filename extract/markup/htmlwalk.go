package markup

// The walk of an HTML tree into blocks and images, shared by the HTML
// extractor (whole pages) and the Markdown extractor (raw HTML blocks), and
// the parsing of pages nested deeper than the parser allows.

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"mmrag/extract"
)

// HTMLWalker emits blocks and images in document order.
type HTMLWalker struct {
	*Out
	loose strings.Builder // inline text waiting to become a paragraph
}

// Flush ends the paragraph of loose inline text read so far.
func (w *HTMLWalker) Flush() {
	text := NormLines(w.loose.String())
	w.loose.Reset()
	w.Emit(extract.Paragraph, text)
}

func (w *HTMLWalker) walkChildren(n *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.Walk(c)
	}
}

// Walk reads n and its descendants; call Flush after the last node.
func (w *HTMLWalker) Walk(n *html.Node) {
	if w.err != nil {
		return
	}
	switch n.Type {
	case html.TextNode:
		w.loose.WriteString(FlatText(n.Data))
		return
	case html.DocumentNode:
		w.walkChildren(n)
		return
	case html.ElementNode:
	default:
		return
	}
	if htmlSkip(n.DataAtom) {
		return
	}
	switch a := n.DataAtom; a {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		w.heading(n, int(n.Data[1]-'0'))
	case atom.Ul, atom.Ol, atom.Dl, atom.Menu:
		w.Flush()
		w.imagesIn(n)
		var sb strings.Builder
		htmlList(n, 0, &sb)
		w.Emit(extract.List, strings.TrimRight(sb.String(), "\n"))
	case atom.Table:
		if htmlLayoutTable(n) {
			w.block(n)
			return
		}
		w.Flush()
		w.imagesIn(n)
		w.Emit(extract.Table, htmlTable(n))
	case atom.Pre:
		w.Flush()
		w.imagesIn(n)
		w.Emit(extract.Code, htmlCode(n))
	case atom.Blockquote:
		w.Flush()
		w.imagesIn(n)
		w.Emit(extract.Quote, NormLines(NodeText(n)))
	case atom.Figcaption:
		// Used as the caption of the figure's images; a figure without
		// images (a quote, a code listing) keeps it as text.
		if fig := htmlAncestor(n, atom.Figure); fig == nil || !htmlHasImage(fig) {
			w.block(n)
		}
	case atom.Img:
		w.image(n)
	case atom.Br:
		w.loose.WriteByte('\n')
	case atom.Hr:
		w.Flush()
	default:
		if htmlIsBlock(a) {
			w.block(n)
		} else {
			w.walkChildren(n)
		}
	}
}

// block walks a block container: its loose text never joins its neighbours'.
func (w *HTMLWalker) block(n *html.Node) {
	w.Flush()
	w.walkChildren(n)
	w.Flush()
}

func (w *HTMLWalker) heading(n *html.Node, level int) {
	w.Flush()
	text := OneLine(NodeText(n))
	if text == "" {
		return
	}
	if htmlIsSubtitle(n) {
		if w.res.Meta["subtitle"] == "" {
			w.res.Meta["subtitle"] = text
		}
		return
	}
	w.secs.open(level, text, htmlHeadingID(n))
}

// imagesIn records the images inside a block that is read as a whole.
func (w *HTMLWalker) imagesIn(n *html.Node) {
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.DataAtom == atom.Img {
			w.image(d)
		}
	}
}

func (w *HTMLWalker) image(n *html.Node) {
	caption := ""
	if fig := htmlAncestor(n, atom.Figure); fig != nil {
		caption = htmlFigcaption(fig)
	}
	if caption == "" {
		caption = OneLine(Attr(n, "title"))
	}
	w.AddImage(ImageCandidates(n), OneLine(Attr(n, "alt")), caption,
		Attr(n, "width"), Attr(n, "height"))
}

// ImageCandidates lists the sources of an <img>, best first.
func ImageCandidates(n *html.Node) []string {
	var out []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	if p := n.Parent; p != nil && p.DataAtom == atom.Picture {
		for c := p.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && c.DataAtom == atom.Source {
				add(LargestSrcset(Attr(c, "data-srcset")))
				add(LargestSrcset(Attr(c, "srcset")))
			}
		}
	}
	add(LargestSrcset(Attr(n, "data-srcset")))
	add(LargestSrcset(Attr(n, "srcset")))
	lazy := len(out) > 0
	for _, a := range []string{"data-src", "data-original", "data-lazy-src", "data-lazy", "data-url", "data-hi-res-src"} {
		if v := Attr(n, a); v != "" {
			lazy = true
			add(v)
		}
	}
	// With lazy loading, src is usually a tiny data: placeholder.
	if src := Attr(n, "src"); !(lazy && strings.HasPrefix(strings.ToLower(strings.TrimSpace(src)), "data:")) {
		add(src)
	}
	return out
}

// htmlFigcaption is the caption of a figure, ignoring nested figures.
func htmlFigcaption(fig *html.Node) string {
	var find func(n *html.Node) string
	find = func(n *html.Node) string {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || c.DataAtom == atom.Figure {
				continue
			}
			if c.DataAtom == atom.Figcaption {
				return OneLine(NodeText(c))
			}
			if s := find(c); s != "" {
				return s
			}
		}
		return ""
	}
	return find(fig)
}

func htmlHasImage(n *html.Node) bool {
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.DataAtom == atom.Img {
			return true
		}
	}
	return false
}

func htmlAncestor(n *html.Node, a atom.Atom) *html.Node {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.DataAtom == a {
			return p
		}
	}
	return nil
}

// Attr is the value of n's attribute key, "" when absent.
func Attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val
		}
	}
	return ""
}

func htmlIsSubtitle(n *html.Node) bool {
	for _, w := range Words(Attr(n, "class")) {
		if w == "subtitle" || w == "subheading" {
			return true
		}
	}
	if p := n.Parent; p != nil && p.DataAtom == atom.Hgroup {
		for c := p.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && htmlIsHeading(c.DataAtom) {
				return c != n
			}
		}
	}
	return false
}

// htmlHeadingID is the fragment that links to a heading: its id, or that of
// an anchor inside it.
func htmlHeadingID(n *html.Node) string {
	if id := strings.TrimSpace(Attr(n, "id")); id != "" {
		return id
	}
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.DataAtom == atom.A {
			for _, k := range []string{"id", "name"} {
				if v := strings.TrimSpace(Attr(d, k)); v != "" {
					return v
				}
			}
		}
	}
	return ""
}

func htmlIsHeading(a atom.Atom) bool {
	switch a {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		return true
	}
	return false
}

// htmlIsBlock reports elements whose text stands apart from its neighbours.
func htmlIsBlock(a atom.Atom) bool {
	switch a {
	case atom.Address, atom.Article, atom.Aside, atom.Blockquote, atom.Body, atom.Caption,
		atom.Center, atom.Dd, atom.Details, atom.Dialog, atom.Dir, atom.Div, atom.Dl, atom.Dt,
		atom.Fieldset, atom.Figcaption, atom.Figure, atom.Footer, atom.Form, atom.H1, atom.H2,
		atom.H3, atom.H4, atom.H5, atom.H6, atom.Header, atom.Hgroup, atom.Hr, atom.Html,
		atom.Legend, atom.Li, atom.Main, atom.Menu, atom.Nav, atom.Ol, atom.P, atom.Pre,
		atom.Section, atom.Summary, atom.Table, atom.Tbody, atom.Td, atom.Tfoot, atom.Th,
		atom.Thead, atom.Tr, atom.Ul:
		return true
	}
	return false
}

func htmlSkip(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Iframe, atom.Object,
		atom.Embed, atom.Svg, atom.Canvas, atom.Button, atom.Select, atom.Textarea, atom.Head,
		atom.Title:
		return true
	}
	return false
}

// NodeText is the text of nodes with a newline at each block boundary and
// <br>, and inline whitespace flattened to spaces.
func NodeText(nodes ...*html.Node) string {
	var sb strings.Builder
	for _, n := range nodes {
		htmlCollect(n, &sb, false)
	}
	return sb.String()
}

func htmlCollect(n *html.Node, sb *strings.Builder, skipLists bool) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch c.Type {
		case html.TextNode:
			sb.WriteString(FlatText(c.Data))
		case html.ElementNode:
			a := c.DataAtom
			switch {
			case htmlSkip(a):
				continue
			case a == atom.Br:
				sb.WriteByte('\n')
				continue
			case skipLists && (a == atom.Ul || a == atom.Ol || a == atom.Dl):
				continue
			}
			block := htmlIsBlock(a)
			if block {
				sb.WriteByte('\n')
			}
			htmlCollect(c, sb, skipLists)
			if block {
				sb.WriteByte('\n')
			} else if a == atom.Td || a == atom.Th {
				sb.WriteByte(' ')
			}
		}
	}
}

// htmlList writes a list as "- item" lines ("1. item" when ordered), nested
// lists indented by two spaces per level.
func htmlList(n *html.Node, depth int, sb *strings.Builder) {
	indent := strings.Repeat("  ", depth)
	num := 1
	if v, err := strconv.Atoi(strings.TrimSpace(Attr(n, "start"))); err == nil {
		num = v
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode {
			continue
		}
		switch c.DataAtom {
		case atom.Li, atom.Dt, atom.Dd:
			var item strings.Builder
			htmlCollect(c, &item, true)
			text := OneLine(item.String())
			if text != "" {
				marker := "- "
				switch {
				case n.DataAtom == atom.Ol:
					marker = strconv.Itoa(num) + ". "
				case c.DataAtom == atom.Dd:
					marker = "  "
				}
				sb.WriteString(indent + marker + text + "\n")
			}
			if c.DataAtom == atom.Li {
				num++
			}
			htmlNestedLists(c, depth+1, sb)
		case atom.Ul, atom.Ol, atom.Dl:
			htmlList(c, depth+1, sb)
		default:
			htmlNestedLists(c, depth, sb)
		}
	}
}

func htmlNestedLists(n *html.Node, depth int, sb *strings.Builder) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode || htmlSkip(c.DataAtom) {
			continue
		}
		if c.DataAtom == atom.Ul || c.DataAtom == atom.Ol || c.DataAtom == atom.Dl {
			htmlList(c, depth, sb)
		} else {
			htmlNestedLists(c, depth, sb)
		}
	}
}

// htmlLayoutTable reports tables used for page layout rather than data.
func htmlLayoutTable(n *html.Node) bool {
	if r := strings.ToLower(Attr(n, "role")); r == "presentation" || r == "none" {
		return true
	}
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.DataAtom == atom.Table {
			return true
		}
	}
	return false
}

// htmlTable renders a data table as "a | b" lines, caption first, header
// rows (thead or th-only) kept on top.
func htmlTable(n *html.Node) string {
	var head, body []string
	var caption string
	var rows func(n *html.Node, inHead bool)
	rows = func(n *html.Node, inHead bool) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			switch c.DataAtom {
			case atom.Caption:
				caption = OneLine(NodeText(c))
			case atom.Thead:
				rows(c, true)
			case atom.Tbody, atom.Tfoot:
				rows(c, false)
			case atom.Tr:
				var cells []string
				allTH := true
				for td := c.FirstChild; td != nil; td = td.NextSibling {
					if td.Type == html.ElementNode && (td.DataAtom == atom.Td || td.DataAtom == atom.Th) {
						cells = append(cells, OneLine(NodeText(td)))
						allTH = allTH && td.DataAtom == atom.Th
					}
				}
				if strings.TrimSpace(strings.Join(cells, "")) == "" {
					continue
				}
				line := strings.Join(cells, " | ")
				if inHead || (allTH && len(body) == 0) {
					head = append(head, line)
				} else {
					body = append(body, line)
				}
			}
		}
	}
	rows(n, false)
	var lines []string
	if caption != "" {
		lines = append(lines, caption)
	}
	lines = append(append(lines, head...), body...)
	return strings.Join(lines, "\n")
}

// htmlCode keeps a <pre>'s text as written, <br> as a newline, without the
// blank lines around it.
func htmlCode(n *html.Node) string {
	var sb strings.Builder
	var rec func(n *html.Node)
	rec = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch {
			case c.Type == html.TextNode:
				sb.WriteString(c.Data)
			case c.Type == html.ElementNode && c.DataAtom == atom.Br:
				sb.WriteByte('\n')
			case c.Type == html.ElementNode && !htmlSkip(c.DataAtom):
				rec(c)
			}
		}
	}
	rec(n)
	return TrimCode(sb.String())
}

// htmlFlattenDepth is how deep elements may nest in a page read again after
// it overflowed the parser's limit of 512 open elements: start and end tags
// deeper than this are dropped and their text kept. It leaves room for the
// elements the parser adds on its own (tbody, tr, html, body).
const htmlFlattenDepth = 128

// ParseDeep parses text with parse; a page nested too deep for the
// parser is parsed again with its deeper tags dropped, and as plain text
// when even that is too deep (the parser opens elements that the markup
// does not name). The warning is "" when the page parsed as it is.
func ParseDeep[T any](text string, parse func(io.Reader) (T, error)) (T, string, error) {
	doc, err := parse(strings.NewReader(text))
	if err == nil || !htmlTooDeep(err) {
		return doc, "", err
	}
	flat, dropped := htmlFlatten(text, htmlFlattenDepth)
	warn := fmt.Sprintf("nesting deeper than the parser's 512 elements: %d tags below depth %d dropped, their text kept", dropped, htmlFlattenDepth)
	doc, err = parse(strings.NewReader(flat))
	if err != nil && htmlTooDeep(err) {
		warn = "nesting too deep even when flattened: read as plain text, structure dropped"
		doc, err = parse(strings.NewReader(htmlPlainText(text)))
	}
	return doc, warn, err
}

// htmlTooDeep recognises the parser's error for a page nested too deep;
// golang.org/x/net/html does not export it.
func htmlTooDeep(err error) bool {
	return strings.Contains(err.Error(), "open stack of elements exceeds")
}

// htmlFlatten re-serialises a page with the start and end tags nested
// deeper than limit dropped; it returns the page and how many tags went.
// Depth is counted from the markup: every non-void start tag opens, an end
// tag closes up to its element. The count errs on the deep side (implied
// end tags such as a second <p> are not seen), which only flattens more.
func htmlFlatten(text string, limit int) (string, int) {
	z := html.NewTokenizer(strings.NewReader(text))
	var out strings.Builder
	out.Grow(len(text))
	var open []string
	deep := map[string]int{} // dropped start tags not yet closed, by name
	dropped := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return out.String(), dropped
		}
		name, _ := z.TagName()
		tag := string(name)
		keep := true
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			// <div/> opens a div in HTML; only void elements stay empty.
			// Raw-text elements are kept: without their start tag their
			// contents (scripts, styles) would read as text.
			if htmlVoid[tag] || htmlRawText[tag] {
				break
			}
			if len(open) >= limit {
				keep = false
				deep[tag]++
				break
			}
			open = append(open, tag)
		case html.EndTagToken:
			if deep[tag] > 0 {
				keep = false
				deep[tag]--
				break
			}
			for i := len(open) - 1; i >= 0; i-- {
				if open[i] == tag {
					open = open[:i]
					break
				}
			}
		}
		if !keep {
			dropped++
			if htmlIsBlock(atom.Lookup(name)) {
				out.WriteByte('\n')
			}
			continue
		}
		out.Write(z.Raw())
	}
}

// htmlPlainText keeps only the text of a page, escaped, a line per block
// boundary: the last resort for a page that cannot be parsed as a tree.
func htmlPlainText(text string) string {
	z := html.NewTokenizer(strings.NewReader(text))
	var out strings.Builder
	skip := ""
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out.String()
		case html.TextToken:
			if skip == "" {
				out.WriteString(html.EscapeString(string(z.Text())))
			}
		case html.StartTagToken:
			name, _ := z.TagName()
			if htmlRawText[string(name)] {
				skip = string(name)
			} else if htmlIsBlock(atom.Lookup(name)) {
				out.WriteString("<br>")
			}
		case html.EndTagToken:
			if name, _ := z.TagName(); string(name) == skip {
				skip = ""
			}
		}
	}
}

// htmlVoid are the elements that never have content or an end tag.
var htmlVoid = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "keygen": true, "link": true, "meta": true, "param": true, "source": true,
	"track": true, "wbr": true,
}

// htmlRawText are the elements whose content the tokenizer reads as text up
// to their end tag.
var htmlRawText = map[string]bool{
	"script": true, "style": true, "textarea": true, "title": true, "xmp": true,
	"iframe": true, "noembed": true, "noframes": true, "noscript": true, "plaintext": true,
}
