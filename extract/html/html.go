// Package html extracts web pages: the main content of a saved page or a
// downloaded URL as blocks under their headings, and its images.
package html

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html/charset"

	"mmrag/extract"
	"mmrag/extract/markup"
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
// depth 128 are dropped, their text kept, with a warning.
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
func (h HTML) Extract(ctx context.Context, src extract.Source) (*extract.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := src.Name()
	res := &extract.Result{Type: "html", Meta: map[string]string{}}
	text, warns, err := htmlDecode(src.Data, src.MIME)
	if err != nil {
		return nil, fmt.Errorf("%s: not HTML: %w", name, err)
	}
	res.Warnings = append(res.Warnings, warns...)
	if strings.TrimSpace(text) == "" {
		res.Warnings = append(res.Warnings, "empty document")
		return res, nil
	}
	doc, warn, err := markup.ParseDeep(text, func(r io.Reader) (*goquery.Document, error) {
		return goquery.NewDocumentFromReader(r)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: parse HTML: %w", name, err)
	}
	if warn != "" {
		res.Warnings = append(res.Warnings, warn)
	}

	imgs := markup.NewImages(h.Fetch, h.MaxImageBytes, src)
	if href, ok := doc.Find("base[href]").First().Attr("href"); ok {
		imgs.SetBaseHref(href)
	}
	htmlMeta(doc, res)
	// <title> and og:title are read before clean-up; the h1 after it, so
	// that a site name in the page header is not taken for the title.
	docTitle := markup.OneLine(doc.Find("title").First().Text())
	htmlRemoveBoilerplate(doc)
	res.Title = htmlTitle(res.Meta["og_title"], docTitle, markup.OneLine(markup.NodeText(doc.Find("h1").First().Nodes...)))

	out := markup.NewOut(ctx, res, imgs)
	w := &markup.HTMLWalker{Out: out}
	for _, n := range htmlRoot(doc).Nodes {
		w.Walk(n)
	}
	w.Flush()
	if err := out.Finish(); err != nil {
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
		if err := markup.CheckText(data); err != nil {
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
			if err := markup.CheckText(out); err != nil {
				return "", nil, err
			}
			return string(out), nil, nil
		}
	}
	if err := markup.CheckText(data); err != nil {
		return "", nil, err
	}
	s, warn := markup.RepairUTF8(data)
	return s, []string{warn}, nil
}

// htmlMeta reads document facts from <head> before anything is removed.
func htmlMeta(doc *goquery.Document, res *extract.Result) {
	set := func(key, val string) {
		val = markup.OneLine(val)
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
			for _, word := range markup.Words(e.AttrOr(a, "")) {
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
