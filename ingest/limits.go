package ingest

import (
	"errors"
	"fmt"

	"mmrag/extract"
)

// Limits bound what one file may become, so that a pathological file (a CSV
// with one 100 MB field, a million-row sheet) fails in seconds with a clear
// error instead of being chunked and embedded for hours. A zero field means
// its default; a negative one means no limit.
//
// The defaults leave room for the largest real documents. A 1 000-page PDF
// has about 3–8 MB of text and 10–30 k chunks; a scanned one a page image
// per page. A 50 000-row spreadsheet, measured with the CLIP tokenizer
// (the header is repeated in every chunk, so wide rows take several):
// 3 columns 2 MB of text and 24 k chunks, 6 columns 4 MB and 50 k, 12
// columns 8 MB and 150 k, 24 columns 19 MB and 176 k. Embedding runs at
// about 20 chunks/s and 3 images/s on two cores, so a file near the chunk or
// image limit takes hours there; the progress events say so as it goes.
type Limits struct {
	// MaxTextBytes bounds the bytes of text extracted; checked as the CSV and
	// XLSX extractors read, and after extraction for every type. Default
	// 64 MiB: three times a 24-column 50 000-row sheet, eight times the
	// densest 1 000-page PDF; chunking that much takes under a minute.
	MaxTextBytes int64
	// MaxChunks bounds the text items of a file, checked after chunking and
	// before embedding. Default 200 000: a 24-column 50 000-row sheet
	// (176 k) passes, a million-row sheet (250 k and more) does not.
	MaxChunks int
	// MaxImages bounds the images (figures, scanned pages, video frames) of
	// a file, checked after extraction. Default 10 000: ten per page of a
	// 1 000-page PDF.
	MaxImages int
}

// Defaults of Limits.
const (
	DefaultMaxTextBytes = 64 << 20
	DefaultMaxChunks    = 200_000
	DefaultMaxImages    = 10_000
)

// Names of the flags (of `mmrag ingest`) that raise each limit, named in
// LimitError.
const (
	FlagMaxTextBytes = "max-text-bytes"
	FlagMaxChunks    = "max-chunks"
	FlagMaxImages    = "max-images"
)

// limit resolves a Limits field: 0 is def, negative is no limit (0).
func limit[T int | int64](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

func (l Limits) textBytes() int64 { return limit(l.MaxTextBytes, DefaultMaxTextBytes) }
func (l Limits) chunks() int64    { return int64(limit(l.MaxChunks, DefaultMaxChunks)) }
func (l Limits) images() int64    { return int64(limit(l.MaxImages, DefaultMaxImages)) }

// LimitError is why a file over one of Limits was not stored. It wraps
// ErrTooLarge.
type LimitError struct {
	What    string // what was counted: "bytes of text", "chunks", "images"
	Count   int64  // how many; with AtLeast, how many when reading stopped
	AtLeast bool   // reading stopped at the limit: the file holds more
	At      string // where reading stopped, with AtLeast; may be empty
	Limit   int64
	Flag    string // the flag that raises the limit, without dashes: "max-chunks"
}

func (e *LimitError) Error() string {
	raise := fmt.Sprintf("raise it with --%s (-1: no limit)", e.Flag)
	if !e.AtLeast {
		return fmt.Sprintf("%d %s, over the limit of %d; %s", e.Count, e.What, e.Limit, raise)
	}
	stop := ""
	if e.At != "" {
		stop = " (reading stopped at " + e.At + ")"
	}
	return fmt.Sprintf("more than the limit of %d %s%s; %s", e.Limit, e.What, stop, raise)
}

func (e *LimitError) Unwrap() error { return ErrTooLarge }

// checkText enforces MaxTextBytes on an extraction result.
func (l Limits) checkText(res *extract.Result) error {
	max := l.textBytes()
	if max <= 0 {
		return nil
	}
	if n := textBytes(res); n > max {
		return &LimitError{What: "bytes of text", Count: n, Limit: max, Flag: FlagMaxTextBytes}
	}
	return nil
}

// checkImages enforces MaxImages on an extraction result.
func (l Limits) checkImages(res *extract.Result) error {
	if max := l.images(); max > 0 && int64(len(res.Images)) > max {
		return &LimitError{What: "images", Count: int64(len(res.Images)), Limit: max, Flag: FlagMaxImages}
	}
	return nil
}

// checkChunks enforces MaxChunks on the chunks of a file.
func (l Limits) checkChunks(n int) error {
	if max := l.chunks(); max > 0 && int64(n) > max {
		return &LimitError{What: "chunks", Count: int64(n), Limit: max, Flag: FlagMaxChunks}
	}
	return nil
}

// extractError turns an extractor's *extract.TextLimitError into a
// LimitError; other errors are returned as they are.
func extractError(err error) error {
	var tl *extract.TextLimitError
	if !errors.As(err, &tl) {
		return err
	}
	return &LimitError{What: "bytes of text", Count: tl.Read, AtLeast: true, At: tl.At, Limit: tl.Limit, Flag: FlagMaxTextBytes}
}
