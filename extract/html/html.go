package extract

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

// HTML extracts web pages: a saved page with its assets, or a downloaded URL.
//
// The main content is found with fixed rules rather than a readability
// scorer: scorers (go-readability included) re-serialise the page and may
// drop short blocks such as bylines and reference lists that belong to the
// article, and their choices are hard to predict in tests. The rules:
//   - script, style, noscript, template, iframe, object, embed, svg, canvas,
//     nav, aside, form controls and dialogs are removed, and so are header,
//     footer and role=banner/contentinfo elements outside any article or main,
//     hidden elements (hidden, aria-hidden, inline display:none), and elements
//     whose class, id or role names them as share, social, comment, cookie,
//     newsletter, related, sidebar, breadcrumb, promo or navigation widgets;
//     an element is kept all the same when it holds an article, a main or most
//     of the page's paragraphs, so that a page-wide wrapper is never lost;
//   - what remains is read from the only top-level article, else the only
//     main, else the body.
//
// Title is og:title, else the first h1 when <title> merely adds a site name to
// it, else <title>, else the first h1. Section paths come from h1–h6; a heading
// marked as a subtitle (class "subtitle", or not first in an hgroup) goes to
// Meta["subtitle"] instead, and a heading that repeats the text of the heading
// enclosing it, ignoring case (a title shown twice), replaces it rather than
// opening a new level.
//
// Images are read from the largest srcset/data-srcset candidate, then
// data-src, data-original and similar lazy-loading attributes, then src; the
// first candidate that loads wins. Relative references resolve against
// Source.Base, or the folder of Source.Path when Base is empty; <base href>
// is honoured. Local files are read only inside Source.Root (by default the
// page's own folder; a saved page's ../images/x.png needs the folder above
// as Root): a reference leading out of it by "..", an absolute path or a
// symbolic link is refused with a warning, and file: URLs are never read. A
// document from the web never reads local files. Bytes must sniff as
// an image. Spacer and tracking pixels (2×2 or smaller) are skipped silently;
// every other image that cannot be loaded is skipped with a Warning naming its
// src and the reason.
//
// An empty or whitespace-only file is not an error: the Result is empty and
// carries a warning. Binary content is an error. A page nested deeper than
// the parser's limit (512 open elements) is not rejected: the tags below
// depth htmlFlattenDepth are dropped, their text kept, with a warning.
//
// The zero value is ready to use and never touches the network.
type HTML struct {
	// Fetch downloads a remote (http, https) image and returns its bytes and
	// content type. Nil means remote images are not fetched: each one is
	// reported in Result.Warnings. Fetch should stop reading past
	// MaxImageBytes; larger results are dropped with a warning.
	Fetch func(ctx context.Context, url string) (data []byte, mime string, err error)
	// MaxImageBytes caps the size of one image from any origin; 0 means 20 MiB.
	MaxImageBytes int64
}

// Extract implements Extractor.
func (h HTML) Extract(ctx context.Context, src Source) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := markupName(src)
	res := &Result{Type: "html", Meta: map[string]string{}}
	text, warns, err := htmlDecode(src.Data, src.MIME)
	if err != nil {
		return nil, fmt.Errorf("%s: not HTML: %w", name, err)
	}
	res.Warnings = append(res.Warnings, warns...)
	if strings.TrimSpace(text) == "" {
		res.Warnings = append(res.Warnings, "empty document")
		return res, nil
	}
	doc, warn, err := htmlParseDeep(text, func(r io.Reader) (*goquery.Document, error) {
		return goquery.NewDocumentFromReader(r)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: parse HTML: %w", name, err)
	}
	if warn != "" {
		res.Warnings = append(res.Warnings, warn)
	}

	imgs := newMarkupImages(h.Fetch, h.MaxImageBytes, src)
	if href, ok := doc.Find("base[href]").First().Attr("href"); ok {
		imgs.setBaseHref(href)
	}
	htmlMeta(doc, res)
	// <title> and og:title are read before clean-up; the h1 after it, so
	// that a site name in the page header is not taken for the title.
	docTitle := markupOneLine(doc.Find("title").First().Text())
	htmlRemoveBoilerplate(doc)
	res.Title = htmlTitle(res.Meta["og_title"], docTitle, markupOneLine(htmlText(doc.Find("h1").First().Nodes...)))

	out := newMarkupOut(ctx, res, imgs)
	w := &htmlWalker{markupOut: out}
	for _, n := range htmlRoot(doc).Nodes {
		w.walk(n)
	}
	w.flush()
	if err := out.finish(); err != nil {
		return nil, err
	}
	if len(res.Blocks) == 0 && len(res.Images) == 0 {
		res.Warnings = append(res.Warnings, "no text content found")
	}
	return res, nil
}

// htmlDecode turns the page into valid UTF-8, honouring a BOM, the charset
// of contentType and a <meta charset> declaration.
func htmlDecode(data []byte, contentType string) (string, []string, error) {
	if utf8.Valid(data) {
		data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		if err := markupCheckText(data); err != nil {
			return "", nil, err
		}
		return string(data), nil, nil
	}
	enc, name, _ := charset.DetermineEncoding(data, contentType)
	// DetermineEncoding guesses only utf-8 or windows-1252; any other name was
	// declared (BOM, content type or meta), so trust it.
	if enc != nil && name != "utf-8" && name != "windows-1252" {
		out, err := enc.NewDecoder().Bytes(data)
		if err == nil {
			out = bytes.TrimPrefix(out, []byte("\xef\xbb\xbf"))
			if err := markupCheckText(out); err != nil {
				return "", nil, err
			}
			return string(out), nil, nil
		}
	}
	if err := markupCheckText(data); err != nil {
		return "", nil, err
	}
	s, warn := markupRepairUTF8(data)
	return s, []string{warn}, nil
}

// htmlMeta reads document facts from <head> before anything is removed.
func htmlMeta(doc *goquery.Document, res *Result) {
	set := func(key, val string) {
		val = markupOneLine(val)
		if val != "" && res.Meta[key] == "" {
			res.Meta[key] = val
		}
	}
	metaContent := func(sel string) string {
		v, _ := doc.Find(sel).First().Attr("content")
		return v
	}
	set("description", metaContent(`meta[name="description" i]`))
	set("description", metaContent(`meta[property="og:description" i]`))
	set("author", metaContent(`meta[name="author" i]`))
	set("author", metaContent(`meta[property="article:author" i]`))
	set("author", doc.Find(`[rel~="author"], .p-author, [itemprop="author"]`).First().Text())
	set("published", metaContent(`meta[property="article:published_time" i]`))
	if v, ok := doc.Find(`time.dt-published[datetime], time[itemprop="datePublished"][datetime]`).First().Attr("datetime"); ok {
		set("published", v)
	}
	set("site_name", metaContent(`meta[property="og:site_name" i]`))
	if v, ok := doc.Find(`link[rel="canonical" i]`).First().Attr("href"); ok {
		set("canonical", v)
	}
	set("canonical", metaContent(`meta[property="og:url" i]`))
	if v, ok := doc.Find(`a.p-canonical[href]`).First().Attr("href"); ok {
		set("canonical", v)
	}
	if v, ok := doc.Find("html").First().Attr("lang"); ok {
		set("lang", v)
	}
	set("og_title", metaContent(`meta[property="og:title" i]`))
}

// htmlTitle picks og:title, else the first h1 when <title> only decorates it
// ("Post | Site"), else <title>, else the first h1.
func htmlTitle(og, title, h1 string) string {
	if og != "" {
		return og
	}
	switch {
	case title != "" && h1 != "" && strings.Contains(title, h1):
		return h1
	case title != "":
		return title
	}
	return h1
}

// htmlDropTags are removed wherever they are; they never hold article text.
const htmlDropTags = "script, style, noscript, template, iframe, object, embed, svg, canvas, " +
	"button, input, select, textarea, dialog"

// htmlBoilerTags are page furniture; they are removed unless they hold the
// content itself (see htmlHoldsContent).
const htmlBoilerTags = "nav, aside, form, [role=navigation], [role=complementary], [role=search], " +
	"[hidden], [aria-hidden=true]"

// htmlBoilerWords are class/id/role words that mark widgets around content.
var htmlBoilerWords = map[string]bool{
	"share": true, "shares": true, "sharing": true, "sharebar": true, "social": true,
	"comment": true, "comments": true, "cookie": true, "cookies": true, "consent": true,
	"newsletter": true, "subscribe": true, "subscription": true, "related": true,
	"sidebar": true, "breadcrumb": true, "breadcrumbs": true, "promo": true,
	"advertisement": true, "navbar": true, "menu": true, "skiplink": true,
}

func htmlRemoveBoilerplate(doc *goquery.Document) {
	doc.Find(htmlDropTags).Remove()
	totalP := doc.Find("p").Length()
	removeUnlessContent := func(s *goquery.Selection) {
		s.Each(func(_ int, e *goquery.Selection) {
			if !htmlHoldsContent(e, totalP) {
				e.Remove()
			}
		})
	}
	removeUnlessContent(doc.Find(htmlBoilerTags))
	// Headers and footers of an article are part of it (bylines, dates); the
	// page's own are not.
	removeUnlessContent(doc.Find("header, footer, [role=banner], [role=contentinfo]").
		FilterFunction(func(_ int, e *goquery.Selection) bool {
			return e.ParentsFiltered("article, main, [role=main]").Length() == 0
		}))
	removeUnlessContent(doc.Find("[style]").FilterFunction(func(_ int, e *goquery.Selection) bool {
		st := strings.ToLower(strings.ReplaceAll(e.AttrOr("style", ""), " ", ""))
		return strings.Contains(st, "display:none") || strings.Contains(st, "visibility:hidden")
	}))
	removeUnlessContent(doc.Find("[class], [id], [role]").FilterFunction(func(_ int, e *goquery.Selection) bool {
		for _, a := range []string{"class", "id", "role"} {
			for _, word := range markupWords(e.AttrOr(a, "")) {
				if htmlBoilerWords[word] {
					return true
				}
			}
		}
		return false
	}))
}

// htmlHoldsContent reports whether removing e would remove the article: it
// is the body or an article/main, contains one, or holds most paragraphs.
func htmlHoldsContent(e *goquery.Selection, totalP int) bool {
	if e.Is("html, body, article, main, [role=main]") {
		return true
	}
	if e.Find("article, main, [role=main]").Length() > 0 {
		return true
	}
	return totalP >= 4 && 2*e.Find("p").Length() > totalP
}

// htmlRoot chooses where the content is read from.
func htmlRoot(doc *goquery.Document) *goquery.Selection {
	body := doc.Find("body").First()
	if body.Length() == 0 {
		return doc.Selection
	}
	total := len(strings.TrimSpace(body.Text()))
	for _, sel := range []string{"article", "main, [role=main]"} {
		cand := doc.Find(sel).FilterFunction(func(_ int, e *goquery.Selection) bool {
			return e.ParentsFiltered(sel).Length() == 0
		})
		// A lone article holding a small share of the text is a teaser box.
		if cand.Length() == 1 && 4*len(strings.TrimSpace(cand.Text())) >= total {
			return cand
		}
	}
	return body
}

// htmlWalker emits blocks and images in document order.
type htmlWalker struct {
	*markupOut
	loose strings.Builder // inline text waiting to become a paragraph
}

func (w *htmlWalker) flush() {
	text := markupNormLines(w.loose.String())
	w.loose.Reset()
	w.emit(Paragraph, text)
}

func (w *htmlWalker) walkChildren(n *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c)
	}
}

func (w *htmlWalker) walk(n *html.Node) {
	if w.err != nil {
		return
	}
	switch n.Type {
	case html.TextNode:
		w.loose.WriteString(markupFlatText(n.Data))
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
		w.flush()
		w.imagesIn(n)
		var sb strings.Builder
		htmlList(n, 0, &sb)
		w.emit(List, strings.TrimRight(sb.String(), "\n"))
	case atom.Table:
		if htmlLayoutTable(n) {
			w.block(n)
			return
		}
		w.flush()
		w.imagesIn(n)
		w.emit(Table, htmlTable(n))
	case atom.Pre:
		w.flush()
		w.imagesIn(n)
		w.emit(Code, htmlCode(n))
	case atom.Blockquote:
		w.flush()
		w.imagesIn(n)
		w.emit(Quote, markupNormLines(htmlText(n)))
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
		w.flush()
	default:
		if htmlIsBlock(a) {
			w.block(n)
		} else {
			w.walkChildren(n)
		}
	}
}

// block walks a block container: its loose text never joins its neighbours'.
func (w *htmlWalker) block(n *html.Node) {
	w.flush()
	w.walkChildren(n)
	w.flush()
}

func (w *htmlWalker) heading(n *html.Node, level int) {
	w.flush()
	text := markupOneLine(htmlText(n))
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
func (w *htmlWalker) imagesIn(n *html.Node) {
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.DataAtom == atom.Img {
			w.image(d)
		}
	}
}

func (w *htmlWalker) image(n *html.Node) {
	caption := ""
	if fig := htmlAncestor(n, atom.Figure); fig != nil {
		caption = htmlFigcaption(fig)
	}
	if caption == "" {
		caption = markupOneLine(htmlAttr(n, "title"))
	}
	w.addImage(htmlImageCandidates(n), markupOneLine(htmlAttr(n, "alt")), caption,
		htmlAttr(n, "width"), htmlAttr(n, "height"))
}

// htmlImageCandidates lists the sources of an <img>, best first.
func htmlImageCandidates(n *html.Node) []string {
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
				add(markupLargestSrcset(htmlAttr(c, "data-srcset")))
				add(markupLargestSrcset(htmlAttr(c, "srcset")))
			}
		}
	}
	add(markupLargestSrcset(htmlAttr(n, "data-srcset")))
	add(markupLargestSrcset(htmlAttr(n, "srcset")))
	lazy := len(out) > 0
	for _, a := range []string{"data-src", "data-original", "data-lazy-src", "data-lazy", "data-url", "data-hi-res-src"} {
		if v := htmlAttr(n, a); v != "" {
			lazy = true
			add(v)
		}
	}
	// With lazy loading, src is usually a tiny data: placeholder.
	if src := htmlAttr(n, "src"); !(lazy && strings.HasPrefix(strings.ToLower(strings.TrimSpace(src)), "data:")) {
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
				return markupOneLine(htmlText(c))
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

func htmlAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val
		}
	}
	return ""
}

func htmlIsSubtitle(n *html.Node) bool {
	for _, w := range markupWords(htmlAttr(n, "class")) {
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
	if id := strings.TrimSpace(htmlAttr(n, "id")); id != "" {
		return id
	}
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.DataAtom == atom.A {
			for _, k := range []string{"id", "name"} {
				if v := strings.TrimSpace(htmlAttr(d, k)); v != "" {
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

// htmlText is the text of nodes with a newline at each block boundary and
// <br>, and inline whitespace flattened to spaces.
func htmlText(nodes ...*html.Node) string {
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
			sb.WriteString(markupFlatText(c.Data))
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
	if v, err := strconv.Atoi(strings.TrimSpace(htmlAttr(n, "start"))); err == nil {
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
			text := markupOneLine(item.String())
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
	if r := strings.ToLower(htmlAttr(n, "role")); r == "presentation" || r == "none" {
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
				caption = markupOneLine(htmlText(c))
			case atom.Thead:
				rows(c, true)
			case atom.Tbody, atom.Tfoot:
				rows(c, false)
			case atom.Tr:
				var cells []string
				allTH := true
				for td := c.FirstChild; td != nil; td = td.NextSibling {
					if td.Type == html.ElementNode && (td.DataAtom == atom.Td || td.DataAtom == atom.Th) {
						cells = append(cells, markupOneLine(htmlText(td)))
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
	return markupTrimCode(sb.String())
}

// htmlFlattenDepth is how deep elements may nest in a page read again after
// it overflowed the parser's limit of 512 open elements: start and end tags
// deeper than this are dropped and their text kept. It leaves room for the
// elements the parser adds on its own (tbody, tr, html, body).
const htmlFlattenDepth = 128

// htmlParseDeep parses text with parse; a page nested too deep for the
// parser is parsed again with its deeper tags dropped, and as plain text
// when even that is too deep (the parser opens elements that the markup
// does not name). The warning is "" when the page parsed as it is.
func htmlParseDeep[T any](text string, parse func(io.Reader) (T, error)) (T, string, error) {
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
