package ingest

import (
	"archive/zip"
	"bytes"
	"testing"
)

func TestDetect(t *testing.T) {
	png := pngBytes(t, 3, 4, 4)
	var docx bytes.Buffer
	zw := zip.NewWriter(&docx)
	for _, name := range []string{"[Content_Types].xml", "word/document.xml"} {
		w, _ := zw.Create(name)
		w.Write([]byte("<x/>"))
	}
	zw.Close()
	garbage := []byte{0x00, 0x01, 0xfe, 0x9c, 0x13, 0x37, 0x00, 0xff, 0x42}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"a.html", []byte("<!DOCTYPE html><html><body><p>x</p></body></html>"), TypeHTML},
		{"saved.txt", []byte("<!DOCTYPE html><html><body><p>x</p></body></html>"), TypeHTML},
		{"a.md", []byte("# Title\n\ntext\n"), TypeMarkdown},
		{"a.md", []byte("<div align=center><img src=x.png></div>\n\n# Title\n"), TypeMarkdown},
		{"README.markdown", []byte("text"), TypeMarkdown},
		{"notes.txt", []byte("just text\n"), TypeText},
		{"LICENSE", []byte("Permission is hereby granted\n"), TypeText},
		{"a.csv", []byte("a,b\n1,2\n"), TypeCSV},
		{"a.tsv", []byte("a\tb\n1\t2\n"), TypeCSV},
		{"a.pdf", []byte("%PDF-1.7\n1 0 obj\n"), TypePDF},
		{"no-extension", []byte("%PDF-1.4\n"), TypePDF},
		{"garbage.pdf", garbage, TypePDF}, // the PDF extractor will say what is wrong
		{"garbage.bin", garbage, ""},
		{"pic.jpg", png, TypeImage}, // content wins over the extension
		{"pic", png, TypeImage},
		{"doc.docx", docx.Bytes(), TypeDOCX},
		{"data.json", []byte(`{"a": 1}`), ""},
		{"main.py", []byte("#!/usr/bin/env python\nprint(1)\n"), ""},
		{"drawing.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`), ""},
		{"song.mp3", []byte("ID3\x03\x00\x00\x00\x00\x00\x00"), TypeMedia},
		{"https://example.com/post.md", []byte("# Post\n"), TypeMarkdown},
		{"https://example.com/page?x=1", []byte("<html><body>x</body></html>"), TypeHTML},
	}
	for _, tc := range tests {
		if got := Detect(tc.name, tc.data); got != tc.want {
			t.Errorf("Detect(%q, %.12q) = %q, want %q", tc.name, tc.data, got, tc.want)
		}
	}
}

func BenchmarkDetect(b *testing.B) {
	data := bytes.Repeat([]byte("Some plain prose, repeated. "), 200)
	for b.Loop() {
		Detect("notes.txt", data)
	}
}
