package imageprep

import (
	"image"
	"image/color"
)

// RGB is an 8-bit RGB image with 3 bytes per pixel: the pixel values of
// PIL's "RGB" mode. Pix holds rows of Stride bytes starting at Rect.Min.
type RGB struct {
	Pix    []uint8
	Stride int
	Rect   image.Rectangle
}

// NewRGB returns a black RGB image with the given bounds.
func NewRGB(r image.Rectangle) *RGB {
	w, h := r.Dx(), r.Dy()
	if w < 0 || h < 0 {
		w, h = 0, 0
	}
	return &RGB{Pix: make([]uint8, 3*w*h), Stride: 3 * w, Rect: r}
}

// ColorModel implements image.Image.
func (p *RGB) ColorModel() color.Model { return color.RGBAModel }

// Bounds implements image.Image.
func (p *RGB) Bounds() image.Rectangle { return p.Rect }

// At implements image.Image.
func (p *RGB) At(x, y int) color.Color {
	if !(image.Point{x, y}.In(p.Rect)) {
		return color.RGBA{}
	}
	i := p.PixOffset(x, y)
	return color.RGBA{p.Pix[i], p.Pix[i+1], p.Pix[i+2], 0xff}
}

// PixOffset returns the index in Pix of the first byte of pixel (x, y).
func (p *RGB) PixOffset(x, y int) int {
	return (y-p.Rect.Min.Y)*p.Stride + (x-p.Rect.Min.X)*3
}

// ToRGB converts img to 8-bit RGB the way PIL's Image.convert("RGB") does:
//
//   - alpha is dropped, not composited (RGBA→RGB keeps the straight colour;
//     Go's premultiplied *image.RGBA/*image.RGBA64 are un-premultiplied first);
//   - palette indices are looked up; grey is replicated into R, G and B;
//   - CMYK uses PIL's cmyk2rgb: R = (255−K) − (C·(255−K))/255, rounded as PIL;
//   - 16-bit samples keep their high byte (what PIL does when it opens
//     16-bit RGB(A) PNGs; for 16-bit grey PIL instead clamps to 255, see
//     DIFFERENCES.md);
//   - *image.YCbCr is taken to be JFIF/JPEG and converted as libjpeg-turbo
//     does (fancy chroma upsampling, libjpeg's rounding), so an image decoded
//     by image/jpeg gives the pixels PIL would get. Decode converts lossy WebP
//     (BT.601 studio range) itself before it gets here.
//
// An *RGB is returned as is, without copying.
func ToRGB(img image.Image) *RGB {
	if m, ok := img.(*RGB); ok {
		return m
	}
	b := img.Bounds()
	dst := NewRGB(b)
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return dst
	}
	switch m := img.(type) {
	case *image.NRGBA:
		fromNRGBA(dst, m)
	case *image.RGBA:
		fromRGBA(dst, m)
	case *image.Gray:
		fromGray(dst, m)
	case *image.Gray16:
		fromGray16(dst, m)
	case *image.NRGBA64:
		fromNRGBA64(dst, m)
	case *image.RGBA64:
		fromRGBA64(dst, m)
	case *image.Paletted:
		fromPaletted(dst, m)
	case *image.CMYK:
		fromCMYK(dst, m)
	case *image.YCbCr:
		jpegYCbCrToRGB(dst, m)
	case *image.NYCbCrA:
		jpegYCbCrToRGB(dst, &m.YCbCr)
	default:
		fromAny(dst, img)
	}
	return dst
}

// fromNRGBA drops the alpha of straight RGBA.
func fromNRGBA(dst *RGB, m *image.NRGBA) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	for y := 0; y < h; y++ {
		src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
		row := dst.Pix[y*dst.Stride : y*dst.Stride+3*w]
		for x, j := 0, 0; j < len(row); x, j = x+4, j+3 {
			row[j], row[j+1], row[j+2] = src[x], src[x+1], src[x+2]
		}
	}
}

// fromRGBA un-premultiplies RGBA and drops the alpha.
func fromRGBA(dst *RGB, m *image.RGBA) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	for y := 0; y < h; y++ {
		src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
		row := dst.Pix[y*dst.Stride : y*dst.Stride+3*w]
		for x, j := 0, 0; j < len(row); x, j = x+4, j+3 {
			a := src[x+3]
			if a == 0xff {
				row[j], row[j+1], row[j+2] = src[x], src[x+1], src[x+2]
			} else {
				row[j], row[j+1], row[j+2] = unpremul(src[x], a), unpremul(src[x+1], a), unpremul(src[x+2], a)
			}
		}
	}
}

// fromGray replicates grey into R, G and B.
func fromGray(dst *RGB, m *image.Gray) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	for y := 0; y < h; y++ {
		src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
		row := dst.Pix[y*dst.Stride : y*dst.Stride+3*w]
		for x, j := 0, 0; j < len(row); x, j = x+1, j+3 {
			v := src[x]
			row[j], row[j+1], row[j+2] = v, v, v
		}
	}
}

// fromGray16 replicates the high byte of 16-bit grey into R, G and B.
func fromGray16(dst *RGB, m *image.Gray16) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	for y := 0; y < h; y++ {
		src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
		row := dst.Pix[y*dst.Stride : y*dst.Stride+3*w]
		for x, j := 0, 0; j < len(row); x, j = x+2, j+3 {
			v := src[x] // big-endian: the high byte
			row[j], row[j+1], row[j+2] = v, v, v
		}
	}
}

// fromNRGBA64 keeps the high bytes of straight 16-bit RGBA.
func fromNRGBA64(dst *RGB, m *image.NRGBA64) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	for y := 0; y < h; y++ {
		src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
		row := dst.Pix[y*dst.Stride : y*dst.Stride+3*w]
		for x, j := 0, 0; j < len(row); x, j = x+8, j+3 {
			row[j], row[j+1], row[j+2] = src[x], src[x+2], src[x+4]
		}
	}
}

// fromRGBA64 un-premultiplies 16-bit RGBA and keeps the high bytes.
func fromRGBA64(dst *RGB, m *image.RGBA64) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := m.RGBA64At(b.Min.X+x, b.Min.Y+y)
			j := y*dst.Stride + 3*x
			if c.A == 0xffff {
				dst.Pix[j], dst.Pix[j+1], dst.Pix[j+2] = uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8)
			} else {
				n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
				dst.Pix[j], dst.Pix[j+1], dst.Pix[j+2] = uint8(n.R>>8), uint8(n.G>>8), uint8(n.B>>8)
			}
		}
	}
}

// fromPaletted looks the palette indices up.
func fromPaletted(dst *RGB, m *image.Paletted) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	var lut [256][3]uint8
	for i, c := range m.Palette {
		if i == 256 {
			break
		}
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		lut[i] = [3]uint8{n.R, n.G, n.B}
	}
	for y := 0; y < h; y++ {
		src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
		row := dst.Pix[y*dst.Stride : y*dst.Stride+3*w]
		for x, j := 0, 0; j < len(row); x, j = x+1, j+3 {
			c := &lut[src[x]]
			row[j], row[j+1], row[j+2] = c[0], c[1], c[2]
		}
	}
}

// fromCMYK converts with PIL's cmyk2rgb.
func fromCMYK(dst *RGB, m *image.CMYK) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	for y := 0; y < h; y++ {
		src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
		row := dst.Pix[y*dst.Stride : y*dst.Stride+3*w]
		for x, j := 0, 0; j < len(row); x, j = x+4, j+3 {
			row[j], row[j+1], row[j+2] = cmykToRGB(src[x], src[x+1], src[x+2], src[x+3])
		}
	}
}

// fromAny converts any other image pixel by pixel through color.NRGBAModel.
func fromAny(dst *RGB, img image.Image) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			j := y*dst.Stride + 3*x
			dst.Pix[j], dst.Pix[j+1], dst.Pix[j+2] = n.R, n.G, n.B
		}
	}
}

// unpremul recovers the straight 8-bit colour from a premultiplied one.
func unpremul(c, a uint8) uint8 {
	if a == 0 {
		return 0
	}
	v := (uint32(c)*255 + uint32(a)/2) / uint32(a)
	if v > 255 {
		v = 255
	}
	return uint8(v)
}

// cmykToRGB is PIL's cmyk2rgb (Convert.c) on true (non-inverted) CMYK, which
// is what image/jpeg returns for Adobe CMYK and YCCK files.
func cmykToRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	nk := 255 - int(k)
	return clampU8(nk - muldiv255(int(c), nk)), clampU8(nk - muldiv255(int(m), nk)), clampU8(nk - muldiv255(int(y), nk))
}

// muldiv255 is PIL's MULDIV255: a·b/255 rounded with shifts.
func muldiv255(a, b int) int {
	t := a*b + 128
	return ((t >> 8) + t) >> 8
}

func clampU8(v int) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}
