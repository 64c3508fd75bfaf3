package imageprep

import "image"

// libjpeg-turbo's YCbCr→RGB tables (jdcolor.c, build_ycc_rgb_table): 16-bit
// fixed point, R and B rounded into the table, G rounded in the sum.
var jpegCrR, jpegCbB, jpegCrG, jpegCbG [256]int32

func init() {
	const half = 1 << 15
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		jpegCrR[i] = (91881*x + half) >> 16
		jpegCbB[i] = (116130*x + half) >> 16
		jpegCrG[i] = -46802 * x
		jpegCbG[i] = -22554*x + half
	}
}

// rangeLimit clamps v in [-512, 511] to 0..255 by lookup, as libjpeg's
// range_limit table does; sums of a sample and a chroma term stay within.
var rangeLimit [1024]uint8

func init() {
	for i := range rangeLimit {
		rangeLimit[i] = clampU8(i - 512)
	}
}

func jpegPixel(y, cb, cr int32) (uint8, uint8, uint8) {
	return rangeLimit[(y+jpegCrR[cr&255]+512)&1023],
		rangeLimit[(y+(jpegCbG[cb&255]+jpegCrG[cr&255])>>16+512)&1023],
		rangeLimit[(y+jpegCbB[cb&255]+512)&1023]
}

// jpegYCbCrToRGB converts like libjpeg-turbo with its default "fancy"
// upsampling: chroma is interpolated with a triangle filter (3/4 nearer
// sample, 1/4 further one, libjpeg's alternating rounding biases) instead of
// being replicated as image/color does. Edge samples are replicated, as
// libjpeg's context rows are. Ratios libjpeg box-filters (4:1:1, 4:1:0), and
// sub-images whose origin is not on the chroma grid, use nearest chroma.
func jpegYCbCrToRGB(dst *RGB, m *image.YCbCr) {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	hs, vs := 1, 1 // luma samples per chroma sample
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
	case image.YCbCrSubsampleRatio422:
		hs = 2
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		vs = 2
	default:
		hs, vs = 0, 0
	}
	if hs == 0 || b.Min.X%hs != 0 || b.Min.Y%vs != 0 {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				j := y*dst.Stride + 3*x
				dst.Pix[j], dst.Pix[j+1], dst.Pix[j+2] = jpegPixel(int32(m.Y[yi]), int32(m.Cb[ci]), int32(m.Cr[ci]))
			}
		}
		return
	}
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	// Chroma row c (0 ≤ c < ch) starts at cBase + c*CStride.
	cBase := m.COffset(b.Min.X, b.Min.Y)
	colCb, colCr := make([]int32, cw), make([]int32, cw) // vertically filtered, ×4 when vs == 2
	upCb, upCr := make([]int32, w), make([]int32, w)
	for y := 0; y < h; y++ {
		near := y / vs
		if vs == 2 {
			far := near - 1
			if y%2 == 1 {
				far = near + 1
			}
			far = min(max(far, 0), ch-1)
			nb, fb := m.Cb[cBase+near*m.CStride:], m.Cb[cBase+far*m.CStride:]
			nr, fr := m.Cr[cBase+near*m.CStride:], m.Cr[cBase+far*m.CStride:]
			for i := 0; i < cw; i++ {
				colCb[i] = 3*int32(nb[i]) + int32(fb[i])
				colCr[i] = 3*int32(nr[i]) + int32(fr[i])
			}
		} else {
			nb, nr := m.Cb[cBase+near*m.CStride:], m.Cr[cBase+near*m.CStride:]
			for i := 0; i < cw; i++ {
				colCb[i], colCr[i] = int32(nb[i]), int32(nr[i])
			}
		}
		switch {
		case hs == 2 && vs == 2: // h2v2_fancy_upsample
			upsampleH2(upCb, colCb, 8, 7, 4)
			upsampleH2(upCr, colCr, 8, 7, 4)
		case hs == 2: // h2v1_fancy_upsample
			upsampleH2(upCb, colCb, 1, 2, 2)
			upsampleH2(upCr, colCr, 1, 2, 2)
		case vs == 2: // h1v2_fancy_upsample
			for x := 0; x < w; x++ {
				upCb[x] = (colCb[x] + 1) >> 2
				upCr[x] = (colCr[x] + 1) >> 2
			}
		default:
			copy(upCb, colCb)
			copy(upCr, colCr)
		}
		ys := m.Y[m.YOffset(b.Min.X, b.Min.Y+y):]
		row := dst.Pix[y*dst.Stride : y*dst.Stride+3*w]
		for x, j := 0, 0; x < w; x, j = x+1, j+3 {
			row[j], row[j+1], row[j+2] = jpegPixel(int32(ys[x]), upCb[x], upCr[x])
		}
	}
}

// upsampleH2 doubles a row horizontally with libjpeg's triangle filter:
// even outputs (3·c[i] + c[i−1] + biasEven) >> shift, odd ones
// (3·c[i] + c[i+1] + biasOdd) >> shift, edge samples replicated. len(out)
// is 2·len(c) or one less.
func upsampleH2(out, c []int32, biasEven, biasOdd int32, shift uint) {
	n := len(c)
	if n == 0 {
		return
	}
	if n == 1 || len(out) < 2*n-1 {
		for i := 0; i < n; i++ {
			l, r := c[max(i-1, 0)], c[min(i+1, n-1)]
			if 2*i < len(out) {
				out[2*i] = (3*c[i] + l + biasEven) >> shift
			}
			if 2*i+1 < len(out) {
				out[2*i+1] = (3*c[i] + r + biasOdd) >> shift
			}
		}
		return
	}
	out[0] = (4*c[0] + biasEven) >> shift
	out[1] = (3*c[0] + c[1] + biasOdd) >> shift
	for i := 1; i < n-1; i++ {
		v3 := 3 * c[i]
		o := out[2*i : 2*i+2]
		o[0] = (v3 + c[i-1] + biasEven) >> shift
		o[1] = (v3 + c[i+1] + biasOdd) >> shift
	}
	out[2*n-2] = (3*c[n-1] + c[n-2] + biasEven) >> shift
	if len(out) > 2*n-1 {
		out[2*n-1] = (4*c[n-1] + biasOdd) >> shift
	}
}

// webpPixel is libwebp's VP8YuvToRgb (dsp/yuv.h): BT.601 studio range with
// 14-bit fixed point.
func webpPixel(y, u, v int32) (uint8, uint8, uint8) {
	mh := func(v, c int32) int32 { return (v * c) >> 8 }
	yy := mh(y, 19077)
	return webpClip8(yy + mh(v, 26149) - 14234),
		webpClip8(yy - mh(u, 6419) - mh(v, 13320) + 8708),
		webpClip8(yy + mh(u, 33050) - 17685)
}

func webpClip8(v int32) uint8 {
	const mask = (256 << 6) - 1
	if v&^mask == 0 {
		return uint8(v >> 6)
	}
	if v < 0 {
		return 0
	}
	return 255
}

// webpToRGB converts a lossy WebP frame as libwebp does with its default
// fancy upsampler (dsp/upsampling.c: 9-3-3-1 bilinear chroma with libwebp's
// rounding). x/image/webp returns the planes as an *image.YCbCr, whose
// colour model would wrongly read them as full-range JFIF.
func webpToRGB(m *image.YCbCr) *RGB {
	b := m.Rect
	dst := NewRGB(b)
	w, h := b.Dx(), b.Dy()
	if w == 0 || h == 0 {
		return dst
	}
	if m.SubsampleRatio != image.YCbCrSubsampleRatio420 || b.Min.X%2 != 0 || b.Min.Y%2 != 0 {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := m.YCbCrAt(b.Min.X+x, b.Min.Y+y)
				j := y*dst.Stride + 3*x
				dst.Pix[j], dst.Pix[j+1], dst.Pix[j+2] = webpPixel(int32(c.Y), int32(c.Cb), int32(c.Cr))
			}
		}
		return dst
	}
	cw, ch := (w+1)/2, (h+1)/2
	cBase := m.COffset(b.Min.X, b.Min.Y)
	up := func(n, f []uint8, x int) int32 {
		if x == 0 || (x == w-1 && w%2 == 0) { // edge: vertical only
			c := 0
			if x != 0 {
				c = cw - 1
			}
			return (3*int32(n[c]) + int32(f[c]) + 2) >> 2
		}
		p, q := (x-1)/2, (x+1)/2 // nearer and further chroma column
		if x%2 == 0 {
			p, q = q, p
		}
		avg := int32(n[p]) + int32(n[q]) + int32(f[p]) + int32(f[q]) + 8
		d := (avg + 2*(int32(n[q])+int32(f[p]))) >> 3
		return (d + int32(n[p])) >> 1
	}
	for y := 0; y < h; y++ {
		near := y / 2
		far := near - 1
		if y%2 == 1 {
			far = near + 1
		}
		far = min(max(far, 0), ch-1)
		nu, fu := m.Cb[cBase+near*m.CStride:], m.Cb[cBase+far*m.CStride:]
		nv, fv := m.Cr[cBase+near*m.CStride:], m.Cr[cBase+far*m.CStride:]
		ys := m.Y[m.YOffset(b.Min.X, b.Min.Y+y):]
		row := dst.Pix[y*dst.Stride : y*dst.Stride+3*w]
		for x, j := 0, 0; x < w; x, j = x+1, j+3 {
			row[j], row[j+1], row[j+2] = webpPixel(int32(ys[x]), up(nu, fu, x), up(nv, fv, x))
		}
	}
	return dst
}
