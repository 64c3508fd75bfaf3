package picture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/tiff"

	"mmrag/extract"
	"mmrag/extract/internal/extracttest"
	"mmrag/imageprep"
)

// pictureTestWebP is a 16×16 lossless WebP (VP8L) of four coloured
// quadrants, made with Pillow: Go has no WebP encoder.
var pictureTestWebP = []byte{
	0x52, 0x49, 0x46, 0x46, 0x36, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50,
	0x56, 0x50, 0x38, 0x4c, 0x2a, 0x00, 0x00, 0x00, 0x2f, 0x0f, 0xc0, 0x03,
	0x00, 0x1f, 0x20, 0x10, 0x48, 0xde, 0x1f, 0x3a, 0x8d, 0xf9, 0x17, 0x10,
	0x14, 0xfc, 0x1f, 0xdd, 0xfc, 0x47, 0x64, 0x0f, 0x80, 0x30, 0xdb, 0x68,
	0x92, 0x93, 0x9c, 0xe4, 0xbd, 0xcf, 0x20, 0xa2, 0xff, 0x51, 0xfa, 0xc1,
	0xf6, 0x01,
}

// pictureTestGradient is a w×h image that differs in every pixel.
func pictureTestGradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	return img
}

func pictureTestEncode(t testing.TB, img image.Image, format string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	case "gif":
		err = gif.Encode(&buf, img, nil)
	case "bmp":
		err = bmp.Encode(&buf, img)
	case "tiff":
		err = tiff.Encode(&buf, img, nil)
	default:
		t.Fatalf("no encoder for %s", format)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pictureTestText draws lines of text, black on white, large enough for
// tesseract.
func pictureTestText(t testing.TB, lines ...string) *image.Gray {
	t.Helper()
	fnt, err := opentype.Parse(goregular.TTF)
	if err != nil {
		t.Fatal(err)
	}
	face, err := opentype.NewFace(fnt, &opentype.FaceOptions{Size: 32, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		t.Fatal(err)
	}
	defer face.Close()
	img := image.NewGray(image.Rect(0, 0, 800, 80+len(lines)*60))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	d := &font.Drawer{Dst: img, Src: image.Black, Face: face}
	for i, l := range lines {
		d.Dot = fixed.P(40, 70+i*60)
		d.DrawString(l)
	}
	return img
}

// exifTestEntry is one IFD entry with its value already encoded (little
// endian); sub names an IFD whose offset the value is.
type exifTestEntry struct {
	tag, typ uint16
	count    uint32
	data     []byte
	sub      int // 1-based index of a following IFD this entry points to, 0 for none
}

func exifTestASCII(tag uint16, s string) exifTestEntry {
	return exifTestEntry{tag: tag, typ: 2, count: uint32(len(s) + 1), data: append([]byte(s), 0)}
}

func exifTestShort(tag uint16, v uint16) exifTestEntry {
	return exifTestEntry{tag: tag, typ: 3, count: 1, data: binary.LittleEndian.AppendUint16(nil, v)}
}

func exifTestRationals(tag uint16, vs ...[2]uint32) exifTestEntry {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v[0])
		b = binary.LittleEndian.AppendUint32(b, v[1])
	}
	return exifTestEntry{tag: tag, typ: 5, count: uint32(len(vs)), data: b}
}

// exifTestIFD encodes one IFD at offset with its out-of-line values after it.
func exifTestIFD(offset uint32, entries []exifTestEntry, subs []uint32) []byte {
	le := binary.LittleEndian
	n := len(entries)
	dataOff := offset + 2 + 12*uint32(n) + 4
	out := le.AppendUint16(nil, uint16(n))
	var data []byte
	for _, e := range entries {
		out = le.AppendUint16(out, e.tag)
		out = le.AppendUint16(out, e.typ)
		out = le.AppendUint32(out, e.count)
		switch {
		case e.sub > 0:
			out = le.AppendUint32(out, subs[e.sub-1])
		case len(e.data) <= 4:
			out = append(out, append(e.data, make([]byte, 4-len(e.data))...)...)
		default:
			out = le.AppendUint32(out, dataOff+uint32(len(data)))
			data = append(data, e.data...)
			if len(data)%2 == 1 {
				data = append(data, 0)
			}
		}
	}
	out = le.AppendUint32(out, 0)
	return append(out, data...)
}

// exifTestTIFF lays out IFD0 and the IFDs it points to, in order.
func exifTestTIFF(ifds ...[]exifTestEntry) []byte {
	offsets := make([]uint32, len(ifds))
	off := uint32(8)
	for i, ifd := range ifds {
		offsets[i] = off
		off += uint32(len(exifTestIFD(0, ifd, make([]uint32, len(ifds)))))
	}
	out := []byte("II*\x00\x08\x00\x00\x00")
	for i, ifd := range ifds {
		out = append(out, exifTestIFD(offsets[i], ifd, offsets)...)
	}
	return out
}

// pictureTestEXIFJPEG inserts an APP1 Exif segment after the SOI marker.
func pictureTestEXIFJPEG(t testing.TB, img image.Image, orientation uint16) []byte {
	t.Helper()
	tiffData := exifTestTIFF(
		[]exifTestEntry{
			exifTestASCII(0x010F, "Canon"),
			exifTestASCII(0x0110, "Canon EOS 5D"),
			exifTestShort(0x0112, orientation),
			exifTestASCII(0x0132, "2024:05:06 07:08:09"),
			{tag: 0x8769, typ: 4, count: 1, sub: 2},
			{tag: 0x8825, typ: 4, count: 1, sub: 3},
		},
		[]exifTestEntry{exifTestASCII(0x9003, "2024:03:01 10:20:30")},
		[]exifTestEntry{
			exifTestASCII(1, "N"),
			exifTestRationals(2, [2]uint32{48, 1}, [2]uint32{51, 1}, [2]uint32{295, 10}),
			exifTestASCII(3, "W"),
			exifTestRationals(4, [2]uint32{2, 1}, [2]uint32{17, 1}, [2]uint32{402, 10}),
		},
	)
	payload := append([]byte("Exif\x00\x00"), tiffData...)
	seg := []byte{0xFF, 0xE1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(len(payload)+2))
	seg = append(seg, payload...)
	plain := pictureTestEncode(t, img, "jpeg")
	return append(append(append([]byte{}, plain[:2]...), seg...), plain[2:]...)
}

func TestPictureFormats(t *testing.T) {
	grad := pictureTestGradient(40, 30)
	tests := []struct {
		name, format string
		data         []byte
		w, h         int
	}{
		{"a.png", "png", pictureTestEncode(t, grad, "png"), 40, 30},
		{"b.jpg", "jpeg", pictureTestEncode(t, grad, "jpeg"), 40, 30},
		{"c.gif", "gif", pictureTestEncode(t, grad, "gif"), 40, 30},
		{"d.bmp", "bmp", pictureTestEncode(t, grad, "bmp"), 40, 30},
		{"e.tiff", "tiff", pictureTestEncode(t, grad, "tiff"), 40, 30},
		{"f.webp", "webp", pictureTestWebP, 16, 16},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			res, err := Picture{NoOCR: true}.Extract(context.Background(), extract.Source{Path: "/photos/" + tt.name, Data: tt.data})
			if err != nil {
				t.Fatal(err)
			}
			if res.Type != "image" || res.Title != strings.TrimSuffix(tt.name, filepath.Ext(tt.name)) || len(res.Blocks) != 0 || len(res.Warnings) != 0 {
				t.Errorf("type %q title %q blocks %v warnings %q", res.Type, res.Title, res.Blocks, res.Warnings)
			}
			if len(res.Images) != 1 {
				t.Fatalf("%d images", len(res.Images))
			}
			im := res.Images[0]
			if im.MIME != "image/"+tt.format || im.Width != tt.w || im.Height != tt.h || !bytes.Equal(im.Data, tt.data) ||
				im.Meta["format"] != tt.format || im.Src != "/photos/"+tt.name {
				t.Errorf("image: mime %q %d×%d meta %v src %q, same bytes %v", im.MIME, im.Width, im.Height, im.Meta, im.Src, bytes.Equal(im.Data, tt.data))
			}
			if _, ok := im.Meta["orientation"]; ok {
				t.Errorf("upright image has orientation %q", im.Meta["orientation"])
			}
		})
	}
}

func TestPictureEXIF(t *testing.T) {
	data := pictureTestEXIFJPEG(t, pictureTestGradient(40, 20), 6)
	res, err := Picture{NoOCR: true}.Extract(context.Background(), extract.Source{Path: "IMG_0001.JPG", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	im := res.Images[0]
	want := map[string]string{
		"format":       "jpeg",
		"camera_make":  "Canon",
		"camera_model": "Canon EOS 5D",
		"camera":       "Canon EOS 5D",
		"date":         "2024-03-01T10:20:30",
		"gps":          "48.858194,-2.294500",
		"orientation":  "6",
	}
	for k, v := range want {
		if im.Meta[k] != v || res.Meta[k] != v {
			t.Errorf("Meta[%q] = %q (result %q), want %q", k, im.Meta[k], res.Meta[k], v)
		}
	}
	// Orientation 6 turns the stored 40×20 upright as 20×40.
	if im.Width != 20 || im.Height != 40 || res.Title != "IMG_0001" {
		t.Errorf("%d×%d title %q, want 20×40 IMG_0001", im.Width, im.Height, res.Title)
	}
}

func TestPictureMeta(t *testing.T) {
	tests := []struct {
		exif imageprep.EXIF
		want map[string]string
	}{
		{imageprep.EXIF{Make: "NIKON", Model: "D750"}, map[string]string{"camera": "NIKON D750"}},
		{imageprep.EXIF{Model: "iPhone 15"}, map[string]string{"camera": "iPhone 15"}},
		{imageprep.EXIF{Make: "Apple"}, map[string]string{"camera": "Apple"}},
		{imageprep.EXIF{DateTime: "2020:01:02 03:04:05"}, map[string]string{"date": "2020-01-02T03:04:05"}},
		{imageprep.EXIF{DateTimeOriginal: "2020:01:02"}, map[string]string{"date": "2020:01:02"}},
		{imageprep.EXIF{HasGPS: true, Latitude: -33.8568, Longitude: 151.2153}, map[string]string{"gps": "-33.856800,151.215300"}},
	}
	for _, tt := range tests {
		got := pictureMeta(imageprep.Info{Format: "jpeg", Orientation: 1, EXIF: tt.exif})
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%+v: Meta[%q] = %q, want %q", tt.exif, k, got[k], v)
			}
		}
	}
}

func TestPictureBad(t *testing.T) {
	good := pictureTestEncode(t, pictureTestGradient(64, 64), "png")
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"truncated", good[:len(good)/2], imageprep.ErrCorrupt},
		{"text", []byte("this is not a picture at all"), imageprep.ErrUnsupported},
		{"empty", nil, imageprep.ErrEmpty},
		{"HEIC", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), imageprep.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Picture{}.Extract(context.Background(), extract.Source{Path: "broken.png", Data: tt.data})
			if err == nil || res != nil {
				t.Fatalf("result %v error %v, want an error", res, err)
			}
			if !strings.HasPrefix(err.Error(), "broken.png: ") || !errors.Is(err, tt.want) {
				t.Errorf("error %q: want one naming broken.png and wrapping %v", err, tt.want)
			}
		})
	}
	// Pixel limits are checked on the header, before decoding.
	_, err := Picture{Limits: imageprep.Limits{MaxPixels: 100}}.Extract(context.Background(), extract.Source{Path: "big.png", Data: good})
	if !errors.Is(err, imageprep.ErrTooLarge) {
		t.Errorf("error %v, want ErrTooLarge", err)
	}
}

func TestPictureOCR(t *testing.T) {
	extracttest.NeedTool(t, "tesseract", "tesseract-ocr")
	text := pictureTestText(t, "Invoice number 4711", "", "Payment due within thirty days")
	// Stored turned a quarter to the left, with EXIF orientation 6 saying
	// to turn it right: OCR must see it upright.
	b := text.Bounds()
	turned := image.NewGray(image.Rect(0, 0, b.Dy(), b.Dx()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			turned.SetGray(y, b.Dx()-1-x, text.GrayAt(x, y))
		}
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"scan.png", pictureTestEncode(t, text, "png")},
		{"turned.jpg", pictureTestEXIFJPEG(t, turned, 6)},
		{"scan.gif", pictureTestEncode(t, text, "gif")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Picture{}.Extract(context.Background(), extract.Source{Path: tt.name, Data: tt.data})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Blocks) != 2 {
				t.Fatalf("blocks %+v, want two OCR paragraphs; warnings %q", res.Blocks, res.Warnings)
			}
			for i, want := range []string{"invoice number 4711", "payment due within thirty days"} {
				b := res.Blocks[i]
				if b.Kind != extract.OCR || !strings.Contains(strings.ToLower(b.Text), want) {
					t.Errorf("block %d: %s %q, want OCR text with %q", i, b.Kind, b.Text, want)
				}
			}
			if im := res.Images[0]; !strings.Contains(im.Context, "Invoice") || !strings.Contains(im.Context, "Payment") {
				t.Errorf("image context %q", im.Context)
			}
		})
	}

	// Noise is not text: a random-pixel photo gives no OCR block.
	rng := rand.New(rand.NewPCG(1, 2))
	noise := image.NewRGBA(image.Rect(0, 0, 200, 150))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(rng.IntN(256))
	}
	res, err := Picture{}.Extract(context.Background(), extract.Source{Path: "noise.png", Data: pictureTestEncode(t, noise, "png")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blocks) != 0 || res.Images[0].Context != "" {
		t.Errorf("noise gave blocks %+v", res.Blocks)
	}

	// A missing recogniser is a warning, not an error.
	res, err = Picture{OCR: Tesseract{Cmd: "mmrag-no-such-tesseract"}}.Extract(context.Background(), extract.Source{Path: "scan.png", Data: tests[0].data})
	if err != nil || len(res.Images) != 1 || !strings.Contains(strings.Join(res.Warnings, ";"), "install tesseract-ocr") {
		t.Errorf("error %v warnings %q", err, res.Warnings)
	}
}

func TestPictureReadsAsText(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"Invoice number 4711", true},
		{"Übersicht der Kosten", true},
		{"| ~ ee — ' , :: ae \\ /", false},
		{"ab cd ef gh ij kl mn op", false}, // no word of three letters
		{"Hi", false},
		{"a$#@! Total %%%% &&&& **** (((( ))))", false}, // words are not half the text
		{"東京都の天気予報です", true},
	}
	for _, tt := range tests {
		if got := pictureReadsAsText(tt.s, 8); got != tt.want {
			t.Errorf("pictureReadsAsText(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func FuzzPicture(f *testing.F) {
	grad := pictureTestGradient(8, 6)
	for _, format := range []string{"png", "jpeg", "gif", "bmp", "tiff"} {
		f.Add(pictureTestEncode(f, grad, format))
	}
	f.Add(pictureTestWebP)
	f.Add(pictureTestEXIFJPEG(f, grad, 6))
	const maxPixels = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Picture{NoOCR: true, Limits: imageprep.Limits{MaxPixels: maxPixels}}.Extract(context.Background(), extract.Source{Path: "f.img", Data: data})
		if err != nil {
			if res != nil {
				t.Fatal("result with error")
			}
			if !strings.HasPrefix(err.Error(), "f.img: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if res.Type != "image" || len(res.Blocks) != 0 || len(res.Images) != 1 {
			t.Fatalf("type %q, %d blocks, %d images", res.Type, len(res.Blocks), len(res.Images))
		}
		im := res.Images[0]
		if !bytes.Equal(im.Data, data) || im.Meta["format"] == "" || im.MIME != "image/"+im.Meta["format"] ||
			im.Width <= 0 || im.Height <= 0 || int64(im.Width)*int64(im.Height) > maxPixels {
			t.Fatalf("image: mime %q %d×%d meta %v, same bytes %v", im.MIME, im.Width, im.Height, im.Meta, bytes.Equal(im.Data, data))
		}
	})
}
