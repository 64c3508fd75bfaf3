package imageprep

import (
	"image"
	"testing"
)

// BenchmarkPreprocess runs the CLIP pipeline on a 1920×1080 photo-like image
// in the forms it arrives in: decoded JPEG (4:2:0 YCbCr, so the fancy
// chroma upsampling is included), NRGBA (PNG) and already-RGB.
func BenchmarkPreprocess(b *testing.B) {
	src := photoLike(1920, 1080, 1)
	jpg, _, err := Decode(encodeJPEG(b, src, 90), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	c := DefaultCLIP()
	for _, bc := range []struct {
		name string
		img  image.Image
	}{{"1080p-jpeg-ycbcr420", jpg}, {"1080p-nrgba", src}, {"1080p-rgb", ToRGB(src)}} {
		b.Run(bc.name, func(b *testing.B) {
			dst := make([]float32, 3*224*224)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.PreprocessInto(dst, bc.img); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPreprocessBatch8(b *testing.B) {
	imgs := make([]image.Image, 8)
	for i := range imgs {
		imgs[i] = photoLike(1920, 1080, uint64(i))
	}
	c := DefaultCLIP()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.PreprocessBatch(imgs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJPEG1080p(b *testing.B) {
	data := encodeJPEG(b, photoLike(1920, 1080, 1), 90)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(data, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToRGB1080pYCbCr(b *testing.B) {
	img, _, _ := Decode(encodeJPEG(b, photoLike(1920, 1080, 1), 90), Limits{})
	b.ReportAllocs()
	for b.Loop() {
		ToRGB(img)
	}
}
