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
