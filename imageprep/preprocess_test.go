package imageprep

import (
	"encoding/binary"
	"image"
	"image/color"
	"math"
	"strings"
	"testing"
)

// normalised is the value transformers produces for level v of channel ch:
// float32(v·factor computed in float64), then (x − mean)/std in float32.
func normalised(c Config, ch int, v uint8) float32 {
	x := float32(float64(v) * c.RescaleFactor)
	return (x - float32(c.Mean[ch])) / float32(c.Std[ch])
}

func TestPreprocessConstantColour(t *testing.T) {
	c := DefaultCLIP()
	col := color.NRGBA{200, 31, 128, 255}
	for _, size := range [][2]int{{1920, 1080}, {300, 500}, {224, 224}, {50, 20}, {1, 1}, {3, 1000}} {
		img := image.NewNRGBA(image.Rect(0, 0, size[0], size[1]))
		for i := 0; i < len(img.Pix); i += 4 {
			copy(img.Pix[i:], []uint8{col.R, col.G, col.B, col.A})
		}
		out, err := c.Preprocess(img)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 3*224*224 {
			t.Fatalf("%v: %d values", size, len(out))
		}
		for ch, v := range []uint8{col.R, col.G, col.B} {
			want := normalised(c, ch, v)
			// And the same number from the definition in real arithmetic.
			if real := (float64(v)/255 - c.Mean[ch]) / c.Std[ch]; math.Abs(float64(want)-real) > 1e-5 {
				t.Fatalf("expected value %v far from %v", want, real)
			}
			for i, got := range out[ch*224*224 : (ch+1)*224*224] {
				if got != want {
					t.Fatalf("%v: channel %d value %d = %v, want %v", size, ch, i, got, want)
				}
			}
		}
	}
}

// TestCenterCropGeometry puts a marker pixel in an unresized image and
// checks where transformers' centre crop (floor division, zero padding
// centred with ceil) moves it.
func TestCenterCropGeometry(t *testing.T) {
	tests := []struct {
		name         string
		w, h         int // image
		cw, ch       int // crop
		mx, my       int // marker in the image
		wantX, wantY int // marker in the output
		padX, padY   int // a pixel that must be padding, or -1
	}{
		{"odd into odd", 9, 7, 5, 5, 4, 3, 2, 2, -1, -1},
		{"even into odd", 10, 8, 5, 5, 5, 4, 3, 3, -1, -1}, // left = (10-5)//2 = 2, top = 1
		{"odd into even", 9, 7, 4, 4, 4, 3, 2, 2, -1, -1},  // left = 2, top = 1
		{"smaller: pads", 3, 2, 6, 5, 0, 0, 2, 2, 0, 0},    // left = (3-6)//2 = -2, top = -2
		{"smaller one way", 9, 2, 5, 5, 4, 1, 2, 3, 2, 0},  // left = 2, top = (2-5)//2 = -2
		{"tall into wide", 3, 9, 5, 3, 1, 4, 2, 1, 0, 0},   // left = -1, top = 3
		{"exact", 4, 4, 4, 4, 3, 0, 3, 0, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultCLIP()
			c.DoResize = false
			c.CropHeight, c.CropWidth = tt.ch, tt.cw
			img := image.NewNRGBA(image.Rect(0, 0, tt.w, tt.h))
			for i := 0; i < len(img.Pix); i += 4 {
				copy(img.Pix[i:], []uint8{100, 100, 100, 255})
			}
			img.SetNRGBA(tt.mx, tt.my, color.NRGBA{255, 0, 0, 255})
			out, err := c.Preprocess(img)
			if err != nil {
				t.Fatal(err)
			}
			red := out[:tt.cw*tt.ch]
			marker, pad := normalised(c, 0, 255), normalised(c, 0, 0)
			var found [][2]int
			for y := 0; y < tt.ch; y++ {
				for x := 0; x < tt.cw; x++ {
					if red[y*tt.cw+x] == marker {
						found = append(found, [2]int{x, y})
					}
				}
			}
			if len(found) != 1 || found[0] != [2]int{tt.wantX, tt.wantY} {
				t.Errorf("marker at %v, want [[%d %d]]", found, tt.wantX, tt.wantY)
			}
			if tt.padX >= 0 {
				if got := red[tt.padY*tt.cw+tt.padX]; got != pad {
					t.Errorf("(%d,%d) = %v, want padding %v", tt.padX, tt.padY, got, pad)
				}
			}
		})
	}
}

func TestPreprocessAspectRatios(t *testing.T) {
	c := DefaultCLIP()
	for _, s := range [][2]int{{1, 1000}, {1000, 1}, {2, 2}, {1920, 1080}, {225, 224}} {
		out, err := c.Preprocess(photoLike(s[0], s[1], 3))
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		if len(out) != 3*224*224 {
			t.Errorf("%v: %d values", s, len(out))
		}
		for _, v := range out {
			if math.IsNaN(float64(v)) || v < -3 || v > 3 {
				t.Fatalf("%v: out-of-range value %v", s, v)
			}
		}
	}
	// Without a crop the output follows the resize.
	c.DoCenterCrop = false
	out, err := c.Preprocess(photoLike(640, 480, 3))
	if err != nil || len(out) != 3*224*298 {
		t.Errorf("uncropped: %d values, %v; want 3×224×298", len(out), err)
	}
}

// TestPreprocessMatchesStages: the fused pipeline equals resize, crop and
// normalise done one after the other with the exported pieces.
func TestPreprocessMatchesStages(t *testing.T) {
	c := DefaultCLIP()
	img := photoLike(500, 333, 8)
	out, err := c.Preprocess(img)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Resize(img, 336, 224, Bicubic) // 224·500/333 = 336.3
	if err != nil {
		t.Fatal(err)
	}
	left := (336 - 224) / 2
	for ch := range 3 {
		for y := 0; y < 224; y++ {
			for x := 0; x < 224; x++ {
				want := normalised(c, ch, rs.Pix[y*rs.Stride+3*(x+left)+ch])
				if got := out[ch*224*224+y*224+x]; got != want {
					t.Fatalf("ch %d (%d,%d): %v, want %v", ch, x, y, got, want)
				}
			}
		}
	}
}

func TestPreprocessBatch(t *testing.T) {
	c := DefaultCLIP()
	imgs := []image.Image{photoLike(640, 480, 1), photoLike(100, 300, 2), image.NewGray(image.Rect(0, 0, 50, 50)), photoLike(224, 224, 3), photoLike(1000, 30, 4)}
	batch, err := c.PreprocessBatch(imgs)
	if err != nil {
		t.Fatal(err)
	}
	per := 3 * 224 * 224
	if len(batch) != len(imgs)*per {
		t.Fatalf("%d values", len(batch))
	}
	for i, img := range imgs {
		one, err := c.Preprocess(img)
		if err != nil {
			t.Fatal(err)
		}
		for j := range one {
			if batch[i*per+j] != one[j] {
				t.Fatalf("image %d value %d: batch %v, single %v", i, j, batch[i*per+j], one[j])
			}
		}
	}
	imgs[2] = image.NewGray(image.Rect(0, 0, 0, 0))
	if _, err := c.PreprocessBatch(imgs); err == nil || !strings.Contains(err.Error(), "image 2") {
		t.Errorf("bad image in batch: %v, want an error naming image 2", err)
	}
	c.DoCenterCrop = false
	if _, err := c.PreprocessBatch(imgs[:1]); err == nil {
		t.Error("variable-size config: want an error")
	}
	if out, err := DefaultCLIP().PreprocessBatch(nil); err != nil || len(out) != 0 {
		t.Errorf("empty batch: %v %v", out, err)
	}
}

func TestPreprocessErrors(t *testing.T) {
	c := DefaultCLIP()
	if _, err := c.Preprocess(nil); err == nil {
		t.Error("nil image: want an error")
	}
	if _, err := c.Preprocess(image.NewRGBA(image.Rect(0, 0, 0, 5))); err == nil {
		t.Error("empty image: want an error")
	}
	bad := c
	bad.Std[2] = 0
	if _, err := bad.Preprocess(photoLike(10, 10, 1)); err == nil || !strings.Contains(err.Error(), "image_std[2]") {
		t.Errorf("invalid config: %v", err)
	}
	if err := c.PreprocessInto(make([]float32, 5), photoLike(10, 10, 1)); err == nil {
		t.Error("short dst: want an error")
	}
	huge := c
	huge.DoCenterCrop = false
	if _, err := huge.Preprocess(image.NewGray(image.Rect(0, 0, 1, 1<<20))); err == nil {
		t.Error("uncropped output of 224×234881024: want an error")
	}
}

// TestPreprocessData: decode, EXIF orientation and preprocessing in one go
// equal the steps done by hand.
func TestPreprocessData(t *testing.T) {
	c := DefaultCLIP()
	data := withJPEGApp1(encodeJPEG(t, photoLike(300, 200, 4), 90), tiffEXIF(binary.LittleEndian, 6))
	got, info, err := c.PreprocessData(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Orientation != 6 {
		t.Errorf("orientation %d", info.Orientation)
	}
	img, _, _ := Decode(data, Limits{})
	want, _ := c.Preprocess(Orient(img, 6))
	unrotated, _ := c.Preprocess(img)
	same, differs := true, false
	for i := range want {
		same = same && got[i] == want[i]
		differs = differs || got[i] != unrotated[i]
	}
	if !same || !differs {
		t.Errorf("PreprocessData should equal Preprocess(Orient(...)) (%v) and differ from the unrotated tensor (%v)", same, differs)
	}
	if _, _, err := c.PreprocessData([]byte("nope"), Limits{}); err == nil {
		t.Error("garbage: want an error")
	}
}

// TestRegionConversionMatchesFull: Preprocess converts only the part of a
// YCbCr image the crop needs; the tensor must equal the one from a full
// conversion, for every chroma layout and odd sizes.
func TestRegionConversionMatchesFull(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411}
	c := DefaultCLIP()
	noResize := DefaultCLIP()
	noResize.DoResize = false
	for _, ratio := range ratios {
		for _, s := range [][2]int{{1001, 333}, {333, 1001}, {640, 480}, {225, 700}} {
			m := image.NewYCbCr(image.Rect(0, 0, s[0], s[1]), ratio)
			src := photoLike(s[0], s[1], 5)
			for y := 0; y < s[1]; y++ {
				for x := 0; x < s[0]; x++ {
					p := src.NRGBAAt(x, y)
					yy, cb, cr := color.RGBToYCbCr(p.R, p.G, p.B)
					m.Y[m.YOffset(x, y)] = yy
					m.Cb[m.COffset(x, y)], m.Cr[m.COffset(x, y)] = cb, cr
				}
			}
			for _, cfg := range []Config{c, noResize} {
				got, err := cfg.Preprocess(m)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := cfg.Preprocess(ToRGB(m))
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%v %v resize=%v: value %d differs (%v vs %v)", ratio, s, cfg.DoResize, i, got[i], want[i])
					}
				}
			}
		}
	}
}
