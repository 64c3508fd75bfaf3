// Package imageprep owns turning image bytes into model input: safe
// decoding with size limits, EXIF orientation and facts, PIL-compatible RGB
// conversion, and the CLIP preprocessing of Hugging Face's
// CLIPImageProcessor (shortest-edge resize with Pillow's resampler, centre
// crop, rescale, normalise) into NCHW float32 tensors.
//
// The goal is to feed an ONNX export of a Hugging Face vision model the
// same pixel_values the Python processor would, without Python. Where the
// result can still differ from PIL, DIFFERENCES.md says how and by how much.
package imageprep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"
	_ "image/jpeg" // registers the decoder used through image.Decode
	_ "image/png"
	"io"
	"os"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// Defaults used for zero Limits fields.
const (
	DefaultMaxPixels = 50_000_000
	DefaultMaxBytes  = 256 << 20
)

// Limits bounds what Decode accepts. The zero value means the defaults.
type Limits struct {
	// MaxPixels caps width×height as declared by the file header; checked
	// before any pixel memory is allocated. 0 means DefaultMaxPixels.
	MaxPixels int64
	// MaxBytes caps the size of the encoded data. 0 means DefaultMaxBytes.
	MaxBytes int64
}

func (l Limits) maxPixels() int64 {
	if l.MaxPixels <= 0 {
		return DefaultMaxPixels
	}
	return l.MaxPixels
}

func (l Limits) maxBytes() int64 {
	if l.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return l.MaxBytes
}

// Info describes a decoded image.
type Info struct {
	Format string // "png", "jpeg", "gif", "webp", "bmp" or "tiff"
	// Width and Height are as stored, before any EXIF orientation.
	Width, Height int
	// Orientation is the EXIF orientation (1–8), 1 when absent.
	Orientation int
	// EXIF holds the parsed EXIF facts; zero when the file has none.
	EXIF EXIF
}

// Errors that Decode wraps, for errors.Is.
var (
	ErrEmpty       = errors.New("empty image data")
	ErrTooLarge    = errors.New("image exceeds limits")
	ErrUnsupported = errors.New("unsupported image format")
	ErrCorrupt     = errors.New("corrupt or truncated image")
)

// Decode decodes a PNG, JPEG, GIF (first frame), WebP, BMP or TIFF image.
//
// The header is read first and an image declaring more than
// limits.MaxPixels pixels is rejected before its pixels are allocated.
// Pixels are returned as stored: EXIF orientation is reported in Info, not
// applied (see Orient and Config.Load). The returned image is the decoder's
// own type except that lossy WebP is converted to *RGB with libwebp's
// colour maths and a GIF's transparent palette entry keeps its stored colour.
func Decode(data []byte, limits Limits) (img image.Image, info Info, err error) {
	if len(data) == 0 {
		return nil, Info{}, fmt.Errorf("imageprep: decode: %w", ErrEmpty)
	}
	if int64(len(data)) > limits.maxBytes() {
		return nil, Info{}, fmt.Errorf("imageprep: decode: %d bytes is over the %d-byte limit: %w", len(data), limits.maxBytes(), ErrTooLarge)
	}
	// Decoders are third-party code fed untrusted bytes: a panic in one is
	// turned into an error rather than taking the process down.
	defer func() {
		if r := recover(); r != nil {
			img = nil
			err = fmt.Errorf("imageprep: decode %s (%d bytes): %w: decoder panic: %v", info.Format, len(data), ErrCorrupt, r)
		}
	}()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			if name := sniffUnsupported(data); name != "" {
				return nil, Info{}, fmt.Errorf("imageprep: decode: data looks like %s: %w (want PNG, JPEG, GIF, WebP, BMP or TIFF)", name, ErrUnsupported)
			}
			return nil, Info{}, fmt.Errorf("imageprep: decode: unrecognised data starting % x: %w", head(data), ErrUnsupported)
		}
		format = sniffSupported(data)
		return nil, Info{Format: format}, fmt.Errorf("imageprep: decode %s header (%d bytes): %w: %w", format, len(data), ErrCorrupt, err)
	}
	info = Info{Format: format, Width: cfg.Width, Height: cfg.Height, Orientation: 1}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, info, fmt.Errorf("imageprep: decode %s: header declares %d×%d pixels: %w", format, cfg.Width, cfg.Height, ErrCorrupt)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > limits.maxPixels() {
		return nil, info, fmt.Errorf("imageprep: decode %s: header declares %d×%d = %d pixels, over the %d-pixel limit: %w",
			format, cfg.Width, cfg.Height, px, limits.maxPixels(), ErrTooLarge)
	}
	if raw := findEXIF(data); raw != nil {
		// Broken EXIF is common and harmless: keep what was readable.
		info.EXIF, _ = parseEXIF(raw)
		if info.EXIF.Orientation != 0 {
			info.Orientation = info.EXIF.Orientation
		}
	}
	img, _, err = image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, info, fmt.Errorf("imageprep: decode %s (%d×%d, %d bytes): %w: %w", format, cfg.Width, cfg.Height, len(data), ErrCorrupt, err)
	}
	switch m := img.(type) {
	case *image.YCbCr:
		if format == "webp" {
			img = webpToRGB(m)
		}
	case *image.NYCbCrA:
		if format == "webp" {
			img = webpToRGB(&m.YCbCr)
		}
	case *image.Paletted:
		if format == "gif" {
			restoreGIFTransparent(data, m)
		}
	}
	return img, info, nil
}

// DecodeFile reads and decodes the image file at path; see Decode. Files
// larger than limits.MaxBytes are refused before they are read.
func DecodeFile(ctx context.Context, path string, limits Limits) (image.Image, Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, Info{}, fmt.Errorf("imageprep: decode %s: %w", path, err)
	}
	data, err := readFileLimited(path, limits.maxBytes())
	if err != nil {
		return nil, Info{}, fmt.Errorf("imageprep: decode %s: %w", path, err)
	}
	img, info, err := Decode(data, limits)
	if err != nil {
		return nil, info, fmt.Errorf("%s: %w", path, err)
	}
	return img, info, nil
}

func readFileLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%d bytes is over the %d-byte limit: %w", st.Size(), max, ErrTooLarge)
	}
	// The size can change under us: read at most max+1 bytes.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("file grew past the %d-byte limit: %w", max, ErrTooLarge)
	}
	return data, nil
}

func head(b []byte) []byte {
	if len(b) > 8 {
		return b[:8]
	}
	return b
}

// sniffSupported names a registered format by its magic, for error messages
// when the header itself is broken.
func sniffSupported(b []byte) string {
	switch {
	case bytes.HasPrefix(b, pngSig[:4]):
		return "png"
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8}):
		return "jpeg"
	case bytes.HasPrefix(b, []byte("GIF8")):
		return "gif"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	case bytes.HasPrefix(b, []byte("BM")):
		return "bmp"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "tiff"
	}
	return "image"
}

// sniffUnsupported recognises common image-like formats we do not decode,
// so the error can say what the data is.
func sniffUnsupported(b []byte) string {
	t := bytes.TrimLeft(b[:min(len(b), 512)], "\xef\xbb\xbf \t\r\n")
	switch {
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		switch brand := string(b[8:12]); brand {
		case "avif", "avis":
			return "AVIF"
		case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1":
			return "HEIC/HEIF"
		default:
			return fmt.Sprintf("an ISO media file (brand %q)", brand)
		}
	case bytes.HasPrefix(t, []byte("<svg")), bytes.HasPrefix(t, []byte("<?xml")) && bytes.Contains(b[:min(len(b), 4096)], []byte("<svg")):
		return "SVG"
	case bytes.HasPrefix(b, []byte("%PDF")):
		return "PDF"
	case bytes.HasPrefix(b, []byte("8BPS")):
		return "Photoshop PSD"
	case bytes.HasPrefix(b, []byte{0xFF, 0x0A}), bytes.HasPrefix(b, []byte("\x00\x00\x00\x0cJXL \r\n\x87\n")):
		return "JPEG XL"
	case bytes.HasPrefix(b, []byte("\x00\x00\x00\x0cjP  \r\n\x87\n")), bytes.HasPrefix(b, []byte{0xFF, 0x4F, 0xFF, 0x51}):
		return "JPEG 2000"
	case bytes.HasPrefix(b, []byte{0, 0, 1, 0}):
		return "ICO"
	case bytes.HasPrefix(b, []byte("qoif")):
		return "QOI"
	}
	return ""
}

// restoreGIFTransparent puts back the stored colour of the transparent
// palette entry, which image/gif replaces with transparent black; PIL keeps
// it and convert("RGB") shows it.
func restoreGIFTransparent(data []byte, m *image.Paletted) {
	table, ti, ok := gifFirstFrameTable(data)
	if !ok || ti < 0 || ti >= len(m.Palette) || 3*ti+2 >= len(table) {
		return
	}
	p := append(color.Palette(nil), m.Palette...)
	p[ti] = color.NRGBA{table[3*ti], table[3*ti+1], table[3*ti+2], 0}
	m.Palette = p
}

// gifFirstFrameTable returns the colour table the first frame uses (local,
// else global) and its transparent index (-1 if none).
func gifFirstFrameTable(b []byte) (table []byte, transparent int, ok bool) {
	if len(b) < 13 || !bytes.HasPrefix(b, []byte("GIF8")) {
		return nil, -1, false
	}
	transparent = -1
	p := 13
	if f := b[10]; f&0x80 != 0 {
		n := 3 << (f&7 + 1)
		if p+n > len(b) {
			return nil, -1, false
		}
		table = b[p : p+n]
		p += n
	}
	for p < len(b) {
		switch b[p] {
		case 0x21: // extension
			if p+2 > len(b) {
				return nil, -1, false
			}
			label := b[p+1]
			p += 2
			first := true
			for p < len(b) && b[p] != 0 {
				n := int(b[p])
				if p+1+n > len(b) {
					return nil, -1, false
				}
				if label == 0xF9 && first && n >= 4 && b[p+1]&1 != 0 {
					transparent = int(b[p+4])
				}
				first = false
				p += 1 + n
			}
			p++
		case 0x2C: // image descriptor
			if p+10 > len(b) {
				return nil, -1, false
			}
			if f := b[p+9]; f&0x80 != 0 {
				n := 3 << (f&7 + 1)
				if p+10+n > len(b) {
					return nil, -1, false
				}
				table = b[p+10 : p+10+n]
			}
			return table, transparent, table != nil
		default:
			return nil, -1, false
		}
	}
	return nil, -1, false
}
