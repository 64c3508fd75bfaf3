package office

import (
	"context"
	"image/color"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"mmrag/extract"
	"mmrag/extract/internal/extracttest"
)

const pptxTestNS = `xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" ` +
	`xmlns:r="` + officeTestRelNS + `" ` +
	`xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"`

// pptxTestSp writes a shape: a placeholder of type ph ("-" for a body
// placeholder without a type, "" for a plain text box) with paragraphs;
// a paragraph "1:text" has indent level 1.
func pptxTestSp(id, ph string, paras ...string) string {
	nvPr := `<p:nvPr/>`
	switch ph {
	case "":
	case "-":
		nvPr = `<p:nvPr><p:ph idx="1"/></p:nvPr>`
	default:
		nvPr = `<p:nvPr><p:ph type="` + ph + `"/></p:nvPr>`
	}
	var b strings.Builder
	b.WriteString(`<p:sp><p:nvSpPr><p:cNvPr id="` + id + `" name="Shape ` + id + `"/><p:cNvSpPr/>` + nvPr + `</p:nvSpPr>` +
		`<p:spPr/><p:txBody><a:bodyPr/><a:lstStyle/>`)
	for _, p := range paras {
		lvl := ""
		if l, rest, ok := strings.Cut(p, ":"); ok && len(l) == 1 {
			lvl, p = ` lvl="`+l+`"`, rest
		}
		b.WriteString(`<a:p><a:pPr` + lvl + `/><a:r><a:rPr lang="en-US"/><a:t>` + p + `</a:t></a:r><a:endParaRPr lang="en-US"/></a:p>`)
	}
	b.WriteString(`</p:txBody></p:sp>`)
	return b.String()
}

func pptxTestSlide(shapes ...string) string {
	return officeTestXMLDecl + `<p:sld ` + pptxTestNS + `><p:cSld><p:spTree>` +
		`<p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>` +
		strings.Join(shapes, "") + `</p:spTree></p:cSld></p:sld>`
}

func pptxTestPic(rid, descr string) string {
	return `<p:pic><p:nvPicPr><p:cNvPr id="4" name="Picture 3" descr="` + descr + `"/><p:cNvPicPr/><p:nvPr/></p:nvPicPr>` +
		`<p:blipFill><a:blip r:embed="` + rid + `"/><a:stretch><a:fillRect/></a:stretch></p:blipFill>` +
		`<p:spPr><a:prstGeom prst="rect"/></p:spPr></p:pic>`
}

func pptxTestTable(rows ...[]string) string {
	var b strings.Builder
	b.WriteString(`<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="5" name="Table 4"/><p:cNvGraphicFramePr/><p:nvPr/></p:nvGraphicFramePr>` +
		`<p:xfrm/><a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/table"><a:tbl>`)
	for _, r := range rows {
		b.WriteString(`<a:tr h="370840">`)
		for _, c := range r {
			b.WriteString(`<a:tc><a:txBody><a:bodyPr/><a:p><a:r><a:t>` + c + `</a:t></a:r></a:p></a:txBody></a:tc>`)
		}
		b.WriteString(`</a:tr>`)
	}
	b.WriteString(`</a:tbl></a:graphicData></a:graphic></p:graphicFrame>`)
	return b.String()
}

// pptxTestFile is a deck of two slides; the relationships list slide 2
// first, so that only sldIdLst gives the order.
func pptxTestFile(t testing.TB) []byte {
	t.Helper()
	notes := officeTestXMLDecl + `<p:notes ` + pptxTestNS + `><p:cSld><p:spTree>` +
		`<p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>` +
		pptxTestSp("2", "sldImg") + pptxTestSp("3", "body", "Remember to thank the team.", "Mention the budget.") +
		pptxTestSp("4", "sldNum", "1") +
		`</p:spTree></p:cSld></p:notes>`
	return officeTestZip(t,
		officeTestPart{"[Content_Types].xml", officeTestContentTypes(
			"/ppt/presentation.xml application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
			"/ppt/slides/slide1.xml application/vnd.openxmlformats-officedocument.presentationml.slide+xml",
			"/ppt/slides/slide2.xml application/vnd.openxmlformats-officedocument.presentationml.slide+xml",
			"/ppt/notesSlides/notesSlide1.xml application/vnd.openxmlformats-officedocument.presentationml.notesSlide+xml")},
		officeTestPart{"_rels/.rels", officeTestRels("rId1 officeDocument ppt/presentation.xml")},
		officeTestPart{"ppt/presentation.xml", officeTestXMLDecl + `<p:presentation ` + pptxTestNS + `>` +
			`<p:sldIdLst><p:sldId id="256" r:id="rId3"/><p:sldId id="257" r:id="rId2"/></p:sldIdLst>` +
			`<p:sldSz cx="9144000" cy="6858000"/></p:presentation>`},
		officeTestPart{"ppt/_rels/presentation.xml.rels", officeTestRels("rId2 slide slides/slide2.xml", "rId3 slide slides/slide1.xml")},
		officeTestPart{"ppt/slides/slide1.xml", pptxTestSlide(
			pptxTestSp("2", "ctrTitle", "Welcome"),
			pptxTestSp("3", "subTitle", "Quarterly review"),
			pptxTestSp("4", "-", "Growth", "1:Europe up 5%", "Costs"),
			pptxTestSp("5", "sldNum", "1"),
			pptxTestSp("6", "ftr", "Confidential"))},
		officeTestPart{"ppt/slides/_rels/slide1.xml.rels", officeTestRels(
			"rId1 slideLayout ../slideLayouts/slideLayout1.xml", "rId2 notesSlide ../notesSlides/notesSlide1.xml")},
		officeTestPart{"ppt/notesSlides/notesSlide1.xml", notes},
		officeTestPart{"ppt/slides/slide2.xml", pptxTestSlide(
			pptxTestSp("2", "title", "Sales", "Charts"),
			`<p:grpSp><p:nvGrpSpPr><p:cNvPr id="9" name="Group"/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>`+
				pptxTestSp("3", "", "Sales grew in every region.")+`</p:grpSp>`,
			pptxTestPic("rId2", "Bar chart of sales"),
			pptxTestTable([]string{"Region", "Sales"}, []string{"North", "120"}))},
		officeTestPart{"ppt/slides/_rels/slide2.xml.rels", officeTestRels("rId2 image ../media/image1.png")},
		officeTestPart{"ppt/media/image1.png", extracttest.SolidPNG(t, 30, 10, color.RGBA{0, 128, 0, 255})},
		officeTestPart{"docProps/core.xml", officeTestCore("")},
	)
}

func TestPPTXExtract(t *testing.T) {
	res, err := PPTX{}.Extract(context.Background(), extract.Source{Path: "deck.pptx", Data: pptxTestFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != "pptx" || res.Title != "Welcome" || res.Meta["slides"] != "2" {
		t.Errorf("type %q title %q meta %v", res.Type, res.Title, res.Meta)
	}
	s1 := extract.Place{Page: 1, Section: []string{"Welcome"}}
	s2 := extract.Place{Page: 2, Section: []string{"Sales Charts"}}
	want := []extract.Block{
		{Kind: extract.Paragraph, Text: "Quarterly review", Place: s1},
		{Kind: extract.List, Text: "- Growth\n  - Europe up 5%\n- Costs", Place: s1},
		{Kind: extract.Notes, Text: "Remember to thank the team.\nMention the budget.", Place: s1},
		{Kind: extract.Paragraph, Text: "Sales grew in every region.", Place: s2},
		{Kind: extract.Table, Text: "Region | Sales\nNorth | 120", Place: s2},
	}
	if !reflect.DeepEqual(res.Blocks, want) {
		t.Errorf("blocks:\n%s\nwant:\n%s", docxTestDump(res.Blocks), docxTestDump(want))
	}
	for _, b := range res.Blocks {
		if strings.Contains(b.Text, "Confidential") {
			t.Errorf("footer text in block %q", b.Text)
		}
	}
	if len(res.Images) != 1 {
		t.Fatalf("%d images, want 1", len(res.Images))
	}
	im := res.Images[0]
	if im.Alt != "Bar chart of sales" || im.Page != 2 || im.Width != 30 || im.Height != 10 || im.MIME != "image/png" ||
		!strings.Contains(im.Context, "Charts") || !strings.Contains(im.Context, "Sales grew") {
		t.Errorf("image: alt %q page %d %d×%d mime %q context %q", im.Alt, im.Page, im.Width, im.Height, im.MIME, im.Context)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %q", res.Warnings)
	}
}

func TestPPTXBrokenSlide(t *testing.T) {
	// A broken slide is skipped with a warning; the others still come back.
	data := officeTestZip(t,
		officeTestPart{"ppt/presentation.xml", `<p:presentation ` + pptxTestNS + `><p:sldIdLst>` +
			`<p:sldId id="256" r:id="rId1"/><p:sldId id="257" r:id="rId2"/><p:sldId id="258" r:id="rId3"/></p:sldIdLst></p:presentation>`},
		officeTestPart{"ppt/_rels/presentation.xml.rels", officeTestRels(
			"rId1 slide slides/slide1.xml", "rId2 slide slides/slide2.xml", "rId3 slide slides/slide3.xml")},
		officeTestPart{"ppt/slides/slide1.xml", `<p:sld ` + pptxTestNS + `><p:cSld><p:spTree><p:sp>`},
		officeTestPart{"ppt/slides/slide3.xml", pptxTestSlide(pptxTestSp("2", "", "third"))},
	)
	res, err := PPTX{}.Extract(context.Background(), extract.Source{Path: "b.pptx", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	want := []extract.Block{{Kind: extract.Paragraph, Text: "third", Place: extract.Place{Page: 3}}}
	if !reflect.DeepEqual(res.Blocks, want) {
		t.Errorf("blocks %+v, want %+v", res.Blocks, want)
	}
	w := strings.Join(res.Warnings, "\n")
	if !strings.Contains(w, "slide 1") || !strings.Contains(w, "slide 2") || res.Title != "b" {
		t.Errorf("warnings %q title %q: want slides 1 and 2 reported, title from the file name", res.Warnings, res.Title)
	}
}

func FuzzPPTX(f *testing.F) {
	f.Add(pptxTestFile(f))
	f.Add(officeTestZip(f,
		officeTestPart{"ppt/presentation.xml", `<p:presentation ` + pptxTestNS + `><p:sldIdLst><p:sldId id="256" r:id="rId1"/></p:sldIdLst></p:presentation>`},
		officeTestPart{"ppt/_rels/presentation.xml.rels", officeTestRels("rId1 slide slides/slide1.xml")},
		officeTestPart{"ppt/slides/slide1.xml", pptxTestSlide(pptxTestSp("2", "title", "T"),
			pptxTestTable([]string{"a", "b"}, []string{"1"}), pptxTestPic("rId9", "missing"))},
	))
	f.Add(officeTestBomb(f, "ppt/presentation.xml"))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := PPTX{Limits: ZipLimits{MaxTotal: 8 << 20}}.Extract(context.Background(), extract.Source{Path: "f.pptx", Data: data})
		if err != nil {
			if res != nil {
				t.Fatal("result with error")
			}
			if !strings.HasPrefix(err.Error(), "f.pptx: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if res.Type != "pptx" {
			t.Fatalf("type %q", res.Type)
		}
		for _, b := range res.Blocks {
			if strings.TrimSpace(b.Text) == "" || !utf8.ValidString(b.Text) || b.Page < 1 {
				t.Fatalf("bad block %+v", b)
			}
		}
	})
}
