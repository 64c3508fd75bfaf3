package imageprep

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"testing"
)

func TestResizeOutputSize(t *testing.T) {
	c := DefaultCLIP()
	tests := []struct{ w, h, wantW, wantH int }{
		{1920, 1080, 398, 224}, // 224·1920/1080 = 398.2
		{1080, 1920, 224, 398},
		{640, 480, 298, 224}, // 298.67: truncated, not rounded
		{480, 640, 224, 298},
		{224, 224, 224, 224},
		{100, 50, 448, 224}, // upscale
		{1000, 999, 224, 224},
		{3, 1000, 224, 74666}, // 74666.67
		{1, 1, 224, 224},
	}
	for _, tt := range tests {
		if h, w := c.resizeSize(tt.w, tt.h); w != tt.wantW || h != tt.wantH {
			t.Errorf("%d×%d → %d×%d, want %d×%d", tt.w, tt.h, w, h, tt.wantW, tt.wantH)
		}
	}
	c.ResizeTo = Size{Height: 300, Width: 100}
	if h, w := c.resizeSize(640, 480); h != 300 || w != 100 {
		t.Errorf("fixed size gives %d×%d", w, h)
	}
}

// refResize is an independent float64 version of the same separable
// convolution: same kernel and support, normalised float weights, the
// horizontal result rounded to uint8 as Pillow stores it, no fixed point.
func refResize(src *RGB, ow, oh int, kern func(float64) float64, support float64) *RGB {
	iw, ih := src.Rect.Dx(), src.Rect.Dy()
	weights := func(in, out int) (first []int, ws [][]float64) {
		scale := float64(in) / float64(out)
		fs := math.Max(scale, 1)
		sup := support * fs
		for o := 0; o < out; o++ {
			c := (float64(o) + 0.5) * scale
			lo, hi := max(int(c-sup+0.5), 0), min(int(c+sup+0.5), in)
			var w []float64
			sum := 0.0
			for i := lo; i < hi; i++ {
				v := kern((float64(i) - c + 0.5) / fs)
				w = append(w, v)
				sum += v
			}
			for i := range w {
				w[i] /= sum
			}
			first = append(first, lo)
			ws = append(ws, w)
		}
		return
	}
	round := func(v float64) uint8 { return uint8(math.Max(0, math.Min(255, math.Floor(v+0.5)))) }
	tmp := NewRGB(image.Rect(0, 0, ow, ih))
	if ow == iw {
		copy(tmp.Pix, src.Pix)
	} else {
		f, ws := weights(iw, ow)
		for y := 0; y < ih; y++ {
			for x := 0; x < ow; x++ {
				for c := range 3 {
					s := 0.0
					for i, w := range ws[x] {
						s += w * float64(src.Pix[y*src.Stride+3*(f[x]+i)+c])
					}
					tmp.Pix[y*tmp.Stride+3*x+c] = round(s)
				}
			}
		}
	}
	if oh == ih {
		return tmp
	}
	out := NewRGB(image.Rect(0, 0, ow, oh))
	f, ws := weights(ih, oh)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			for c := range 3 {
				s := 0.0
				for i, w := range ws[y] {
					s += w * float64(tmp.Pix[(f[y]+i)*tmp.Stride+3*x+c])
				}
				out.Pix[y*out.Stride+3*x+c] = round(s)
			}
		}
	}
	return out
}

func TestResizeMatchesFloatReference(t *testing.T) {
	keys := func(x float64) float64 { // Keys cubic, a = -0.5
		x = math.Abs(x)
		switch {
		case x < 1:
			return 1.5*x*x*x - 2.5*x*x + 1
		case x < 2:
			return -0.5*x*x*x + 2.5*x*x - 4*x + 2
		}
		return 0
	}
	tri := func(x float64) float64 { return math.Max(0, 1-math.Abs(x)) }
	src := ToRGB(photoLike(157, 103, 7))
	sizes := [][2]int{{224, 146}, {60, 40}, {400, 300}, {157, 50}, {30, 103}, {1, 1}, {156, 104}}
	for _, f := range []struct {
		r       Resample
		fn      func(float64) float64
		support float64
	}{{Bicubic, keys, 2}, {Bilinear, tri, 1}} {
		for _, s := range sizes {
			t.Run(fmt.Sprintf("%v_%dx%d", f.r, s[0], s[1]), func(t *testing.T) {
				got, err := Resize(src, s[0], s[1], f.r)
				if err != nil {
					t.Fatal(err)
				}
				want := refResize(src, s[0], s[1], f.fn, f.support)
				maxD, nDiff := 0, 0
				for i := range want.Pix {
					d := int(got.Pix[i]) - int(want.Pix[i])
					if d < 0 {
						d = -d
					}
					if d != 0 {
						nDiff++
					}
					maxD = max(maxD, d)
				}
				t.Logf("max |Δ| %d, %d of %d samples differ", maxD, nDiff, len(want.Pix))
				if maxD > 1 {
					t.Errorf("differs from the float reference by %d levels", maxD)
				}
			})
		}
	}
}

func TestResizeConstantStaysConstant(t *testing.T) {
	src := NewRGB(image.Rect(0, 0, 97, 61))
	for i := 0; i < len(src.Pix); i += 3 {
		src.Pix[i], src.Pix[i+1], src.Pix[i+2] = 201, 7, 128
	}
	for _, r := range []Resample{Lanczos, Bilinear, Bicubic, Box, Hamming} {
		for _, s := range [][2]int{{224, 141}, {13, 9}, {300, 61}, {97, 500}} {
			out, err := Resize(src, s[0], s[1], r)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(out.Pix); i += 3 {
				if out.Pix[i] != 201 || out.Pix[i+1] != 7 || out.Pix[i+2] != 128 {
					t.Fatalf("%v %v: pixel %d = %v", r, s, i/3, out.Pix[i:i+3])
				}
			}
		}
	}
}

// TestResizeWindowMatchesFull: computing only a window gives exactly the
// pixels of the full resize there.
func TestResizeWindowMatchesFull(t *testing.T) {
	src := ToRGB(photoLike(300, 200, 11))
	f, _ := filterFor(Bicubic)
	for _, s := range [][2]int{{336, 224}, {150, 100}, {300, 120}, {120, 200}} {
		full := planResize(300, 200, s[0], s[1], image.Rect(0, 0, s[0], s[1]), f).run(src)
		win := image.Rect(s[0]/5, s[1]/4, s[0]-s[0]/7, s[1]-s[1]/3)
		plan := planResize(300, 200, s[0], s[1], win, f)
		// Give the plan only the source pixels it asked for.
		part := plan.run(src.SubImage(plan.src).(*RGB))
		for y := win.Min.Y; y < win.Max.Y; y++ {
			for x := win.Min.X; x < win.Max.X; x++ {
				if rgbAt(part, x, y) != rgbAt(full, x, y) {
					t.Fatalf("%v: (%d,%d) window %v, full %v", s, x, y, rgbAt(part, x, y), rgbAt(full, x, y))
				}
			}
		}
	}
}

func TestResizeErrors(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	if _, err := Resize(img, 2, 2, 0); err == nil {
		t.Error("nearest: want an error")
	}
	if _, err := Resize(img, 0, 2, Bicubic); err == nil {
		t.Error("zero width: want an error")
	}
	if _, err := Resize(image.NewGray(image.Rect(0, 0, 0, 3)), 2, 2, Bicubic); err == nil {
		t.Error("empty image: want an error")
	}
	same, err := Resize(img, 4, 4, Bicubic)
	if err != nil || same.Rect.Dx() != 4 {
		t.Errorf("same size: %v %v", same, err)
	}
	img.SetGray(1, 2, color.Gray{99})
	if rgbAt(same, 1, 2) == [3]uint8{99, 99, 99} {
		t.Error("same-size resize should be a copy, not a view")
	}
}
