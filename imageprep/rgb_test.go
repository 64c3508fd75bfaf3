package imageprep

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"
)

func TestToRGB(t *testing.T) {
	r1 := image.Rect(0, 0, 1, 1)
	nrgba := image.NewNRGBA(r1)
	nrgba.SetNRGBA(0, 0, color.NRGBA{10, 200, 30, 0}) // fully transparent
	nrgbaHalf := image.NewNRGBA(r1)
	nrgbaHalf.SetNRGBA(0, 0, color.NRGBA{10, 200, 30, 77})
	rgba := image.NewRGBA(r1)
	rgba.SetRGBA(0, 0, color.RGBA{5, 100, 15, 128}) // premultiplied
	gray := image.NewGray(r1)
	gray.SetGray(0, 0, color.Gray{77})
	gray16 := image.NewGray16(r1)
	gray16.SetGray16(0, 0, color.Gray16{0xABCD})
	nrgba64 := image.NewNRGBA64(r1)
	nrgba64.SetNRGBA64(0, 0, color.NRGBA64{0x1234, 0x5678, 0x9ABC, 0x0001})
	rgba64 := image.NewRGBA64(r1)
	rgba64.SetRGBA64(0, 0, color.RGBA64{0x1234, 0x5678, 0x9ABC, 0xFFFF})
	pal := image.NewPaletted(r1, color.Palette{color.Black, color.NRGBA{9, 8, 7, 0}})
	pal.SetColorIndex(0, 0, 1)
	ycc := image.NewYCbCr(r1, image.YCbCrSubsampleRatio444)
	ycc.Y[0], ycc.Cb[0], ycc.Cr[0] = 128, 128, 128
	nycca := image.NewNYCbCrA(r1, image.YCbCrSubsampleRatio420)
	nycca.Y[0], nycca.Cb[0], nycca.Cr[0], nycca.A[0] = 200, 128, 128, 3
	cmyk := func(c, m, y, k uint8) *image.CMYK {
		i := image.NewCMYK(r1)
		i.SetCMYK(0, 0, color.CMYK{c, m, y, k})
		return i
	}
	tests := []struct {
		name string
		img  image.Image
		want [3]uint8
	}{
		{"transparent NRGBA keeps its colour", nrgba, [3]uint8{10, 200, 30}},
		{"half-transparent NRGBA is not composited", nrgbaHalf, [3]uint8{10, 200, 30}},
		{"premultiplied RGBA is un-premultiplied", rgba, [3]uint8{10, 199, 30}},
		{"gray replicated", gray, [3]uint8{77, 77, 77}},
		{"gray16 high byte", gray16, [3]uint8{0xAB, 0xAB, 0xAB}},
		{"nrgba64 high bytes", nrgba64, [3]uint8{0x12, 0x56, 0x9A}},
		{"rgba64 high bytes", rgba64, [3]uint8{0x12, 0x56, 0x9A}},
		{"palette colour, alpha dropped", pal, [3]uint8{9, 8, 7}},
		{"ycbcr mid grey", ycc, [3]uint8{128, 128, 128}},
		{"nycbcra alpha dropped", nycca, [3]uint8{200, 200, 200}},
		{"cmyk none is white", cmyk(0, 0, 0, 0), [3]uint8{255, 255, 255}},
		{"cmyk cyan", cmyk(255, 0, 0, 0), [3]uint8{0, 255, 255}},
		{"cmyk black", cmyk(0, 0, 0, 255), [3]uint8{0, 0, 0}},
		{"generic image via At", &image.Uniform{color.NRGBA{1, 2, 3, 4}}, [3]uint8{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := tt.img
			if u, ok := img.(*image.Uniform); ok {
				img = &boundedUniform{u}
			}
			if got := rgbAt(ToRGB(img), 0, 0); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

type boundedUniform struct{ *image.Uniform }

func (boundedUniform) Bounds() image.Rectangle { return image.Rect(0, 0, 2, 2) }

// TestCMYKFormula checks PIL's integer cmyk2rgb against the real-number
// formula (255−C)(255−K)/255 over a grid.
func TestCMYKFormula(t *testing.T) {
	for c := 0; c < 256; c += 5 {
		for k := 0; k < 256; k += 3 {
			r, _, _ := cmykToRGB(uint8(c), 0, 0, uint8(k))
			want := float64(255-c) * float64(255-k) / 255
			if math.Abs(float64(r)-want) > 1 {
				t.Fatalf("C=%d K=%d: R=%d, want ≈%.2f", c, k, r, want)
			}
		}
	}
}

// TestSubImageOffsets: sub-images (non-zero Min, larger Stride) convert
// like the same pixels in a fresh image.
func TestSubImageOffsets(t *testing.T) {
	full := photoLike(40, 30, 5)
	sub := full.SubImage(image.Rect(7, 5, 31, 22)).(*image.NRGBA)
	got := ToRGB(sub)
	if got.Rect != sub.Rect {
		t.Fatalf("bounds %v, want %v", got.Rect, sub.Rect)
	}
	for y := 5; y < 22; y++ {
		for x := 7; x < 31; x++ {
			c := full.NRGBAAt(x, y)
			if rgbAt(got, x, y) != [3]uint8{c.R, c.G, c.B} {
				t.Fatalf("(%d,%d) differs", x, y)
			}
		}
	}
}

// TestJPEGUpsamplingAgainstFloat compares libjpeg-style fancy upsampling and
// colour conversion with a float64 triangle filter and the JFIF formulas.
func TestJPEGUpsamplingAgainstFloat(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440}
	for _, ratio := range ratios {
		const w, h = 37, 23
		m := image.NewYCbCr(image.Rect(0, 0, w, h), ratio)
		r := rand.New(rand.NewPCG(uint64(ratio), 1))
		// Smooth chroma (a triangle filter is exact on ramps), random luma.
		for i := range m.Y {
			m.Y[i] = uint8(r.IntN(256))
		}
		cw := m.CStride
		for i := range m.Cb {
			x, y := i%cw, i/cw
			m.Cb[i] = uint8(60 + 7*x + 3*y)
			m.Cr[i] = uint8(200 - 5*x - 4*y)
		}
		got := ToRGB(m)
		hs, vs := 1.0, 1.0
		switch ratio {
		case image.YCbCrSubsampleRatio422:
			hs = 2
		case image.YCbCrSubsampleRatio420:
			hs, vs = 2, 2
		case image.YCbCrSubsampleRatio440:
			vs = 2
		}
		chroma := func(p []uint8, x, y int) float64 {
			// Centre of luma sample x in chroma coordinates, clamped.
			cx := math.Max(0, math.Min((float64(x)+0.5)/hs-0.5, float64((w+int(hs)-1)/int(hs)-1)))
			cy := math.Max(0, math.Min((float64(y)+0.5)/vs-0.5, float64((h+int(vs)-1)/int(vs)-1)))
			x0, y0 := int(cx), int(cy)
			x1, y1 := min(x0+1, (w+int(hs)-1)/int(hs)-1), min(y0+1, (h+int(vs)-1)/int(vs)-1)
			fx, fy := cx-float64(x0), cy-float64(y0)
			at := func(x, y int) float64 { return float64(p[y*m.CStride+x]) }
			return (1-fy)*((1-fx)*at(x0, y0)+fx*at(x1, y0)) + fy*((1-fx)*at(x0, y1)+fx*at(x1, y1))
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yy := float64(m.Y[m.YOffset(x, y)])
				cb, cr := chroma(m.Cb, x, y)-128, chroma(m.Cr, x, y)-128
				want := [3]float64{yy + 1.402*cr, yy - 0.344136*cb - 0.714136*cr, yy + 1.772*cb}
				g := rgbAt(got, x, y)
				for c := range 3 {
					if math.Abs(float64(g[c])-math.Max(0, math.Min(255, want[c]))) > 2.5 {
						t.Fatalf("ratio %v (%d,%d) ch %d: got %d, want ≈%.2f", ratio, x, y, c, g[c], want[c])
					}
				}
			}
		}
	}
}

// TestWebPColour checks libwebp's fixed-point BT.601 conversion against
// the real-number formula, and the studio-range end points.
func TestWebPColour(t *testing.T) {
	if got := [3]uint8(rgbOf(webpPixel(16, 128, 128))); got != [3]uint8{0, 0, 0} {
		t.Errorf("Y=16 gives %v, want black", got)
	}
	if got := [3]uint8(rgbOf(webpPixel(235, 128, 128))); got != [3]uint8{255, 255, 255} {
		t.Errorf("Y=235 gives %v, want white", got)
	}
	for y := 0; y < 256; y += 3 {
		for u := 0; u < 256; u += 17 {
			for v := 0; v < 256; v += 13 {
				r, g, b := webpPixel(int32(y), int32(u), int32(v))
				yy := 1.164 * float64(y-16)
				want := [3]float64{yy + 1.596*float64(v-128), yy - 0.813*float64(v-128) - 0.391*float64(u-128), yy + 2.018*float64(u-128)}
				for c, got := range [3]uint8{r, g, b} {
					if math.Abs(float64(got)-math.Max(0, math.Min(255, want[c]))) > 1.5 {
						t.Fatalf("YUV %d,%d,%d ch %d: got %d, want ≈%.2f", y, u, v, c, got, want[c])
					}
				}
			}
		}
	}
}

func rgbOf(r, g, b uint8) [3]uint8 { return [3]uint8{r, g, b} }
