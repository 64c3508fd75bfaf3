package text

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"mmrag/extract"
	"mmrag/extract/internal/extracttest"
)

func TestText(t *testing.T) {
	utf16le := []byte{0xff, 0xfe}
	for _, r := range "Títle\n\nBody ✓" {
		utf16le = append(utf16le, byte(r), byte(r>>8))
	}
	long := strings.Repeat("word ", 30)
	tests := []struct {
		name      string
		data      []byte
		wantErr   string
		wantTitle string
		want      []extract.Block
		wantWarn  string
	}{
		{
			name:      "title line, paragraphs joined, CRLF, form feed",
			data:      []byte("My Notes\r\n\r\nFirst paragraph\r\nwraps here.\r\n  \t \r\nSecond\fThird   part.\n\n\n"),
			wantTitle: "My Notes",
			want: []extract.Block{
				{Kind: extract.Paragraph, Text: "First paragraph wraps here."},
				{Kind: extract.Paragraph, Text: "Second"},
				{Kind: extract.Paragraph, Text: "Third part."},
			},
		},
		{
			name:      "lists keep their lines",
			data:      []byte("Shopping\n\n- eggs\n-   milk\n* tea\n\n1. one\n2) two\n\n- not a list\nbecause this line is prose"),
			wantTitle: "Shopping",
			want: []extract.Block{
				{Kind: extract.List, Text: "- eggs\n- milk\n* tea"},
				{Kind: extract.List, Text: "1. one\n2) two"},
				{Kind: extract.Paragraph, Text: "- not a list because this line is prose"},
			},
		},
		{
			name:      "long first line is no title; first line of a paragraph stays in it",
			data:      []byte(long + "\n\nShort\nline two"),
			wantTitle: "",
			want:      []extract.Block{{Kind: extract.Paragraph, Text: strings.TrimSpace(long)}, {Kind: extract.Paragraph, Text: "Short line two"}},
		},
		{
			name:      "title inside the first paragraph is kept there",
			data:      []byte("Heading\nbody line"),
			wantTitle: "Heading",
			want:      []extract.Block{{Kind: extract.Paragraph, Text: "Heading body line"}},
		},
		{
			name:      "a single short line is both title and text",
			data:      []byte("hello world\n"),
			wantTitle: "hello world",
			want:      []extract.Block{{Kind: extract.Paragraph, Text: "hello world"}},
		},
		{
			name:      "UTF-16LE with BOM",
			data:      utf16le,
			wantTitle: "Títle",
			want:      []extract.Block{{Kind: extract.Paragraph, Text: "Body ✓"}},
		},
		{
			name:      "UTF-8 BOM",
			data:      []byte("\xef\xbb\xbfA\n\nB"),
			wantTitle: "A",
			want:      []extract.Block{{Kind: extract.Paragraph, Text: "B"}},
		},
		{
			name:      "Latin-1 fallback",
			data:      []byte("R\xe9sum\xe9\n\nna\xefve \x80 sign"),
			wantTitle: "Résumé",
			want:      []extract.Block{{Kind: extract.Paragraph, Text: "naïve € sign"}},
			wantWarn:  "decoded as Windows-1252",
		},
		{
			name:      "mostly UTF-8 keeps UTF-8",
			data:      []byte("Ünïcödé\n\nbad \xff byte"),
			wantTitle: "Ünïcödé",
			want:      []extract.Block{{Kind: extract.Paragraph, Text: "bad \uFFFD byte"}},
			wantWarn:  "invalid UTF-8 repaired",
		},
		{name: "empty", data: []byte("\n \n"), wantWarn: "empty document"},
		{name: "binary", data: []byte("\x7fELF\x02\x01\x01\x00\x00\x00"), wantErr: "x.txt: not text: binary content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Text{}.Extract(context.Background(), extract.Source{Path: "x.txt", Data: tt.data})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Type != "text" || res.Title != tt.wantTitle {
				t.Errorf("Type %q Title %q, want text %q", res.Type, res.Title, tt.wantTitle)
			}
			if !reflect.DeepEqual(res.Blocks, tt.want) {
				t.Errorf("blocks:\n got %s\nwant %s", extracttest.DumpBlocks(res.Blocks), extracttest.DumpBlocks(tt.want))
			}
			for _, b := range res.Blocks {
				if !utf8.ValidString(b.Text) {
					t.Errorf("invalid UTF-8 %q", b.Text)
				}
			}
			gotWarn := strings.Join(res.Warnings, "; ")
			if (tt.wantWarn == "") != (gotWarn == "") || !strings.Contains(gotWarn, tt.wantWarn) {
				t.Errorf("warnings %q, want %q", gotWarn, tt.wantWarn)
			}
		})
	}
}

func FuzzText(f *testing.F) {
	f.Add([]byte("My Notes\r\n\r\nFirst paragraph\r\nwraps here.\r\n  \t \r\nSecond\fThird   part.\n\n\n"))
	f.Add([]byte("Shopping\n\n- eggs\n-   milk\n* tea\n\n1. one\n2) two\n"))
	f.Add([]byte("\xff\xfeT\x00i\x00\n\x00\n\x00B\x00"))
	f.Add([]byte("R\xe9sum\xe9\n\nna\xefve \x80 sign"))
	f.Add([]byte("\x7fELF\x02\x01\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Text{}.Extract(context.Background(), extract.Source{Path: "f.txt", Data: data})
		if err != nil {
			if res != nil {
				t.Fatal("result with error")
			}
			if !strings.HasPrefix(err.Error(), "f.txt: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if res.Type != "text" || !utf8.ValidString(res.Title) || strings.Contains(res.Title, "\n") {
			t.Fatalf("type %q title %q", res.Type, res.Title)
		}
		for _, b := range res.Blocks {
			if b.Text == "" || b.Text != strings.TrimSpace(b.Text) || !utf8.ValidString(b.Text) ||
				(b.Kind == extract.Paragraph && strings.Contains(b.Text, "\n")) || (b.Kind != extract.Paragraph && b.Kind != extract.List) {
				t.Fatalf("bad block %+v", b)
			}
		}
	})
}
