package imageprep

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeFormats(t *testing.T) {
	q := quadrants(16, 16)
	gray := image.NewGray(q.Rect)
	gray16 := image.NewGray16(q.Rect)
	pal := image.NewPaletted(q.Rect, color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}, color.RGBA{255, 255, 255, 255}})
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			c := q.NRGBAAt(x, y)
			gray.SetGray(x, y, color.Gray{c.G})
			gray16.SetGray16(x, y, color.Gray16{uint16(c.G)<<8 | 0x7F})
			pal.SetColorIndex(x, y, uint8(pal.Palette.Index(c)))
		}
	}
	enc := func(f func(*bytes.Buffer) error) []byte {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	red, green, blue, white := [3]uint8{255, 0, 0}, [3]uint8{0, 255, 0}, [3]uint8{0, 0, 255}, [3]uint8{255, 255, 255}
	black := [3]uint8{0, 0, 0}
	colour := [4][3]uint8{red, green, blue, white}
	greys := [4][3]uint8{black, white, black, white}
	tests := []struct {
		name   string
		data   []byte
		format string
		want   [4][3]uint8 // quadrant colours as ToRGB sees them
		tol    int
	}{
		{"png rgba", encodePNG(t, q), "png", colour, 0},
		{"png gray", encodePNG(t, gray), "png", greys, 0},
		{"png gray16", encodePNG(t, gray16), "png", greys, 0},
		{"png paletted", encodePNG(t, pal), "png", colour, 0},
		{"jpeg", encodeJPEG(t, q, 95), "jpeg", colour, 12},
		{"jpeg gray", encodeJPEG(t, gray, 95), "jpeg", greys, 4},
		{"gif", enc(func(b *bytes.Buffer) error { return gif.Encode(b, pal, nil) }), "gif", colour, 0},
		{"bmp", enc(func(b *bytes.Buffer) error { return bmp.Encode(b, q) }), "bmp", colour, 0},
		{"tiff", enc(func(b *bytes.Buffer) error { return tiff.Encode(b, q, nil) }), "tiff", colour, 0},
		{"tiff deflate", enc(func(b *bytes.Buffer) error { return tiff.Encode(b, q, &tiff.Options{Compression: tiff.Deflate}) }), "tiff", colour, 0},
		{"webp lossy", readFixture(t, "quadrants_lossy.webp"), "webp", colour, 4},
		{"webp lossless", readFixture(t, "quadrants_lossless.webp"), "webp", colour, 0},
		{"webp alpha", readFixture(t, "quadrants_alpha.webp"), "webp", colour, 4},
		{"jpeg cmyk (Adobe)", readFixture(t, "quadrants_cmyk.jpg"), "jpeg", colour, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, info, err := Decode(tt.data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != tt.format || info.Width != 16 || info.Height != 16 || info.Orientation != 1 {
				t.Errorf("info = %+v, want %s 16×16 orientation 1", info, tt.format)
			}
			rgb := ToRGB(img)
			for i, p := range [][2]int{{3, 3}, {12, 3}, {3, 12}, {12, 12}} {
				if got := rgbAt(rgb, p[0], p[1]); !near(got, tt.want[i], tt.tol) {
					t.Errorf("pixel %v = %v, want %v ±%d", p, got, tt.want[i], tt.tol)
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good := encodePNG(t, photoLike(64, 48, 1))
	jpg := encodeJPEG(t, photoLike(64, 48, 1), 90)
	var gifBuf bytes.Buffer
	gif.Encode(&gifBuf, photoLike(32, 32, 2), nil)
	tests := []struct {
		name    string
		data    []byte
		limits  Limits
		want    error
		mention string // the message must say this
	}{
		{"zero bytes", nil, Limits{}, ErrEmpty, "empty"},
		{"truncated png", good[:len(good)/2], Limits{}, ErrCorrupt, "png"},
		{"png header only", good[:40], Limits{}, ErrCorrupt, "png"},
		{"truncated jpeg", jpg[:len(jpg)/2], Limits{}, ErrCorrupt, "jpeg"},
		{"truncated gif", gifBuf.Bytes()[:gifBuf.Len()/2], Limits{}, ErrCorrupt, "gif"},
		{"broken png header", append(append([]byte(nil), pngSig...), "garbage!garbage!garbage!"...), Limits{}, ErrCorrupt, "png"},
		{"svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`), Limits{}, ErrUnsupported, "SVG"},
		{"bare svg", []byte(`  <svg width="10" height="10"></svg>`), Limits{}, ErrUnsupported, "SVG"},
		{"heic", append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 64)...), Limits{}, ErrUnsupported, "HEIC"},
		{"avif", append([]byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1"), make([]byte, 64)...), Limits{}, ErrUnsupported, "AVIF"},
		{"pdf", []byte("%PDF-1.7\n..."), Limits{}, ErrUnsupported, "PDF"},
		{"text", []byte("hello, world, this is not an image"), Limits{}, ErrUnsupported, "unrecognised"},
		{"over byte limit", good, Limits{MaxBytes: 100}, ErrTooLarge, "byte limit"},
		{"over pixel limit", good, Limits{MaxPixels: 64*48 - 1}, ErrTooLarge, "64×48"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, _, err := Decode(tt.data, tt.limits)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if img != nil {
				t.Error("image returned with an error")
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
	if _, _, err := Decode(good, Limits{MaxPixels: 64 * 48}); err != nil {
		t.Errorf("image exactly at the pixel limit: %v", err)
	}
}

// gifHeaderOnly declares a w×h logical screen and one w×h frame with no data.
func gifHeaderOnly(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	b = append(b, 0x80, 0, 0) // global table of 2 entries
	b = append(b, 0, 0, 0, 255, 255, 255)
	b = append(b, 0x2C, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	return append(b, 0, 2, 0, 0x3B)
}

// bmpHeaderOnly is a 24-bit BMP file header and BITMAPINFOHEADER for w×h.
func bmpHeaderOnly(w, h int32) []byte {
	b := []byte("BM")
	b = binary.LittleEndian.AppendUint32(b, 54)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 54)
	b = binary.LittleEndian.AppendUint32(b, 40)
	b = binary.LittleEndian.AppendUint32(b, uint32(w))
	b = binary.LittleEndian.AppendUint32(b, uint32(h))
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 24)
	return append(b, make([]byte, 24)...)
}

// TestDecodeRejectsHugeHeaderWithoutAllocating feeds headers declaring
// 60000×60000 pixels (3.6 gigapixels, ~14 GB as RGBA) and checks they are
// refused from the header alone.
func TestDecodeRejectsHugeHeaderWithoutAllocating(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"png", pngHeaderOnly(60000, 60000)},
		{"gif", gifHeaderOnly(60000, 60000)},
		{"bmp", bmpHeaderOnly(60000, 60000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, info, err := Decode(tt.data, Limits{})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if info.Width != 60000 || info.Height != 60000 || info.Format != tt.name {
				t.Errorf("info = %+v", info)
			}
			if !strings.Contains(err.Error(), "3600000000 pixels") {
				t.Errorf("error %q does not give the declared pixel count", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("rejecting the header allocated %d bytes", grew)
			}
		})
	}
}

func TestDecodeFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "photo.png")
	if err := os.WriteFile(path, encodePNG(t, photoLike(40, 30, 3)), 0o644); err != nil {
		t.Fatal(err)
	}
	img, info, err := DecodeFile(context.Background(), path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != 40 || info.Height != 30 {
		t.Errorf("got %v, %+v", img.Bounds(), info)
	}

	missing := filepath.Join(dir, "missing.jpg")
	if _, _, err := DecodeFile(context.Background(), missing, Limits{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: err = %v, want one naming %s", err, missing)
	}
	bad := filepath.Join(dir, "bad.png")
	os.WriteFile(bad, []byte("not an image at all"), 0o644)
	if _, _, err := DecodeFile(context.Background(), bad, Limits{}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad file: err = %v, want ErrUnsupported naming %s", err, bad)
	}
	if _, _, err := DecodeFile(context.Background(), path, Limits{MaxBytes: 10}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over MaxBytes: err = %v, want ErrTooLarge", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := DecodeFile(ctx, path, Limits{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
}

// TestGIFTransparentKeepsStoredColour: image/gif blanks the transparent
// palette entry; PIL's convert("RGB") shows the colour stored there.
func TestGIFTransparentKeepsStoredColour(t *testing.T) {
	stored := color.RGBA{200, 100, 50, 255}
	pal := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.RGBA{0, 0, 0, 255}, stored})
	pal.SetColorIndex(1, 1, 1)
	var b bytes.Buffer
	if err := gif.Encode(&b, pal, nil); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	// Insert a graphic control extension marking index 1 transparent before
	// the image descriptor (after header 13 bytes + 2-entry table 6 bytes).
	gce := []byte{0x21, 0xF9, 4, 1, 0, 0, 1, 0}
	data = append(append(append([]byte(nil), data[:19]...), gce...), data[19:]...)
	img, _, err := Decode(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rgbAt(ToRGB(img), 1, 1), [3]uint8{200, 100, 50}; got != want {
		t.Errorf("transparent pixel = %v, want stored colour %v", got, want)
	}
	if _, _, _, a := img.At(1, 1).RGBA(); a != 0 {
		t.Errorf("transparent pixel has alpha %d, want 0", a)
	}
}
