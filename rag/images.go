package rag

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"mmrag"
	"mmrag/generate"
	"mmrag/imageprep"
	"mmrag/prompt"
)

// pictures are the figures chosen for a request.
type pictures struct {
	data [][]byte
	sent []int // citation numbers
}

// gridTile is the side of one figure in a grid: LLaMA 3.2 Vision's tile.
const gridTile = 560

// pictures loads the cited figures the model should see, within what it
// accepts. caps is zero when the model's capabilities are unknown: then
// figures are sent and the client decides.
func (e *Engine) pictures(ctx context.Context, cites []prompt.Citation, caps generate.Capabilities) (pictures, []string, error) {
	var figs []prompt.Citation
	for _, c := range cites {
		if c.Modality == mmrag.Image && c.BlobHash != "" {
			figs = append(figs, c)
		}
	}
	figs = figs[:min(len(figs), cmpOr(e.Images, 4))]
	if len(figs) == 0 {
		return pictures{}, nil, nil
	}
	var notes []string
	if caps.Model != "" && !caps.Vision {
		notes = append(notes, fmt.Sprintf("%s cannot see images: %d figure(s) were given to it by their captions only", caps.Model, len(figs)))
		return pictures{}, notes, nil
	}
	side := cmpOr(e.MaxImageSide, 1120)
	grid := false
	if caps.MaxImages > 0 && len(figs) > caps.MaxImages {
		if cmpOr(e.Policy, BestImage) == GridImage {
			grid = true
			notes = append(notes, fmt.Sprintf("%s takes %d image(s): figures %s were combined into one grid picture", caps.Model, caps.MaxImages, numbers(figs)))
		} else {
			notes = append(notes, fmt.Sprintf("%s takes %d image(s): sent the best-ranked, %s; the others by caption only", caps.Model, caps.MaxImages, numbers(figs[:caps.MaxImages])))
			figs = figs[:caps.MaxImages]
		}
	}
	var p pictures
	var imgs []image.Image
	for _, f := range figs {
		data, err := e.Store.Blob(ctx, f.BlobHash)
		if err != nil {
			notes = append(notes, fmt.Sprintf("figure [%d] could not be loaded: %v", f.N, err))
			continue
		}
		img, _, err := imageprep.DefaultCLIP().Load(data, imageprep.Limits{})
		if err != nil {
			notes = append(notes, fmt.Sprintf("figure [%d] could not be decoded: %v", f.N, err))
			continue
		}
		p.sent = append(p.sent, f.N)
		if grid {
			imgs = append(imgs, img)
			continue
		}
		b := img.Bounds()
		if b.Dx() <= side && b.Dy() <= side && (strings.HasPrefix(f.MIME, "image/png") || strings.HasPrefix(f.MIME, "image/jpeg")) {
			p.data = append(p.data, data)
			continue
		}
		enc, err := encode(fit(img, side))
		if err != nil {
			return pictures{}, nil, err
		}
		p.data = append(p.data, enc)
	}
	if grid && len(imgs) > 0 {
		enc, err := encode(Grid(imgs, p.sent))
		if err != nil {
			return pictures{}, nil, err
		}
		p.data = [][]byte{enc}
	}
	return p, notes, nil
}

func numbers(cs []prompt.Citation) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "[%d]", c.N)
	}
	return b.String()
}

// fit scales img down so that neither side exceeds side.
func fit(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= side && h <= side {
		return img
	}
	if w >= h {
		h, w = max(1, h*side/w), side
	} else {
		w, h = max(1, w*side/h), side
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// encode writes img as JPEG, or PNG when it has transparency.
func encode(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if o, ok := img.(interface{ Opaque() bool }); ok && !o.Opaque() {
		if err := png.Encode(&buf, img); err != nil {
			return nil, fmt.Errorf("encode figure: %w", err)
		}
		return buf.Bytes(), nil
	}
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		return nil, fmt.Errorf("encode figure: %w", err)
	}
	return buf.Bytes(), nil
}

// Grid lays images out two per row in gridTile squares on white, each
// letterboxed and labelled with its citation number, so a model that takes
// one picture can still see, and cite, several figures.
func Grid(imgs []image.Image, labels []int) image.Image {
	cols := min(2, len(imgs))
	rows := (len(imgs) + cols - 1) / cols
	out := image.NewRGBA(image.Rect(0, 0, cols*gridTile, rows*gridTile))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	for i, img := range imgs {
		cell := image.Rect(0, 0, gridTile, gridTile).Add(image.Pt((i%cols)*gridTile, (i/cols)*gridTile))
		inner := cell.Inset(8)
		b := img.Bounds()
		w, h := inner.Dx(), inner.Dy()
		if b.Dx()*h > b.Dy()*w {
			h = max(1, b.Dy()*w/b.Dx())
		} else {
			w = max(1, b.Dx()*h/b.Dy())
		}
		dst := image.Rect(0, 0, w, h).Add(image.Pt(inner.Min.X+(inner.Dx()-w)/2, inner.Min.Y+(inner.Dy()-h)/2))
		draw.CatmullRom.Scale(out, dst, img, b, draw.Over, nil)
		if i < len(labels) {
			label(out, cell.Min.Add(image.Pt(10, 10)), fmt.Sprintf("[%d]", labels[i]))
		}
	}
	return out
}

// label draws text three times the size of basicfont on a white box with a
// black border, big enough for a vision model to read.
func label(dst draw.Image, at image.Point, text string) {
	face := basicfont.Face7x13
	w := font.MeasureString(face, text).Ceil() + 6
	small := image.NewRGBA(image.Rect(0, 0, w, 17))
	draw.Draw(small, small.Bounds(), image.White, image.Point{}, draw.Src)
	d := font.Drawer{Dst: small, Src: image.Black, Face: face, Dot: fixed.P(3, 13)}
	d.DrawString(text)
	const scale = 3
	box := image.Rect(0, 0, w*scale, 17*scale).Add(at)
	draw.Draw(dst, box.Inset(-2), image.NewUniform(color.Black), image.Point{}, draw.Src)
	draw.NearestNeighbor.Scale(dst, box, small, small.Bounds(), draw.Src, nil)
}
