package imageprep

import (
	"errors"
	"fmt"
	"image"
	"runtime"
	"sync"
)

// maxOutputPixels bounds an uncropped output, whose size follows the input.
const maxOutputPixels = DefaultMaxPixels

// Preprocess turns img into model input the way CLIPImageProcessor does:
// convert to RGB (ToRGB), resize (Pillow's resampler, transformers' output
// size rule), centre crop (zero padding when the image is smaller than the
// crop), rescale and normalise, in float32 with numpy's rounding. The
// result is channel-major (C=3, H, W) with H, W = c.OutputSize(w, h).
//
// img is used as is: turn photos upright first (Orient, Load) if wanted.
func (c Config) Preprocess(img image.Image) ([]float32, error) {
	if img == nil {
		return nil, errors.New("imageprep: preprocess: nil image")
	}
	b := img.Bounds()
	oh, ow := c.OutputSize(b.Dx(), b.Dy())
	if oh <= 0 || ow <= 0 || int64(oh)*int64(ow) > maxOutputPixels {
		return nil, fmt.Errorf("imageprep: preprocess %d×%d image: output would be %d×%d", b.Dx(), b.Dy(), ow, oh)
	}
	dst := make([]float32, 3*oh*ow)
	if err := c.PreprocessInto(dst, img); err != nil {
		return nil, err
	}
	return dst, nil
}

// PreprocessInto is Preprocess writing into dst, which must hold exactly
// 3·H·W values for H, W = c.OutputSize of img.
func (c Config) PreprocessInto(dst []float32, img image.Image) error {
	if img == nil {
		return errors.New("imageprep: preprocess: nil image")
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("imageprep: preprocess: invalid config: %w", err)
	}
	f, _ := filterFor(c.Resample)
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return fmt.Errorf("imageprep: preprocess: empty %d×%d image", w, h)
	}
	oh, ow := c.OutputSize(w, h)
	if len(dst) != 3*oh*ow {
		return fmt.Errorf("imageprep: preprocess %d×%d image: dst holds %d values, want 3×%d×%d = %d", w, h, len(dst), oh, ow, 3*oh*ow)
	}
	rh, rw := h, w
	if c.DoResize {
		rh, rw = c.resizeSize(w, h)
	}
	// transformers' center_crop: top = (h − crop_h) // 2 with Python's
	// floor division; outside the image it pads with zeros.
	top, left := 0, 0
	if c.DoCenterCrop {
		top, left = floorDiv(rh-oh, 2), floorDiv(rw-ow, 2)
	}
	win := image.Rect(left, top, left+ow, top+oh).Intersect(image.Rect(0, 0, rw, rh))
	var region *RGB // resized pixels inside win, bounds win
	if !win.Empty() {
		if rw != w || rh != h {
			plan := planResize(w, h, rw, rh, win, f)
			region = plan.run(rgbRegion(img, plan.src))
		} else {
			region = rgbRegion(img, win).view(win)
			region.Rect = win
		}
	}

	lut := c.lut()
	plane := oh * ow
	for ch := range 3 {
		out := dst[ch*plane : (ch+1)*plane]
		pad := lut[ch][0]
		for y := 0; y < oh; y++ {
			row := out[y*ow : (y+1)*ow]
			ry := y + top
			if region == nil || ry < win.Min.Y || ry >= win.Max.Y {
				for x := range row {
					row[x] = pad
				}
				continue
			}
			// Columns [x0, x1) of the output row come from the image.
			x0, x1 := win.Min.X-left, win.Max.X-left
			for x := 0; x < x0; x++ {
				row[x] = pad
			}
			for x := x1; x < ow; x++ {
				row[x] = pad
			}
			l := &lut[ch]
			src := region.Pix[(ry-win.Min.Y)*region.Stride+ch:]
			for x, j := x0, 0; x < x1; x, j = x+1, j+3 {
				row[x] = l[src[j]]
			}
		}
	}
	return nil
}

// rgbRegion converts the part of img covering r (in coordinates relative
// to img.Bounds().Min) to RGB, returned with bounds in those coordinates.
// Only the region is converted when the image type allows it: a centre crop
// of a wide photo reads about half of it. Chroma upsampling looks one
// sample beyond a pixel, so the region is widened by a margin and aligned
// to the chroma grid; the pixels inside r are then the same as in a full
// conversion.
func rgbRegion(img image.Image, r image.Rectangle) *RGB {
	b := img.Bounds()
	full := image.Rect(0, 0, b.Dx(), b.Dy())
	type subImager interface {
		SubImage(image.Rectangle) image.Image
	}
	si, ok := img.(subImager)
	if !ok || r == full || b.Min.X%2 != 0 || b.Min.Y%2 != 0 {
		rgb := ToRGB(img)
		out := *rgb
		out.Rect = rgb.Rect.Sub(b.Min)
		return &out
	}
	const margin = 4
	g := image.Rect((r.Min.X-margin)&^1, (r.Min.Y-margin)&^1, r.Max.X+margin, r.Max.Y+margin).Intersect(full)
	rgb := ToRGB(si.SubImage(g.Add(b.Min)))
	out := *rgb
	out.Rect = rgb.Rect.Sub(b.Min)
	return &out
}

// lut maps each uint8 level of each channel to its output value, computed
// as transformers does: rescale in float64 then cast to float32
// (image_transforms.rescale), then (x − mean)/std in float32 with mean and
// std cast to float32 (image_transforms.normalize).
func (c Config) lut() *[3][256]float32 {
	var t [3][256]float32
	for ch := range 3 {
		m, s := float32(c.Mean[ch]), float32(c.Std[ch])
		for v := range 256 {
			x := float32(v)
			if c.DoRescale {
				x = float32(float64(v) * c.RescaleFactor)
			}
			if c.DoNormalize {
				x = float32(float32(x-m) / s)
			}
			t[ch][v] = x
		}
	}
	return &t
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// PreprocessBatch preprocesses imgs into one [N, 3, H, W] tensor, H and W
// being c.Size(); it needs a config with a fixed output size. Images are
// processed in parallel; an error names the first failing index.
func (c Config) PreprocessBatch(imgs []image.Image) ([]float32, error) {
	h, w := c.Size()
	if h == 0 || w == 0 {
		return nil, errors.New("imageprep: preprocess batch: config has no fixed output size (needs do_center_crop or a height×width size)")
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("imageprep: preprocess batch: invalid config: %w", err)
	}
	per := 3 * h * w
	out := make([]float32, len(imgs)*per)
	errs := make([]error, len(imgs))
	workers := min(runtime.GOMAXPROCS(0), len(imgs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := c.PreprocessInto(out[i*per:(i+1)*per], imgs[i]); err != nil {
					errs[i] = fmt.Errorf("image %d: %w", i, err)
				}
			}
		}()
	}
	for i := range imgs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PreprocessData decodes data within limits, turns it upright when
// c.ExifTranspose is set, and preprocesses it.
func (c Config) PreprocessData(data []byte, limits Limits) ([]float32, Info, error) {
	img, info, err := c.Load(data, limits)
	if err != nil {
		return nil, info, err
	}
	t, err := c.Preprocess(img)
	return t, info, err
}
