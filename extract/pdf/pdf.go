// Package pdf extracts PDF documents with PDFium, run as WebAssembly on
// wazero (no cgo): text laid out into headings, paragraphs and lists per
// page, figures with their original bytes (read with pdfcpu) and captions,
// and the text of scanned pages through OCR.
package pdf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/klippa-app/go-pdfium"
	"github.com/klippa-app/go-pdfium/enums"
	pdfiumerrors "github.com/klippa-app/go-pdfium/errors"
	"github.com/klippa-app/go-pdfium/references"
	"github.com/klippa-app/go-pdfium/requests"
	"github.com/klippa-app/go-pdfium/webassembly"
	pdfcpuapi "github.com/pdfcpu/pdfcpu/pkg/api"
	pdfcpumodel "github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/tetratelabs/wazero"
	wazeroapi "github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/image/tiff"

	"mmrag/extract"
	"mmrag/extract/picture"
	"mmrag/internal/home"
)

// PDF extracts text, headings, embedded images and scanned pages from PDF
// files. Text comes from PDFium (compiled to WebAssembly, no cgo), original
// image bytes from pdfcpu. The zero value is ready to use.
//
// Layout rules, all heuristics:
//   - Lines whose font size is at least 1.15× the document's body size (the
//     size most characters are set in) and that are short are headings; their
//     level is the rank of their size among heading sizes, largest first.
//   - Lines of body text are joined into a paragraph until the vertical gap,
//     the font size or a list marker says a new one begins; a paragraph never
//     spans pages.
//   - Bare page numbers in the top or bottom margin are dropped.
//   - An image's caption is the paragraph starting with "Figure N" (Fig.,
//     Table, …) just below or above it; its context is the nearest other
//     paragraph above it.
//   - A page with (almost) no text but an image covering most of it is a scan:
//     it is rendered, kept as an image with Meta["kind"] = "page", and
//     recognised with OCR when tesseract is installed.
type PDF struct {
	MaxPages      int               // pages read at most; 0 means 2000. Later pages are dropped with a warning.
	MaxImageBytes int64             // total bytes of images kept per document; 0 means 64 MiB. Later images are dropped with a warning.
	DPI           int               // resolution of scanned-page renders; 0 means 200
	OCR           picture.Tesseract // recogniser for scanned pages
	NoOCR         bool              // never run OCR (scanned pages are still rendered)
}

// ErrPDFEncrypted is returned (wrapped) for a PDF that needs a password to open.
var ErrPDFEncrypted = errors.New("encrypted PDF: password required")

const (
	pdfDefaultMaxPages   = 2000
	pdfDefaultImageBytes = 64 << 20
	pdfDefaultDPI        = 200
	pdfMaxRenderSide     = 4000     // pixels on the long side of a page render
	pdfMaxBitmapPixels   = 50 << 20 // larger embedded bitmaps are not decoded by the fallback
	pdfMinImageSide      = 16       // smaller images are icons, bullets or rules
	pdfHeadingRatio      = 1.15
	pdfScanMaxChars      = 20  // a page with fewer characters has no real text layer
	pdfScanMinCoverage   = 0.5 // share of the page an image must cover to be a scan
)

// --- PDFium pool -----------------------------------------------------------

// pdfiumState holds the one PDFium pool of the process. Compiling the PDFium
// module takes seconds, so it is done once, lazily, and the machine code is
// cached on disk for the next process.
var pdfiumState struct {
	once sync.Once
	pool pdfium.Pool
	err  error
	took time.Duration
}

// pdfCacheDir is where wazero keeps compiled modules:
// $MMRAG_HOME/cache/wazero, else <user cache dir>/mmrag/cache/wazero.
func pdfCacheDir() (string, error) {
	h, err := home.Dir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(h, "cache", "wazero")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

func pdfiumPool() (pdfium.Pool, error) {
	pdfiumState.once.Do(func() {
		start := time.Now()
		// The bundled module needs exception handling (it lowers setjmp/longjmp
		// to it). CloseOnContextDone stays off: it starts a goroutine per
		// WebAssembly call, which made text extraction three times slower; the
		// context is checked between pages instead.
		rc := wazero.NewRuntimeConfig().
			WithCoreFeatures(wazeroapi.CoreFeaturesV2 | experimental.CoreFeaturesExceptionHandling)
		if dir, err := pdfCacheDir(); err == nil {
			if cache, err := wazero.NewCompilationCacheWithDir(dir); err == nil {
				rc = rc.WithCompilationCache(cache)
			}
		}
		pdfiumState.pool, pdfiumState.err = webassembly.Init(webassembly.Config{
			MinIdle:       1,
			MaxIdle:       1,
			MaxTotal:      max(2, runtime.NumCPU()),
			RuntimeConfig: rc,
			// Documents are passed as bytes: the module sees no file system.
			FSConfig: wazero.NewFSConfig(),
			Stdout:   io.Discard,
			Stderr:   io.Discard,
		})
		if pdfiumState.err != nil {
			pdfiumState.err = fmt.Errorf("start PDFium (WebAssembly): %w", pdfiumState.err)
		}
		pdfiumState.took = time.Since(start)
	})
	return pdfiumState.pool, pdfiumState.err
}

// PDFWarmup starts the process-wide PDFium engine now instead of on the first
// PDF, and says how long starting it took (the same value on every call).
func PDFWarmup() (time.Duration, error) {
	_, err := pdfiumPool()
	return pdfiumState.took, err
}

var pdfcpuOnce sync.Once

// pdfcpuConfig returns a pdfcpu configuration that neither writes pdfcpu's
// config folder nor fails on resources it cannot decode.
func pdfcpuConfig() *pdfcpumodel.Configuration {
	pdfcpuOnce.Do(pdfcpuapi.DisableConfigDir)
	conf := pdfcpumodel.NewDefaultConfiguration()
	conf.ValidationMode = pdfcpumodel.ValidationRelaxed
	conf.UnsupportedResourcePolicy = pdfcpumodel.UnsupportedResourceSkip
	return conf
}

// --- page data ---------------------------------------------------------------

// pdfBox is a rectangle in PDF points, y growing upwards.
type pdfBox struct{ l, b, r, t float64 }

func (x pdfBox) area() float64 { return max(0, x.r-x.l) * max(0, x.t-x.b) }

type pdfLine struct {
	text  string
	size  float64 // font size in points
	chars int     // non-space characters
	pdfBox
}

type pdfImageObj struct {
	pdfBox
	index int  // among the page's objects
	w, h  int  // pixels
	cpu   int  // index of the matching pdfcpu image of the page, -1 if none
	dup   bool // the same picture drawn again on the page
	// Filled only when images come from PDFium (pdfcpu failed).
	data []byte
	mime string
}

type pdfPage struct {
	num     int // 1-based
	w, h    float64
	lines   []pdfLine
	images  []pdfImageObj
	chars   int
	forms   bool           // has form XObjects, which may hold images
	cpuUsed []bool         // pdfcpu images of the page matched to an object
	ocr     string         // text recognised on a scanned page
	render  *extract.Image // render of a scanned page
}

// Extract reads a PDF. Encrypted files give ErrPDFEncrypted; files that are
// not PDFs, are corrupt or have no pages give an error naming the file.
func (p PDF) Extract(ctx context.Context, src extract.Source) (res *extract.Result, err error) {
	name := pdfName(src)
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%s: PDF reader failed on this file: %v", name, r)
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !pdfHeader(src.Data) {
		return nil, fmt.Errorf("%s: not a PDF (no %%PDF- header)", name)
	}
	pool, err := pdfiumPool()
	if err != nil {
		return nil, err
	}
	inst, err := pool.GetInstanceWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: get PDFium instance: %w", name, err)
	}
	defer inst.Close()
	defer func() {
		if ctx.Err() != nil && err != nil {
			res, err = nil, fmt.Errorf("%s: %w", name, ctx.Err())
		}
	}()

	x := &pdfExtraction{PDF: p, ctx: ctx, inst: inst, name: name, src: src}
	return x.run()
}

// pdfName names a source in errors.
func pdfName(src extract.Source) string {
	if src.Path == "" {
		return "PDF input"
	}
	return src.Path
}

// pdfHeader says whether data starts like a PDF (within its first KiB).
func pdfHeader(data []byte) bool {
	return bytes.Contains(data[:min(len(data), 1024)], []byte("%PDF-"))
}

// pdfExtraction is the state of one Extract call.
type pdfExtraction struct {
	PDF
	ctx   context.Context
	inst  pdfium.Pdfium
	name  string
	src   extract.Source
	doc   references.FPDF_DOCUMENT
	res   *extract.Result
	pages []*pdfPage

	imageBytes int64
	imageFull  bool
	noPdfcpu   bool // read images with PDFium only (tests the fallback)
}

func (x *pdfExtraction) warnf(format string, args ...any) {
	x.res.Warnings = append(x.res.Warnings, fmt.Sprintf(format, args...))
}

func (x *pdfExtraction) run() (*extract.Result, error) {
	data := x.src.Data
	doc, pageCount, err := pdfOpen(x.inst, data, x.name)
	if err != nil {
		return nil, err
	}
	x.doc = doc
	defer x.inst.FPDF_CloseDocument(&requests.FPDF_CloseDocument{Document: x.doc})

	x.res = &extract.Result{Type: "pdf", Meta: map[string]string{"pages": strconv.Itoa(pageCount)}}
	if !bytes.Contains(data[max(0, len(data)-2048):], []byte("%%EOF")) {
		x.warnf("%s looks truncated (no %%%%EOF at the end); text may be missing", x.name)
	}
	n := pageCount
	maxPages := x.MaxPages
	if maxPages <= 0 {
		maxPages = pdfDefaultMaxPages
	}
	if n > maxPages {
		x.warnf("%s has %d pages; only the first %d were read", x.name, n, maxPages)
		n = maxPages
	}
	metaTitle := x.readMeta()

	for i := range n {
		if err := x.ctx.Err(); err != nil {
			return nil, err
		}
		pg, err := x.readPage(i)
		if err != nil {
			if x.ctx.Err() != nil {
				return nil, x.ctx.Err()
			}
			x.warnf("page %d skipped: %v", i+1, err)
			continue
		}
		x.pages = append(x.pages, pg)
	}

	// pdfcpu parses the whole file again, so only when there is an image
	// to take from it.
	var cpuImages map[int][]pdfcpuImage
	if x.hasEmbeddedImages() {
		var cpuErr error
		cpuImages, cpuErr = x.pdfcpuImages(n)
		if x.noPdfcpu {
			cpuImages, cpuErr = nil, errors.New("pdfcpu not used")
		}
		if cpuErr != nil {
			x.warnf("embedded images read with PDFium instead of pdfcpu (%v); they are re-encoded as PNG unless JPEG", cpuErr)
		}
		if x.matchImages(cpuImages) {
			if err := x.pdfiumImages(); err != nil {
				return nil, err
			}
		}
	}

	firstHeading := x.layout(cpuImages)

	switch {
	case metaTitle != "":
		x.res.Title = metaTitle
	case firstHeading != "":
		x.res.Title = firstHeading
	default:
		x.res.Title = pdfFileTitle(x.src.Path)
	}
	return x.res, nil
}

// pdfOpen opens a PDF held in data and counts its pages; the caller closes
// the document. Errors name the file and say why it cannot be read:
// encrypted (ErrPDFEncrypted), corrupt, or without pages.
func pdfOpen(inst pdfium.Pdfium, data []byte, name string) (references.FPDF_DOCUMENT, int, error) {
	opened, err := inst.OpenDocument(&requests.OpenDocument{File: &data})
	if err != nil {
		switch {
		case errors.Is(err, pdfiumerrors.ErrPassword):
			return "", 0, fmt.Errorf("%s: %w", name, ErrPDFEncrypted)
		case errors.Is(err, pdfiumerrors.ErrSecurity):
			return "", 0, fmt.Errorf("%s: encrypted PDF with an unsupported security handler", name)
		case errors.Is(err, pdfiumerrors.ErrFormat), errors.Is(err, pdfiumerrors.ErrFile):
			return "", 0, fmt.Errorf("%s: corrupt or truncated PDF (%v)", name, err)
		}
		return "", 0, fmt.Errorf("%s: open PDF: %w", name, err)
	}
	count, err := inst.FPDF_GetPageCount(&requests.FPDF_GetPageCount{Document: opened.Document})
	switch {
	case err != nil:
		err = fmt.Errorf("%s: count pages: %w", name, err)
	case count.PageCount <= 0:
		err = fmt.Errorf("%s: PDF has no pages", name)
	}
	if err != nil {
		inst.FPDF_CloseDocument(&requests.FPDF_CloseDocument{Document: opened.Document})
		return "", 0, err
	}
	return opened.Document, count.PageCount, nil
}

// readMeta fills Result.Meta and returns a usable metadata title.
func (x *pdfExtraction) readMeta() string {
	md, err := x.inst.GetMetaData(&requests.GetMetaData{Document: x.doc})
	if err != nil {
		return ""
	}
	var title string
	for _, tag := range md.Tags {
		v := strings.TrimSpace(strings.ToValidUTF8(tag.Value, ""))
		if v == "" {
			continue
		}
		switch tag.Tag {
		case "Title":
			title = pdfCleanTitle(v)
			x.res.Meta["title"] = v
		case "CreationDate":
			x.res.Meta["created"] = v
		case "ModDate":
			x.res.Meta["modified"] = v
		default:
			x.res.Meta[strings.ToLower(tag.Tag)] = v
		}
	}
	return title
}

var pdfJunkTitle = regexp.MustCompile(`(?i)^(untitled|document\d*|title|slide \d+|microsoft \w+ - .*|.*\.(docx?|pdf|tex|dvi|ps|indd|qxd|rtf|odt|pptx?|xlsx?))$`)

// pdfCleanTitle drops metadata titles that generators fill with file names or
// placeholders.
func pdfCleanTitle(t string) string {
	t = strings.Join(strings.Fields(t), " ")
	if pdfJunkTitle.MatchString(t) || !strings.ContainsFunc(t, unicode.IsLetter) {
		return ""
	}
	return t
}

func pdfFileTitle(p string) string {
	base := path.Base(filepath.ToSlash(p))
	if i := strings.IndexAny(base, "?#"); i >= 0 {
		base = base[:i]
	}
	base = strings.TrimSuffix(base, path.Ext(base))
	if base == "" || base == "." || base == "/" {
		return "PDF document"
	}
	return base
}

// --- one page ------------------------------------------------------------------

func (x *pdfExtraction) readPage(i int) (*pdfPage, error) {
	loaded, err := x.inst.FPDF_LoadPage(&requests.FPDF_LoadPage{Document: x.doc, Index: i})
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	ref := loaded.Page
	defer x.inst.FPDF_ClosePage(&requests.FPDF_ClosePage{Page: ref})
	page := requests.Page{ByReference: &ref}

	pg := &pdfPage{num: i + 1}
	size, err := x.inst.GetPageSize(&requests.GetPageSize{Page: page})
	if err != nil {
		return nil, fmt.Errorf("size: %w", err)
	}
	pg.w, pg.h = size.Width, size.Height

	text, err := x.inst.GetPageTextStructured(&requests.GetPageTextStructured{
		Page:                   page,
		Mode:                   requests.GetPageTextStructuredModeRects,
		CollectFontInformation: true,
	})
	if err != nil {
		return nil, fmt.Errorf("text: %w", err)
	}
	rects := make([]pdfLine, 0, len(text.Rects))
	for _, r := range text.Rects {
		pos := r.PointPosition
		rl := pdfLine{
			text:   pdfLigatureText.Replace(strings.ToValidUTF8(r.Text, "")),
			pdfBox: pdfBox{l: min(pos.Left, pos.Right), r: max(pos.Left, pos.Right), b: min(pos.Top, pos.Bottom), t: max(pos.Top, pos.Bottom)},
		}
		if fi := r.FontInformation; fi != nil {
			rl.size = fi.RenderedSize
			if rl.size <= 0 {
				rl.size = fi.Size
			}
		}
		if rl.size <= 0 {
			rl.size = max(rl.t-rl.b, 1)
		}
		rects = append(rects, rl)
	}
	pg.lines = pdfJoinLines(rects)
	pg.lines = pdfDropPageNumbers(pg.lines, pg.h)
	for _, l := range pg.lines {
		pg.chars += l.chars
	}

	if err := x.readImageObjects(pg, page); err != nil {
		return nil, err
	}

	// A scan: almost no text, and images covering most of the page.
	var covered float64
	pageArea := pg.w * pg.h
	for _, im := range pg.images {
		covered += min(im.area(), pageArea)
	}
	if pg.chars < pdfScanMaxChars && pageArea > 0 && covered >= pdfScanMinCoverage*pageArea {
		x.scannedPage(pg, page)
	}
	return pg, nil
}

// readImageObjects lists the page's image objects with their bounds.
func (x *pdfExtraction) readImageObjects(pg *pdfPage, page requests.Page) error {
	cnt, err := x.inst.FPDFPage_CountObjects(&requests.FPDFPage_CountObjects{Page: page})
	if err != nil {
		return fmt.Errorf("count objects: %w", err)
	}
	for j := range cnt.Count {
		obj, err := x.inst.FPDFPage_GetObject(&requests.FPDFPage_GetObject{Page: page, Index: j})
		if err != nil {
			continue
		}
		typ, err := x.inst.FPDFPageObj_GetType(&requests.FPDFPageObj_GetType{PageObject: obj.PageObject})
		if err != nil {
			continue
		}
		if typ.Type == enums.FPDF_PAGEOBJ_FORM {
			pg.forms = true
		}
		if typ.Type != enums.FPDF_PAGEOBJ_IMAGE {
			continue
		}
		bounds, err := x.inst.FPDFPageObj_GetBounds(&requests.FPDFPageObj_GetBounds{PageObject: obj.PageObject})
		if err != nil {
			continue
		}
		im := pdfImageObj{index: j, cpu: -1, pdfBox: pdfBox{l: float64(bounds.Left), b: float64(bounds.Bottom), r: float64(bounds.Right), t: float64(bounds.Top)}}
		if px, err := x.inst.FPDFImageObj_GetImagePixelSize(&requests.FPDFImageObj_GetImagePixelSize{ImageObject: obj.PageObject}); err == nil {
			im.w, im.h = int(px.Width), int(px.Height)
		}
		pg.images = append(pg.images, im)
	}
	return nil
}

// pdfKeepObj says whether an image object on the page becomes an Image: not
// an icon, and not the scan of a page that is represented by its render.
func pdfKeepObj(pg *pdfPage, im pdfImageObj) bool {
	if im.w < pdfMinImageSide || im.h < pdfMinImageSide {
		return false
	}
	return pg.render == nil || im.area() < pdfScanMinCoverage*pg.w*pg.h
}

func (x *pdfExtraction) hasEmbeddedImages() bool {
	for _, pg := range x.pages {
		if pg.forms {
			return true // images inside form XObjects are only seen by pdfcpu
		}
		for _, im := range pg.images {
			if pdfKeepObj(pg, im) {
				return true
			}
		}
	}
	return false
}

// pdfiumImages reads the bytes of the kept image objects with PDFium, for
// files pdfcpu cannot parse.
func (x *pdfExtraction) pdfiumImages() error {
	for _, pg := range x.pages {
		if !slices.ContainsFunc(pg.images, func(im pdfImageObj) bool { return pdfKeepObj(pg, im) && im.cpu < 0 && !im.dup }) {
			continue
		}
		if err := x.ctx.Err(); err != nil {
			return err
		}
		loaded, err := x.inst.FPDF_LoadPage(&requests.FPDF_LoadPage{Document: x.doc, Index: pg.num - 1})
		if err != nil {
			x.warnf("page %d: images unreadable: %v", pg.num, err)
			continue
		}
		page := requests.Page{ByReference: &loaded.Page}
		for k := range pg.images {
			im := &pg.images[k]
			if !pdfKeepObj(pg, *im) || im.cpu >= 0 || im.dup {
				continue
			}
			obj, err := x.inst.FPDFPage_GetObject(&requests.FPDFPage_GetObject{Page: page, Index: im.index})
			if err == nil {
				im.data, im.mime, err = x.pdfiumImageBytes(obj.PageObject, im.w, im.h)
			}
			if err != nil {
				x.warnf("page %d: image %d unreadable: %v", pg.num, im.index, err)
			}
		}
		x.inst.FPDF_ClosePage(&requests.FPDF_ClosePage{Page: loaded.Page})
	}
	return nil
}

// pdfiumImageBytes returns an image object's JPEG or JPEG 2000 stream as is,
// and other images as PNG decoded by PDFium.
func (x *pdfExtraction) pdfiumImageBytes(obj references.FPDF_PAGEOBJECT, w, h int) ([]byte, string, error) {
	var filters []string
	if fc, err := x.inst.FPDFImageObj_GetImageFilterCount(&requests.FPDFImageObj_GetImageFilterCount{ImageObject: obj}); err == nil {
		for k := range fc.Count {
			if f, err := x.inst.FPDFImageObj_GetImageFilter(&requests.FPDFImageObj_GetImageFilter{ImageObject: obj, Index: k}); err == nil {
				filters = append(filters, f.ImageFilter)
			}
		}
	}
	if len(filters) == 1 && (filters[0] == "DCTDecode" || filters[0] == "JPXDecode") {
		raw, err := x.inst.FPDFImageObj_GetImageDataRaw(&requests.FPDFImageObj_GetImageDataRaw{ImageObject: obj})
		if err == nil && len(raw.Data) > 0 {
			if filters[0] == "DCTDecode" {
				return raw.Data, "image/jpeg", nil
			}
			return raw.Data, "image/jp2", nil
		}
	}
	if w*h > pdfMaxBitmapPixels {
		return nil, "", fmt.Errorf("%dx%d pixels is too large to decode", w, h)
	}
	bm, err := x.inst.FPDFImageObj_GetBitmap(&requests.FPDFImageObj_GetBitmap{ImageObject: obj})
	if err != nil {
		return nil, "", err
	}
	defer x.inst.FPDFBitmap_Destroy(&requests.FPDFBitmap_Destroy{Bitmap: bm.Bitmap})
	img, err := x.bitmapImage(bm.Bitmap)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "image/png", nil
}

// bitmapImage copies a PDFium bitmap into a Go image.
func (x *pdfExtraction) bitmapImage(bm references.FPDF_BITMAP) (image.Image, error) {
	wr, err := x.inst.FPDFBitmap_GetWidth(&requests.FPDFBitmap_GetWidth{Bitmap: bm})
	if err != nil {
		return nil, err
	}
	hr, err := x.inst.FPDFBitmap_GetHeight(&requests.FPDFBitmap_GetHeight{Bitmap: bm})
	if err != nil {
		return nil, err
	}
	sr, err := x.inst.FPDFBitmap_GetStride(&requests.FPDFBitmap_GetStride{Bitmap: bm})
	if err != nil {
		return nil, err
	}
	fr, err := x.inst.FPDFBitmap_GetFormat(&requests.FPDFBitmap_GetFormat{Bitmap: bm})
	if err != nil {
		return nil, err
	}
	buf, err := x.inst.FPDFBitmap_GetBuffer(&requests.FPDFBitmap_GetBuffer{Bitmap: bm})
	if err != nil {
		return nil, err
	}
	w, h, stride := wr.Width, hr.Height, sr.Stride
	var bpp int
	switch fr.Format {
	case enums.FPDF_BITMAP_FORMAT_GRAY:
		bpp = 1
	case enums.FPDF_BITMAP_FORMAT_BGR:
		bpp = 3
	case enums.FPDF_BITMAP_FORMAT_BGRX, enums.FPDF_BITMAP_FORMAT_BGRA:
		bpp = 4
	default:
		return nil, fmt.Errorf("unknown bitmap format %d", fr.Format)
	}
	if w <= 0 || h <= 0 || stride < w*bpp || len(buf.Buffer) < stride*(h-1)+w*bpp {
		return nil, fmt.Errorf("bad bitmap %dx%d stride %d (%d bytes)", w, h, stride, len(buf.Buffer))
	}
	if bpp == 1 {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			copy(g.Pix[y*g.Stride:y*g.Stride+w], buf.Buffer[y*stride:])
		}
		return g, nil
	}
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		row := buf.Buffer[y*stride:]
		for xx := range w {
			s := row[xx*bpp:]
			a := uint8(255)
			if fr.Format == enums.FPDF_BITMAP_FORMAT_BGRA {
				a = s[3]
			}
			out.SetNRGBA(xx, y, color.NRGBA{R: s[2], G: s[1], B: s[0], A: a})
		}
	}
	return out, nil
}

// scannedPage renders a page that is only an image and recognises its text.
func (x *pdfExtraction) scannedPage(pg *pdfPage, page requests.Page) {
	dpi := x.DPI
	if dpi <= 0 {
		dpi = pdfDefaultDPI
	}
	if long := max(pg.w, pg.h); long > 0 && long/72*float64(dpi) > pdfMaxRenderSide {
		dpi = max(1, int(pdfMaxRenderSide*72/long))
	}
	r, err := x.inst.RenderPageInDPI(&requests.RenderPageInDPI{Page: page, DPI: dpi})
	if err != nil {
		x.warnf("page %d has no text layer and could not be rendered: %v", pg.num, err)
		return
	}
	var buf bytes.Buffer
	err = png.Encode(&buf, r.Result.RenderedImage)
	w, h := r.Result.Width, r.Result.Height
	r.Cleanup()
	if err != nil {
		x.warnf("page %d: encode render: %v", pg.num, err)
		return
	}
	pg.render = &extract.Image{
		Data:   buf.Bytes(),
		MIME:   "image/png",
		Src:    fmt.Sprintf("page %d render", pg.num),
		Width:  w,
		Height: h,
		Meta:   map[string]string{"kind": "page", "dpi": strconv.Itoa(dpi)},
	}
	if x.NoOCR {
		return
	}
	if !x.OCR.Available() {
		x.warnf("page %d has no text layer; install tesseract-ocr for OCR", pg.num)
		return
	}
	text, err := x.OCR.Image(x.ctx, buf.Bytes())
	if err != nil {
		x.warnf("page %d has no text layer and OCR failed: %v", pg.num, err)
		return
	}
	pg.ocr = text
}

// --- lines -------------------------------------------------------------------------

// pdfJoinLines merges PDFium's text rects (runs of one font on one line, in
// content order) into lines. Content order is kept, which follows reading
// order for nearly all generators, columns included.
func pdfJoinLines(rects []pdfLine) []pdfLine {
	var lines []pdfLine
	var best []int  // chars of the run that set each line's size
	var prev string // text of the run added last
	for _, r := range rects {
		r.chars = pdfCountChars(r.text)
		if r.chars == 0 {
			continue
		}
		n := len(lines)
		if n > 0 && pdfSameLine(lines[n-1], r) {
			ln := &lines[n-1]
			r.text = pdfTrimOverlap(*ln, r)
			r.chars = pdfCountChars(r.text)
			if pdfRunSpace(*ln, r, prev) {
				ln.text += " "
			}
			prev = r.text
			ln.text += r.text
			ln.chars += r.chars
			ln.l, ln.r = min(ln.l, r.l), max(ln.r, r.r)
			ln.b, ln.t = min(ln.b, r.b), max(ln.t, r.t)
			if r.chars > best[n-1] {
				ln.size, best[n-1] = r.size, r.chars
			}
			continue
		}
		lines = append(lines, r)
		best = append(best, r.chars)
		prev = r.text
	}
	for i := range lines {
		lines[i].text = strings.Join(strings.Fields(lines[i].text), " ")
	}
	return lines
}

// pdfTrimOverlap drops the start of run r that repeats the end of line ln.
// PDFium cuts rects at kerning adjustments and reads each rect's text back by
// its box; when kerning pulls a glyph under the previous rect, chars come back
// in both. Chromium's heading "Your own files" gives "Yo" (x 29.8–43.2) and
// then "Your own " (x 42.2–129.7). Only a run that overlaps ln's box is
// trimmed, so letters repeated across a real gap ("class" + "s") stay.
func pdfTrimOverlap(ln, r pdfLine) string {
	if r.l >= ln.r {
		return r.text
	}
	a, b := []rune(ln.text), []rune(r.text)
	for k := min(len(a), len(b)); k > 0; k-- {
		tail := string(a[len(a)-k:])
		if strings.TrimSpace(tail) != "" && strings.HasPrefix(r.text, tail) {
			return string(b[k:])
		}
	}
	return r.text
}

// pdfLigatureText spells out Latin ligature characters, which fonts without
// a ToUnicode map to them give, so that "ﬁle" is found by a search for "file".
var pdfLigatureText = strings.NewReplacer(
	"\ufb00", "ff", "\ufb01", "fi", "\ufb02", "fl", "\ufb03", "ffi", "\ufb04", "ffl", "\ufb05", "st", "\ufb06", "st",
)

// pdfLigatures are the texts of one ligature glyph, spelled out.
var pdfLigatures = map[string]bool{"ff": true, "fi": true, "fl": true, "ffi": true, "ffl": true, "st": true}

// pdfRunSpace says whether a space belongs between line ln and the run r that
// continues it; prev is the text of the run added to ln last. Runs without
// spaces of their own are split by a gap wider than letter spacing. PDFium
// puts a ligature glyph in a rect of its own, and the gap around its tight ink
// box is side bearing, not a space ("fi" + "les" would read "fi les"), so a
// ligature run needs a gap as wide as a narrow word space.
func pdfRunSpace(ln, r pdfLine, prev string) bool {
	if strings.HasSuffix(ln.text, " ") || strings.HasPrefix(r.text, " ") || r.text == "" {
		return false
	}
	minGap := 0.15
	if pdfLigatures[prev] || pdfLigatures[r.text] {
		minGap = 0.25
	}
	return r.l-ln.r > minGap*min(ln.size, r.size)
}

// pdfSameLine says whether run r continues line ln: it sits at the same height
// and does not jump back to the left.
func pdfSameLine(ln, r pdfLine) bool {
	rc, lc := (r.b+r.t)/2, (ln.b+ln.t)/2
	if !(rc >= ln.b && rc <= ln.t) && !(lc >= r.b && lc <= r.t) {
		return false
	}
	return r.l >= ln.r-0.5*max(ln.size, r.size)
}

func pdfCountChars(s string) int {
	n := 0
	for _, c := range s {
		if !unicode.IsSpace(c) && c != 0 {
			n++
		}
	}
	return n
}

var pdfPageNumber = regexp.MustCompile(`(?i)^(page\s*)?[-–]?\s*\d{1,4}\s*[-–]?(\s*(/|of)\s*\d{1,4})?$`)

// pdfDropPageNumbers removes bare page numbers in the top or bottom margin.
func pdfDropPageNumbers(lines []pdfLine, pageH float64) []pdfLine {
	if pageH <= 0 {
		return lines
	}
	return slices.DeleteFunc(lines, func(l pdfLine) bool {
		inMargin := l.t < 0.08*pageH || l.b > 0.92*pageH
		return inMargin && pdfPageNumber.MatchString(l.text)
	})
}

// --- layout ------------------------------------------------------------------------

// pdfPara is a paragraph, list or heading found on a page.
type pdfPara struct {
	kind    extract.BlockKind
	text    string
	section []string
	pdfBox
}

// region turns a box in PDF points into fractions of the page, from its
// top left corner, clamped to the page; zero when the page has no size.
// The page's rotation is not applied: rotated pages get boxes of the page
// as drawn before rotation.
func (pg *pdfPage) region(b pdfBox) extract.Box {
	if pg.w <= 0 || pg.h <= 0 {
		return extract.Box{}
	}
	fx := func(v float64) float64 { return min(1, max(0, v/pg.w)) }
	fy := func(v float64) float64 { return min(1, max(0, 1-v/pg.h)) }
	return extract.Box{X0: fx(b.l), Y0: fy(b.t), X1: fx(b.r), Y1: fy(b.b)}
}

// pdfSizeKey rounds a font size so that sizes that differ by rounding noise
// compare equal.
func pdfSizeKey(s float64) float64 { return math.Round(s*2) / 2 }

// layout turns the pages' lines into blocks and images, and returns the
// first heading's text.
func (x *pdfExtraction) layout(cpuImages map[int][]pdfcpuImage) string {
	lay := newPDFLayout(x.pages)
	seenImage := map[string]bool{} // pdfcpu object numbers or data sums already kept
	for _, pg := range x.pages {
		startSection := lay.section()
		paras := lay.paras(pg)
		for _, pa := range paras {
			if pa.kind == "" {
				continue
			}
			x.res.Blocks = append(x.res.Blocks, extract.Block{Kind: pa.kind, Text: pa.text, Place: extract.Place{Section: pa.section, Page: pg.num},
				Box: pg.region(pa.pdfBox)})
		}
		if pg.ocr != "" {
			for part := range strings.SplitSeq(pg.ocr, "\n\n") {
				if t := strings.TrimSpace(part); t != "" {
					x.res.Blocks = append(x.res.Blocks, extract.Block{Kind: extract.OCR, Text: t, Place: extract.Place{Section: lay.section(), Page: pg.num}})
				}
			}
		}
		x.pageImages(pg, paras, cpuImages[pg.num], seenImage, startSection, lay.body)
	}
	return lay.firstHeading
}

// pdfLayout reads lines into headings and paragraphs. Headings are lines
// set well above the body size; their level is the rank of their size
// among the heading sizes, largest first. The open headings carry over
// from page to page.
type pdfLayout struct {
	body         float64             // the body text's font size
	hsizes       []float64           // heading sizes (pdfSizeKey), largest first
	pitch        map[float64]float64 // typical line pitch by font size
	stack        []pdfOpenHeading    // the headings open at this point
	firstHeading string
}

type pdfOpenHeading struct {
	level int
	text  string
}

func newPDFLayout(pages []*pdfPage) *pdfLayout {
	lay := &pdfLayout{body: pdfBodySize(pages)}
	for _, pg := range pages {
		for _, l := range pg.lines {
			if lay.isHeading(l) {
				lay.hsizes = append(lay.hsizes, pdfSizeKey(l.size))
			}
		}
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(lay.hsizes)))
	lay.hsizes = slices.Compact(lay.hsizes)
	lay.pitch = pdfTypicalPitch(pages, lay.isHeading)
	return lay
}

func (lay *pdfLayout) isHeading(l pdfLine) bool {
	return lay.body > 0 && l.size >= pdfHeadingRatio*lay.body && l.chars <= 150 &&
		strings.ContainsFunc(l.text, unicode.IsLetter)
}

// level is the heading level of a font size, 1 for the largest.
func (lay *pdfLayout) level(size float64) int {
	k := pdfSizeKey(size)
	for i, s := range lay.hsizes {
		if k >= s-0.25 {
			return i + 1
		}
	}
	return len(lay.hsizes)
}

// section is the path of the open headings.
func (lay *pdfLayout) section() []string {
	if len(lay.stack) == 0 {
		return nil
	}
	s := make([]string, len(lay.stack))
	for i, h := range lay.stack {
		s[i] = h.text
	}
	return s
}

// paras reads the lines of a page into paragraphs, lists and headings
// (kind "", kept to place the page's images).
func (lay *pdfLayout) paras(pg *pdfPage) []pdfPara {
	r := &pdfParaReader{lay: lay}
	for li := range pg.lines {
		l := &pg.lines[li]
		if lay.isHeading(*l) {
			r.heading(l)
		} else {
			r.line(l)
		}
		r.prev = l
	}
	r.flush()
	return r.paras
}

// pdfParaReader collects the paragraphs of one page, line by line.
type pdfParaReader struct {
	lay   *pdfLayout
	paras []pdfPara
	cur   *pdfPara // the paragraph being read
	prev  *pdfLine // the line before
	items []string // list items of cur when it is a list
}

func (r *pdfParaReader) flush() {
	if r.cur == nil {
		return
	}
	if r.cur.kind == extract.List {
		r.cur.text = strings.Join(r.items, "\n")
	}
	r.paras = append(r.paras, *r.cur) // headings too, to place images
	r.cur, r.items = nil, nil
}

// heading opens a heading, or continues the one before when it is wrapped
// over two lines.
func (r *pdfParaReader) heading(l *pdfLine) {
	lay := r.lay
	if cur, prev := r.cur, r.prev; cur != nil && cur.kind == "" && prev != nil && math.Abs(prev.size-l.size) < 0.5 &&
		prev.t-l.t < 2*l.size && prev.t > l.t {
		if lay.firstHeading == cur.text {
			lay.firstHeading += " " + l.text
		}
		cur.text += " " + l.text
		lay.stack[len(lay.stack)-1].text = cur.text
		cur.section = lay.section()
		cur.pdfBox = pdfUnion(cur.pdfBox, l.pdfBox)
		return
	}
	r.flush()
	lv := lay.level(l.size)
	for len(lay.stack) > 0 && lay.stack[len(lay.stack)-1].level >= lv {
		lay.stack = lay.stack[:len(lay.stack)-1]
	}
	lay.stack = append(lay.stack, pdfOpenHeading{lv, l.text})
	if lay.firstHeading == "" {
		lay.firstHeading = l.text
	}
	r.cur = &pdfPara{kind: "", text: l.text, section: lay.section(), pdfBox: l.pdfBox} // kind "" marks a heading
}

// line adds a body line: to the paragraph or list item before it, or as
// the start of a new one after a break, a heading or a list marker.
func (r *pdfParaReader) line(l *pdfLine) {
	marker := pdfListMarker.MatchString(l.text)
	cur := r.cur
	if cur == nil || cur.kind == "" || r.prev == nil || pdfBreaks(*r.prev, *l, r.lay.pitch) || (marker && cur.kind != extract.List) {
		r.flush()
		kind := extract.Paragraph
		if marker {
			kind = extract.List
		}
		r.cur = &pdfPara{kind: kind, section: r.lay.section(), pdfBox: l.pdfBox}
		if kind == extract.List {
			r.items = []string{l.text}
		} else {
			r.cur.text = l.text
		}
		return
	}
	cur.pdfBox = pdfUnion(cur.pdfBox, l.pdfBox)
	switch {
	case cur.kind == extract.List && marker:
		r.items = append(r.items, l.text)
	case cur.kind == extract.List:
		r.items[len(r.items)-1] = pdfJoinText(r.items[len(r.items)-1], l.text)
	default:
		cur.text = pdfJoinText(cur.text, l.text)
	}
}

func pdfUnion(a, b pdfBox) pdfBox {
	return pdfBox{l: min(a.l, b.l), b: min(a.b, b.b), r: max(a.r, b.r), t: max(a.t, b.t)}
}

var pdfListMarker = regexp.MustCompile(`^([•◦▪‣●○■□➢►✓✔–—*·-]|\(?\d{1,3}[.)]|\(?[a-z]\))\s+\S`)

// pdfJoinText appends a wrapped line, undoing end-of-line hyphenation.
func pdfJoinText(a, b string) string {
	if strings.HasSuffix(a, "-") && len(a) > 1 {
		before, _ := utf8.DecodeLastRuneInString(a[:len(a)-1])
		first, _ := utf8.DecodeRuneInString(b)
		if unicode.IsLetter(before) && unicode.IsLower(first) {
			return a[:len(a)-1] + b
		}
	}
	return a + " " + b
}

// pdfPitch is the distance between two consecutive lines. Glyph boxes vary
// with ascenders and descenders; the smaller of the top and bottom
// distances is the closer estimate of the baseline distance.
func pdfPitch(prev, cur pdfLine) float64 {
	return min(prev.t-cur.t, prev.b-cur.b)
}

// pdfBreaks says whether line cur starts a new paragraph after prev.
func pdfBreaks(prev, cur pdfLine, pitch map[float64]float64) bool {
	if math.Abs(prev.size-cur.size) >= 0.5 {
		return true
	}
	if cur.t > prev.t+0.5*cur.size { // moved up: next column or region
		return true
	}
	d := pdfPitch(prev, cur)
	if p, ok := pitch[pdfSizeKey(cur.size)]; ok {
		return d > 1.3*p
	}
	return d > 1.8*cur.size
}

// pdfTypicalPitch returns, per font size, the median distance between
// consecutive body lines of that size.
func pdfTypicalPitch(pages []*pdfPage, isHeading func(pdfLine) bool) map[float64]float64 {
	all := map[float64][]float64{}
	for _, pg := range pages {
		for i := 1; i < len(pg.lines); i++ {
			a, b := pg.lines[i-1], pg.lines[i]
			if isHeading(a) || isHeading(b) || math.Abs(a.size-b.size) >= 0.5 {
				continue
			}
			if d := pdfPitch(a, b); d > 0.5*b.size && d < 3*b.size {
				k := pdfSizeKey(b.size)
				all[k] = append(all[k], d)
			}
		}
	}
	out := map[float64]float64{}
	for k, ds := range all {
		if len(ds) >= 3 {
			slices.Sort(ds)
			out[k] = ds[len(ds)/2]
		}
	}
	return out
}

// pdfBodySize is the font size most characters of the document are set in.
func pdfBodySize(pages []*pdfPage) float64 {
	weight := map[float64]int{}
	for _, pg := range pages {
		for _, l := range pg.lines {
			weight[pdfSizeKey(l.size)] += l.chars
		}
	}
	var best float64
	bestW := 0
	for s, w := range weight {
		if w > bestW || (w == bestW && s < best) {
			best, bestW = s, w
		}
	}
	return best
}

// --- images ------------------------------------------------------------------------

type pdfcpuImage struct {
	objNr int
	data  []byte
	typ   string // pdfcpu's file type: jpg, png, tif, jpx
	w, h  int
}

// pdfcpuImages reads the original bytes of the images of pages 1..n.
func (x *pdfExtraction) pdfcpuImages(n int) (out map[int][]pdfcpuImage, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("pdfcpu failed: %v", r)
		}
	}()
	maps, err := pdfcpuapi.ExtractImagesRaw(bytes.NewReader(x.src.Data), []string{"1-" + strconv.Itoa(n)}, pdfcpuConfig())
	if err != nil {
		var skipped *pdfcpuapi.UnsupportedResourceError
		if !errors.As(err, &skipped) {
			return nil, err
		}
		x.warnf("some images use encodings that cannot be extracted: %v", err)
	}
	out = map[int][]pdfcpuImage{}
	for _, m := range maps {
		for objNr, im := range m {
			if im.Thumb || im.IsImgMask || im.Reader == nil {
				continue
			}
			data, err := io.ReadAll(im.Reader)
			if err != nil || len(data) == 0 {
				continue
			}
			c := pdfcpuImage{objNr: objNr, data: data, typ: im.FileType, w: im.Width, h: im.Height}
			// pdfcpu leaves the size empty unless asked for stubs.
			var cfg image.Config
			switch c.typ {
			case "jpg":
				cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
			case "png":
				cfg, err = png.DecodeConfig(bytes.NewReader(data))
			case "tif":
				cfg, err = tiff.DecodeConfig(bytes.NewReader(data))
			}
			if err == nil && cfg.Width > 0 {
				c.w, c.h = cfg.Width, cfg.Height
			}
			out[im.PageNr] = append(out[im.PageNr], c)
		}
	}
	for _, ims := range out {
		slices.SortFunc(ims, func(a, b pdfcpuImage) int { return a.objNr - b.objNr })
	}
	return out, nil
}

var pdfCaptionStart = regexp.MustCompile(`(?i)^(figure|fig\.?|image|img\.?|photo|chart|diagram|illustration|plate|exhibit|table|abbildung|abb\.|figura|tableau|tabelle)\s*[A-Z]?\d+[.:)]?`)

// pageImages adds the page's images: the render of a scanned page, or the
// embedded images with the caption and context found around them.
func (x *pdfExtraction) pageImages(pg *pdfPage, paras []pdfPara, cpu []pdfcpuImage, seen map[string]bool, startSection []string, body float64) {
	if pg.render != nil {
		im := *pg.render
		im.Place = extract.Place{Section: startSection, Page: pg.num}
		im.Context = pdfTruncate(pg.ocr, 500)
		x.addImage(im)
	}
	for _, obj := range pg.images {
		if !pdfKeepObj(pg, obj) || obj.dup {
			continue
		}
		im := extract.Image{Place: extract.Place{Section: pdfSectionAt(obj.pdfBox, paras, startSection), Page: pg.num}}
		im.Caption, im.Context = pdfCaption(obj.pdfBox, paras, body)
		switch {
		case obj.cpu >= 0:
			c := cpu[obj.cpu]
			key := "obj " + strconv.Itoa(c.objNr)
			if seen[key] {
				continue
			}
			seen[key] = true
			if x.fillImage(&im, c, pg.num) {
				x.addImage(im)
			}
		case obj.data != nil:
			// Same bytes on several pages (a logo) are kept once.
			h := fnv.New64a()
			h.Write(obj.data)
			key := "sum " + strconv.FormatUint(h.Sum64(), 16)
			if seen[key] {
				continue
			}
			seen[key] = true
			im.Data, im.MIME = obj.data, obj.mime
			im.Width, im.Height = obj.w, obj.h
			im.Src = fmt.Sprintf("page %d image %d", pg.num, obj.index)
			x.addImage(im)
		}
	}
	// Images pdfcpu found that PDFium did not list (inside form XObjects).
	for k, c := range cpu {
		key := "obj " + strconv.Itoa(c.objNr)
		if pg.cpuUsed[k] || seen[key] || c.w < pdfMinImageSide || c.h < pdfMinImageSide {
			continue
		}
		seen[key] = true
		im := extract.Image{Place: extract.Place{Section: startSection, Page: pg.num}}
		if x.fillImage(&im, c, pg.num) {
			x.addImage(im)
		}
	}
}

// matchImages pairs each page's image objects (positions, from PDFium) with
// pdfcpu's images (bytes) by pixel size, in order. It reports whether some
// kept object has no pdfcpu image (inline images, which pdfcpu skips).
func (x *pdfExtraction) matchImages(cpu map[int][]pdfcpuImage) (missing bool) {
	for _, pg := range x.pages {
		list := cpu[pg.num]
		pg.cpuUsed = make([]bool, len(list))
		free := func(w, h int) int {
			for i, c := range list {
				if !pg.cpuUsed[i] && c.w == w && c.h == h {
					return i
				}
			}
			return -1
		}
		for k := range pg.images {
			obj := &pg.images[k]
			obj.cpu = free(obj.w, obj.h)
			if obj.cpu < 0 && slices.ContainsFunc(list, func(c pdfcpuImage) bool { return c.w == obj.w && c.h == obj.h }) {
				// An image drawn twice on a page is listed once by pdfcpu.
				obj.dup = true
				continue
			}
			if obj.cpu < 0 {
				obj.cpu = free(0, 0) // a size we cannot read (JPEG 2000)
			}
			if obj.cpu >= 0 {
				// Marked even for objects not kept: the scan of a scanned
				// page is represented by its render.
				pg.cpuUsed[obj.cpu] = true
			} else if pdfKeepObj(pg, *obj) {
				missing = true
			}
		}
	}
	return missing
}

// fillImage sets the bytes, type and size of an image read by pdfcpu. JPEG
// and JPEG 2000 stay as they are, TIFF (CMYK, CCITT) becomes PNG.
func (x *pdfExtraction) fillImage(im *extract.Image, c pdfcpuImage, page int) bool {
	im.Src = fmt.Sprintf("page %d image obj %d", page, c.objNr)
	im.Width, im.Height = c.w, c.h
	switch c.typ {
	case "jpg":
		im.Data, im.MIME = c.data, "image/jpeg"
	case "png":
		im.Data, im.MIME = c.data, "image/png"
	case "jpx":
		im.Data, im.MIME = c.data, "image/jp2"
	case "tif":
		img, err := tiff.Decode(bytes.NewReader(c.data))
		if err != nil {
			x.warnf("page %d: image obj %d: decode TIFF: %v", page, c.objNr, err)
			return false
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			x.warnf("page %d: image obj %d: encode PNG: %v", page, c.objNr, err)
			return false
		}
		im.Data, im.MIME = buf.Bytes(), "image/png"
	default:
		x.warnf("page %d: image obj %d has unsupported type %q", page, c.objNr, c.typ)
		return false
	}
	return true
}

func (x *pdfExtraction) addImage(im extract.Image) {
	limit := x.MaxImageBytes
	if limit <= 0 {
		limit = pdfDefaultImageBytes
	}
	if x.imageBytes+int64(len(im.Data)) > limit {
		if !x.imageFull {
			x.warnf("image size limit (%d bytes) reached at page %d; later images dropped", limit, im.Page)
			x.imageFull = true
		}
		return
	}
	x.imageBytes += int64(len(im.Data))
	x.res.Images = append(x.res.Images, im)
}

// pdfSectionAt is the section in force at an image: that of the nearest
// paragraph or heading above it, else the one the page started in.
func pdfSectionAt(box pdfBox, paras []pdfPara, start []string) []string {
	best, dist := -1, math.Inf(1)
	for i, p := range paras {
		if d := p.b - box.t; d >= -2 && d < dist {
			best, dist = i, d
		}
	}
	if best < 0 {
		return start
	}
	return paras[best].section
}

// pdfCaption finds the caption paragraph just below (preferred) or above an
// image, and the nearest other paragraph above it as context.
func pdfCaption(box pdfBox, paras []pdfPara, body float64) (caption, context string) {
	reach := max(3*body, 24)
	overlapsX := func(p pdfPara) bool { return p.l < box.r && p.r > box.l }
	bestBelow, bestAbove := -1, -1
	var dBelow, dAbove float64
	ctxIdx, dCtx := -1, math.Inf(1)
	for i, p := range paras {
		if p.kind == "" || !overlapsX(p) {
			continue
		}
		isCap := pdfCaptionStart.MatchString(p.text)
		below := box.b - p.t // caption top under the image bottom
		above := p.b - box.t // caption bottom over the image top
		switch {
		case isCap && below >= -2 && below <= reach && (bestBelow < 0 || below < dBelow):
			bestBelow, dBelow = i, below
		case isCap && above >= -2 && above <= reach && (bestAbove < 0 || above < dAbove):
			bestAbove, dAbove = i, above
		case !isCap && above >= -2 && above < dCtx:
			ctxIdx, dCtx = i, above
		}
	}
	switch {
	case bestBelow >= 0:
		caption = paras[bestBelow].text
	case bestAbove >= 0:
		caption = paras[bestAbove].text
	}
	if ctxIdx >= 0 {
		context = pdfTruncate(paras[ctxIdx].text, 500)
	}
	return pdfTruncate(caption, 1000), context
}

func pdfTruncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
