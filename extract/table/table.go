// Package table renders rows of cells as Table blocks: "a | b | c" lines,
// grouped into blocks of a readable size with the header row repeated at the
// top of each, so that every block can be read alone. The CSV, DOCX, PPTX and
// XLSX extractors share it, and Budget, which stops a huge table as it is
// read.
package table

import (
	"strings"

	"mmrag/extract"
)

// Splitter groups rows into Table blocks of a readable size: the header row
// is repeated at the top of every block, so that each block can be read
// alone. Rows are rendered by Row. The zero value uses the defaults.
type Splitter struct {
	MaxRows  int // data rows per block; 0 means 40
	MaxChars int // characters per block; 0 means 1500
}

// Blocks renders rows, the first being the header, as blocks at place.
func (t Splitter) Blocks(rows [][]string, place extract.Place) []extract.Block {
	maxRows, maxChars := t.MaxRows, t.MaxChars
	if maxRows <= 0 {
		maxRows = 40
	}
	if maxChars <= 0 {
		maxChars = 1500
	}
	if len(rows) == 0 {
		return nil
	}
	header := Row(rows[0])
	if len(rows) == 1 {
		return []extract.Block{{Kind: extract.Table, Text: header, Place: place}}
	}
	var out []extract.Block
	var b strings.Builder
	n := 0
	flush := func() {
		if n > 0 {
			out = append(out, extract.Block{Kind: extract.Table, Text: b.String(), Place: place})
		}
		b.Reset()
		n = 0
	}
	for _, r := range rows[1:] {
		line := Row(r)
		if n > 0 && (n >= maxRows || b.Len()+1+len(line) > maxChars) {
			flush()
		}
		if n == 0 {
			b.WriteString(header)
		}
		b.WriteByte('\n')
		b.WriteString(line)
		n++
	}
	flush()
	return out
}

// Row renders one row: cells joined by " | ", each on one line, with its own
// pipes written as "/".
func Row(cells []string) string {
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteString(" | ")
		}
		if cleanCell(c) {
			b.WriteString(c)
			continue
		}
		// A cell's own line breaks and pipes would break the row format.
		c = strings.Join(strings.Fields(c), " ")
		b.WriteString(strings.ReplaceAll(c, "|", "/"))
	}
	return b.String()
}

// cleanCell reports a cell that Row can copy as it is: no pipe,
// no white space other than single inner spaces. Most cells are.
func cleanCell(c string) bool {
	prev := byte(' ')
	for i := 0; i < len(c); i++ {
		switch ch := c[i]; {
		case ch == '|', ch == '\t', ch == '\n', ch == '\r', ch == '\v', ch == '\f', ch >= 0x80:
			return false // U+0085, U+00A0 and other Unicode spaces take the slow path
		case ch == ' ' && prev == ' ':
			return false
		default:
			prev = ch
		}
	}
	return prev != ' ' || c == ""
}

// TrimRows drops empty rows and the empty columns at either side, so
// that sparse sheets and tables (a sheet whose data starts in column C) do
// not render as rows of pipes.
func TrimRows(rows [][]string) [][]string {
	first, width := -1, 0
	out := rows[:0:0]
	for _, r := range rows {
		lo, hi := -1, -1
		for i, c := range r {
			if strings.TrimSpace(c) != "" {
				if lo < 0 {
					lo = i
				}
				hi = i
			}
		}
		if hi < 0 {
			continue
		}
		if first < 0 || lo < first {
			first = lo
		}
		width = max(width, hi+1)
		out = append(out, r)
	}
	for i, r := range out {
		row := make([]string, width-first)
		if len(r) > first {
			copy(row, r[first:min(len(r), width)])
		}
		out[i] = row
	}
	return out
}

// Budget counts the text a table extractor produces against
// Source.MaxText, so that it can stop reading a huge table (millions of
// rows, or one huge field) before it is all in memory.
type Budget struct {
	Limit int64 // Source.MaxText; <= 0: no limit
	read  int64
}

// AddRow counts a row of cells as Row renders it (cells joined by " | ",
// one line end) and reports whether the text is still within the limit.
func (b *Budget) AddRow(cells []string) bool {
	n := int64(len(cells)) * 3 // " | " between cells, "\n" after the row
	for _, c := range cells {
		n += int64(len(c))
	}
	b.read += n
	return b.Limit <= 0 || b.read <= b.Limit
}

// Err is the error of a budget passed at where ("line 8123").
func (b *Budget) Err(where string) error {
	return &extract.TextLimitError{Limit: b.Limit, Read: b.read, At: where}
}
