package csv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"mmrag/extract"
	"mmrag/extract/internal/extracttest"
)

func TestCSVExtract(t *testing.T) {
	tests := []struct {
		name, path, mime string
		comma            rune
		data             string
		wantDelim        string
		want             []string // block texts
		warn             string   // substring of a warning, "" for none
	}{
		{
			name: "comma", path: "people.csv", wantDelim: "comma",
			data: "name,age,city\nAlice,30,Paris\nBob,25,\"Rome, Italy\"\n",
			want: []string{"name | age | city\nAlice | 30 | Paris\nBob | 25 | Rome, Italy"},
		},
		{
			name: "semicolon with decimal commas", path: "de.csv", wantDelim: "semicolon",
			data: "Artikel;Preis;Menge\r\nÄpfel;1,99;3\r\nBirnen;2,49;10\r\n",
			want: []string{"Artikel | Preis | Menge\nÄpfel | 1,99 | 3\nBirnen | 2,49 | 10"},
		},
		{
			name: "tab by content", path: "data.txt", wantDelim: "tab",
			data: "a\tb\n1\t2\n3\t4\n",
			want: []string{"a | b\n1 | 2\n3 | 4"},
		},
		{
			name: "tab by extension", path: "one.tsv", wantDelim: "tab",
			data: "x,y\tz\n1,2\t3\n",
			want: []string{"x,y | z\n1,2 | 3"},
		},
		{
			name: "tab by MIME", path: "download", mime: "text/tab-separated-values; charset=utf-8", wantDelim: "tab",
			data: "k\tv\nx\t1,5\n",
			want: []string{"k | v\nx | 1,5"},
		},
		{
			name: "quoted newlines and quotes", path: "q.csv", wantDelim: "comma",
			data: "id,note\n1,\"line one\nline two\"\n2,\"say \"\"hi\"\"\"\n",
			want: []string{"id | note\n1 | line one line two\n2 | say \"hi\""},
		},
		{
			name: "BOM", path: "bom.csv", wantDelim: "comma",
			data: "\xef\xbb\xbfid,name\n1,x\n",
			want: []string{"id | name\n1 | x"},
		},
		{
			name: "UTF-16 with BOM (Excel Unicode text)", path: "u16.txt", wantDelim: "tab",
			data: extracttest.UTF16LE("\ufeffName\tCity\r\nZoë\tKöln\r\n"),
			want: []string{"Name | City\nZoë | Köln"},
		},
		{
			name: "Windows-1252", path: "latin.csv", wantDelim: "comma",
			data: "word,price\ncaf\xe9,\x805\n",
			want: []string{"word | price\ncafé | €5"},
			warn: "Windows-1252",
		},
		{
			name: "ragged rows are fitted", path: "r.csv", wantDelim: "comma",
			data: "a,b,c\n1,2\n3,4,5,6\n",
			want: []string{"a | b | c\n1 | 2 | \n3 | 4 | 5 6"},
			warn: "line 2: 2 fields, header has 3",
		},
		{
			name: "bare quote kept", path: "in.csv", wantDelim: "comma",
			data: "item,size\npipe,12\" long\nnut,3\n",
			want: []string{"item | size\npipe | 12\" long\nnut | 3"},
		},
		{
			name: "forced delimiter", path: "p.csv", comma: '|', wantDelim: "|",
			data: "a|b\n1|2\n",
			want: []string{"a | b\n1 | 2"},
		},
		{
			name: "single column", path: "s.csv", wantDelim: "comma",
			data: "word\nalpha\nbeta\n",
			want: []string{"word\nalpha\nbeta"},
		},
		{
			name: "empty", path: "e.csv", wantDelim: "comma",
			data: "\n\n", warn: "empty table",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := CSV{Comma: tt.comma}.Extract(context.Background(), extract.Source{Path: tt.path, MIME: tt.mime, Data: []byte(tt.data)})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range res.Blocks {
				if b.Kind != extract.Table {
					t.Errorf("block kind %s, want table", b.Kind)
				}
				got = append(got, b.Text)
			}
			if strings.Join(got, "\n---\n") != strings.Join(tt.want, "\n---\n") {
				t.Errorf("blocks\n%q\nwant\n%q", got, tt.want)
			}
			if res.Meta["delimiter"] != tt.wantDelim {
				t.Errorf("delimiter %q, want %q", res.Meta["delimiter"], tt.wantDelim)
			}
			w := strings.Join(res.Warnings, "\n")
			if (tt.warn == "") != (w == "") || !strings.Contains(w, tt.warn) {
				t.Errorf("warnings %q, want %q", res.Warnings, tt.warn)
			}
			if res.Type != "csv" || res.Title != csvTestBase(tt.path) {
				t.Errorf("type %q title %q", res.Type, res.Title)
			}
		})
	}
}

func csvTestBase(p string) string {
	if i := strings.LastIndexByte(p, '.'); i > 0 {
		return p[:i]
	}
	return p
}

func TestCSVLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("n,twice\n")
	for i := 1; i <= 95; i++ {
		fmt.Fprintf(&b, "%d,%d\n", i, 2*i)
	}
	res, err := CSV{}.Extract(context.Background(), extract.Source{Path: "n.csv", Data: []byte(b.String())})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blocks) != 3 || res.Meta["rows"] != "95" || res.Meta["columns"] != "2" {
		t.Fatalf("%d blocks meta %v", len(res.Blocks), res.Meta)
	}
	for _, bl := range res.Blocks {
		if !strings.HasPrefix(bl.Text, "n | twice\n") {
			t.Errorf("block without header: %q", bl.Text[:20])
		}
	}
}

func TestCSVBad(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"binary", "a,b\n\x00\x01\x02,\x03\n", "binary content"},
		{"PNG named csv", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := CSV{}.Extract(context.Background(), extract.Source{Path: "bad.csv", Data: []byte(tt.data)})
			if err == nil || res != nil || !strings.HasPrefix(err.Error(), "bad.csv: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("result %v error %v, want an error naming bad.csv and %q", res, err, tt.want)
			}
		})
	}
	// A malformed first record must not leave the table without a header.
	res, err := CSV{}.Extract(context.Background(), extract.Source{Path: "first.csv", Data: []byte("\"a,b\nc,d,e\n")})
	if err != nil {
		t.Fatalf("unterminated quote: %v", err)
	}
	for _, b := range res.Blocks {
		if !utf8.ValidString(b.Text) || b.Text == "" {
			t.Errorf("bad block %q", b.Text)
		}
	}
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("a,b,c\n1,2,3\n"), "f.csv")
	f.Add([]byte("\xef\xbb\xbfx;y\n\"q\n\"\"r\";2\n"), "f.csv")
	f.Add([]byte("a\tb\n1\n1\t2\t3\n"), "f.tsv")
	f.Add([]byte("\xff\xfea\x00,\x00b\x00\n\x00"), "f.csv")
	f.Add([]byte("\"a,b\nc,d,e\n"), "f.csv")
	f.Add([]byte("caf\xe9,\x80\n,,,\n"), "f.csv")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		res, err := CSV{}.Extract(context.Background(), extract.Source{Path: name, Data: data})
		if err != nil {
			if res != nil {
				t.Fatal("result with error")
			}
			return
		}
		cols := -1
		for _, b := range res.Blocks {
			if b.Text == "" || !utf8.ValidString(b.Text) || b.Kind != extract.Table {
				t.Fatalf("bad block %+v", b)
			}
			header, _, _ := strings.Cut(b.Text, "\n")
			if n := strings.Count(header, " | "); cols >= 0 && n != cols {
				t.Fatalf("blocks with different headers: %+v", res.Blocks)
			} else {
				cols = n
			}
		}
	})
}

func BenchmarkCSV(b *testing.B) {
	var s strings.Builder
	s.WriteString("id,name,amount,note\n")
	for i := range 10000 {
		fmt.Fprintf(&s, "%d,item %d,%d.50,\"quoted, with comma\"\n", i, i, i)
	}
	data := []byte(s.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := (CSV{}).Extract(context.Background(), extract.Source{Path: "b.csv", Data: data}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHugeFieldStopsEarly: a record whose one field passes the text limit
// stops the reader inside it (with a *TextLimitError) instead of being
// read whole first.
func TestHugeFieldStopsEarly(t *testing.T) {
	data := []byte("a,b\n1,\"" + strings.Repeat("x", 4<<20) + "\"\n")
	_, err := CSV{}.Extract(t.Context(), extract.Source{Path: "/big.csv", Data: data, MaxText: 1 << 20})
	var tl *extract.TextLimitError
	if !errors.As(err, &tl) {
		t.Fatalf("err %v, want a text limit error", err)
	}
	if tl.Read > 1<<20+guardSlack+64<<10 {
		t.Errorf("read %d bytes of the record before stopping, want about the limit (%d)", tl.Read, 1<<20)
	}
}
