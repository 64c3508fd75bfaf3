package ingest

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"
)

func TestChunkingOf(t *testing.T) {
	for _, tc := range []struct{ typ, want string }{
		{TypePDF, "max=1 layout=regions"},
		{"markdown", "max=1"},
		{"", "max=1"},
	} {
		if got := chunkingOf("max=1", tc.typ); got != tc.want {
			t.Errorf("chunkingOf(%q) = %q, want %q", tc.typ, got, tc.want)
		}
	}
}

// TestLayoutReextracts: a PDF stored before its passages had page regions
// (its chunking value lacks the layout) is extracted again on the next
// ingest although its bytes did not change; a Markdown file is not.
func TestLayoutReextracts(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	pdf := fpdf.New("P", "pt", "A4", "")
	pdf.AddPage()
	pdf.SetFont("Helvetica", "", 12)
	pdf.MultiCell(400, 16, strings.Repeat("Regions mark where a passage sits on its page. ", 8), "", "L", false)
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"a.pdf": buf.String(), "b.md": "# Bee\n\n" + para("bravo", 10) + "\n"})
	p := newPipeline(t, newFake())
	if rep, err := p.Add(ctx, []string{dir}, WalkOptions{}); err != nil || rep.Added != 2 {
		t.Fatalf("first ingest: %+v, %v", rep, err)
	}
	doc, err := p.Store.DocumentBySource(ctx, filepath.Join(dir, "a.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Meta[MetaChunking]; !strings.HasSuffix(got, " layout=regions") {
		t.Fatalf("PDF stored with chunking %q", got)
	}
	// Make the stored PDF look as an older mmrag stored it.
	items, err := p.Store.Items(ctx, doc.ID)
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := p.Store.DocumentVectors(ctx, doc.ID)
	if err != nil {
		t.Fatal(err)
	}
	doc.Meta[MetaChunking] = p.chunking()
	if err := p.Store.PutDocument(ctx, doc, items, vecs, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := p.Add(ctx, []string{dir}, WalkOptions{})
	if err != nil || rep.Updated != 1 || rep.Unchanged != 1 {
		t.Fatalf("second ingest: %+v, %v; want the PDF updated and the Markdown unchanged", rep, err)
	}
}
