package pdf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"math"

	"github.com/klippa-app/go-pdfium/requests"

	"mmrag/extract"
)

// DefaultPageWidth is the width bound of RenderPage when none is given.
const DefaultPageWidth = 1600

// ErrNoPage is returned (wrapped) by RenderPage for a page number the PDF
// does not have.
var ErrNoPage = errors.New("no such page")

// PageImage is one page of a PDF rendered to PNG.
type PageImage struct {
	PNG           []byte
	Width, Height int // pixels
	Pages         int // pages of the document
}

// RenderPage renders page (1-based) of the PDF in src to PNG, drawn on white
// and scaled to fit maxWidth × maxHeight pixels with its aspect ratio kept.
// maxWidth ≤ 0 means DefaultPageWidth, maxHeight ≤ 0 no bound but the cap:
// both are capped at 4000 pixels. It
// runs on the PDFium engine Extract uses. Errors name src.Path and say why:
// not a PDF, encrypted (ErrPDFEncrypted), corrupt, no such page (ErrNoPage),
// a page without a size; ctx stops the wait for an engine and the render
// before it starts.
func RenderPage(ctx context.Context, src extract.Source, page, maxWidth, maxHeight int) (out PageImage, err error) {
	name := pdfName(src)
	defer func() {
		if r := recover(); r != nil {
			out, err = PageImage{}, fmt.Errorf("%s: PDF reader failed on this file: %v", name, r)
		}
	}()
	if err := ctx.Err(); err != nil {
		return PageImage{}, fmt.Errorf("%s: %w", name, err)
	}
	if !pdfHeader(src.Data) {
		return PageImage{}, fmt.Errorf("%s: not a PDF (no %%PDF- header)", name)
	}
	pool, err := pdfiumPool()
	if err != nil {
		return PageImage{}, err
	}
	inst, err := pool.GetInstanceWithContext(ctx)
	if err != nil {
		return PageImage{}, fmt.Errorf("%s: get PDFium instance: %w", name, err)
	}
	defer inst.Close()
	doc, pages, err := pdfOpen(inst, src.Data, name)
	if err != nil {
		return PageImage{}, err
	}
	defer inst.FPDF_CloseDocument(&requests.FPDF_CloseDocument{Document: doc})
	if page < 1 || page > pages {
		return PageImage{}, fmt.Errorf("%s: page %d: %w (the PDF has %d)", name, page, ErrNoPage, pages)
	}
	ref := requests.Page{ByIndex: &requests.PageByIndex{Document: doc, Index: page - 1}}
	size, err := inst.GetPageSize(&requests.GetPageSize{Page: ref})
	if err != nil {
		return PageImage{}, fmt.Errorf("%s: page %d: size: %w", name, page, err)
	}
	w, h, ok := pdfFit(size.Width, size.Height, pdfBound(maxWidth, DefaultPageWidth), pdfBound(maxHeight, pdfMaxRenderSide))
	if !ok {
		return PageImage{}, fmt.Errorf("%s: page %d has no usable size (%g × %g points)", name, page, size.Width, size.Height)
	}
	if err := ctx.Err(); err != nil {
		return PageImage{}, fmt.Errorf("%s: %w", name, err)
	}
	r, err := inst.RenderPageInPixels(&requests.RenderPageInPixels{Page: ref, Width: w, Height: h})
	if err != nil {
		return PageImage{}, fmt.Errorf("%s: page %d: render: %w", name, page, err)
	}
	// In WebAssembly mode the pixels live until Cleanup: encode first.
	data, err := pdfEncodePage(r.Result.RenderedImage, r.Result.HasTransparency)
	out = PageImage{PNG: data, Width: r.Result.Width, Height: r.Result.Height, Pages: pages}
	r.Cleanup()
	if err != nil {
		return PageImage{}, fmt.Errorf("%s: page %d: encode PNG: %w", name, page, err)
	}
	return out, nil
}

// pdfBound is a render bound in pixels: def for n ≤ 0, at most
// pdfMaxRenderSide.
func pdfBound(n, def int) int {
	if n <= 0 {
		n = def
	}
	return min(n, pdfMaxRenderSide)
}

// pdfFit scales a page of w × h points to fit maxW × maxH pixels, each side
// at least one pixel; ok is false for a page without a finite, positive size.
func pdfFit(w, h float64, maxW, maxH int) (pw, ph int, ok bool) {
	if !(w > 0 && h > 0) || math.IsInf(w, 0) || math.IsInf(h, 0) {
		return 0, 0, false
	}
	scale := min(float64(maxW)/w, float64(maxH)/h)
	return max(1, min(maxW, int(math.Round(w*scale)))), max(1, min(maxH, int(math.Round(h*scale)))), true
}

// pdfEncodePage encodes a render as PNG, drawn on white when the page has
// transparency (PDFium leaves it transparent black).
func pdfEncodePage(img image.Image, transparent bool) ([]byte, error) {
	if img == nil {
		return nil, errors.New("no image")
	}
	if transparent {
		white := image.NewRGBA(img.Bounds())
		draw.Draw(white, white.Bounds(), image.White, image.Point{}, draw.Src)
		draw.Draw(white, white.Bounds(), img, img.Bounds().Min, draw.Over)
		img = white
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
