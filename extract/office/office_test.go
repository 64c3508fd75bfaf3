package office

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"mmrag/extract"
	"mmrag/extract/csv"
)

// Fixtures for the Office extractors are written part by part with
// archive/zip: minimal packages that Word, PowerPoint and Excel open, so the
// tests exercise the XML the applications really write.

// officeTestPart is one member of a test package.
type officeTestPart struct {
	name string
	data string
}

// officeTestZip writes the parts, in order, into a zip archive.
func officeTestZip(t testing.TB, parts ...officeTestPart) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range parts {
		w, err := zw.Create(p.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(p.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const (
	officeTestXMLDecl = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
	officeTestRelNS   = `http://schemas.openxmlformats.org/officeDocument/2006/relationships`
	officeTestPkgRels = `http://schemas.openxmlformats.org/package/2006/relationships`
	officeTestRelType = `http://schemas.openxmlformats.org/officeDocument/2006/relationships/`
)

// officeTestRels writes a relationships part; each rel is "Id Type Target"
// with Type relative to the officeDocument relationship namespace.
func officeTestRels(rels ...string) string {
	var b strings.Builder
	b.WriteString(officeTestXMLDecl + `<Relationships xmlns="` + officeTestPkgRels + `">`)
	for _, r := range rels {
		f := strings.Fields(r)
		b.WriteString(`<Relationship Id="` + f[0] + `" Type="` + officeTestRelType + f[1] + `" Target="` + f[2] + `"/>`)
	}
	b.WriteString(`</Relationships>`)
	return b.String()
}

// officeTestContentTypes writes [Content_Types].xml with the given
// overrides ("/part content-type").
func officeTestContentTypes(overrides ...string) string {
	var b strings.Builder
	b.WriteString(officeTestXMLDecl + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>` +
		`<Default Extension="png" ContentType="image/png"/>`)
	for _, o := range overrides {
		f := strings.Fields(o)
		b.WriteString(`<Override PartName="` + f[0] + `" ContentType="` + f[1] + `"/>`)
	}
	b.WriteString(`</Types>`)
	return b.String()
}

func officeTestCore(title string) string {
	return officeTestXMLDecl + `<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" ` +
		`xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" ` +
		`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<dc:title>` + title + `</dc:title><dc:creator>Ada Lovelace</dc:creator>` +
		`<dcterms:created xsi:type="dcterms:W3CDTF">2024-03-01T10:00:00Z</dcterms:created>` +
		`</cp:coreProperties>`
}

// officeBlk builds an expected block; section elements are separated by " > ".
func officeBlk(kind extract.BlockKind, text, section string) extract.Block {
	b := extract.Block{Kind: kind, Text: text}
	if section != "" {
		b.Section = strings.Split(section, " > ")
	}
	return b
}

// officeTestBomb is a package whose document part declares 1 TiB.
func officeTestBomb(t testing.TB, part string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name:               part,
		Method:             zip.Store,
		CompressedSize64:   4,
		UncompressedSize64: 1 << 40,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("<a/>"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// officeTestDeflateBomb is a package whose part honestly inflates to n
// zero bytes: small compressed, large expanded.
func officeTestDeflateBomb(t testing.TB, part string, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, n))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// officeBadInputs are containers every OOXML extractor must refuse with an
// error naming the file and the reason.
func officeBadInputs(t *testing.T, good []byte, mainPart string) []struct {
	name, want string
	data       []byte
	limits     ZipLimits
	bomb       bool
} {
	t.Helper()
	return []struct {
		name, want string
		data       []byte
		limits     ZipLimits
		bomb       bool
	}{
		{name: "not a zip", want: "not a zip container", data: []byte("Just some text that someone named .docx\n")},
		{name: "empty", want: "not a zip container", data: nil},
		{name: "truncated", want: "not a zip container", data: good[:len(good)/2]},
		{name: "declared bomb", want: "zip bomb", data: officeTestBomb(t, mainPart), bomb: true},
		{name: "inflating bomb", want: "zip bomb", data: officeTestDeflateBomb(t, mainPart, 3<<20),
			limits: ZipLimits{MaxMember: 1 << 20}, bomb: true},
		{name: "ratio bomb", want: "zip bomb", data: officeTestDeflateBomb(t, mainPart, 4<<20), bomb: true},
		{name: "missing main part", want: "no " + mainPart,
			data: officeTestZip(t, officeTestPart{"[Content_Types].xml", officeTestContentTypes()})},
		{name: "main part not XML", want: mainPart,
			data: officeTestZip(t, officeTestPart{mainPart, "\x00\x01 binary junk <<<"})},
	}
}

func TestOfficeBadInput(t *testing.T) {
	extractors := []struct {
		name, file, main string
		x                func(ZipLimits) extract.Extractor
		good             []byte
	}{
		{"DOCX", "bad.docx", "word/document.xml", func(l ZipLimits) extract.Extractor { return DOCX{Limits: l} }, docxTestFile(t)},
		{"PPTX", "bad.pptx", "ppt/presentation.xml", func(l ZipLimits) extract.Extractor { return PPTX{Limits: l} }, pptxTestFile(t)},
		{"XLSX", "bad.xlsx", "xl/workbook.xml", func(l ZipLimits) extract.Extractor { return XLSX{Limits: l} }, xlsxTestFile(t)},
	}
	for _, x := range extractors {
		for _, tt := range officeBadInputs(t, x.good, x.main) {
			t.Run(x.name+"/"+tt.name, func(t *testing.T) {
				res, err := x.x(tt.limits).Extract(context.Background(), extract.Source{Path: x.file, Data: tt.data})
				if err == nil {
					t.Fatalf("no error; result %+v", res)
				}
				if res != nil {
					t.Error("result returned with the error")
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, x.file+": ") || !strings.Contains(msg, tt.want) {
					t.Errorf("error %q, want one naming %s and containing %q", msg, x.file, tt.want)
				}
				if tt.bomb != errors.Is(err, ErrZipBomb) {
					t.Errorf("errors.Is(err, ErrZipBomb) = %v, want %v", !tt.bomb, tt.bomb)
				}
			})
		}
	}
}

func TestOfficeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, x := range []extract.Extractor{DOCX{}, PPTX{}, XLSX{}, csv.CSV{}} {
		_, err := x.Extract(ctx, extract.Source{Path: "f", Data: docxTestFile(t)})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%T: error %v, want context.Canceled", x, err)
		}
	}
}

func TestOfficeResolve(t *testing.T) {
	tests := []struct{ dir, target, want string }{
		{"word/", "media/a.png", "word/media/a.png"},
		{"ppt/slides/", "../media/a.png", "ppt/media/a.png"},
		{"xl/", "/xl/worksheets/sheet1.xml", "xl/worksheets/sheet1.xml"},
		{"", "word/document.xml", "word/document.xml"},
		{"word/", "../../../etc/passwd", "etc/passwd"},
	}
	for _, tt := range tests {
		if got := ooxmlResolve(tt.dir, tt.target); got != tt.want {
			t.Errorf("ooxmlResolve(%q, %q) = %q, want %q", tt.dir, tt.target, got, tt.want)
		}
	}
}
