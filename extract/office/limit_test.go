package office

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"mmrag/extract"
	"mmrag/extract/csv"
)

// xlsxTestRows is a one-sheet workbook of n rows of two cells.
func xlsxTestRows(t testing.TB, n int) []byte {
	t.Helper()
	var rows strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&rows, `<row r="%d"><c r="A%d" t="inlineStr"><is><t>row %d</t></is></c><c r="B%d"><v>%d</v></c></row>`, i, i, i, i, i)
	}
	return officeTestZip(t,
		officeTestPart{"xl/workbook.xml", `<workbook ` + xlsxTestNS + `><sheets><sheet name="Rows" r:id="rId1"/></sheets></workbook>`},
		officeTestPart{"xl/_rels/workbook.xml.rels", officeTestRels("rId1 worksheet worksheets/sheet1.xml")},
		officeTestPart{"xl/worksheets/sheet1.xml", xlsxTestSheet(rows.String())},
	)
}

// csvTestRows is a CSV of a header and n rows.
func csvTestRows(n int) []byte {
	var b strings.Builder
	b.WriteString("name,value\n")
	for i := range n {
		fmt.Fprintf(&b, "row %d,%d\n", i, i)
	}
	return []byte(b.String())
}

// TestTextLimit checks that the table extractors stop reading once their
// text passes Source.MaxText, and read everything under it.
func TestTextLimit(t *testing.T) {
	huge := "id,blob\n1,\"" + strings.Repeat("x", 4<<20) + "\"\n2,small\n"
	tests := []struct {
		name    string
		x       extract.Extractor
		path    string
		data    []byte
		max     int64
		wantErr bool
		at      string // where reading stopped
	}{
		{name: "csv one huge field", x: csv.CSV{}, path: "huge.csv", data: []byte(huge), max: 1 << 20, wantErr: true, at: "line 2"},
		{name: "csv huge field, no limit", x: csv.CSV{}, path: "huge.csv", data: []byte(huge)},
		{name: "csv many rows", x: csv.CSV{}, path: "rows.csv", data: csvTestRows(20000), max: 64 << 10, wantErr: true, at: "line "},
		{name: "csv rows under the limit", x: csv.CSV{}, path: "rows.csv", data: csvTestRows(200), max: 64 << 10},
		{name: "xlsx many rows", x: XLSX{}, path: "rows.xlsx", data: xlsxTestRows(t, 20000), max: 64 << 10, wantErr: true, at: `sheet "Rows" row `},
		{name: "xlsx rows under the limit", x: XLSX{}, path: "rows.xlsx", data: xlsxTestRows(t, 200), max: 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.x.Extract(context.Background(), extract.Source{Path: tt.path, Data: tt.data, MaxText: tt.max})
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Blocks) == 0 {
					t.Fatal("no blocks")
				}
				return
			}
			var tl *extract.TextLimitError
			if !errors.As(err, &tl) {
				t.Fatalf("error %v, want a *TextLimitError", err)
			}
			if tl.Limit != tt.max || tl.Read <= tt.max || tl.Read > tt.max+(4<<20)+64 || !strings.Contains(tl.At, tt.at) {
				t.Errorf("%+v", tl)
			}
			if !strings.HasPrefix(err.Error(), tt.path+": ") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
