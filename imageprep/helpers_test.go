package imageprep

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"testing"
)

// photoLike draws a deterministic w×h image with what makes resampling and
// chroma subsampling interesting: smooth gradients, hard edges, fine texture
// and noise.
func photoLike(w, h int, seed uint64) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, 42))
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	cx, cy, rad := float64(w)*0.6, float64(h)*0.4, float64(min(w, h))/4
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			rv := 255 * fx
			gv := 255 * (0.5 + 0.5*math.Sin(fy*9+fx*3))
			bv := 255 * fy
			if (x/16+y/16)%2 == 0 && x < w/3 { // hard-edged checker
				rv, gv, bv = 240, 30, 30
			}
			if dx, dy := float64(x)-cx, float64(y)-cy; dx*dx+dy*dy < rad*rad {
				rv, gv, bv = 20, 200, 255
			}
			if x%7 == 0 && y > h/2 { // thin lines
				rv, gv, bv = 0, 0, 0
			}
			n := float64(r.IntN(31) - 15)
			m.Pix[m.PixOffset(x, y)+0] = clampF(rv + n)
			m.Pix[m.PixOffset(x, y)+1] = clampF(gv + n)
			m.Pix[m.PixOffset(x, y)+2] = clampF(bv + n)
			m.Pix[m.PixOffset(x, y)+3] = 255
		}
	}
	return m
}

func clampF(v float64) uint8 {
	return uint8(math.Max(0, math.Min(255, math.Round(v))))
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngChunk frames one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// pngHeaderOnly is a PNG signature and a valid IHDR declaring w×h RGB8,
// followed by IEND: enough for DecodeConfig, no pixel data.
func pngHeaderOnly(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // bit depth, colour type RGB
	out := append([]byte(nil), pngSig...)
	out = append(out, pngChunk("IHDR", ihdr)...)
	return append(out, pngChunk("IEND", nil)...)
}

// tiffEXIF builds a little- or big-endian TIFF-structured EXIF block with
// IFD0 {Orientation, Make, Model, DateTime, ExifIFD, GPSIFD}, an Exif IFD
// with DateTimeOriginal and a GPS IFD with a position.
func tiffEXIF(bo binary.ByteOrder, orientation uint16) []byte {
	type ent struct {
		tag, typ uint16
		count    uint32
		data     []byte // value bytes
	}
	ascii := func(s string) []byte { return append([]byte(s), 0) }
	short := func(v uint16) []byte { b := make([]byte, 2); bo.PutUint16(b, v); return b }
	long := func(v uint32) []byte { b := make([]byte, 4); bo.PutUint32(b, v); return b }
	rats := func(v ...uint32) []byte {
		var b []byte
		for _, x := range v {
			b = append(b, long(x)...)
		}
		return b
	}
	// Layout: header(8) | IFD0 | ExifIFD | GPSIFD | data area.
	ifd0 := []ent{
		{0x010F, 2, 0, ascii("Acme")},
		{0x0110, 2, 0, ascii("Snapper 3000")},
		{0x0112, 3, 1, short(orientation)},
		{0x0132, 2, 0, ascii("2024:05:06 07:08:09")},
		{0x8769, 4, 1, nil}, // patched
		{0x8825, 4, 1, nil}, // patched
	}
	exifIFD := []ent{{0x9003, 2, 0, ascii("2024:05:06 07:08:00")}}
	gpsIFD := []ent{
		{1, 2, 0, ascii("S")},
		{2, 5, 3, rats(33, 1, 51, 1, 3600, 100)}, // 33°51'36"
		{3, 2, 0, ascii("E")},
		{4, 5, 3, rats(151, 1, 12, 1, 0, 1)},
	}
	ifdLen := func(es []ent) int { return 2 + 12*len(es) + 4 }
	off0 := 8
	offExif := off0 + ifdLen(ifd0)
	offGPS := offExif + ifdLen(exifIFD)
	dataOff := offGPS + ifdLen(gpsIFD)
	ifd0[4].data, ifd0[5].data = long(uint32(offExif)), long(uint32(offGPS))
	var out, data []byte
	if bo == binary.LittleEndian {
		out = []byte("II*\x00")
	} else {
		out = []byte("MM\x00*")
	}
	out = append(out, long(uint32(off0))...)
	write := func(es []ent) {
		out = append(out, short(uint16(len(es)))...)
		for _, e := range es {
			count := e.count
			if e.typ == 2 {
				count = uint32(len(e.data))
			}
			out = append(out, short(e.tag)...)
			out = append(out, short(e.typ)...)
			out = append(out, long(count)...)
			if len(e.data) <= 4 {
				v := append(append([]byte(nil), e.data...), make([]byte, 4-len(e.data))...)
				out = append(out, v...)
			} else {
				out = append(out, long(uint32(dataOff+len(data)))...)
				data = append(data, e.data...)
			}
		}
		out = append(out, 0, 0, 0, 0)
	}
	write(ifd0)
	write(exifIFD)
	write(gpsIFD)
	return append(out, data...)
}

// withJPEGApp1 inserts an APP1 "Exif" segment holding tiff right after SOI.
func withJPEGApp1(jpg, tiff []byte) []byte {
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte(nil), jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// quadrants returns a w×h image whose four quadrants are flat red, green,
// blue and white (top-left, top-right, bottom-left, bottom-right): each
// orientation moves them to a different, predictable place.
func quadrants(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	cols := [4]color.NRGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 255, 255}}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			q := 0
			if x >= w/2 {
				q++
			}
			if y >= h/2 {
				q += 2
			}
			m.SetNRGBA(x, y, cols[q])
		}
	}
	return m
}

func rgbAt(m *RGB, x, y int) [3]uint8 {
	i := m.PixOffset(x, y)
	return [3]uint8{m.Pix[i], m.Pix[i+1], m.Pix[i+2]}
}

func near(a, b [3]uint8, tol int) bool {
	for i := range 3 {
		d := int(a[i]) - int(b[i])
		if d < -tol || d > tol {
			return false
		}
	}
	return true
}
