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

const docxTestNS = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" ` +
	`xmlns:r="` + officeTestRelNS + `" ` +
	`xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" ` +
	`xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" ` +
	`xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture" ` +
	`xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"`

const docxTestStyles = officeTestXMLDecl + `<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/><w:basedOn w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/><w:basedOn w:val="Normal"/><w:pPr><w:outlineLvl w:val="1"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="berschrift3"><w:name w:val="Überschrift 3"/><w:basedOn w:val="Normal"/><w:pPr><w:outlineLvl w:val="2"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="MyHeading"><w:name w:val="My Heading"/><w:basedOn w:val="Heading2"/></w:style>
<w:style w:type="paragraph" w:styleId="Caption"><w:name w:val="caption"/><w:basedOn w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="Quote"><w:name w:val="Quote"/><w:basedOn w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="ListParagraph"><w:name w:val="List Paragraph"/><w:basedOn w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="Loop1"><w:name w:val="Loop 1"/><w:basedOn w:val="Loop2"/></w:style>
<w:style w:type="paragraph" w:styleId="Loop2"><w:name w:val="Loop 2"/><w:basedOn w:val="Loop1"/></w:style>
</w:styles>`

const docxTestNumbering = officeTestXMLDecl + `<w:numbering xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:abstractNum w:abstractNumId="0"><w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/></w:lvl><w:lvl w:ilvl="1"><w:numFmt w:val="bullet"/></w:lvl></w:abstractNum>
<w:abstractNum w:abstractNumId="1"><w:lvl w:ilvl="0"><w:numFmt w:val="decimal"/></w:lvl><w:lvl w:ilvl="1"><w:numFmt w:val="lowerLetter"/></w:lvl></w:abstractNum>
<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>
<w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>
</w:numbering>`

// docxTestPara writes a paragraph of one run in a style ("" for none).
func docxTestPara(style, text string) string {
	p := `<w:p>`
	if style != "" {
		p += `<w:pPr><w:pStyle w:val="` + style + `"/></w:pPr>`
	}
	return p + `<w:r><w:t xml:space="preserve">` + text + `</w:t></w:r></w:p>`
}

func docxTestItem(numID, ilvl, text string) string {
	return `<w:p><w:pPr><w:pStyle w:val="ListParagraph"/><w:numPr><w:ilvl w:val="` + ilvl + `"/><w:numId w:val="` + numID +
		`"/></w:numPr></w:pPr><w:r><w:t>` + text + `</w:t></w:r></w:p>`
}

// docxTestDrawing is an inline DrawingML picture of relationship rid.
func docxTestDrawing(rid, descr string) string {
	return `<w:r><w:drawing><wp:inline distT="0" distB="0" distL="0" distR="0"><wp:extent cx="952500" cy="476250"/>` +
		`<wp:docPr id="1" name="Picture 1" descr="` + descr + `"/>` +
		`<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic>` +
		`<pic:nvPicPr><pic:cNvPr id="0" name="image1.png"/><pic:cNvPicPr/></pic:nvPicPr>` +
		`<pic:blipFill><a:blip r:embed="` + rid + `"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>` +
		`<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="952500" cy="476250"/></a:xfrm><a:prstGeom prst="rect"/></pic:spPr>` +
		`</pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r>`
}

func docxTestCell(text string) string {
	return `<w:tc><w:tcPr><w:tcW w:w="2000" w:type="dxa"/></w:tcPr>` + docxTestPara("", text) + `</w:tc>`
}

// docxTestDocument builds a package around the given body XML.
func docxTestDocument(t testing.TB, body string, extra ...officeTestPart) []byte {
	t.Helper()
	parts := []officeTestPart{
		{"[Content_Types].xml", officeTestContentTypes(
			"/word/document.xml application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
			"/word/styles.xml application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml",
			"/word/numbering.xml application/vnd.openxmlformats-officedocument.wordprocessingml.numbering+xml",
			"/docProps/core.xml application/vnd.openxmlformats-package.core-properties+xml")},
		{"_rels/.rels", officeTestRels(
			"rId1 officeDocument word/document.xml",
			"rId2 ../package/2006/relationships/metadata/core-properties docProps/core.xml")},
		{"word/_rels/document.xml.rels", officeTestRels(
			"rId1 styles styles.xml",
			"rId2 numbering numbering.xml",
			"rId5 image media/image1.png",
			"rId6 image media/image2.png",
			"rId7 image /word/media/image1.png")},
		{"word/document.xml", officeTestXMLDecl + `<w:document ` + docxTestNS + `><w:body>` + body +
			`<w:sectPr><w:pgSz w:w="11906" w:h="16838"/></w:sectPr></w:body></w:document>`},
		{"word/styles.xml", docxTestStyles},
		{"word/numbering.xml", docxTestNumbering},
		{"word/media/image1.png", extracttest.SolidPNG(t, 40, 20, color.RGBA{200, 0, 0, 255})},
		{"word/media/image2.png", extracttest.SolidPNG(t, 8, 6, color.RGBA{0, 0, 200, 255})},
	}
	return officeTestZip(t, append(parts, extra...)...)
}

// docxTestFile is a report with every construct the extractor reads.
func docxTestFile(t testing.TB) []byte {
	t.Helper()
	body := docxTestPara("Title", "Annual Report") +
		docxTestPara("", "Preface text before any heading.") +
		docxTestPara("Heading1", "Introduction") +
		docxTestPara("", "We describe the year.") +
		docxTestPara("Heading2", "Background") +
		docxTestItem("1", "0", "First point") +
		docxTestItem("1", "1", "Sub point") +
		docxTestItem("1", "0", "Second point") +
		docxTestPara("Quote", "To be or not to be.") +
		docxTestItem("2", "0", "Step one") +
		docxTestItem("2", "0", "Step two") +
		docxTestPara("Heading1", "Results") +
		`<w:tbl><w:tblPr><w:tblW w:w="0" w:type="auto"/></w:tblPr><w:tblGrid><w:gridCol w:w="2000"/><w:gridCol w:w="2000"/></w:tblGrid>` +
		`<w:tr>` + docxTestCell("Region") + docxTestCell("Sales") + `</w:tr>` +
		`<w:tr>` + docxTestCell("North") + docxTestCell("120") + `</w:tr>` +
		`<w:tr>` + docxTestCell("South") + docxTestCell("80") + `</w:tr>` +
		`</w:tbl>` +
		`<w:p>` + docxTestDrawing("rId5", "A red rectangle") + `</w:p>` +
		docxTestPara("Caption", "Figure 1: Sales by region") +
		docxTestPara("MyHeading", "Details") +
		`<w:p><w:r><w:t xml:space="preserve">Split </w:t></w:r><w:del><w:r><w:delText>deleted </w:delText></w:r></w:del>` +
		`<w:ins><w:r><w:t>inserted</w:t></w:r></w:ins><w:r><w:tab/><w:t>text</w:t></w:r></w:p>` +
		docxTestPara("berschrift3", "Deeper") +
		docxTestPara("Caption", "Figure 2: Blue box") +
		`<w:p><w:r><w:t>Box: </w:t></w:r>` + docxTestDrawing("rId6", "") + `</w:p>` +
		`<w:p>` + docxTestDrawing("rId7", "duplicate of image 1") + `</w:p>`
	return docxTestDocument(t, body, officeTestPart{"docProps/core.xml", officeTestCore("")})
}

func TestDOCXExtract(t *testing.T) {
	res, err := DOCX{}.Extract(context.Background(), extract.Source{Path: "/tmp/report.docx", Data: docxTestFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != "docx" || res.Title != "Annual Report" {
		t.Errorf("type %q title %q, want docx, Annual Report", res.Type, res.Title)
	}
	if res.Meta["author"] != "Ada Lovelace" || res.Meta["created"] != "2024-03-01T10:00:00Z" {
		t.Errorf("meta %v", res.Meta)
	}
	want := []extract.Block{
		officeBlk(extract.Paragraph, "Preface text before any heading.", "Annual Report"),
		officeBlk(extract.Paragraph, "We describe the year.", "Annual Report > Introduction"),
		officeBlk(extract.List, "- First point\n  - Sub point\n- Second point", "Annual Report > Introduction > Background"),
		officeBlk(extract.Quote, "To be or not to be.", "Annual Report > Introduction > Background"),
		officeBlk(extract.List, "1. Step one\n2. Step two", "Annual Report > Introduction > Background"),
		officeBlk(extract.Table, "Region | Sales\nNorth | 120\nSouth | 80", "Annual Report > Results"),
		officeBlk(extract.Paragraph, "Split inserted\ttext", "Annual Report > Results > Details"),
		officeBlk(extract.Paragraph, "Box:", "Annual Report > Results > Details > Deeper"),
	}
	if !reflect.DeepEqual(res.Blocks, want) {
		t.Errorf("blocks:\n%s\nwant:\n%s", docxTestDump(res.Blocks), docxTestDump(want))
	}
	if len(res.Images) != 2 {
		t.Fatalf("%d images, want 2 (the duplicate reference is returned once)", len(res.Images))
	}
	im := res.Images[0]
	if im.Alt != "A red rectangle" || im.Caption != "Figure 1: Sales by region" || im.MIME != "image/png" ||
		im.Width != 40 || im.Height != 20 || !strings.HasPrefix(string(im.Data), "\x89PNG") ||
		!reflect.DeepEqual(im.Section, []string{"Annual Report", "Results"}) {
		t.Errorf("image 1: alt %q caption %q mime %q %d×%d section %q", im.Alt, im.Caption, im.MIME, im.Width, im.Height, im.Section)
	}
	if !strings.Contains(im.Context, "South") {
		t.Errorf("image 1 context %q: want the table text before it", im.Context)
	}
	im = res.Images[1]
	if im.Alt != "" || im.Caption != "Figure 2: Blue box" || im.Width != 8 || im.Context != "Box:" {
		t.Errorf("image 2: alt %q caption %q width %d context %q", im.Alt, im.Caption, im.Width, im.Context)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %q", res.Warnings)
	}
}

func docxTestDump(bs []extract.Block) string {
	var b strings.Builder
	for _, x := range bs {
		b.WriteString(string(x.Kind) + " " + strings.Join(x.Section, " > ") + ": " + strings.ReplaceAll(x.Text, "\n", `\n`) + "\n")
	}
	return b.String()
}

func TestDOCXCases(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		extra     []officeTestPart
		rels      []string // when set, a package with only these document relationships
		wantTitle string
		want      []extract.Block
		warn      string
	}{
		{
			name:      "core title wins, file name last",
			body:      docxTestPara("Heading1", "Chapter") + docxTestPara("", "Body."),
			extra:     []officeTestPart{{"docProps/core.xml", officeTestCore("Core Title")}},
			wantTitle: "Core Title",
			want:      []extract.Block{officeBlk(extract.Paragraph, "Body.", "Chapter")},
		},
		{
			name:      "no title anywhere",
			body:      docxTestPara("", "Only text."),
			wantTitle: "doc",
			want:      []extract.Block{officeBlk(extract.Paragraph, "Only text.", "")},
		},
		{
			name: "heading levels pop",
			body: docxTestPara("Heading1", "A") + docxTestPara("Heading2", "B") + docxTestPara("Heading1", "C") +
				docxTestPara("", "x") + `<w:p><w:pPr><w:outlineLvl w:val="1"/></w:pPr><w:r><w:t>D</w:t><w:br/><w:t>more</w:t></w:r></w:p>` + docxTestPara("", "y"),
			wantTitle: "doc",
			want:      []extract.Block{officeBlk(extract.Paragraph, "x", "C"), officeBlk(extract.Paragraph, "y", "C > D more")},
		},
		{
			name:      "style loop terminates",
			body:      docxTestPara("Loop1", "loop text"),
			wantTitle: "doc",
			want:      []extract.Block{officeBlk(extract.Paragraph, "loop text", "")},
		},
		{
			name:      "empty heading and paragraphs are dropped",
			body:      docxTestPara("Heading1", "") + `<w:p/>` + docxTestPara("", "   ") + docxTestPara("", "z"),
			wantTitle: "doc",
			want:      []extract.Block{officeBlk(extract.Paragraph, "z", "")},
		},
		{
			name: "content controls and alternate content",
			body: `<w:sdt><w:sdtContent>` + docxTestPara("", "in sdt") + `</w:sdtContent></w:sdt>` +
				`<mc:AlternateContent><mc:Choice Requires="w14">` + docxTestPara("", "choice") + `</mc:Choice>` +
				`<mc:Fallback>` + docxTestPara("", "fallback") + `</mc:Fallback></mc:AlternateContent>`,
			wantTitle: "doc",
			want:      []extract.Block{officeBlk(extract.Paragraph, "in sdt", ""), officeBlk(extract.Paragraph, "choice", "")},
		},
		{
			name: "merged cells keep columns",
			body: `<w:tbl><w:tr>` + docxTestCell("a") + docxTestCell("b") + docxTestCell("c") + `</w:tr>` +
				`<w:tr><w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr>` + docxTestPara("", "wide") + `</w:tc>` + docxTestCell("z") + `</w:tr></w:tbl>`,
			wantTitle: "doc",
			want:      []extract.Block{officeBlk(extract.Table, "a | b | c\nwide |  | z", "")},
		},
		{
			name: "fields, hyperlinks, footnotes and breaks",
			body: `<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r>` +
				`<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>7</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>` +
				`<w:hyperlink r:id="rId9"><w:r><w:t xml:space="preserve"> see site</w:t></w:r></w:hyperlink>` +
				`<w:r><w:footnoteReference w:id="1"/><w:br/><w:t>next line</w:t><w:noBreakHyphen/><w:t>x</w:t></w:r></w:p>`,
			wantTitle: "doc",
			want:      []extract.Block{officeBlk(extract.Paragraph, "7 see site\nnext line-x", "")},
		},
		{
			name: "text box inside a drawing",
			body: `<w:p><w:r><w:t>Outer</w:t></w:r><w:r><w:drawing><wp:anchor><wp:docPr id="3" name="Text Box 3"/>` +
				`<a:graphic><a:graphicData><wps:wsp xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"><wps:txbx><w:txbxContent>` +
				docxTestPara("", "Boxed") + `</w:txbxContent></wps:txbx></wps:wsp></a:graphicData></a:graphic></wp:anchor></w:drawing></w:r></w:p>`,
			wantTitle: "doc",
			want:      []extract.Block{officeBlk(extract.Paragraph, "Outer\nBoxed", "")},
		},
		{
			name:      "missing image part is a warning",
			body:      `<w:p>` + docxTestDrawing("rId99", "x") + docxTestDrawing("rId8", "gone") + `</w:p>` + docxTestPara("", "after"),
			rels:      []string{"rId8 image media/missing.png"},
			wantTitle: "doc",
			want:      []extract.Block{officeBlk(extract.Paragraph, "after", "")},
			warn:      "media/missing.png",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := docxTestDocument(t, tt.body, tt.extra...)
			if tt.rels != nil {
				data = docxTestDocumentRels(t, tt.body, tt.rels...)
			}
			res, err := DOCX{}.Extract(context.Background(), extract.Source{Path: "dir/doc.docx", Data: data})
			if err != nil {
				t.Fatal(err)
			}
			if res.Title != tt.wantTitle {
				t.Errorf("title %q, want %q", res.Title, tt.wantTitle)
			}
			if !reflect.DeepEqual(res.Blocks, tt.want) {
				t.Errorf("blocks:\n%s\nwant:\n%s", docxTestDump(res.Blocks), docxTestDump(tt.want))
			}
			if tt.warn != "" && !strings.Contains(strings.Join(res.Warnings, "\n"), tt.warn) {
				t.Errorf("warnings %q, want one about %q", res.Warnings, tt.warn)
			}
		})
	}
}

// docxTestDocumentRels builds a document with only the given relationships.
func docxTestDocumentRels(t testing.TB, body string, rels ...string) []byte {
	t.Helper()
	return officeTestZip(t,
		officeTestPart{"_rels/.rels", officeTestRels("rId1 officeDocument word/document.xml")},
		officeTestPart{"word/_rels/document.xml.rels", officeTestRels(rels...)},
		officeTestPart{"word/document.xml", `<w:document ` + docxTestNS + `><w:body>` + body + `</w:body></w:document>`},
	)
}

func TestDOCXVMLPicture(t *testing.T) {
	body := `<w:p><w:r><w:pict><v:shape xmlns:v="urn:schemas-microsoft-com:vml" id="_x0000_i1025" alt="Old logo" style="width:10pt">` +
		`<v:imagedata r:id="rId5" o:title="" xmlns:o="urn:schemas-microsoft-com:office:office"/></v:shape></w:pict></w:r></w:p>` +
		docxTestPara("Caption", "Figure 3: Logo")
	res, err := DOCX{}.Extract(context.Background(), extract.Source{Path: "vml.docx", Data: docxTestDocument(t, body)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].Alt != "Old logo" || res.Images[0].Caption != "Figure 3: Logo" || res.Images[0].Width != 40 {
		t.Fatalf("images %+v", res.Images)
	}
}

func TestDOCXClip(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"one two three four", 10, "one two…"},
		{"abcdefghijklmnop", 10, "abcdefghij…"},
		{"ééééééé", 5, "éé…"}, // never cut inside a rune
	}
	for _, tt := range tests {
		if got := extract.Clip(tt.s, tt.n); got != tt.want {
			t.Errorf("docxClip(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestDOCXNoStylesPart(t *testing.T) {
	// Without styles.xml the built-in style ids still mark headings.
	data := docxTestDocumentRels(t, docxTestPara("Heading1", "Top")+docxTestPara("heading2", "Sub")+docxTestPara("", "text"))
	res, err := DOCX{}.Extract(context.Background(), extract.Source{Path: "n.docx", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	want := []extract.Block{officeBlk(extract.Paragraph, "text", "Top > Sub")}
	if !reflect.DeepEqual(res.Blocks, want) {
		t.Errorf("blocks:\n%s\nwant:\n%s", docxTestDump(res.Blocks), docxTestDump(want))
	}
}

func TestDOCXEmpty(t *testing.T) {
	res, err := DOCX{}.Extract(context.Background(), extract.Source{Path: "e.docx", Data: docxTestDocumentRels(t, "")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blocks) != 0 || !strings.Contains(strings.Join(res.Warnings, ";"), "empty document") {
		t.Errorf("blocks %v warnings %q", res.Blocks, res.Warnings)
	}
	// A document part without a body is broken, not empty.
	data := officeTestZip(t, officeTestPart{"word/document.xml", `<w:document ` + docxTestNS + `/>`})
	if _, err := (DOCX{}).Extract(context.Background(), extract.Source{Path: "nobody.docx", Data: data}); err == nil ||
		!strings.Contains(err.Error(), "nobody.docx") || !strings.Contains(err.Error(), "no w:body") {
		t.Errorf("error %v, want one naming nobody.docx and the missing body", err)
	}
}

func FuzzDOCX(f *testing.F) {
	f.Add(docxTestFile(f))
	f.Add(docxTestDocumentRels(f, docxTestPara("Heading1", "T")+`<w:tbl><w:tr>`+docxTestCell("x")+`</w:tr></w:tbl>`))
	f.Add(officeTestBomb(f, "word/document.xml"))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := DOCX{Limits: ZipLimits{MaxTotal: 8 << 20}}.Extract(context.Background(), extract.Source{Path: "f.docx", Data: data})
		if err != nil {
			if res != nil {
				t.Fatal("result with error")
			}
			if !strings.HasPrefix(err.Error(), "f.docx: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, b := range res.Blocks {
			if strings.TrimSpace(b.Text) == "" || !utf8.ValidString(b.Text) {
				t.Fatalf("bad block text %q", b.Text)
			}
		}
	})
}

func BenchmarkDOCX(b *testing.B) {
	var body strings.Builder
	for i := range 500 {
		if i%20 == 0 {
			body.WriteString(docxTestPara("Heading1", "Chapter"))
		}
		body.WriteString(docxTestPara("", "A paragraph of ordinary prose that goes on for a while, as paragraphs do."))
	}
	data := docxTestDocument(b, body.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := (DOCX{}).Extract(context.Background(), extract.Source{Path: "b.docx", Data: data}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDOCXLinkedImage: a picture linked to a file outside the document
// (TargetMode="External", by r:embed or r:link) is never read, and says so.
func TestDOCXLinkedImage(t *testing.T) {
	rels := officeTestXMLDecl + `<Relationships xmlns="` + officeTestPkgRels + `">` +
		`<Relationship Id="rId8" Type="` + officeTestRelType + `image" Target="file:///etc/secret.png" TargetMode="External"/>` +
		`<Relationship Id="rId9" Type="` + officeTestRelType + `image" Target="../../../secret.png" TargetMode="External"/>` +
		`</Relationships>`
	body := `<w:p>` + docxTestDrawing("rId8", "embedded link") + `</w:p>` +
		`<w:p>` + strings.Replace(docxTestDrawing("rId9", "linked"), "r:embed=", "r:link=", 1) + `</w:p>`
	data := officeTestZip(t,
		officeTestPart{"_rels/.rels", officeTestRels("rId1 officeDocument word/document.xml")},
		officeTestPart{"word/_rels/document.xml.rels", rels},
		officeTestPart{"word/document.xml", `<w:document ` + docxTestNS + `><w:body>` + body + `</w:body></w:document>`},
	)
	res, err := DOCX{}.Extract(context.Background(), extract.Source{Path: "linked.docx", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(res.Warnings, "\n")
	if len(res.Images) != 0 || !strings.Contains(all, `"file:///etc/secret.png" refused`) || !strings.Contains(all, `"../../../secret.png" refused`) {
		t.Errorf("images %d, warnings %q", len(res.Images), res.Warnings)
	}
}
