package imageprep

import (
	"bytes"
	"encoding/binary"
	"image/gif"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

func FuzzDecode(f *testing.F) {
	small := photoLike(12, 9, 1)
	png := encodePNG(f, small)
	jpg := encodeJPEG(f, small, 80)
	var g, b, tf bytes.Buffer
	gif.Encode(&g, small, nil)
	bmp.Encode(&b, small)
	tiff.Encode(&tf, small, nil)
	seeds := [][]byte{
		png, jpg, g.Bytes(), b.Bytes(), tf.Bytes(),
		withJPEGApp1(jpg, tiffEXIF(binary.LittleEndian, 6)),
		readFixture(f, "quadrants_lossy.webp"), readFixture(f, "quadrants_lossless.webp"),
		readFixture(f, "quadrants_alpha.webp"), readFixture(f, "quadrants_cmyk.jpg"),
		pngHeaderOnly(60000, 60000), gifHeaderOnly(300, 300), bmpHeaderOnly(-5, 7),
		png[:len(png)/2], jpg[:len(jpg)-10], nil, []byte("<svg/>"),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	const maxPixels = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		img, info, err := Decode(data, Limits{MaxPixels: maxPixels, MaxBytes: 1 << 20})
		if err != nil {
			if img != nil {
				t.Fatal("image returned with an error")
			}
			return
		}
		bd := img.Bounds()
		if bd.Dx() <= 0 || bd.Dy() <= 0 || int64(bd.Dx())*int64(bd.Dy()) > maxPixels {
			t.Fatalf("decoded %v past the %d-pixel limit (header said %d×%d)", bd, maxPixels, info.Width, info.Height)
		}
		up := Orient(img, info.Orientation)
		out, err := DefaultCLIP().Preprocess(up)
		if err != nil || len(out) != 3*224*224 {
			t.Fatalf("preprocess of a decoded %v image: %d values, %v", bd, len(out), err)
		}
	})
}

func FuzzReadEXIF(f *testing.F) {
	f.Add(tiffEXIF(binary.LittleEndian, 6))
	f.Add(tiffEXIF(binary.BigEndian, 8))
	f.Add(withJPEGApp1([]byte{0xFF, 0xD8, 0xFF, 0xD9}, tiffEXIF(binary.BigEndian, 2)))
	f.Add([]byte("II*\x00\x08\x00\x00\x00\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		x, _ := ReadEXIF(data)
		if x.Orientation < 0 || x.Orientation > 8 {
			t.Fatalf("orientation %d", x.Orientation)
		}
		if x.HasGPS && (x.Latitude < -90 || x.Latitude > 90 || x.Longitude < -180 || x.Longitude > 180) {
			t.Fatalf("GPS %v %v", x.Latitude, x.Longitude)
		}
	})
}
