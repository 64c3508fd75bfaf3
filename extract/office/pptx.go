package office

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"mmrag/extract"
	"mmrag/extract/table"
)

// PPTX extracts PowerPoint presentations (Office Open XML, .pptx).
//
// Slides are read in presentation order; each item's Place.Page is the
// 1-based slide number and Place.Section is [slide title] when the slide has
// a title placeholder. Every other text shape becomes a block: a body
// placeholder with several paragraphs is a List, anything else a Paragraph;
// tables become Table blocks. Speaker notes are Notes blocks. Pictures come
// with their alt text (cNvPr descr, else title) and the slide text as
// context. Slide numbers, dates and footers are skipped.
//
// The zero value is ready to use.
type PPTX struct {
	// Limits bound the decompression of the container; zero means defaults.
	Limits ZipLimits
}

// Extract implements Extractor.
func (x PPTX) Extract(ctx context.Context, src extract.Source) (*extract.Result, error) {
	doc, err := openDocument(ctx, src, x.Limits, "ppt/presentation.xml", "a PowerPoint presentation")
	if err != nil {
		return nil, err
	}
	name := doc.name
	slides, err := pptxSlideOrder(doc.data, doc.rels)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", name, doc.main, err)
	}
	res := doc.result("pptx")
	for i, part := range slides {
		if err := extract.Interrupted(ctx, name); err != nil {
			return nil, err
		}
		title, err := pptxSlide(doc.pkg, part, i+1, res)
		if err != nil {
			if errors.Is(err, ErrZipBomb) {
				return nil, err
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("slide %d (%s): %v", i+1, part, err))
			continue
		}
		if res.Title == "" && title != "" {
			res.Title = title
		}
	}
	res.Meta["slides"] = fmt.Sprint(len(slides))
	if res.Title == "" {
		res.Title = src.FileTitle()
	}
	if len(res.Blocks) == 0 && len(res.Images) == 0 {
		res.Warnings = append(res.Warnings, "empty presentation")
	}
	return res, nil
}

// pptxSlideOrder lists slide parts in presentation order (p:sldIdLst).
func pptxSlideOrder(data []byte, rels map[string]ooxmlRel) ([]string, error) {
	d := xmlDecoder(data)
	var out []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "sldId" {
			continue
		}
		n := &xmlNode{Name: se.Name, Attr: se.Attr}
		if r, ok := rels[n.relAttr("id")]; ok && !r.External {
			out = append(out, r.Target)
		}
	}
}

// pptxShape is one text-bearing shape of a slide.
type pptxShape struct {
	ph    string // placeholder type: "title", "body", "" for none…
	isPh  bool
	paras []pptxPara
	table [][]string
}

type pptxPara struct {
	lvl  int
	text string
}

// pptxSlide appends the content of one slide to res and returns its title.
func pptxSlide(pkg *ooxmlPackage, part string, num int, res *extract.Result) (string, error) {
	data, err := pkg.readPart(part)
	if err != nil {
		return "", err
	}
	rels, err := pkg.rels(part)
	if err != nil {
		return "", err
	}
	root, err := pptxTree(data)
	if err != nil {
		return "", err
	}
	var shapes []pptxShape
	var pics []*xmlNode
	pptxShapes(root.path("cSld", "spTree"), &shapes, &pics)

	title := pptxTitle(shapes)
	place := extract.Place{Page: num}
	if title != "" {
		place.Section = []string{title}
	}
	var slideText []string
	if title != "" {
		slideText = append(slideText, title)
	}
	for _, s := range shapes {
		if s.ph == "title" || s.ph == "ctrTitle" {
			continue
		}
		if s.table != nil {
			rows := table.TrimRows(s.table)
			res.Blocks = append(res.Blocks, table.Splitter{}.Blocks(rows, place)...)
			for _, r := range rows {
				slideText = append(slideText, strings.Join(r, " "))
			}
			continue
		}
		if kind, text := s.block(); text != "" {
			res.Blocks = append(res.Blocks, extract.Block{Kind: kind, Text: text, Place: place})
			slideText = append(slideText, pptxJoin(s.paras, " "))
		}
	}
	slideCtx := extract.Clip(strings.Join(slideText, " "), 500)
	if err := pptxPictures(pkg, rels, pics, place, slideCtx, res); err != nil {
		return "", err
	}
	if err := pptxSlideNotes(pkg, rels, place, res); err != nil {
		return "", err
	}
	return title, nil
}

// pptxTitle is the text of the first title placeholder that has any.
func pptxTitle(shapes []pptxShape) string {
	for _, s := range shapes {
		if s.ph == "title" || s.ph == "ctrTitle" {
			if title := strings.Join(strings.Fields(pptxJoin(s.paras, " ")), " "); title != "" {
				return title
			}
		}
	}
	return ""
}

// block is the text of a shape: a body placeholder of several paragraphs
// is a list ("- item", indented by level), anything else a paragraph.
func (s pptxShape) block() (extract.BlockKind, string) {
	if !s.isPh || (s.ph != "" && s.ph != "body" && s.ph != "obj") || len(s.paras) <= 1 {
		return extract.Paragraph, pptxJoin(s.paras, "\n")
	}
	lines := make([]string, 0, len(s.paras))
	for _, p := range s.paras {
		if p.text != "" {
			lines = append(lines, strings.Repeat("  ", p.lvl)+"- "+p.text)
		}
	}
	return extract.List, strings.Join(lines, "\n")
}

// pptxPictures appends the pictures of a slide at place, with their alt
// text and the slide's text as context. A linked picture is refused with a
// warning: files outside the document are never read.
func pptxPictures(pkg *ooxmlPackage, rels map[string]ooxmlRel, pics []*xmlNode, place extract.Place, slideCtx string, res *extract.Result) error {
	num := place.Page
	for _, pic := range pics {
		nv := pic.path("nvPicPr", "cNvPr")
		blip := pic.path("blipFill", "blip")
		rid := blip.relAttr("embed")
		if rid == "" {
			rid = blip.relAttr("link") // a linked picture: refused below
		}
		rel, ok := rels[rid]
		if !ok {
			continue
		}
		if rel.External {
			res.Warnings = append(res.Warnings, fmt.Sprintf("slide %d: linked image %q refused: files outside the document are never read", num, rel.Target))
			continue
		}
		img, err := pkg.image(rel.Target)
		if err != nil {
			if errors.Is(err, ErrZipBomb) {
				return err
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("slide %d: image %s: %v", num, rel.Target, err))
			continue
		}
		img.Alt = strings.TrimSpace(nv.attr("descr"))
		if img.Alt == "" {
			img.Alt = strings.TrimSpace(nv.attr("title"))
		}
		img.Context = slideCtx
		img.Place = place
		res.Images = append(res.Images, img)
	}
	return nil
}

// pptxSlideNotes appends the speaker notes of a slide as a Notes block.
func pptxSlideNotes(pkg *ooxmlPackage, rels map[string]ooxmlRel, place extract.Place, res *extract.Result) error {
	for _, r := range rels {
		if r.External || !strings.HasSuffix(r.Type, "/notesSlide") {
			continue
		}
		notes, err := pptxNotes(pkg, r.Target)
		if errors.Is(err, ErrZipBomb) {
			return err
		}
		if err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("slide %d: notes: %v", place.Page, err))
			continue
		}
		if notes != "" {
			res.Blocks = append(res.Blocks, extract.Block{Kind: extract.Notes, Text: notes, Place: place})
		}
	}
	return nil
}

// pptxTree parses a whole slide part: slides are small.
func pptxTree(data []byte) (*xmlNode, error) {
	d := xmlDecoder(data)
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return nil, errors.New("no root element")
			}
			return nil, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			return xmlTree(d, se)
		}
	}
}

// pptxShapes collects text shapes, tables and pictures of a shape tree in
// order, descending into groups.
func pptxShapes(tree *xmlNode, shapes *[]pptxShape, pics *[]*xmlNode) {
	if tree == nil {
		return
	}
	for _, k := range tree.Kids {
		switch k.Name.Local {
		case "sp":
			ph := k.path("nvSpPr", "nvPr", "ph")
			s := pptxShape{isPh: ph != nil, ph: ph.attr("type")}
			switch s.ph {
			case "sldNum", "dt", "ftr", "hdr", "sldImg":
				continue
			}
			s.paras = pptxParas(k.kid("txBody"))
			if len(s.paras) > 0 {
				*shapes = append(*shapes, s)
			}
		case "grpSp":
			pptxShapes(k, shapes, pics)
		case "graphicFrame":
			if tbl := k.path("graphic", "graphicData", "tbl"); tbl != nil {
				*shapes = append(*shapes, pptxShape{table: pptxTable(tbl)})
			}
		case "pic":
			*pics = append(*pics, k)
		case "AlternateContent":
			if c := k.kid("Choice"); c != nil {
				pptxShapes(c, shapes, pics)
			}
		}
	}
}

// pptxParas reads the a:p paragraphs of a text body; empty ones are dropped.
func pptxParas(body *xmlNode) []pptxPara {
	if body == nil {
		return nil
	}
	var out []pptxPara
	for _, p := range body.Kids {
		if p.Name.Local != "p" {
			continue
		}
		var b strings.Builder
		p.walk(func(k *xmlNode) bool {
			switch k.Name.Local {
			case "t":
				b.WriteString(k.Text)
			case "br":
				b.WriteByte('\n')
			case "pPr", "rPr", "endParaRPr":
				return false
			}
			return true
		})
		if t := strings.TrimSpace(b.String()); t != "" {
			out = append(out, pptxPara{lvl: min(officeAtoi(p.kid("pPr").attr("lvl"), 0), 8), text: t})
		}
	}
	return out
}

func pptxTable(tbl *xmlNode) [][]string {
	var rows [][]string
	for _, tr := range tbl.Kids {
		if tr.Name.Local != "tr" {
			continue
		}
		var row []string
		for _, tc := range tr.Kids {
			if tc.Name.Local == "tc" {
				row = append(row, pptxJoin(pptxParas(tc.kid("txBody")), " "))
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func pptxJoin(ps []pptxPara, sep string) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.text
	}
	return strings.TrimSpace(strings.Join(parts, sep))
}

// pptxNotes returns the text of a notes slide's body placeholder.
func pptxNotes(pkg *ooxmlPackage, part string) (string, error) {
	data, err := pkg.readPart(part)
	if err != nil {
		return "", err
	}
	root, err := pptxTree(data)
	if err != nil {
		return "", err
	}
	var shapes []pptxShape
	var pics []*xmlNode
	pptxShapes(root.path("cSld", "spTree"), &shapes, &pics)
	var parts []string
	for _, s := range shapes {
		// The notes page repeats the slide image and number; only the
		// body placeholder (or a free text box) holds the notes.
		if s.ph == "body" || !s.isPh {
			if t := pptxJoin(s.paras, "\n"); t != "" {
				parts = append(parts, t)
			}
		}
	}
	return strings.Join(parts, "\n"), nil
}
