package imageprep

import "image"

// Orient returns img turned upright for the EXIF orientation o, with the
// semantics of PIL's ImageOps.exif_transpose:
//
//	1 unchanged           5 transpose (swap x and y)
//	2 mirror left–right   6 rotate 90° clockwise
//	3 rotate 180°         7 transverse (transpose, then rotate 180°)
//	4 mirror top–bottom   8 rotate 90° counter-clockwise
//
// Any other value leaves the image unchanged. Except for that case the
// result is an *RGB (converted with ToRGB) whose bounds start at (0, 0).
func Orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	src := ToRGB(img)
	w, h := src.Rect.Dx(), src.Rect.Dy()
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	dst := NewRGB(image.Rect(0, 0, ow, oh))
	// (sx, sy) of output (0, 0) and the source step for +1 in output x and y.
	var sx, sy, dxx, dxy, dyx, dyy int
	switch o {
	case 2:
		sx, sy, dxx, dyy = w-1, 0, -1, 1
	case 3:
		sx, sy, dxx, dyy = w-1, h-1, -1, -1
	case 4:
		sx, sy, dxx, dyy = 0, h-1, 1, -1
	case 5: // out(x, y) = in(y, x)
		sx, sy, dxy, dyx = 0, 0, 1, 1
	case 6: // out(x, y) = in(y, h-1-x)
		sx, sy, dxy, dyx = 0, h-1, -1, 1
	case 7: // out(x, y) = in(w-1-y, h-1-x)
		sx, sy, dxy, dyx = w-1, h-1, -1, -1
	case 8: // out(x, y) = in(w-1-y, x)
		sx, sy, dxy, dyx = w-1, 0, 1, -1
	}
	// Source byte offsets: moving one output pixel right changes the source
	// by (dxx, dxy) pixels, one output row down by (dyx, dyy).
	stepX := dxx*3 + dxy*src.Stride
	stepY := dyx*3 + dyy*src.Stride
	rowStart := sy*src.Stride + sx*3
	for y := 0; y < oh; y++ {
		s := rowStart
		row := dst.Pix[y*dst.Stride : y*dst.Stride+3*ow]
		for j := 0; j < len(row); j += 3 {
			row[j], row[j+1], row[j+2] = src.Pix[s], src.Pix[s+1], src.Pix[s+2]
			s += stepX
		}
		rowStart += stepY
	}
	return dst
}
