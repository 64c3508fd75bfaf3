// Package csv extracts CSV and TSV files as table blocks: the delimiter is
// sniffed, and the header row repeats at the top of every block.
package csv

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"

	"mmrag/extract"
	"mmrag/extract/table"
)

// CSV extracts delimited text tables (.csv, .tsv).
//
// The delimiter is comma, semicolon or tab: tab for .tsv files and the
// text/tab-separated-values type, else the one that splits the first lines
// into the most consistent number of fields. The first record is the
// header, repeated at the top of every Table block as for XLSX. Rows with
// the wrong number of fields are kept (padded to the header, or with the
// surplus joined into the last column) and reported in Warnings, as are rows
// that cannot be parsed, which are skipped; neither is fatal. Quotes inside unquoted fields are kept as text.
// UTF-8 and UTF-16 with a byte-order mark are decoded; other text that is not
// UTF-8 is read as Windows-1252.
//
// The zero value is ready to use.
type CSV struct {
	// Comma forces the delimiter; 0 means sniff it.
	Comma rune
}

const csvMaxWarnings = 10

// Extract implements Extractor.
func (x CSV) Extract(ctx context.Context, src extract.Source) (*extract.Result, error) {
	name := src.Name()
	if err := extract.Interrupted(ctx, name); err != nil {
		return nil, err
	}
	res := &extract.Result{Type: "csv", Title: src.FileTitle(), Meta: map[string]string{}}
	data := bytes.TrimPrefix(src.Data, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		// Excel's "Unicode Text" export: UTF-16 with a BOM, tab-separated.
		dec, err := xunicode.UTF16(xunicode.LittleEndian, xunicode.ExpectBOM).NewDecoder().Bytes(data)
		if err != nil {
			return nil, fmt.Errorf("%s: decode UTF-16: %w", name, err)
		}
		data = dec
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, fmt.Errorf("%s: not a text table: binary content", name)
	}
	if !utf8.Valid(data) {
		dec, err := charmap.Windows1252.NewDecoder().Bytes(data)
		if err != nil {
			return nil, fmt.Errorf("%s: decode as Windows-1252: %w", name, err)
		}
		data = dec
		res.Warnings = append(res.Warnings, "not UTF-8: read as Windows-1252")
	}
	comma := x.Comma
	if comma == 0 {
		comma = csvSniff(data, src)
	}
	res.Meta["delimiter"] = csvDelimName(comma)

	budget := table.Budget{Limit: src.MaxText}
	guard := &fieldGuard{data: data, src: bytes.NewReader(data), limit: src.MaxText}
	r := csv.NewReader(guard)
	guard.csv = r
	r.Comma = comma
	r.FieldsPerRecord = -1 // checked here against the header, to fit and report
	// Unescaped quotes inside fields (12" pipe) are common in exports;
	// keeping them beats dropping the row.
	r.LazyQuotes = true
	var rows [][]string
	var warns []string
	bad := 0
	for i := 0; ; i++ {
		if i%4096 == 0 {
			if err := extract.Interrupted(ctx, name); err != nil {
				return nil, err
			}
		}
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		switch {
		case err == nil:
		case errors.As(err, &pe):
			bad++
			if len(warns) < csvMaxWarnings {
				warns = append(warns, fmt.Sprintf("line %d: skipped: %v", pe.StartLine, pe.Err))
			}
			continue
		case errors.As(err, new(*extract.TextLimitError)):
			return nil, fmt.Errorf("%s: %w", name, err)
		default:
			return nil, fmt.Errorf("%s: at byte %d: %w", name, r.InputOffset(), err)
		}
		if len(rows) > 0 && len(rec) != len(rows[0]) {
			bad++
			if len(warns) < csvMaxWarnings {
				line, _ := r.FieldPos(0)
				warns = append(warns, fmt.Sprintf("line %d: %d fields, header has %d", line, len(rec), len(rows[0])))
			}
			rec = csvFit(rec, len(rows[0]))
		}
		if !budget.AddRow(rec) {
			line, _ := r.FieldPos(0)
			return nil, fmt.Errorf("%s: %w", name, budget.Err(fmt.Sprintf("line %d", line)))
		}
		rows = append(rows, rec)
	}
	res.Warnings = append(res.Warnings, warns...)
	if bad > len(warns) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d more malformed rows", bad-len(warns)))
	}
	rows = table.TrimRows(rows)
	if len(rows) == 0 {
		res.Warnings = append(res.Warnings, "empty table")
		return res, nil
	}
	res.Meta["rows"] = fmt.Sprint(len(rows) - 1)
	res.Meta["columns"] = fmt.Sprint(len(rows[0]))
	res.Blocks = table.Splitter{}.Blocks(rows, extract.Place{})
	return res, nil
}

// fieldGuard stops the CSV reader inside a record that alone passes the
// text limit: encoding/csv would otherwise hold the whole record (one
// 100 MB field took 700 MB) before the row's text could be counted.
type fieldGuard struct {
	data  []byte // all of the input, to tell the line a cut record starts on
	src   io.Reader
	csv   *csv.Reader
	limit int64 // Source.MaxText; <= 0: no limit
	read  int64
}

// guardSlack is read past the limit before a record is cut: quoting and
// delimiters make the input a little longer than the text it holds.
const guardSlack = 64 << 10

func (g *fieldGuard) Read(p []byte) (int, error) {
	if start := g.csv.InputOffset(); g.limit > 0 && g.read-start > g.limit+guardSlack {
		line := bytes.Count(g.data[:min(start, int64(len(g.data)))], []byte("\n")) + 1
		return 0, &extract.TextLimitError{Limit: g.limit, Read: g.read - start, At: fmt.Sprintf("line %d", line)}
	}
	n, err := g.src.Read(p)
	g.read += int64(n)
	return n, err
}

func csvFit(rec []string, n int) []string {
	if len(rec) > n {
		// Keep the surplus in the last column rather than lose it.
		last := strings.Join(rec[n-1:], " ")
		return append(rec[:n-1:n-1], last)
	}
	return append(rec, make([]string, n-len(rec))...)
}

// csvSniff picks the delimiter that gives the first lines the most
// consistent, largest field count. Quoted text is not counted.
func csvSniff(data []byte, src extract.Source) rune {
	ext := strings.ToLower(filepath.Ext(src.Path))
	if ext == ".tsv" || ext == ".tab" || strings.HasPrefix(src.MIME, "text/tab-separated-values") {
		return '\t'
	}
	sample := data[:min(len(data), 64<<10)]
	lines := csvLines(sample, 20)
	best, bestScore := ',', -1
	for _, c := range []rune{',', ';', '\t'} {
		counts := map[int]int{}
		for _, l := range lines {
			counts[csvCount(l, byte(c))]++
		}
		// The most frequent count among lines, weighted by how often it
		// occurs; a delimiter absent from every line scores zero.
		score := 0
		for n, k := range counts {
			if n > 0 && k*100+n > score {
				score = k*100 + n
			}
		}
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	return best
}

// csvLines splits the sample into up to n records, honouring quotes so a
// quoted newline does not end a line.
func csvLines(b []byte, n int) [][]byte {
	var out [][]byte
	start, quoted := 0, false
	for i := 0; i < len(b) && len(out) < n; i++ {
		switch b[i] {
		case '"':
			quoted = !quoted
		case '\n':
			if !quoted {
				if l := bytes.TrimRight(b[start:i], "\r"); len(l) > 0 {
					out = append(out, l)
				}
				start = i + 1
			}
		}
	}
	if len(out) < n && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

func csvCount(line []byte, c byte) int {
	n, quoted := 0, false
	for _, ch := range line {
		switch {
		case ch == '"':
			quoted = !quoted
		case ch == c && !quoted:
			n++
		}
	}
	return n
}

func csvDelimName(c rune) string {
	switch c {
	case ',':
		return "comma"
	case ';':
		return "semicolon"
	case '\t':
		return "tab"
	}
	return string(c)
}
