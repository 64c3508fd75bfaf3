package extract

import "fmt"

// TextLimitError is returned by an extractor that stopped reading because
// the text it had extracted passed Source.MaxText. Only the extractors whose
// text can grow far past what a caller wants to keep (CSV, XLSX: millions of
// rows, or one huge field) check the limit as they read; callers check the
// others' Result.
type TextLimitError struct {
	Limit int64  // Source.MaxText
	Read  int64  // bytes of text extracted when reading stopped
	At    string // where reading stopped: "line 8123", `sheet "Data" row 9000`
}

func (e *TextLimitError) Error() string {
	return fmt.Sprintf("extracted text passed the %d-byte limit at %s (%d bytes read)", e.Limit, e.At, e.Read)
}

// textBudget counts the text an extractor produces against Source.MaxText.
type textBudget struct {
	limit int64 // <= 0: no limit
	read  int64
}

// addRow counts a row of cells as officeRow renders it (cells joined by " | ",
// one line end) and reports whether the text is still within the limit.
func (b *textBudget) addRow(cells []string) bool {
	n := int64(len(cells)) * 3 // " | " between cells, "\n" after the row
	for _, c := range cells {
		n += int64(len(c))
	}
	b.read += n
	return b.limit <= 0 || b.read <= b.limit
}

// err is the error of a budget passed at where.
func (b *textBudget) err(where string) error {
	return &TextLimitError{Limit: b.limit, Read: b.read, At: where}
}
