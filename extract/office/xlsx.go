package office

import (
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"mmrag/extract"
	"mmrag/extract/table"
)

// XLSX extracts Excel workbooks (Office Open XML, .xlsx and .xlsm).
//
// Each worksheet becomes Table blocks whose first line is the sheet's first
// non-empty row (taken as the header) repeated in every block; a block holds
// at most 40 data rows or about 1500 characters. Place.Sheet is the sheet
// name and Place.Page its 1-based position in the workbook. Cells show their
// stored value: shared and inline strings, numbers without float noise,
// booleans as TRUE/FALSE, and numbers under a date or percent format as
// dates ("2024-03-01", with the time when there is one) or percentages.
// Formulas are not evaluated; their cached value is used. Chart sheets and
// columns past MaxColumns are skipped with a warning.
//
// The zero value is ready to use.
type XLSX struct {
	// Limits bound the decompression of the container; zero means defaults.
	Limits ZipLimits
	// MaxColumns caps the columns read per sheet; 0 means 256. A stray
	// value in column XFD must not widen every row to 16384 cells.
	MaxColumns int
}

// Extract implements Extractor.
func (x XLSX) Extract(ctx context.Context, src extract.Source) (*extract.Result, error) {
	doc, err := openDocument(ctx, src, x.Limits, "xl/workbook.xml", "an Excel workbook")
	if err != nil {
		return nil, err
	}
	name := doc.name
	wb, err := xlsxReadWorkbook(doc.data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", name, doc.main, err)
	}
	res := doc.result("xlsx")
	w := &xlsxWalker{pkg: doc.pkg, res: res, date1904: wb.date1904, maxCols: x.MaxColumns, budget: table.Budget{Limit: src.MaxText}}
	if w.maxCols <= 0 {
		w.maxCols = 256
	}
	for _, r := range doc.rels {
		switch {
		case r.External:
		case strings.HasSuffix(r.Type, "/sharedStrings"):
			if err := w.loadStrings(r.Target); err != nil {
				return nil, err
			}
		case strings.HasSuffix(r.Type, "/styles"):
			w.loadStyles(r.Target)
		}
	}
	var names []string
	for i, sh := range wb.sheets {
		if err := extract.Interrupted(ctx, name); err != nil {
			return nil, err
		}
		rel, ok := doc.rels[sh.rid]
		if !ok || rel.External {
			res.Warnings = append(res.Warnings, fmt.Sprintf("sheet %q: no part", sh.name))
			continue
		}
		if !strings.HasSuffix(rel.Type, "/worksheet") {
			res.Warnings = append(res.Warnings, fmt.Sprintf("sheet %q: not a worksheet (%s), skipped", sh.name, rel.Type[strings.LastIndexByte(rel.Type, '/')+1:]))
			continue
		}
		names = append(names, sh.name)
		rows, err := w.sheet(ctx, rel.Target, sh.name)
		if err != nil {
			var tl *extract.TextLimitError
			if errors.As(err, &tl) {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if errors.Is(err, ErrZipBomb) || ctx.Err() != nil {
				return nil, err
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("sheet %q: %v", sh.name, err))
		}
		rows = table.TrimRows(rows)
		res.Blocks = append(res.Blocks, table.Splitter{}.Blocks(rows, extract.Place{Sheet: sh.name, Page: i + 1})...)
	}
	res.Meta["sheets"] = strings.Join(names, ", ")
	if res.Title == "" {
		res.Title = src.FileTitle()
	}
	if len(res.Blocks) == 0 {
		res.Warnings = append(res.Warnings, "empty workbook")
	}
	return res, nil
}

type xlsxSheetRef struct {
	name, rid string
}

type xlsxWorkbook struct {
	sheets   []xlsxSheetRef
	date1904 bool
}

func xlsxReadWorkbook(data []byte) (xlsxWorkbook, error) {
	var wb xlsxWorkbook
	d := xmlDecoder(data)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return wb, nil
		}
		if err != nil {
			return wb, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		n := &xmlNode{Name: se.Name, Attr: se.Attr}
		switch se.Name.Local {
		case "workbookPr":
			v := n.attr("date1904")
			wb.date1904 = v == "1" || v == "true"
		case "sheet":
			wb.sheets = append(wb.sheets, xlsxSheetRef{name: n.attr("name"), rid: n.relAttr("id")})
		}
	}
}

type xlsxWalker struct {
	pkg      *ooxmlPackage
	res      *extract.Result
	strings  []string
	numFmts  []int          // cellXfs index → numFmtId
	custom   map[int]string // numFmtId → format code
	date1904 bool
	maxCols  int
	budget   table.Budget // text of the rows read, over every sheet
}

func (w *xlsxWalker) loadStrings(part string) error {
	data, err := w.pkg.readPart(part)
	if err != nil {
		if errors.Is(err, ErrZipBomb) {
			return err
		}
		w.res.Warnings = append(w.res.Warnings, fmt.Sprintf("shared strings: %v", err))
		return nil
	}
	d := xmlDecoder(data)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			w.res.Warnings = append(w.res.Warnings, fmt.Sprintf("shared strings: %v", err))
			return nil
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "si" {
			continue
		}
		n, err := xmlTree(d, se)
		if err != nil {
			w.res.Warnings = append(w.res.Warnings, fmt.Sprintf("shared strings: %v", err))
			return nil
		}
		w.strings = append(w.strings, xlsxText(n))
	}
}

// xlsxText joins the t elements of a string item, leaving out phonetic runs.
func xlsxText(n *xmlNode) string {
	var b strings.Builder
	n.walk(func(k *xmlNode) bool {
		switch k.Name.Local {
		case "rPh", "phoneticPr":
			return false
		case "t":
			b.WriteString(k.Text)
		}
		return true
	})
	return b.String()
}

func (w *xlsxWalker) loadStyles(part string) {
	data, err := w.pkg.readPart(part)
	if err != nil {
		w.res.Warnings = append(w.res.Warnings, fmt.Sprintf("styles: %v", err))
		return
	}
	var doc struct {
		NumFmts []struct {
			ID   int    `xml:"numFmtId,attr"`
			Code string `xml:"formatCode,attr"`
		} `xml:"numFmts>numFmt"`
		Xfs []struct {
			NumFmt int `xml:"numFmtId,attr"`
		} `xml:"cellXfs>xf"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		w.res.Warnings = append(w.res.Warnings, fmt.Sprintf("styles: %v", err))
		return
	}
	w.custom = map[int]string{}
	for _, f := range doc.NumFmts {
		w.custom[f.ID] = f.Code
	}
	for _, x := range doc.Xfs {
		w.numFmts = append(w.numFmts, x.NumFmt)
	}
}

// sheet streams one worksheet's rows. Rows come back dense; empty rows
// between sparse ones are not materialised.
func (w *xlsxWalker) sheet(ctx context.Context, part, sheetName string) ([][]string, error) {
	data, err := w.pkg.readPart(part)
	if err != nil {
		return nil, err
	}
	d := xmlDecoder(data)
	var rows [][]string
	dropped := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if dropped {
				w.res.Warnings = append(w.res.Warnings, fmt.Sprintf("sheet %q: columns past %d skipped", sheetName, w.maxCols))
			}
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "row" {
			continue
		}
		if len(rows)%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return rows, err
			}
		}
		n, err := xmlTree(d, se)
		if err != nil {
			return rows, err
		}
		var row []string
		next := 0
		for _, c := range n.Kids {
			if c.Name.Local != "c" {
				continue
			}
			col, ok := xlsxColumn(c.attr("r"))
			if !ok {
				col = next
			}
			next = col + 1
			if col >= w.maxCols {
				dropped = true
				continue
			}
			v := w.cell(c)
			if v == "" {
				continue
			}
			if col >= len(row) {
				row = append(row, make([]string, col+1-len(row))...)
			}
			row[col] = v
		}
		if len(row) > 0 {
			if !w.budget.AddRow(row) {
				return nil, w.budget.Err(fmt.Sprintf("sheet %q row %s", sheetName, cmp.Or(n.attr("r"), strconv.Itoa(len(rows)+1))))
			}
			rows = append(rows, row)
		}
	}
}

// xlsxColumn reads the 0-based column of a cell reference such as "BC12".
func xlsxColumn(ref string) (int, bool) {
	col, i := 0, 0
	for ; i < len(ref) && i < 4; i++ {
		c := ref[i] | 0x20 // lower case
		if c < 'a' || c > 'z' {
			break
		}
		col = col*26 + int(c-'a'+1)
	}
	if i == 0 {
		return 0, false
	}
	return col - 1, true
}

func (w *xlsxWalker) cell(c *xmlNode) string {
	v := c.kid("v")
	switch c.attr("t") {
	case "s":
		if v == nil {
			return ""
		}
		i, err := strconv.Atoi(strings.TrimSpace(v.Text))
		if err != nil || i < 0 || i >= len(w.strings) {
			return ""
		}
		return w.strings[i]
	case "inlineStr":
		return xlsxText(c.kid("is"))
	case "str", "e", "d":
		if v == nil {
			return ""
		}
		return v.Text
	case "b":
		if v == nil {
			return ""
		}
		if strings.TrimSpace(v.Text) == "1" {
			return "TRUE"
		}
		return "FALSE"
	}
	if v == nil {
		return ""
	}
	raw := strings.TrimSpace(v.Text)
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return raw
	}
	fmtID, code := 0, ""
	if s := officeAtoi(c.attr("s"), 0); s < len(w.numFmts) {
		fmtID = w.numFmts[s]
		code = w.custom[fmtID]
	}
	switch {
	case xlsxIsDate(fmtID, code):
		if s, ok := xlsxDate(f, w.date1904); ok {
			return s
		}
	case fmtID == 9 || fmtID == 10 || strings.HasSuffix(strings.TrimSpace(code), "%"):
		return xlsxNumber(f*100) + "%"
	}
	return xlsxNumber(f)
}

// xlsxNumber prints a number as Excel shows it in General format: 15
// significant digits, so 0.1+0.2 is 0.3.
func xlsxNumber(f float64) string {
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 15, 64), 64)
	if err != nil {
		r = f
	}
	if a := math.Abs(r); a != 0 && (a >= 1e15 || a < 1e-9) {
		return strconv.FormatFloat(r, 'g', -1, 64)
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// xlsxIsDate reports whether a number format shows a date or time: the
// built-in date formats, or a custom code with date letters outside quoted
// text, escapes and [colour] brackets.
func xlsxIsDate(id int, code string) bool {
	switch {
	case id >= 14 && id <= 22, id >= 27 && id <= 36, id >= 45 && id <= 47, id >= 50 && id <= 58:
		return true
	case code == "":
		return false
	}
	var b strings.Builder
	quoted, bracket := false, false
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case quoted:
			quoted = c != '"'
		case bracket:
			if c == ']' {
				bracket = false
			} else if c == 'h' || c == 'm' || c == 's' || c == 'H' || c == 'M' || c == 'S' {
				b.WriteByte(c) // [h]:mm elapsed time
			}
		case c == '"':
			quoted = true
		case c == '[':
			bracket = true
		case c == '\\' || c == '_' || c == '*':
			i++ // escaped or padding character
		default:
			b.WriteByte(c)
		}
	}
	s := strings.ReplaceAll(strings.ToLower(b.String()), "general", "")
	return strings.ContainsAny(s, "ymdhs")
}

// xlsxDate turns a date serial into text.
func xlsxDate(f float64, date1904 bool) (string, bool) {
	if f < 0 || f > 2958466 { // past 9999-12-31
		return "", false
	}
	var base time.Time
	switch {
	case date1904:
		base = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	case f < 60:
		// Serials before Excel's phantom 1900-02-29 count from 1899-12-31.
		base = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)
	default:
		base = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	}
	days := math.Floor(f)
	secs := math.Round((f - days) * 86400)
	t := base.AddDate(0, 0, int(days)).Add(time.Duration(secs) * time.Second)
	switch {
	case days == 0 && secs != 0:
		return t.Format("15:04:05"), true
	case secs == 0:
		return t.Format("2006-01-02"), true
	default:
		return t.Format("2006-01-02 15:04:05"), true
	}
}
