package imageprep

import (
	"encoding/binary"
	"math"
	"testing"
)

func TestReadEXIF(t *testing.T) {
	jpg := encodeJPEG(t, quadrants(16, 8), 90)
	le, be := tiffEXIF(binary.LittleEndian, 6), tiffEXIF(binary.BigEndian, 3)
	png := encodePNG(t, quadrants(4, 4))
	pngWith := append(append(append([]byte(nil), png[:33]...), pngChunk("eXIf", be)...), png[33:]...) // after IHDR
	webp := []byte("RIFF\x00\x00\x00\x00WEBP")
	webp = append(webp, "VP8X"...)
	webp = binary.LittleEndian.AppendUint32(webp, 10)
	webp = append(webp, make([]byte, 10)...)
	webp = append(webp, "EXIF"...)
	payload := append([]byte("Exif\x00\x00"), le...)
	webp = binary.LittleEndian.AppendUint32(webp, uint32(len(payload)))
	webp = append(webp, payload...)

	tests := []struct {
		name        string
		data        []byte
		orientation int
	}{
		{"jpeg little-endian", withJPEGApp1(jpg, le), 6},
		{"jpeg big-endian", withJPEGApp1(jpg, be), 3},
		{"png eXIf", pngWith, 3},
		{"webp EXIF", webp, 6},
		{"tiff", be, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := ReadEXIF(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if x.Orientation != tt.orientation || x.Make != "Acme" || x.Model != "Snapper 3000" ||
				x.DateTime != "2024:05:06 07:08:09" || x.DateTimeOriginal != "2024:05:06 07:08:00" {
				t.Errorf("got %+v", x)
			}
			// 33°51'36" S, 151°12' E
			if !x.HasGPS || math.Abs(x.Latitude-(-33.86)) > 1e-9 || math.Abs(x.Longitude-151.2) > 1e-9 {
				t.Errorf("GPS = %v %v %v, want -33.86 151.2", x.HasGPS, x.Latitude, x.Longitude)
			}
		})
	}
	if _, err := ReadEXIF(jpg); err == nil {
		t.Error("JPEG without EXIF: want an error")
	}
	// Decode reports the same facts.
	_, info, err := Decode(withJPEGApp1(jpg, le), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Orientation != 6 || info.EXIF.Model != "Snapper 3000" || info.Width != 16 || info.Height != 8 {
		t.Errorf("info = %+v", info)
	}
}

// TestReadEXIFMalformed: broken EXIF never panics and never loops.
func TestReadEXIFMalformed(t *testing.T) {
	good := tiffEXIF(binary.LittleEndian, 6)
	tests := map[string][]byte{
		"short":          []byte("II*\x00\x08"),
		"bad magic":      append([]byte("XX*\x00"), good[4:]...),
		"ifd0 off end":   append([]byte("II*\x00\xff\xff\xff\x7f"), good[8:]...),
		"count past end": append(append([]byte(nil), good[:8]...), 0xff, 0xff),
		"truncated":      good[:len(good)-20],
		"self-referencing": func() []byte {
			b := append([]byte(nil), good...)
			// Point the Exif IFD pointer at IFD0 itself.
			for i := 10; i+12 <= len(b); i += 12 {
				if binary.LittleEndian.Uint16(b[i:]) == 0x8769 {
					binary.LittleEndian.PutUint32(b[i+8:], 8)
				}
			}
			return b
		}(),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			x, _ := parseEXIF(data)
			if x.Orientation < 0 || x.Orientation > 8 {
				t.Errorf("orientation %d", x.Orientation)
			}
		})
	}
	x, _ := parseEXIF(tests["self-referencing"])
	if x.Orientation != 6 {
		t.Errorf("self-referencing Exif pointer lost IFD0's orientation: %+v", x)
	}
}

// TestOrientations checks all eight EXIF orientations on a JPEG whose
// quadrants are red, green, blue, white, with the corner colours PIL's
// exif_transpose gives (worked out by hand from the EXIF definitions).
func TestOrientations(t *testing.T) {
	R, G, B, W := [3]uint8{255, 0, 0}, [3]uint8{0, 255, 0}, [3]uint8{0, 0, 255}, [3]uint8{255, 255, 255}
	tests := []struct {
		o       int
		swapped bool
		corners [4][3]uint8 // top-left, top-right, bottom-left, bottom-right
	}{
		{1, false, [4][3]uint8{R, G, B, W}},
		{2, false, [4][3]uint8{G, R, W, B}}, // mirror left–right
		{3, false, [4][3]uint8{W, B, G, R}}, // rotate 180
		{4, false, [4][3]uint8{B, W, R, G}}, // mirror top–bottom
		{5, true, [4][3]uint8{R, B, G, W}},  // transpose
		{6, true, [4][3]uint8{B, R, W, G}},  // rotate 90 clockwise
		{7, true, [4][3]uint8{W, G, B, R}},  // transverse
		{8, true, [4][3]uint8{G, W, R, B}},  // rotate 90 counter-clockwise
	}
	const w, h = 64, 32
	jpg := encodeJPEG(t, quadrants(w, h), 95)
	for _, tt := range tests {
		data := withJPEGApp1(jpg, tiffEXIF(binary.BigEndian, uint16(tt.o)))
		cfg := DefaultCLIP()
		img, info, err := cfg.Load(data, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if info.Orientation != tt.o || info.Width != w || info.Height != h {
			t.Errorf("o%d: info %+v", tt.o, info)
		}
		ow, oh := w, h
		if tt.swapped {
			ow, oh = h, w
		}
		if b := img.Bounds(); b.Dx() != ow || b.Dy() != oh {
			t.Fatalf("o%d: size %v, want %d×%d", tt.o, b.Size(), ow, oh)
		}
		rgb := ToRGB(img)
		pts := [4][2]int{{2, 2}, {ow - 3, 2}, {2, oh - 3}, {ow - 3, oh - 3}}
		for i, p := range pts {
			if got := rgbAt(rgb, p[0], p[1]); !near(got, tt.corners[i], 10) {
				t.Errorf("o%d: corner %d at %v = %v, want %v", tt.o, i, p, got, tt.corners[i])
			}
		}
		// With ExifTranspose off the pixels stay as stored.
		cfg.ExifTranspose = false
		img, _, _ = cfg.Load(data, Limits{})
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Errorf("o%d without transpose: size %v", tt.o, b.Size())
		}
	}
}

// TestOrientExact checks Orient pixel by pixel on a lossless image against
// the coordinate definitions, and that each orientation undoes to identity.
func TestOrientExact(t *testing.T) {
	src := photoLike(7, 5, 9)
	in := ToRGB(src)
	w, h := 7, 5
	def := map[int]func(x, y int) (int, int){
		2: func(x, y int) (int, int) { return w - 1 - x, y },
		3: func(x, y int) (int, int) { return w - 1 - x, h - 1 - y },
		4: func(x, y int) (int, int) { return x, h - 1 - y },
		5: func(x, y int) (int, int) { return y, x },
		6: func(x, y int) (int, int) { return y, h - 1 - x },
		7: func(x, y int) (int, int) { return w - 1 - y, h - 1 - x },
		8: func(x, y int) (int, int) { return w - 1 - y, x },
	}
	for o, f := range def {
		out := ToRGB(Orient(src, o))
		b := out.Bounds()
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				sx, sy := f(x, y)
				if rgbAt(out, x, y) != rgbAt(in, sx, sy) {
					t.Fatalf("o%d: out(%d,%d) != in(%d,%d)", o, x, y, sx, sy)
				}
			}
		}
	}
	if got := Orient(src, 1); got != src {
		t.Error("orientation 1 should return the image itself")
	}
	if got := Orient(src, 9); got != src {
		t.Error("orientation 9 (invalid) should return the image itself")
	}
}
