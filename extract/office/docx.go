package office

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"mmrag/extract"
	"mmrag/extract/table"
)

// DOCX extracts Word documents (Office Open XML, .docx).
//
// Headings come from paragraph styles ("heading 1"…"heading 9", resolved
// through word/styles.xml and basedOn chains, or a direct outline level); a
// Title-styled paragraph opens the outermost level. Consecutive numbered or
// bulleted paragraphs form one List block. Tables become Table blocks of
// "a | b" lines with the header row repeated in each block. Pictures
// (DrawingML and legacy VML) are returned with their alt text (docPr descr,
// else title) and the text of a following or preceding Caption-styled
// paragraph. Headers, footers, comments, footnotes and deleted revisions are
// not read.
//
// The zero value is ready to use.
type DOCX struct {
	// Limits bound the decompression of the container; zero means defaults.
	Limits ZipLimits
}

// Extract implements Extractor.
func (x DOCX) Extract(ctx context.Context, src extract.Source) (*extract.Result, error) {
	doc, err := openDocument(ctx, src, x.Limits, "word/document.xml", "a Word document")
	if err != nil {
		return nil, err
	}
	w := &docxWalker{
		pkg:      doc.pkg,
		rels:     doc.rels,
		res:      doc.result("docx"),
		styles:   map[string]docxStyle{},
		numFmt:   map[string]string{},
		counters: map[string][]int{},
		images:   map[string]bool{},
	}
	for _, r := range doc.rels {
		switch {
		case r.External:
		case strings.HasSuffix(r.Type, "/styles"):
			w.loadStyles(r.Target)
		case strings.HasSuffix(r.Type, "/numbering"):
			w.loadNumbering(r.Target)
		}
	}
	if err := w.body(ctx, doc.data); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", doc.name, doc.main, err)
	}
	w.flushList()
	if w.res.Title == "" {
		w.res.Title = w.titlePara
	}
	if w.res.Title == "" {
		w.res.Title = src.FileTitle()
	}
	if len(w.res.Blocks) == 0 && len(w.res.Images) == 0 {
		w.res.Warnings = append(w.res.Warnings, "empty document")
	}
	return w.res, nil
}

type docxStyle struct {
	name     string // lower-cased UI name: "heading 1", "caption"
	basedOn  string
	outline  int // 0-based outline level from pPr, -1 when none
	numbered bool
}

type docxHead struct {
	level int // 0 for Title, 1..9 for headings
	text  string
}

type docxWalker struct {
	pkg      *ooxmlPackage
	rels     map[string]ooxmlRel
	res      *extract.Result
	styles   map[string]docxStyle
	numFmt   map[string]string // "numId/ilvl" → numFmt ("bullet", "decimal", …)
	counters map[string][]int  // numId → item counters per level
	images   map[string]bool   // parts already returned

	heads     []docxHead
	titlePara string // text of the first Title-styled paragraph
	list      []string
	listPlace extract.Place

	// Caption matching: images of the last paragraph still without a
	// caption, and a caption that came before its picture.
	uncaptioned    []int
	pendingCaption string
	lastText       string
}

func (w *docxWalker) loadStyles(part string) {
	data, err := w.pkg.readPart(part)
	if err != nil {
		w.warn("styles: %v", err)
		return
	}
	var doc struct {
		Styles []struct {
			ID      string  `xml:"styleId,attr"`
			Name    docxVal `xml:"name"`
			BasedOn docxVal `xml:"basedOn"`
			PPr     struct {
				Outline *docxVal `xml:"outlineLvl"`
				NumPr   *struct {
					NumID docxVal `xml:"numId"`
				} `xml:"numPr"`
			} `xml:"pPr"`
		} `xml:"style"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		w.warn("styles: %v", err)
		return
	}
	for _, s := range doc.Styles {
		st := docxStyle{name: strings.ToLower(s.Name.Val), basedOn: s.BasedOn.Val, outline: -1}
		if s.PPr.Outline != nil {
			st.outline = officeAtoi(s.PPr.Outline.Val, -1)
		}
		st.numbered = s.PPr.NumPr != nil && s.PPr.NumPr.NumID.Val != "0"
		w.styles[s.ID] = st
	}
}

// docxVal matches the w:val attribute whatever its prefix.
type docxVal struct {
	Val string `xml:"val,attr"`
}

func (w *docxWalker) loadNumbering(part string) {
	data, err := w.pkg.readPart(part)
	if err != nil {
		w.warn("numbering: %v", err)
		return
	}
	var doc struct {
		Abstract []struct {
			ID  string `xml:"abstractNumId,attr"`
			Lvl []struct {
				Ilvl   string  `xml:"ilvl,attr"`
				NumFmt docxVal `xml:"numFmt"`
			} `xml:"lvl"`
		} `xml:"abstractNum"`
		Num []struct {
			ID       string  `xml:"numId,attr"`
			Abstract docxVal `xml:"abstractNumId"`
		} `xml:"num"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		w.warn("numbering: %v", err)
		return
	}
	abs := map[string]map[string]string{}
	for _, a := range doc.Abstract {
		m := map[string]string{}
		for _, l := range a.Lvl {
			m[l.Ilvl] = l.NumFmt.Val
		}
		abs[a.ID] = m
	}
	for _, n := range doc.Num {
		for ilvl, f := range abs[n.Abstract.Val] {
			w.numFmt[n.ID+"/"+ilvl] = f
		}
	}
}

func (w *docxWalker) warn(format string, args ...any) {
	w.res.Warnings = append(w.res.Warnings, fmt.Sprintf(format, args...))
}

// style resolves a style id through its basedOn chain.
func (w *docxWalker) style(id string) (name string, level int, numbered bool) {
	level = -1
	for i := 0; id != "" && i < 16; i++ { // 16: basedOn chains may loop
		st, ok := w.styles[id]
		if !ok {
			break
		}
		if name == "" {
			name = st.name
		}
		if level < 0 {
			level = docxHeadingLevel(st.name, id)
			if level < 0 && st.outline >= 0 && st.outline < 9 {
				level = st.outline + 1
			}
		}
		numbered = numbered || st.numbered
		id = st.basedOn
	}
	if name == "" && level < 0 {
		// No styles part: Word's built-in ids are still telling.
		level = docxHeadingLevel("", id)
	}
	return name, level, numbered
}

// docxHeadingLevel reads the level from a built-in style name or id:
// "heading 2"/"Heading2" → 2, "Title" → 0; -1 when not a heading.
func docxHeadingLevel(name, id string) int {
	for _, s := range []string{name, strings.ToLower(id)} {
		if s == "title" {
			return 0
		}
		if rest, ok := strings.CutPrefix(s, "heading"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil && n >= 1 && n <= 9 {
				return n
			}
		}
	}
	return -1
}

// body streams document.xml, building one element tree per body child.
func (w *docxWalker) body(ctx context.Context, data []byte) error {
	d := xmlDecoder(data)
	inBody := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if !inBody {
				return errors.New("no w:body element")
			}
			return nil
		}
		if err != nil {
			return err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !inBody {
			inBody = start.Name.Local == "body"
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := xmlTree(d, start)
		if err != nil {
			return err
		}
		w.block(n)
	}
}

func (w *docxWalker) block(n *xmlNode) {
	switch n.Name.Local {
	case "p":
		w.paragraph(n)
	case "tbl":
		w.table(n)
	case "sectPr", "del", "moveFrom", "bookmarkStart", "bookmarkEnd":
	case "AlternateContent":
		if c := n.kid("Choice"); c != nil {
			for _, k := range c.Kids {
				w.block(k)
			}
		}
	default: // sdt, sdtContent, customXml, ins…: containers of blocks
		for _, k := range n.Kids {
			w.block(k)
		}
	}
}

func (w *docxWalker) place() extract.Place {
	if len(w.heads) == 0 {
		return extract.Place{}
	}
	sec := make([]string, len(w.heads))
	for i, h := range w.heads {
		sec[i] = h.text
	}
	return extract.Place{Section: sec}
}

// docxPara is what one paragraph holds.
type docxPara struct {
	text   string
	images []extract.Image
}

// runs collects the text and pictures under n, skipping deleted text, field
// instructions and the fallback half of alternate content.
func (w *docxWalker) runs(n *xmlNode, p *docxPara, b *strings.Builder) {
	n.walk(func(k *xmlNode) bool {
		switch k.Name.Local {
		case "t":
			b.WriteString(k.Text)
		case "tab", "ptab":
			b.WriteByte('\t')
		case "br", "cr":
			b.WriteByte('\n')
		case "noBreakHyphen":
			b.WriteByte('-')
		case "p":
			if k != n && b.Len() > 0 { // a text-box paragraph inside this one
				b.WriteByte('\n')
			}
		case "del", "delText", "instrText", "pPr", "rPr", "Fallback", "moveFrom", "footnoteReference", "endnoteReference":
			return false
		case "AlternateContent":
			if c := k.kid("Choice"); c != nil {
				w.runs(c, p, b)
			}
			return false
		case "drawing", "pict", "object":
			if img, ok := w.picture(k); ok {
				p.images = append(p.images, img)
			}
		}
		return true
	})
}

// picture finds the picture of a w:drawing or VML w:pict.
func (w *docxWalker) picture(n *xmlNode) (extract.Image, bool) {
	var rid, alt, title string
	n.walk(func(k *xmlNode) bool {
		switch k.Name.Local {
		case "docPr":
			alt, title = k.attr("descr"), k.attr("title")
		case "blip":
			if rid == "" {
				rid = k.relAttr("embed")
			}
			if rid == "" {
				rid = k.relAttr("link") // a linked picture: refused below
			}
		case "imagedata":
			if rid == "" {
				rid = k.relAttr("id")
			}
		case "shape":
			if alt == "" {
				alt = k.attr("alt")
			}
		}
		return true
	})
	if rid == "" {
		return extract.Image{}, false
	}
	rel, ok := w.rels[rid]
	if !ok {
		return extract.Image{}, false
	}
	if rel.External {
		w.warn("linked image %q refused: files outside the document are never read", rel.Target)
		return extract.Image{}, false
	}
	if w.images[rel.Target] {
		return extract.Image{}, false
	}
	img, err := w.pkg.image(rel.Target)
	if err != nil {
		w.warn("image %s: %v", rel.Target, err)
		return extract.Image{}, false
	}
	w.images[rel.Target] = true
	img.Alt = strings.TrimSpace(alt)
	if img.Alt == "" {
		img.Alt = strings.TrimSpace(title)
	}
	return img, true
}

func (w *docxWalker) paragraph(n *xmlNode) {
	ppr := n.kid("pPr")
	styleID := ppr.kid("pStyle").attr("val")
	styleName, level, numbered := w.style(styleID)
	if o := ppr.kid("outlineLvl"); o != nil {
		if v := officeAtoi(o.attr("val"), 9); v < 9 {
			level = v + 1
		}
	}
	numID, ilvl := "", 0
	if np := ppr.kid("numPr"); np != nil {
		numID = np.kid("numId").attr("val")
		ilvl = min(officeAtoi(np.kid("ilvl").attr("val"), 0), 8)
		numbered = numID != "0"
	}

	var p docxPara
	var b strings.Builder
	w.runs(n, &p, &b)
	p.text = strings.TrimSpace(b.String())

	isCaption := styleName == "caption" || strings.EqualFold(styleID, "caption")
	switch {
	case isCaption && p.text != "" && len(p.images) == 0:
		w.caption(p.text)
		return
	case level >= 0 && p.text != "" && len(p.images) == 0:
		w.heading(level, p.text)
		return
	case numbered && p.text != "":
		w.listItem(numID, ilvl, p.text)
	case p.text != "":
		w.flushList()
		kind := extract.Paragraph
		switch {
		case strings.Contains(styleName, "quote"):
			kind = extract.Quote
		case strings.Contains(styleName, "code") || styleName == "html preformatted":
			kind = extract.Code
		}
		w.res.Blocks = append(w.res.Blocks, extract.Block{Kind: kind, Text: p.text, Place: w.place()})
	}
	if len(p.images) > 0 {
		w.addImages(p)
	} else if p.text != "" {
		w.uncaptioned = nil
		w.pendingCaption = ""
	}
	if p.text != "" {
		w.lastText = p.text
	}
}

func (w *docxWalker) heading(level int, text string) {
	w.flushList()
	text = strings.Join(strings.Fields(text), " ") // a line break in a heading is layout
	w.uncaptioned, w.pendingCaption = nil, ""
	if level == 0 && w.titlePara == "" {
		w.titlePara = text
	}
	for len(w.heads) > 0 && w.heads[len(w.heads)-1].level >= level {
		w.heads = w.heads[:len(w.heads)-1]
	}
	w.heads = append(w.heads, docxHead{level: level, text: text})
	w.lastText = text
}

// caption attaches a Caption paragraph to the pictures just before it, or
// keeps it for the next picture (captions of figures may come first).
func (w *docxWalker) caption(text string) {
	if len(w.uncaptioned) > 0 {
		for _, i := range w.uncaptioned {
			w.res.Images[i].Caption = text
		}
		w.uncaptioned = nil
		return
	}
	w.pendingCaption = text
}

func (w *docxWalker) addImages(p docxPara) {
	ctxText := p.text
	if ctxText == "" {
		ctxText = w.lastText
	}
	w.uncaptioned = w.uncaptioned[:0]
	for _, img := range p.images {
		img.Place = w.place()
		img.Context = extract.Clip(ctxText, 500)
		if w.pendingCaption != "" {
			img.Caption = w.pendingCaption
		}
		w.res.Images = append(w.res.Images, img)
		if img.Caption == "" {
			w.uncaptioned = append(w.uncaptioned, len(w.res.Images)-1)
		}
	}
	w.pendingCaption = ""
}

func (w *docxWalker) listItem(numID string, ilvl int, text string) {
	if len(w.list) == 0 {
		w.listPlace = w.place()
	}
	c := w.counters[numID]
	if len(c) < ilvl+1 {
		c = append(c, make([]int, ilvl+1-len(c))...)
	}
	c[ilvl]++
	for i := ilvl + 1; i < len(c); i++ {
		c[i] = 0 // a shallower item restarts the deeper numbering
	}
	w.counters[numID] = c
	marker := "-"
	if f := w.numFmt[numID+"/"+strconv.Itoa(ilvl)]; f != "" && f != "bullet" && f != "none" {
		marker = strconv.Itoa(c[ilvl]) + "."
	}
	w.list = append(w.list, strings.Repeat("  ", ilvl)+marker+" "+strings.ReplaceAll(text, "\n", " "))
}

func (w *docxWalker) flushList() {
	if len(w.list) == 0 {
		return
	}
	w.res.Blocks = append(w.res.Blocks, extract.Block{Kind: extract.List, Text: strings.Join(w.list, "\n"), Place: w.listPlace})
	w.list = nil
}

func (w *docxWalker) table(n *xmlNode) {
	w.flushList()
	var rows [][]string
	var imgs docxPara
	var cellText []string
	for _, tr := range n.Kids {
		if tr.Name.Local != "tr" {
			continue
		}
		var row []string
		for _, tc := range tr.Kids {
			if tc.Name.Local != "tc" {
				continue
			}
			var b strings.Builder
			for _, k := range tc.Kids {
				if k.Name.Local == "tcPr" {
					continue
				}
				if b.Len() > 0 {
					b.WriteByte(' ')
				}
				w.runs(k, &imgs, &b)
			}
			text := strings.TrimSpace(b.String())
			if text != "" {
				cellText = append(cellText, text)
			}
			row = append(row, text)
			// Keep columns aligned under merged cells.
			span := officeAtoi(tc.path("tcPr", "gridSpan").attr("val"), 1)
			for i := 1; i < min(span, 64); i++ {
				row = append(row, "")
			}
		}
		rows = append(rows, row)
	}
	rows = table.TrimRows(rows)
	w.res.Blocks = append(w.res.Blocks, table.Splitter{}.Blocks(rows, w.place())...)
	tableText := extract.Clip(strings.Join(cellText, " "), 500)
	if len(imgs.images) > 0 {
		imgs.text = tableText
		w.addImages(imgs)
	} else if len(rows) > 0 {
		w.uncaptioned, w.pendingCaption = nil, ""
	}
	if tableText != "" {
		// A picture right after a table is most likely about it.
		w.lastText = tableText
	}
}
