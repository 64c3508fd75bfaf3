package ingest

import (
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// Type keys Detect returns; they name the entries of Pipeline.Extractors.
const (
	TypeHTML     = "html"
	TypeMarkdown = "markdown"
	TypeText     = "text"
	TypePDF      = "pdf"
	TypeDOCX     = "docx"
	TypePPTX     = "pptx"
	TypeXLSX     = "xlsx"
	TypeCSV      = "csv"
	TypeImage    = "image"
	TypeMedia    = "media" // audio and video
)

// byExt maps lowercase file extensions to type keys. It decides when the
// content alone is not specific: plain text (Markdown, CSV) or bytes no
// signature matches (a damaged PDF must reach the PDF extractor so that the
// error says what is wrong with it).
var byExt = map[string]string{
	".html": TypeHTML, ".htm": TypeHTML, ".xhtml": TypeHTML,
	".md": TypeMarkdown, ".markdown": TypeMarkdown, ".mdown": TypeMarkdown, ".mkd": TypeMarkdown, ".mkdn": TypeMarkdown,
	".txt": TypeText, ".text": TypeText,
	".pdf":  TypePDF,
	".docx": TypeDOCX, ".pptx": TypePPTX, ".xlsx": TypeXLSX,
	".csv": TypeCSV, ".tsv": TypeCSV,
	".png": TypeImage, ".jpg": TypeImage, ".jpeg": TypeImage, ".gif": TypeImage, ".webp": TypeImage,
	".bmp": TypeImage, ".tif": TypeImage, ".tiff": TypeImage,
	".mp3": TypeMedia, ".wav": TypeMedia, ".m4a": TypeMedia, ".flac": TypeMedia, ".ogg": TypeMedia,
	".opus": TypeMedia, ".aac": TypeMedia, ".mp4": TypeMedia, ".m4v": TypeMedia, ".mov": TypeMedia,
	".mkv": TypeMedia, ".webm": TypeMedia, ".avi": TypeMedia,
}

// byMIME maps content types whose signature is specific enough to win over
// the extension.
var byMIME = map[string]string{
	"text/html":             TypeHTML,
	"application/xhtml+xml": TypeHTML,
	"application/pdf":       TypePDF,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   TypeDOCX,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": TypePPTX,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         TypeXLSX,
	"text/csv":                  TypeCSV,
	"text/tab-separated-values": TypeCSV,
	"image/png":                 TypeImage,
	"image/jpeg":                TypeImage,
	"image/gif":                 TypeImage,
	"image/webp":                TypeImage,
	"image/bmp":                 TypeImage,
	"image/tiff":                TypeImage,
}

// Detect returns the type key of a source named name (a path or URL) with
// content data, or "" when no extractor reads it.
//
// The content decides first (mimetype's signatures), so an HTML page saved
// as .txt is HTML and a PNG named .jpg is an image. Text that signatures
// cannot tell apart (Markdown, CSV, prose) is typed by the extension, and so
// is data no signature matches. Other text formats (source code, JSON, XML,
// SVG) are unsupported unless their extension says .txt.
func Detect(name string, data []byte) string {
	ext := strings.ToLower(extOf(name))
	m := mimetype.Detect(data)
	isText := m.Is("text/plain") || hasAncestor(m, "text/plain")
	if isText {
		// Markdown may begin with raw HTML; its extension is the better witness.
		switch t := byExt[ext]; t {
		case TypeMarkdown, TypeCSV:
			return t
		}
	}
	// A MIME's String carries parameters (charset); Is ignores them. Parents
	// count too: APNG is a PNG.
	for p := m; p != nil; p = p.Parent() {
		for mime, t := range byMIME {
			if p.Is(mime) {
				return t
			}
		}
		if s := mimeOf(p); strings.HasPrefix(s, "audio/") || strings.HasPrefix(s, "video/") {
			return TypeMedia
		}
	}
	if isText {
		if t := byExt[ext]; t == TypeHTML || t == TypeText {
			return t
		}
		if m.Is("text/plain") {
			return TypeText
		}
		return ""
	}
	return byExt[ext]
}

func hasAncestor(m *mimetype.MIME, mime string) bool {
	for p := m.Parent(); p != nil; p = p.Parent() {
		if p.Is(mime) {
			return true
		}
	}
	return false
}

// extOf is the extension of a file path or of a URL's path.
func extOf(name string) string {
	if isURL(name) {
		if u, err := url.Parse(name); err == nil {
			return path.Ext(u.Path)
		}
	}
	return filepath.Ext(name)
}

// detectMIME names the content type of data, without parameters.
func detectMIME(data []byte) string { return mimeOf(mimetype.Detect(data)) }

// mimeOf is m without parameters.
func mimeOf(m *mimetype.MIME) string {
	s := m.String()
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return s
}
