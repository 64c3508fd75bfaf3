package ingest

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mmrag/extract"
	"mmrag/extract/office"
)

// manyImages is an extractor for which a file of n lines is n images.
type manyImages struct{ png []byte }

func (x manyImages) Extract(_ context.Context, src extract.Source) (*extract.Result, error) {
	res := &extract.Result{Type: "text", Blocks: []extract.Block{{Kind: extract.Paragraph, Text: "a page of figures"}}}
	for range strings.Count(string(src.Data), "\n") {
		res.Images = append(res.Images, extract.Image{Data: x.png, MIME: "image/png"})
	}
	return res, nil
}

// csvRows is a CSV of a header and n rows.
func csvRows(n int) string {
	var b strings.Builder
	b.WriteString("name,value,comment\n")
	for i := range n {
		fmt.Fprintf(&b, "row%d,%d,%s\n", i, i*7, para(fmt.Sprintf("r%dw", i), 6))
	}
	return b.String()
}

// xlsxRows is a one-sheet workbook of a header and n rows.
func xlsxRows(t testing.TB, n int) string {
	t.Helper()
	const ns = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	var sheet strings.Builder
	sheet.WriteString(`<worksheet ` + ns + `><sheetData>`)
	sheet.WriteString(`<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c><c r="B1" t="inlineStr"><is><t>value</t></is></c></row>`)
	for i := 2; i <= n+1; i++ {
		fmt.Fprintf(&sheet, `<row r="%d"><c r="A%d" t="inlineStr"><is><t>%s</t></is></c><c r="B%d"><v>%d</v></c></row>`, i, i, para(fmt.Sprintf("x%dw", i), 5), i, i)
	}
	sheet.WriteString(`</sheetData></worksheet>`)
	parts := []struct{ name, body string }{
		{"xl/workbook.xml", `<workbook ` + ns + `><sheets><sheet name="Rows" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`},
		{"xl/worksheets/sheet1.xml", sheet.String()},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range parts {
		w, err := zw.Create(p.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, p.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestLimits ingests a folder in which one file is over a limit: that file
// fails, before anything of it is embedded, with an error naming what was
// counted, the limit and the flag; the others are stored.
func TestLimits(t *testing.T) {
	huge := "id,blob\n1,\"" + strings.Repeat("x", 3<<20) + "\"\n"
	tests := []struct {
		name    string
		file    string // the file over the limit
		content string
		limits  Limits
		what    string // LimitError.What
		flag    string
		atLeast bool // the extractor stopped reading
	}{
		{name: "csv huge field", file: "huge.csv", content: huge, limits: Limits{MaxTextBytes: 1 << 20},
			what: "bytes of text", flag: "max-text-bytes", atLeast: true},
		{name: "csv many rows, text", file: "rows.csv", content: csvRows(3000), limits: Limits{MaxTextBytes: 64 << 10},
			what: "bytes of text", flag: "max-text-bytes", atLeast: true},
		{name: "csv many rows, chunks", file: "rows.csv", content: csvRows(3000), limits: Limits{MaxChunks: 50},
			what: "chunks", flag: "max-chunks"},
		{name: "xlsx many rows, text", file: "rows.xlsx", content: xlsxRows(t, 3000), limits: Limits{MaxTextBytes: 64 << 10},
			what: "bytes of text", flag: "max-text-bytes", atLeast: true},
		{name: "xlsx many rows, chunks", file: "rows.xlsx", content: xlsxRows(t, 3000), limits: Limits{MaxChunks: 50},
			what: "chunks", flag: "max-chunks"},
		{name: "markdown text", file: "long.md", content: strings.Repeat(para("word", 40)+"\n\n", 500), limits: Limits{MaxTextBytes: 64 << 10},
			what: "bytes of text", flag: "max-text-bytes"},
		{name: "images", file: "figures.figs", content: strings.Repeat("figure\n", 30), limits: Limits{MaxImages: 20},
			what: "images", flag: "max-images"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{
				"a.md":     "# Alpha\n\n" + para("alpha", 20) + "\n",
				"b.csv":    "k,v\nx,1\ny,2\n",
				"z.md":     "# Zulu\n\n" + para("zulu", 20) + "\n",
				tt.file:    tt.content,
				"c.figs":   "one figure\n",
				"sub/d.md": "# Delta\n\n" + para("delta", 8) + "\n",
			})
			emb := newFake()
			p := newPipeline(t, emb)
			p.Extractors[TypeText] = manyImages{png: pngBytes(t, 1, 8, 8)}
			p.Extractors[TypeXLSX] = office.XLSX{}
			p.Limits = tt.limits
			start := time.Now()
			rep, err := p.Add(ctx, []string{dir}, WalkOptions{Include: []string{"*.md", "*.csv", "*.figs", "*.xlsx"}})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Failed != 1 || rep.Added != 5 {
				t.Fatalf("%+v, want the other 5 files added and %s failed", rep, tt.file)
			}
			if got := sources(t, p.Store, dir); slices.Contains(got, tt.file) {
				t.Errorf("stored %v", got)
			}
			fe := rep.Errors[0]
			var le *LimitError
			if !errors.As(fe, &le) || !errors.Is(fe, ErrTooLarge) {
				t.Fatalf("error %v (%T), want a *LimitError wrapping ErrTooLarge", fe.Err, fe.Err)
			}
			if le.What != tt.what || le.Flag != tt.flag || le.AtLeast != tt.atLeast {
				t.Errorf("%+v", le)
			}
			msg := fe.Error()
			for _, want := range []string{filepath.Join(dir, tt.file) + ": ", tt.what, fmt.Sprint(le.Limit), "--" + tt.flag} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			texts, _ := emb.take()
			for _, s := range texts {
				if strings.Contains(s, "xxxxxxxx") || strings.Contains(s, "row2999") || strings.Contains(s, "x3000w") || strings.Contains(s, "word00 word01") {
					t.Fatalf("embedded a text of the file over the limit: %.60q", s)
				}
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v", d)
			}

			// -1 lifts the limit.
			p.Limits = Limits{MaxTextBytes: -1, MaxChunks: -1, MaxImages: -1}
			if tt.file == "huge.csv" { // 3 MB of one word: about 100 000 chunks, slow to chunk and embed
				return
			}
			rep, err = p.Add(ctx, []string{filepath.Join(dir, tt.file)}, WalkOptions{})
			if err != nil || rep.Added != 1 {
				t.Errorf("without limits: %v %+v", err, rep)
			}
		})
	}
}

// TestDefaultLimits: a CSV with one field larger than the default text limit
// fails in seconds, without chunking it into a million items.
func TestDefaultLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 65 MiB file")
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "huge.csv"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "id,blob\n1,\"")
	chunk := strings.Repeat("lorem ipsum ", 1<<16)
	for range (DefaultMaxTextBytes + 1<<20) / len(chunk) {
		f.WriteString(chunk)
	}
	fmt.Fprint(f, "\"\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"ok.md": "# Fine\n\n" + para("fine", 10) + "\n"})

	emb := newFake()
	p := newPipeline(t, emb)
	start := time.Now()
	rep, err := p.Add(t.Context(), []string{dir}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var le *LimitError
	if rep.Added != 1 || rep.Failed != 1 || !errors.As(rep.Errors[0], &le) || le.Limit != DefaultMaxTextBytes {
		t.Fatalf("%+v", rep)
	}
	if texts, _ := emb.take(); len(texts) != 1 {
		t.Errorf("%d texts embedded, want the one of ok.md", len(texts))
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v", d)
	}
	t.Logf("%v in %v", rep.Errors[0], time.Since(start))
}

// TestProgressInFile checks the events inside one file: Started, Extracted,
// Chunked, Embedding n/N up to N, then Added; and that warnings reach the
// Report.
func TestProgressInFile(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("# Big\n\n")
	for i := range 40 {
		fmt.Fprintf(&b, "%s\n\n", para(fmt.Sprintf("p%d", i), 20))
	}
	writeFiles(t, dir, map[string]string{
		"big.md":     b.String(),
		"ragged.csv": "a,b\n1,2,3\n",
	})
	p := newPipeline(t, newFake())
	p.TextBatch = 8
	var log eventLog
	p.Progress = log.add
	rep, err := p.Add(t.Context(), []string{dir}, WalkOptions{})
	if err != nil || rep.Added != 2 {
		t.Fatalf("%v %+v", err, rep)
	}

	big := filepath.Join(dir, "big.md")
	var kinds []EventKind
	var done []int
	total := 0
	for _, e := range log.events {
		if e.Source != big {
			continue
		}
		if len(kinds) == 0 || kinds[len(kinds)-1] != e.Kind {
			kinds = append(kinds, e.Kind)
		}
		switch e.Kind {
		case Extracted:
			if e.TextBytes < int64(b.Len())/2 || e.Images != 0 {
				t.Errorf("extracted: %+v", e)
			}
		case Chunked:
			total = e.Total
			if e.Items < 40 || e.Total != e.Items {
				t.Errorf("chunked: %+v", e)
			}
		case Embedding:
			if e.Total != total {
				t.Errorf("embedding: %+v, total %d", e, total)
			}
			done = append(done, e.Done)
		}
	}
	if want := []EventKind{Started, Extracted, Chunked, Embedding, Added}; !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v", kinds, want)
	}
	if len(done) < total/8 || !slices.IsSorted(done) || done[len(done)-1] != total {
		t.Errorf("embedding done %v of %d", done, total)
	}

	// Warnings reach the Report, not only Progress.
	if rep.Warnings != 1 || len(rep.WarningList) != 1 || rep.WarningList[0].Source != filepath.Join(dir, "ragged.csv") ||
		!strings.Contains(rep.WarningList[0].Message, "3 fields, header has 2") {
		t.Errorf("warnings %d %v", rep.Warnings, rep.WarningList)
	}
	if rep.Bytes != int64(b.Len())+int64(len("a,b\n1,2,3\n")) {
		t.Errorf("bytes %d: in-file events counted", rep.Bytes)
	}
}
