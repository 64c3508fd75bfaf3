package imageprep

import (
	"fmt"
	"image"
	"math"
)

// This file follows Pillow's src/libImaging/Resample.c (ImagingResample for
// 8-bit images): a separable convolution whose filter support grows with the
// scale factor when downscaling (antialiasing), coefficients normalised to
// sum 1 and turned into 22-bit fixed point, a horizontal pass clipped to
// uint8 and then a vertical pass. Integer maths makes it bit-exact with
// Pillow as long as the float64 coefficient maths is too, which is why the
// expressions below keep C's evaluation order and wrap products in
// float64() (Go may otherwise fuse a*b+c into an FMA on some CPUs).

// precisionBits is Pillow's PRECISION_BITS: 32 − 8 bits of result − 2 bits
// of headroom for filters with negative lobes.
const precisionBits = 32 - 8 - 2

type filter struct {
	fn      func(float64) float64
	support float64
}

func filterFor(r Resample) (filter, bool) {
	switch r {
	case Box:
		return filter{boxFilter, 0.5}, true
	case Bilinear:
		return filter{bilinearFilter, 1}, true
	case Hamming:
		return filter{hammingFilter, 1}, true
	case Bicubic:
		return filter{bicubicFilter, 2}, true
	case Lanczos:
		return filter{lanczosFilter, 3}, true
	}
	return filter{}, false
}

func boxFilter(x float64) float64 {
	if x > -0.5 && x <= 0.5 {
		return 1
	}
	return 0
}

func bilinearFilter(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

func hammingFilter(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x == 0 {
		return 1
	}
	if x >= 1 {
		return 0
	}
	x = float64(x * math.Pi)
	// Pillow writes the constants as C floats (0.54f, 0.46f).
	return float64(math.Sin(x)/x) * (float64(float32(0.54)) + float64(float64(float32(0.46))*math.Cos(x)))
}

// bicubicFilter is Keys' cubic convolution with a = −0.5.
func bicubicFilter(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		t := float64(1.5*x) - 2.5
		t = float64(t * x)
		t = float64(t * x)
		return t + 1
	}
	if x < 2 {
		t := x - 5
		t = float64(t*x) + 8
		t = float64(t*x) - 4
		return t * -0.5
	}
	return 0
}

func sincFilter(x float64) float64 {
	if x == 0 {
		return 1
	}
	x = float64(x * math.Pi)
	return math.Sin(x) / x
}

func lanczosFilter(x float64) float64 {
	if -3 <= x && x < 3 {
		return float64(sincFilter(x) * sincFilter(x/3))
	}
	return 0
}

// coeffs holds, for output indices o0 ≤ o < o0+len(first), the first input
// index first[i], the tap count n[i] and ksize fixed-point weights from
// k[i*ksize].
type coeffs struct {
	first, n []int
	k        []int32
	ksize    int
}

// precomputeCoeffs is Pillow's precompute_coeffs followed by
// normalize_coeffs_8bpc, restricted to the output range [o0, o1).
func precomputeCoeffs(inSize, outSize, o0, o1 int, f filter) coeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := f.support * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := coeffs{
		first: make([]int, o1-o0),
		n:     make([]int, o1-o0),
		k:     make([]int32, (o1-o0)*ksize),
		ksize: ksize,
	}
	ss := 1.0 / filterscale
	w := make([]float64, ksize)
	for xx := o0; xx < o1; xx++ {
		center := float64((float64(xx) + 0.5) * scale)
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			w[x] = f.fn(float64(float64(x+xmin)-center+0.5) * ss)
			ww += w[x]
		}
		i := xx - o0
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			fx := float64(v * (1 << precisionBits))
			if v < 0 {
				c.k[i*ksize+x] = int32(-0.5 + fx)
			} else {
				c.k[i*ksize+x] = int32(0.5 + fx)
			}
		}
		c.first[i], c.n[i] = xmin, xmax
	}
	return c
}

// clip8 is Pillow's clip8: drop the fixed-point fraction and clamp.
func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resizePlan is one resize of an inW×inH image to outW×outH of which only
// the output window win is wanted. Every output pixel depends only on its
// own coefficients, so computing a window gives the same values as
// computing everything and cropping; src is the part of the input the
// window reads.
type resizePlan struct {
	inW, inH     int
	win          image.Rectangle
	needH, needV bool
	kh, kv       coeffs
	src          image.Rectangle
}

// planResize prepares resizing to outW×outH; win must lie within
// (0,0)-(outW,outH) and be non-empty.
func planResize(inW, inH, outW, outH int, win image.Rectangle, f filter) *resizePlan {
	p := &resizePlan{inW: inW, inH: inH, win: win, needH: outW != inW, needV: outH != inH}
	p.src = win
	if p.needV {
		p.kv = precomputeCoeffs(inH, outH, win.Min.Y, win.Max.Y, f)
		last := len(p.kv.first) - 1
		p.src.Min.Y, p.src.Max.Y = p.kv.first[0], p.kv.first[last]+p.kv.n[last]
	}
	if p.needH {
		p.kh = precomputeCoeffs(inW, outW, win.Min.X, win.Max.X, f)
		// Bounds are not monotonic in general (clamping), so scan them all.
		lo, hi := inW, 0
		for i, first := range p.kh.first {
			lo, hi = min(lo, first), max(hi, first+p.kh.n[i])
		}
		p.src.Min.X, p.src.Max.X = lo, hi
	}
	return p
}

// run resizes; src must cover p.src in the input's coordinates (0,0)-(inW,inH).
// The result has bounds p.win.
func (p *resizePlan) run(src *RGB) *RGB {
	rows := image.Rect(p.src.Min.X, p.src.Min.Y, p.src.Max.X, p.src.Max.Y)
	var tmp *RGB // rows p.src.Min.Y.. of the horizontally resized image, columns p.win
	if p.needH {
		tmp = horizontalPass(src, rows, p.kh)
	} else {
		tmp = src.view(image.Rect(p.win.Min.X, rows.Min.Y, p.win.Max.X, rows.Max.Y))
	}
	if !p.needV {
		tmp.Rect = p.win
		return tmp
	}
	out := verticalPass(tmp, rows.Min.Y, p.kv)
	out.Rect = p.win
	return out
}

// view returns p's pixels in r (within p.Rect) rebased to start at (0, 0).
func (p *RGB) view(r image.Rectangle) *RGB {
	i := p.PixOffset(r.Min.X, r.Min.Y)
	return &RGB{Pix: p.Pix[i:], Stride: p.Stride, Rect: image.Rect(0, 0, r.Dx(), r.Dy())}
}

// SubImage returns the part of p inside r, sharing pixels.
func (p *RGB) SubImage(r image.Rectangle) image.Image {
	r = r.Intersect(p.Rect)
	if r.Empty() {
		return &RGB{}
	}
	return &RGB{Pix: p.Pix[p.PixOffset(r.Min.X, r.Min.Y):], Stride: p.Stride, Rect: r}
}

// horizontalPass filters source rows rows.Min.Y..rows.Max.Y into a
// len(kh.first)-wide image whose row 0 is source row rows.Min.Y. Channels
// are split into planes per row so the tap loops run over contiguous bytes.
func horizontalPass(src *RGB, rows image.Rectangle, kh coeffs) *RGB {
	nOut := len(kh.first)
	dst := NewRGB(image.Rect(0, 0, nOut, rows.Dy()))
	x0, w := rows.Min.X, rows.Dx()
	planes := make([]uint8, 3*w)
	pr, pg, pb := planes[:w], planes[w:2*w], planes[2*w:]
	const half = 1 << (precisionBits - 1)
	for y := rows.Min.Y; y < rows.Max.Y; y++ {
		i := src.PixOffset(x0, y)
		srow := src.Pix[i : i+3*w]
		for x, j := 0, 0; x < w; x, j = x+1, j+3 {
			pr[x], pg[x], pb[x] = srow[j], srow[j+1], srow[j+2]
		}
		drow := dst.Pix[(y-rows.Min.Y)*dst.Stride:]
		drow = drow[:3*nOut]
		for xx := 0; xx < nOut; xx++ {
			n := kh.n[xx]
			k := kh.k[xx*kh.ksize : xx*kh.ksize+n]
			f := kh.first[xx] - x0
			r, g, b := pr[f:f+n], pg[f:f+n], pb[f:f+n]
			sr, sg, sb := int32(half), int32(half), int32(half)
			// Four taps a step; the length tests let the compiler drop
			// bounds checks.
			for len(k) >= 4 && len(r) >= 4 && len(g) >= 4 && len(b) >= 4 {
				k0, k1, k2, k3 := k[0], k[1], k[2], k[3]
				sr += int32(r[0])*k0 + int32(r[1])*k1 + int32(r[2])*k2 + int32(r[3])*k3
				sg += int32(g[0])*k0 + int32(g[1])*k1 + int32(g[2])*k2 + int32(g[3])*k3
				sb += int32(b[0])*k0 + int32(b[1])*k1 + int32(b[2])*k2 + int32(b[3])*k3
				k, r, g, b = k[4:], r[4:], g[4:], b[4:]
			}
			for t, kv := range k {
				if t < len(r) && t < len(g) && t < len(b) {
					sr += int32(r[t]) * kv
					sg += int32(g[t]) * kv
					sb += int32(b[t]) * kv
				}
			}
			drow[3*xx], drow[3*xx+1], drow[3*xx+2] = clip8(sr), clip8(sg), clip8(sb)
		}
	}
	return dst
}

// verticalPass filters tmp, whose row 0 is source row rowFirst. Channels
// share the kernel, so a row is accumulated as one run of bytes.
func verticalPass(tmp *RGB, rowFirst int, kv coeffs) *RGB {
	nOut := len(kv.first)
	width := 3 * tmp.Rect.Dx()
	dst := NewRGB(image.Rect(0, 0, tmp.Rect.Dx(), nOut))
	acc := make([]int32, width)
	const half = 1 << (precisionBits - 1)
	for yy := 0; yy < nOut; yy++ {
		for j := range acc {
			acc[j] = half
		}
		n := kv.n[yy]
		y0 := kv.first[yy] - rowFirst
		for i, k := range kv.k[yy*kv.ksize : yy*kv.ksize+n] {
			row := tmp.Pix[(y0+i)*tmp.Stride:]
			row = row[:width]
			a := acc[:len(row)]
			for j, v := range row {
				a[j] += int32(v) * k
			}
		}
		drow := dst.Pix[yy*dst.Stride : yy*dst.Stride+width]
		for j, v := range acc {
			drow[j] = clip8(v)
		}
	}
	return dst
}

// Resize resizes img to w×h with Pillow's convolution resampler, as PIL's
// Image.resize(size, resample) does on an "RGB" image (which returns a copy
// when the size does not change).
func Resize(img image.Image, w, h int, r Resample) (*RGB, error) {
	f, ok := filterFor(r)
	if !ok {
		return nil, fmt.Errorf("imageprep: resize: unsupported filter %v", r)
	}
	if w <= 0 || h <= 0 || w > maxSide*4 || h > maxSide*4 {
		return nil, fmt.Errorf("imageprep: resize: bad target size %d×%d", w, h)
	}
	src := ToRGB(img)
	if src.Rect.Empty() {
		return nil, fmt.Errorf("imageprep: resize: empty %d×%d image", src.Rect.Dx(), src.Rect.Dy())
	}
	if src.Rect.Dx() == w && src.Rect.Dy() == h {
		out := NewRGB(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			i := src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+y)
			copy(out.Pix[y*out.Stride:(y+1)*out.Stride], src.Pix[i:])
		}
		return out, nil
	}
	src = src.view(src.Rect) // work in (0,0)-based coordinates
	return planResize(src.Rect.Dx(), src.Rect.Dy(), w, h, image.Rect(0, 0, w, h), f).run(src), nil
}
