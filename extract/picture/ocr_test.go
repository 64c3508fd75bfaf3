package picture

import (
	"context"
	"strings"
	"testing"
	"time"

	"mmrag/extract/internal/extracttest"
)

func TestOCRImage(t *testing.T) {
	extracttest.NeedTool(t, "tesseract", "tesseract-ocr")
	img := extracttest.TextPNG(t, []string{"Hello OCR world", "", "Second paragraph here"})
	text, err := Tesseract{}.Image(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	low := strings.ToLower(text)
	for _, w := range []string{"hello", "world", "second", "paragraph"} {
		if !strings.Contains(low, w) {
			t.Errorf("OCR text %q lacks %q", text, w)
		}
	}
	if !strings.Contains(text, "\n\n") {
		t.Errorf("OCR text %q: the two paragraphs are not separated by a blank line", text)
	}
}

func TestOCRErrors(t *testing.T) {
	img := extracttest.TextPNG(t, []string{"x"})
	tests := []struct {
		name string
		ocr  Tesseract
		img  []byte
		want string
		need bool // needs tesseract
	}{
		{"empty image", Tesseract{}, nil, "empty image", false},
		{"missing program", Tesseract{Cmd: "mmrag-no-such-tesseract"}, img, "not found", false},
		{"not an image", Tesseract{}, []byte("plain text, not a picture"), "tesseract -l eng", true},
		{"unknown language", Tesseract{Lang: "zzz"}, img, "-l zzz", true},
		{"timeout", Tesseract{Timeout: time.Millisecond}, img, "stopped", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.need {
				extracttest.NeedTool(t, "tesseract", "tesseract-ocr")
			}
			_, err := tt.ocr.Image(context.Background(), tt.img)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestOCRAvailable(t *testing.T) {
	if (Tesseract{Cmd: "mmrag-no-such-tesseract"}).Available() {
		t.Error("a missing program is available")
	}
	// "sh" is on every system that runs these tests.
	if !(Tesseract{Cmd: "sh"}).Available() {
		t.Error("sh is not available")
	}
}

func TestOCRClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a  \nb\n\n\n\nc\f", "a\nb\n\nc"},
		{"\n\n  \nonly\n", "only"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ocrClean(tt.in); got != tt.want {
			t.Errorf("ocrClean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
