// Package extracttest holds the helpers the format packages' tests share:
// generated images, expected blocks, and the check for external tools.
package extracttest

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"mmrag/extract"
	"mmrag/internal/testenv"
)

// NeedTool skips a test when an external tool is missing, or fails it
// when MMRAG_REQUIRE_TOOLS=1.
func NeedTool(t testing.TB, tool, pkg string) {
	t.Helper()
	testenv.Tool(t, pkg, tool)
}

// PNG encodes a w×h PNG; shade makes images of one size differ.
func PNG(t testing.TB, w, h int, shade uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{shade, uint8(x), uint8(y), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// SolidPNG encodes a w×h PNG of one colour.
func SolidPNG(t testing.TB, w, h int, c color.RGBA) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// WriteFile writes data to path, creating its folders.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Blk builds an expected block; section elements are separated by " > ".
func Blk(kind extract.BlockKind, text, section, anchor string) extract.Block {
	b := extract.Block{Kind: kind, Text: text, Place: extract.Place{Anchor: anchor}}
	if section != "" {
		b.Section = strings.Split(section, " > ")
	}
	return b
}

// DumpBlocks renders blocks one a line for test failure messages.
func DumpBlocks(bs []extract.Block) string {
	var sb strings.Builder
	for _, b := range bs {
		fmt.Fprintf(&sb, "\n  {%s %q %q #%s}", b.Kind, b.Text, b.Section, b.Anchor)
	}
	return sb.String()
}

// UTF16LE encodes s as UTF-16 little endian.
func UTF16LE(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			hi, lo := 0xD800+(r>>10), 0xDC00+(r&0x3FF)
			b.WriteByte(byte(hi))
			b.WriteByte(byte(hi >> 8))
			r = lo
		}
		b.WriteByte(byte(r))
		b.WriteByte(byte(r >> 8))
	}
	return b.String()
}

// FontPath returns a Unicode TTF font (Debian's fonts-dejavu-core) or
// skips the test.
func FontPath(t testing.TB) string {
	t.Helper()
	return testenv.File(t, "DejaVuSans.ttf", "fonts-dejavu-core",
		"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
		"/usr/share/fonts/TTF/DejaVuSans.ttf",
		"/usr/share/fonts/dejavu/DejaVuSans.ttf",
		"/Library/Fonts/DejaVuSans.ttf",
	)
}

// TextPNG renders lines of 36 px DejaVu text on a white A5 page at
// 150 dpi.
func TextPNG(t testing.TB, lines []string) []byte {
	t.Helper()
	ttf, err := os.ReadFile(FontPath(t))
	if err != nil {
		t.Fatal(err)
	}
	fnt, err := opentype.Parse(ttf)
	if err != nil {
		t.Fatal(err)
	}
	face, err := opentype.NewFace(fnt, &opentype.FaceOptions{Size: 36, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		t.Fatal(err)
	}
	defer face.Close()
	// A5 at 150 dpi.
	img := image.NewGray(image.Rect(0, 0, 874, 1240))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	d := &font.Drawer{Dst: img, Src: image.Black, Face: face}
	for i, l := range lines {
		d.Dot = fixed.P(60, 150+i*70)
		d.DrawString(l)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
