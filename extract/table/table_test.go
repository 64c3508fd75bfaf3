package table

import (
	"reflect"
	"testing"

	"mmrag/extract"
)

func TestSplitter(t *testing.T) {
	rows := [][]string{{"h1", "h2"}}
	for i := range 5 {
		rows = append(rows, []string{"r" + string(rune('a'+i)), "x|y\nz"})
	}
	got := Splitter{MaxRows: 2}.Blocks(rows, extract.Place{Sheet: "S"})
	want := []string{
		"h1 | h2\nra | x/y z\nrb | x/y z",
		"h1 | h2\nrc | x/y z\nrd | x/y z",
		"h1 | h2\nre | x/y z",
	}
	var texts []string
	for _, b := range got {
		texts = append(texts, b.Text)
		if b.Kind != extract.Table || b.Sheet != "S" {
			t.Errorf("block %+v: want a Table in sheet S", b)
		}
	}
	if !reflect.DeepEqual(texts, want) {
		t.Errorf("blocks\n%q\nwant\n%q", texts, want)
	}
	if got := (Splitter{}).Blocks([][]string{{"only", "header"}}, extract.Place{}); len(got) != 1 || got[0].Text != "only | header" {
		t.Errorf("header-only table: %+v", got)
	}
}

func TestTrimRows(t *testing.T) {
	got := TrimRows([][]string{{"", "a", "", ""}, {"", "", " ", ""}, {"", "b", "c", "", ""}, {"", "d"}, {}})
	want := [][]string{{"a", ""}, {"b", "c"}, {"d", ""}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRow(t *testing.T) {
	tests := []struct {
		cells []string
		want  string
	}{
		{[]string{"a", "b c", ""}, "a | b c | "},
		{[]string{" lead", "trail ", "in  ner", "x|y", "line\nbreak", "tab\tbed"}, "lead | trail | in ner | x/y | line break | tab bed"},
		{[]string{"nbsp\u00a0here", "ünïcode", "  "}, "nbsp here | ünïcode | "},
	}
	for _, tt := range tests {
		if got := Row(tt.cells); got != tt.want {
			t.Errorf("Row(%q) = %q, want %q", tt.cells, got, tt.want)
		}
	}
}
