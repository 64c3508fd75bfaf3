package office

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"mmrag/extract"
)

const xlsxTestNS = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="` + officeTestRelNS + `"`

// xlsxTestStyles: cellXfs 0 General, 1 built-in date (14), 2 custom date
// and time, 3 percent (10), 4 custom text format with quoted date letters.
const xlsxTestStyles = officeTestXMLDecl + `<styleSheet ` + xlsxTestNS + `>` +
	`<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\-mm\-dd\ hh:mm"/><numFmt numFmtId="165" formatCode="&quot;days: &quot;0.0"/></numFmts>` +
	`<cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="164" applyNumberFormat="1"/>` +
	`<xf numFmtId="10" applyNumberFormat="1"/><xf numFmtId="165" applyNumberFormat="1"/></cellXfs></styleSheet>`

func xlsxTestSheet(rows string) string {
	return officeTestXMLDecl + `<worksheet ` + xlsxTestNS + `><dimension ref="A1:C4"/><sheetData>` + rows + `</sheetData></worksheet>`
}

// xlsxTestFile is a workbook of two sheets and a chart sheet.
func xlsxTestFile(t testing.TB) []byte {
	t.Helper()
	shared := officeTestXMLDecl + `<sst ` + xlsxTestNS + ` count="6" uniqueCount="6">` +
		`<si><t>Name</t></si><si><t>Date</t></si><si><t>Amount</t></si>` +
		`<si><r><rPr><b/></rPr><t>Ali</t></r><r><t>ce</t></r></si>` +
		`<si><t>Bob</t><rPh sb="0" eb="1"><t>ボブ</t></rPh></si><si><t xml:space="preserve">  spaced  </t></si></sst>`
	sheet1 := xlsxTestSheet(
		`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c></row>` +
			`<row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2" s="1"><v>45352</v></c><c r="C2"><v>0.30000000000000004</v></c></row>` +
			`<row r="4"><c r="A4" t="s"><v>4</v></c><c r="B4" s="2"><v>45352.75</v></c><c r="C4"><f>C2*2</f><v>1234567.5</v></c></row>`)
	sheet2 := xlsxTestSheet(
		`<row r="2"><c r="B2" t="inlineStr"><is><t>Metric</t></is></c><c r="C2" t="inlineStr"><is><t>Value</t></is></c></row>` +
			`<row r="3"><c r="B3" t="inlineStr"><is><t>Done</t></is></c><c r="C3" t="b"><v>1</v></c></row>` +
			`<row r="4"><c r="B4" t="inlineStr"><is><t>Share</t></is></c><c r="C4" s="3"><v>0.125</v></c></row>` +
			`<row r="5"><c r="B5" t="inlineStr"><is><t>Wait</t></is></c><c r="C5" s="4"><v>2.5</v></c></row>` +
			`<row r="6"><c r="B6" t="str"><f>"a"&amp;"b"</f><v>ab</v></c><c r="C6" t="e"><v>#DIV/0!</v></c></row>` +
			`<row r="7"><c r="B7" t="inlineStr"><is><t>noref1</t></is></c><c t="inlineStr"><is><t>noref2</t></is></c></row>`)
	return officeTestZip(t,
		officeTestPart{"[Content_Types].xml", officeTestContentTypes(
			"/xl/workbook.xml application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")},
		officeTestPart{"_rels/.rels", officeTestRels("rId1 officeDocument xl/workbook.xml")},
		officeTestPart{"xl/workbook.xml", officeTestXMLDecl + `<workbook ` + xlsxTestNS + `><workbookPr/><sheets>` +
			`<sheet name="Data" sheetId="1" r:id="rId1"/><sheet name="Chart1" sheetId="3" r:id="rId3"/><sheet name="Summary" sheetId="2" r:id="rId2"/>` +
			`</sheets></workbook>`},
		officeTestPart{"xl/_rels/workbook.xml.rels", officeTestRels(
			"rId1 worksheet worksheets/sheet1.xml", "rId2 worksheet worksheets/sheet2.xml",
			"rId3 chartsheet chartsheets/sheet1.xml",
			"rId4 sharedStrings sharedStrings.xml", "rId5 styles styles.xml")},
		officeTestPart{"xl/sharedStrings.xml", shared},
		officeTestPart{"xl/styles.xml", xlsxTestStyles},
		officeTestPart{"xl/worksheets/sheet1.xml", sheet1},
		officeTestPart{"xl/worksheets/sheet2.xml", sheet2},
		officeTestPart{"docProps/core.xml", officeTestCore("Budget 2024")},
	)
}

func TestXLSXExtract(t *testing.T) {
	res, err := XLSX{}.Extract(context.Background(), extract.Source{Path: "budget.xlsx", Data: xlsxTestFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != "xlsx" || res.Title != "Budget 2024" || res.Meta["sheets"] != "Data, Summary" {
		t.Errorf("type %q title %q meta %v", res.Type, res.Title, res.Meta)
	}
	want := []extract.Block{
		{Kind: extract.Table, Text: "Name | Date | Amount\nAlice | 2024-03-01 | 0.3\nBob | 2024-03-01 18:00:00 | 1234567.5",
			Place: extract.Place{Sheet: "Data", Page: 1}},
		{Kind: extract.Table, Text: "Metric | Value\nDone | TRUE\nShare | 12.5%\nWait | 2.5\nab | #DIV/0!\nnoref1 | noref2",
			Place: extract.Place{Sheet: "Summary", Page: 3}},
	}
	if !reflect.DeepEqual(res.Blocks, want) {
		t.Errorf("blocks:\n%+v\nwant:\n%+v", res.Blocks, want)
	}
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, `sheet "Chart1": not a worksheet`) {
		t.Errorf("warnings %q, want the chart sheet reported", res.Warnings)
	}
}

func TestXLSXLargeSheet(t *testing.T) {
	// Rows split into blocks that each repeat the header; a stray far
	// column is dropped with a warning.
	var rows strings.Builder
	rows.WriteString(`<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c><c r="B1" t="inlineStr"><is><t>square</t></is></c></row>`)
	for i := 2; i <= 101; i++ {
		fmt.Fprintf(&rows, `<row r="%d"><c r="A%d"><v>%d</v></c><c r="B%d"><v>%d</v></c></row>`, i, i, i-1, i, (i-1)*(i-1))
	}
	rows.WriteString(`<row r="102"><c r="XFD102"><v>1</v></c></row>`)
	data := officeTestZip(t,
		officeTestPart{"xl/workbook.xml", `<workbook ` + xlsxTestNS + `><sheets><sheet name="Big" r:id="rId1"/></sheets></workbook>`},
		officeTestPart{"xl/_rels/workbook.xml.rels", officeTestRels("rId1 worksheet worksheets/sheet1.xml")},
		officeTestPart{"xl/worksheets/sheet1.xml", xlsxTestSheet(rows.String())},
	)
	res, err := XLSX{}.Extract(context.Background(), extract.Source{Path: "big.xlsx", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blocks) != 3 {
		t.Fatalf("%d blocks, want 3 of at most 40 rows", len(res.Blocks))
	}
	n := 0
	for _, b := range res.Blocks {
		lines := strings.Split(b.Text, "\n")
		if lines[0] != "id | square" || b.Sheet != "Big" {
			t.Errorf("block starts %q in sheet %q", lines[0], b.Sheet)
		}
		n += len(lines) - 1
	}
	if n != 100 || !strings.HasSuffix(res.Blocks[2].Text, "\n100 | 10000") {
		t.Errorf("%d data rows, last block ends %q", n, res.Blocks[2].Text[len(res.Blocks[2].Text)-20:])
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "columns past 256") {
		t.Errorf("warnings %q", res.Warnings)
	}
}

func TestXLSXCells(t *testing.T) {
	tests := []struct {
		f    float64
		fmt  int
		code string
		want string
	}{
		{0.1 + 0.2, 0, "", "0.3"},
		{1e20, 0, "", "1e+20"},
		{-42, 0, "", "-42"},
		{45352, 14, "", "2024-03-01"},
		{45352.5, 22, "", "2024-03-01 12:00:00"},
		{0.75, 20, "", "18:00:00"},
		{1, 14, "", "1900-01-01"},
		{61, 14, "", "1900-03-01"},
		{45352, 164, "[$-409]d mmm yyyy;@", "2024-03-01"},
		{45352, 165, `"mm "0`, "45352"},
		{45352, 166, `[Red]0.00`, "45352"},
		{0.5, 9, "", "50%"},
		{45352, 14, "", "2024-03-01"},
	}
	for _, tt := range tests {
		w := &xlsxWalker{numFmts: []int{tt.fmt}, custom: map[int]string{tt.fmt: tt.code}}
		c := &xmlNode{Attr: nil, Kids: []*xmlNode{{Text: fmt.Sprint(tt.f)}}}
		c.Kids[0].Name.Local = "v"
		if got := w.cell(c); got != tt.want {
			t.Errorf("cell %v fmt %d %q = %q, want %q", tt.f, tt.fmt, tt.code, got, tt.want)
		}
	}
	// Date-1904 workbooks count from 1904-01-01.
	if s, _ := xlsxDate(0, true); s != "1904-01-01" {
		t.Errorf("1904 epoch: %q", s)
	}
}

func BenchmarkXLSX(b *testing.B) {
	var rows strings.Builder
	for i := 1; i <= 10000; i++ {
		fmt.Fprintf(&rows, `<row r="%d"><c r="A%d" t="inlineStr"><is><t>item %d</t></is></c><c r="B%d"><v>%d.25</v></c><c r="C%d" s="1"><v>%d</v></c></row>`,
			i, i, i, i, i, i, 45000+i)
	}
	data := officeTestZip(b,
		officeTestPart{"xl/workbook.xml", `<workbook ` + xlsxTestNS + `><sheets><sheet name="Big" r:id="rId1"/></sheets></workbook>`},
		officeTestPart{"xl/_rels/workbook.xml.rels", officeTestRels("rId1 worksheet worksheets/sheet1.xml", "rId2 styles styles.xml")},
		officeTestPart{"xl/styles.xml", xlsxTestStyles},
		officeTestPart{"xl/worksheets/sheet1.xml", xlsxTestSheet(rows.String())},
	)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := (XLSX{}).Extract(context.Background(), extract.Source{Path: "b.xlsx", Data: data}); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzXLSX(f *testing.F) {
	f.Add(xlsxTestFile(f))
	f.Add(officeTestZip(f,
		officeTestPart{"xl/workbook.xml", `<workbook ` + xlsxTestNS + `><workbookPr date1904="1"/><sheets><sheet name="S" r:id="rId1"/></sheets></workbook>`},
		officeTestPart{"xl/_rels/workbook.xml.rels", officeTestRels("rId1 worksheet worksheets/sheet1.xml", "rId2 styles styles.xml")},
		officeTestPart{"xl/styles.xml", xlsxTestStyles},
		officeTestPart{"xl/worksheets/sheet1.xml", xlsxTestSheet(
			`<row r="1"><c r="A1" t="inlineStr"><is><t>h</t></is></c><c r="B1" s="2"><v>1.5</v></c></row>` +
				`<row><c r="XFD2"><v>1</v></c><c t="s"><v>7</v></c></row>`)},
	))
	f.Add(officeTestBomb(f, "xl/workbook.xml"))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := XLSX{Limits: ZipLimits{MaxTotal: 8 << 20}}.Extract(context.Background(), extract.Source{Path: "f.xlsx", Data: data})
		if err != nil {
			if res != nil {
				t.Fatal("result with error")
			}
			if !strings.HasPrefix(err.Error(), "f.xlsx: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if res.Type != "xlsx" {
			t.Fatalf("type %q", res.Type)
		}
		for _, b := range res.Blocks {
			if strings.TrimSpace(b.Text) == "" || !utf8.ValidString(b.Text) || b.Kind != extract.Table || b.Page < 1 {
				t.Fatalf("bad block %+v", b)
			}
		}
	})
}
