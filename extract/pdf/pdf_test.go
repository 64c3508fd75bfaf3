package pdf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
	pdfcpuapi "github.com/pdfcpu/pdfcpu/pkg/api"

	"mmrag/extract"
	"mmrag/extract/internal/extracttest"
	"mmrag/extract/picture"
)

// pdfTestPicture draws an opaque picture with a gradient and a diagonal.
func pdfTestPicture(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, seed))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8(r.IntN(64)), 255}
			if x*h/w == y {
				c = color.RGBA{0, 0, 0, 255}
			}
			img.Set(x, y, c)
		}
	}
	return img
}

func pdfTestEncode(t testing.TB, img image.Image, kind string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if kind == "jpeg" {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const (
	pdfTestTitle   = "Große Übersicht der Messungen"
	pdfTestPara1   = "Diese Einleitung beschreibt die Messreihe im Detail: café, naïve, résumé, Ελληνικά γράμματα und русский текст stehen hier nebeneinander, damit die Unicode-Extraktion geprüft wird. Der Absatz ist lang genug, um über mehrere Zeilen umzubrechen."
	pdfTestPara2   = "A second introductory paragraph follows after a visible gap, so that paragraph grouping by vertical distance can be checked."
	pdfTestCaption = "Figure 1: A colour gradient with a diagonal."
	pdfTestPara3   = "The collection step gathered samples from twelve stations across three regions over a period of four weeks, with a sensor reading every minute."
	pdfTestCap2    = "Figure 2: A JPEG photo of noise."
	pdfTestItem1   = "• first listed item"
	pdfTestItem2   = "• second listed item"
	pdfTestPara4   = "All results are summarised on this last page, and nothing else follows it."
)

type pdfTestFixture struct {
	pdf       []byte
	png, jpeg []byte
	pngImg    image.Image
}

// pdfTestDocument writes a three-page report: a 24 pt title, 16 pt and 14 pt
// headings, 11 pt body text, a PNG and a JPEG figure with captions.
func pdfTestDocument(t testing.TB, withMetaTitle bool) pdfTestFixture {
	t.Helper()
	fontPath := extracttest.FontPath(t)
	var fx pdfTestFixture
	fx.pngImg = pdfTestPicture(120, 80, 1)
	fx.png = pdfTestEncode(t, fx.pngImg, "png")
	fx.jpeg = pdfTestEncode(t, pdfTestPicture(100, 60, 2), "jpeg")

	f := fpdf.New("P", "mm", "A4", "")
	if withMetaTitle {
		f.SetTitle("Measurement Overview", true)
	}
	f.SetAuthor("Test Author", true)
	ttf, err := os.ReadFile(fontPath)
	if err != nil {
		t.Fatal(err)
	}
	f.AddUTF8FontFromBytes("DejaVu", "", ttf)
	f.SetMargins(20, 20, 20)
	font := func(size float64) { f.SetFont("DejaVu", "", size) }
	text := func(size, lh float64, s string) {
		font(size)
		f.MultiCell(0, lh, s, "", "L", false)
	}
	f.RegisterImageOptionsReader("gradient", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(fx.png))
	f.RegisterImageOptionsReader("photo", fpdf.ImageOptions{ImageType: "JPG"}, bytes.NewReader(fx.jpeg))

	f.AddPage()
	text(24, 11, pdfTestTitle)
	f.Ln(4)
	text(16, 8, "Introduction")
	f.Ln(2)
	text(11, 5.5, pdfTestPara1)
	f.Ln(4)
	text(11, 5.5, pdfTestPara2)
	f.Ln(3)
	y := f.GetY()
	f.ImageOptions("gradient", 20, y, 60, 40, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	f.SetY(y + 42)
	text(11, 5.5, pdfTestCaption)

	f.AddPage()
	text(16, 8, "Methods")
	f.Ln(2)
	text(14, 7, "Data collection")
	f.Ln(2)
	text(11, 5.5, pdfTestPara3)
	f.Ln(3)
	y = f.GetY()
	text(11, 5.5, pdfTestCap2) // caption above the picture
	f.ImageOptions("photo", 20, y+7, 50, 30, false, fpdf.ImageOptions{ImageType: "JPG"}, 0, "")
	f.SetY(y + 42)
	text(14, 7, "Analysis")
	f.Ln(2)
	text(11, 5.5, pdfTestItem1)
	text(11, 5.5, pdfTestItem2)

	f.AddPage()
	text(16, 8, "Results")
	f.Ln(2)
	text(11, 5.5, pdfTestPara4)

	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		t.Fatalf("write test PDF: %v", err)
	}
	fx.pdf = buf.Bytes()
	return fx
}

func pdfTestExtract(t testing.TB, p PDF, name string, data []byte) (*extract.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return p.Extract(ctx, extract.Source{Path: name, Data: data, MIME: "application/pdf"})
}

func pdfTestFind(blocks []extract.Block, substr string) (extract.Block, bool) {
	for _, b := range blocks {
		if strings.Contains(b.Text, substr) {
			return b, true
		}
	}
	return extract.Block{}, false
}

func TestPDFTextSectionsAndPages(t *testing.T) {
	fx := pdfTestDocument(t, true)
	res, err := pdfTestExtract(t, PDF{}, "report.pdf", fx.pdf)
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != "pdf" || res.Title != "Measurement Overview" {
		t.Errorf("type %q title %q, want pdf / metadata title", res.Type, res.Title)
	}
	if res.Meta["author"] != "Test Author" || res.Meta["pages"] != "3" {
		t.Errorf("meta = %v", res.Meta)
	}
	top := pdfTestTitle
	tests := []struct {
		text    string
		kind    extract.BlockKind
		page    int
		section []string
	}{
		{pdfTestPara1, extract.Paragraph, 1, []string{top, "Introduction"}},
		{pdfTestPara2, extract.Paragraph, 1, []string{top, "Introduction"}},
		{pdfTestCaption, extract.Paragraph, 1, []string{top, "Introduction"}},
		{pdfTestPara3, extract.Paragraph, 2, []string{top, "Methods", "Data collection"}},
		{pdfTestCap2, extract.Paragraph, 2, []string{top, "Methods", "Data collection"}},
		{pdfTestItem1 + "\n" + pdfTestItem2, extract.List, 2, []string{top, "Methods", "Analysis"}},
		{pdfTestPara4, extract.Paragraph, 3, []string{top, "Results"}},
	}
	for _, tt := range tests {
		// Each expected text must be exactly one block: paragraphs are
		// neither split nor merged.
		var got []extract.Block
		for _, b := range res.Blocks {
			if b.Text == tt.text {
				got = append(got, b)
			}
		}
		if len(got) != 1 {
			t.Errorf("block %.40q: found %d times exactly; blocks:\n%s", tt.text, len(got), pdfTestDump(res.Blocks))
			continue
		}
		b := got[0]
		if b.Kind != tt.kind || b.Page != tt.page || !slices.Equal(b.Section, tt.section) {
			t.Errorf("block %.40q: kind %s page %d section %q, want %s %d %q", tt.text, b.Kind, b.Page, b.Section, tt.kind, tt.page, tt.section)
		}
	}
	// Headings live in section paths, not in blocks.
	if b, ok := pdfTestFind(res.Blocks, "Introduction"); ok {
		t.Errorf("heading emitted as a block: %+v", b)
	}
	if len(res.Blocks) != len(tests) {
		t.Errorf("%d blocks, want %d:\n%s", len(res.Blocks), len(tests), pdfTestDump(res.Blocks))
	}
}

func pdfTestDump(blocks []extract.Block) string {
	var b strings.Builder
	for _, bl := range blocks {
		fmt.Fprintf(&b, "  p%d %s %q: %q\n", bl.Page, bl.Kind, bl.Section, bl.Text)
	}
	return b.String()
}

func TestPDFTitleFallback(t *testing.T) {
	fx := pdfTestDocument(t, false)
	res, err := pdfTestExtract(t, PDF{}, "/tmp/some/report-2024.pdf", fx.pdf)
	if err != nil {
		t.Fatal(err)
	}
	if res.Title != pdfTestTitle {
		t.Errorf("title %q, want first heading %q", res.Title, pdfTestTitle)
	}

	// No metadata and no heading: the file name.
	f := fpdf.New("P", "mm", "A4", "")
	f.SetFont("Helvetica", "", 11)
	f.AddPage()
	f.MultiCell(0, 5, "Only body text here, all in one size.", "", "L", false)
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		t.Fatal(err)
	}
	res, err = pdfTestExtract(t, PDF{}, "/data/in/plain-notes.pdf", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if res.Title != "plain-notes" {
		t.Errorf("title %q, want file name", res.Title)
	}
	if len(res.Blocks) != 1 || res.Blocks[0].Text != "Only body text here, all in one size." || res.Blocks[0].Section != nil {
		t.Errorf("blocks:\n%s", pdfTestDump(res.Blocks))
	}
}

func TestPDFImages(t *testing.T) {
	fx := pdfTestDocument(t, true)
	res, err := pdfTestExtract(t, PDF{}, "report.pdf", fx.pdf)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 2 {
		t.Fatalf("%d images, want 2: %+v", len(res.Images), res.Images)
	}
	var pngIm, jpgIm extract.Image
	for _, im := range res.Images {
		switch im.MIME {
		case "image/png":
			pngIm = im
		case "image/jpeg":
			jpgIm = im
		}
	}
	// The JPEG keeps its original bytes.
	if !bytes.Equal(jpgIm.Data, fx.jpeg) {
		t.Errorf("JPEG not kept as is: got %d bytes (%s), want %d", len(jpgIm.Data), jpgIm.MIME, len(fx.jpeg))
	}
	if jpgIm.Page != 2 || jpgIm.Width != 100 || jpgIm.Height != 60 {
		t.Errorf("JPEG page %d size %dx%d, want page 2 100x60", jpgIm.Page, jpgIm.Width, jpgIm.Height)
	}
	if jpgIm.Caption != pdfTestCap2 {
		t.Errorf("JPEG caption %q, want %q (above the picture)", jpgIm.Caption, pdfTestCap2)
	}
	if !slices.Equal(jpgIm.Section, []string{pdfTestTitle, "Methods", "Data collection"}) {
		t.Errorf("JPEG section %q", jpgIm.Section)
	}
	// The Flate image comes back as a PNG with the same pixels.
	if pngIm.Page != 1 || pngIm.Width != 120 || pngIm.Height != 80 {
		t.Errorf("PNG page %d size %dx%d, want page 1 120x80", pngIm.Page, pngIm.Width, pngIm.Height)
	}
	if pngIm.Caption != pdfTestCaption {
		t.Errorf("PNG caption %q, want %q", pngIm.Caption, pdfTestCaption)
	}
	if pngIm.Context != pdfTestPara2 {
		t.Errorf("PNG context %q, want the paragraph above", pngIm.Context)
	}
	got, err := png.Decode(bytes.NewReader(pngIm.Data))
	if err != nil {
		t.Fatalf("decode extracted PNG: %v", err)
	}
	if got.Bounds() != fx.pngImg.Bounds() {
		t.Fatalf("PNG bounds %v, want %v", got.Bounds(), fx.pngImg.Bounds())
	}
	for _, p := range []image.Point{{0, 0}, {60, 40}, {119, 79}, {30, 20}} {
		r1, g1, b1, _ := got.At(p.X, p.Y).RGBA()
		r2, g2, b2, _ := fx.pngImg.At(p.X, p.Y).RGBA()
		if r1>>8 != r2>>8 || g1>>8 != g2>>8 || b1>>8 != b2>>8 {
			t.Errorf("pixel %v = %v, want %v", p, got.At(p.X, p.Y), fx.pngImg.At(p.X, p.Y))
		}
	}
}

// TestPDFImagesFallback reads the images with PDFium, as when pdfcpu cannot
// parse a file: the JPEG stream is still kept as is.
func TestPDFImagesFallback(t *testing.T) {
	fx := pdfTestDocument(t, true)
	pool, err := pdfiumPool()
	if err != nil {
		t.Fatal(err)
	}
	inst, err := pool.GetInstance(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	x := &pdfExtraction{ctx: context.Background(), inst: inst, name: "report.pdf", src: extract.Source{Path: "report.pdf", Data: fx.pdf}, noPdfcpu: true}
	res, err := x.run()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "read with PDFium") }) {
		t.Errorf("no fallback warning: %q", res.Warnings)
	}
	if len(res.Images) != 2 {
		t.Fatalf("%d images, want 2", len(res.Images))
	}
	for _, im := range res.Images {
		switch im.Page {
		case 1:
			got, err := png.Decode(bytes.NewReader(im.Data))
			if err != nil || im.MIME != "image/png" {
				t.Fatalf("page 1 image %s does not decode as PNG: %v", im.MIME, err)
			}
			if got.Bounds() != fx.pngImg.Bounds() || im.Caption != pdfTestCaption {
				t.Errorf("page 1 image %v caption %q", got.Bounds(), im.Caption)
			}
			r1, g1, b1, _ := got.At(60, 40).RGBA()
			r2, g2, b2, _ := fx.pngImg.At(60, 40).RGBA()
			if r1>>8 != r2>>8 || g1>>8 != g2>>8 || b1>>8 != b2>>8 {
				t.Errorf("pixel differs: %v vs %v", got.At(60, 40), fx.pngImg.At(60, 40))
			}
		case 2:
			if im.MIME != "image/jpeg" || !bytes.Equal(im.Data, fx.jpeg) || im.Caption != pdfTestCap2 {
				t.Errorf("page 2 image %s (%d bytes, original %d) caption %q", im.MIME, len(im.Data), len(fx.jpeg), im.Caption)
			}
		default:
			t.Errorf("image on page %d", im.Page)
		}
	}
}

// TestPDFRepeatedImage: a logo drawn twice on a page and again on every
// page is one image, in the PDFium fallback too.
func TestPDFRepeatedImage(t *testing.T) {
	logo := pdfTestEncode(t, pdfTestPicture(40, 40, 3), "png")
	f := fpdf.New("P", "mm", "A4", "")
	f.SetFont("Helvetica", "", 11)
	f.RegisterImageOptionsReader("logo", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(logo))
	for i := range 3 {
		f.AddPage()
		f.ImageOptions("logo", 10, 10, 15, 15, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
		if i == 0 {
			f.ImageOptions("logo", 100, 10, 15, 15, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
		}
		f.SetY(40)
		f.MultiCell(0, 5, fmt.Sprintf("Text of page %d.", i+1), "", "L", false)
	}
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		t.Fatal(err)
	}
	for _, noPdfcpu := range []bool{false, true} {
		pool, err := pdfiumPool()
		if err != nil {
			t.Fatal(err)
		}
		inst, err := pool.GetInstance(time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		x := &pdfExtraction{ctx: context.Background(), inst: inst, name: "logo.pdf", src: extract.Source{Path: "logo.pdf", Data: buf.Bytes()}, noPdfcpu: noPdfcpu}
		res, err := x.run()
		inst.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Images) != 1 || res.Images[0].Page != 1 || res.Images[0].Width != 40 {
			t.Errorf("noPdfcpu=%v: %d images, want the logo once", noPdfcpu, len(res.Images))
		}
		if len(res.Blocks) != 3 {
			t.Errorf("noPdfcpu=%v: %d blocks, want 3", noPdfcpu, len(res.Blocks))
		}
	}
}

// TestPDFInlineImage: pdfcpu skips inline images (BI … ID … EI); PDFium
// reads them.
func TestPDFInlineImage(t *testing.T) {
	pix := bytes.Repeat([]byte{0x00, 0x40, 0x80, 0xff}, 20*20/4)
	content := "BT /F1 11 Tf 72 720 Td (An inline picture follows.) Tj ET\n" +
		"q 100 0 0 100 72 600 cm BI /W 20 /H 20 /CS /G /BPC 8 ID " + string(pix) + " EI Q\n"
	data := pdfTestRaw(
		"<</Type/Catalog/Pages 2 0 R>>",
		"<</Type/Pages/Kids[3 0 R]/Count 1>>",
		"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Resources<</Font<</F1 5 0 R>>>>/Contents 4 0 R>>",
		fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(content), content),
		"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
	)
	res, err := pdfTestExtract(t, PDF{}, "inline.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 {
		t.Fatalf("%d images, want the inline one; warnings %q", len(res.Images), res.Warnings)
	}
	im := res.Images[0]
	got, err := png.Decode(bytes.NewReader(im.Data))
	if err != nil || im.MIME != "image/png" {
		t.Fatalf("inline image %s: %v", im.MIME, err)
	}
	if got.Bounds().Dx() != 20 || got.Bounds().Dy() != 20 || im.Page != 1 || im.Context != "An inline picture follows." {
		t.Errorf("inline image %v page %d context %q", got.Bounds(), im.Page, im.Context)
	}
	if r, _, _, _ := got.At(1, 0).RGBA(); r>>8 != 0x40 {
		t.Errorf("pixel (1,0) = %v, want gray 0x40", got.At(1, 0))
	}
}

func TestPDFImageLimit(t *testing.T) {
	fx := pdfTestDocument(t, true)
	res, err := pdfTestExtract(t, PDF{MaxImageBytes: int64(len(fx.png)) + 500}, "report.pdf", fx.pdf)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].Page != 1 {
		t.Errorf("%d images kept, want only the first", len(res.Images))
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "image size limit") }) {
		t.Errorf("no limit warning: %q", res.Warnings)
	}
}

func TestPDFMaxPagesAndContext(t *testing.T) {
	fx := pdfTestDocument(t, true)
	res, err := pdfTestExtract(t, PDF{MaxPages: 1}, "report.pdf", fx.pdf)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range res.Blocks {
		if b.Page != 1 {
			t.Errorf("block from page %d with MaxPages 1", b.Page)
		}
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "only the first 1") }) {
		t.Errorf("no page limit warning: %q", res.Warnings)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (PDF{}).Extract(ctx, extract.Source{Path: "report.pdf", Data: fx.pdf}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}

	// A deadline that passes mid-document stops it between pages, and the
	// pool still serves afterwards.
	book := pdfTestTextDocument(t, 60)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, err := (PDF{}).Extract(ctx, extract.Source{Path: "book.pdf", Data: book}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline mid-document: err = %v", err)
	}
	if res, err := pdfTestExtract(t, PDF{}, "report.pdf", fx.pdf); err != nil || len(res.Blocks) == 0 {
		t.Errorf("after a cancelled extraction: %v", err)
	}
}

func TestPDFTruncatedTail(t *testing.T) {
	fx := pdfTestDocument(t, true)
	// Losing the cross-reference table and trailer: PDFium rebuilds it from
	// the objects, and the result says the file looks truncated.
	cut := bytes.LastIndex(fx.pdf, []byte("xref"))
	res, err := pdfTestExtract(t, PDF{}, "cut.pdf", fx.pdf[:cut])
	if err != nil {
		t.Skipf("PDFium does not recover this cut (%v); covered by TestPDFBadInput", err)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "looks truncated") }) {
		t.Errorf("no truncation warning: %q", res.Warnings)
	}
	if _, ok := pdfTestFind(res.Blocks, "twelve stations"); !ok {
		t.Errorf("text lost:\n%s", pdfTestDump(res.Blocks))
	}
}

// pdfTestScan places a picture of text as the only content of a page: a PDF
// without a text layer.
func pdfTestScan(t testing.TB, lines []string) []byte {
	t.Helper()
	scan := extracttest.TextPNG(t, lines)
	f := fpdf.New("P", "mm", "A5", "")
	f.AddPage()
	f.RegisterImageOptionsReader("scan", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(scan))
	f.ImageOptions("scan", 0, 0, 148, 210, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPDFScannedPage(t *testing.T) {
	data := pdfTestScan(t, []string{"The quick brown fox", "jumps over the lazy", "sleeping dog today."})
	t.Run("render", func(t *testing.T) {
		res, err := pdfTestExtract(t, PDF{NoOCR: true}, "scan.pdf", data)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Images) != 1 {
			t.Fatalf("%d images, want the page render only", len(res.Images))
		}
		im := res.Images[0]
		if im.Meta["kind"] != "page" || im.Page != 1 || im.MIME != "image/png" {
			t.Errorf("render: kind %q page %d mime %s", im.Meta["kind"], im.Page, im.MIME)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(im.Data))
		if err != nil {
			t.Fatalf("render does not decode: %v", err)
		}
		// A5 at 200 dpi is 1654 × 1166 pixels... in portrait: 1166 wide.
		if cfg.Width != im.Width || cfg.Height != im.Height || im.Width < 1100 || im.Width > 1200 || im.Height < 1600 || im.Height > 1700 {
			t.Errorf("render %dx%d (decoded %dx%d), want about 1166x1654", im.Width, im.Height, cfg.Width, cfg.Height)
		}
		if len(res.Blocks) != 0 {
			t.Errorf("blocks without OCR: %v", res.Blocks)
		}
	})
	t.Run("no tesseract", func(t *testing.T) {
		res, err := pdfTestExtract(t, PDF{OCR: picture.Tesseract{Cmd: "mmrag-no-such-tesseract"}}, "scan.pdf", data)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(res.Warnings, "page 1 has no text layer; install tesseract-ocr for OCR") {
			t.Errorf("warnings %q", res.Warnings)
		}
	})
	t.Run("ocr", func(t *testing.T) {
		extracttest.NeedTool(t, "tesseract", "tesseract-ocr")
		res, err := pdfTestExtract(t, PDF{}, "scan.pdf", data)
		if err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		for _, b := range res.Blocks {
			if b.Kind != extract.OCR || b.Page != 1 {
				t.Errorf("block kind %s page %d, want ocr on page 1", b.Kind, b.Page)
			}
			all.WriteString(strings.ToLower(b.Text) + " ")
		}
		for _, w := range []string{"quick", "brown", "lazy", "sleeping"} {
			if !strings.Contains(all.String(), w) {
				t.Errorf("OCR text %q lacks %q", all.String(), w)
			}
		}
		if len(res.Images) != 1 || res.Images[0].Meta["kind"] != "page" {
			t.Errorf("images %d, want the page render", len(res.Images))
		}
	})
}

func TestPDFBadInput(t *testing.T) {
	fx := pdfTestDocument(t, true)
	encrypted := func(t *testing.T) []byte {
		conf := pdfcpuConfig()
		conf.UserPW, conf.OwnerPW = "user", "owner"
		conf.EncryptUsingAES = true
		conf.EncryptKeyLength = 256
		var out bytes.Buffer
		if err := pdfcpuapi.Encrypt(bytes.NewReader(fx.pdf), &out, conf); err != nil {
			t.Fatalf("encrypt with pdfcpu: %v", err)
		}
		return out.Bytes()
	}
	rc4 := func(t *testing.T) []byte {
		f := fpdf.New("P", "mm", "A4", "")
		f.SetProtection(fpdf.CnProtectPrint, "secret", "owner")
		f.SetFont("Helvetica", "", 12)
		f.AddPage()
		f.Cell(40, 10, "hidden")
		var buf bytes.Buffer
		if err := f.Output(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	noPages := pdfTestRaw("<</Type/Catalog/Pages 2 0 R>>", "<</Type/Pages/Kids[]/Count 0>>")

	tests := []struct {
		name string
		data func(t *testing.T) []byte
		want string
		is   error
	}{
		{"empty", func(*testing.T) []byte { return nil }, "not a PDF", nil},
		{"random bytes", func(*testing.T) []byte { return random }, "not a PDF", nil},
		{"random after header", func(*testing.T) []byte { return append([]byte("%PDF-1.7\n"), random...) }, "corrupt or truncated", nil},
		{"truncated", func(*testing.T) []byte { return fx.pdf[:len(fx.pdf)/3] }, "corrupt or truncated", nil},
		{"encrypted AES-256", encrypted, "encrypted PDF: password required", ErrPDFEncrypted},
		{"encrypted RC4", rc4, "encrypted PDF: password required", ErrPDFEncrypted},
		{"no pages", func(*testing.T) []byte { return noPages }, "no pages", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := pdfTestExtract(t, PDF{}, "bad.pdf", tt.data(t))
			if err == nil {
				t.Fatalf("no error; result %+v", res)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "bad.pdf") {
				t.Errorf("error %q, want it to name bad.pdf and say %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

// pdfTestRaw writes a PDF whose objects 1, 2, … are the given dictionaries,
// object 1 being the catalog, with a correct cross-reference table.
func pdfTestRaw(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// pdfTestTextDocument writes n pages of plain body text with a heading each.
func pdfTestTextDocument(tb testing.TB, n int) []byte {
	tb.Helper()
	f := fpdf.New("P", "mm", "A4", "")
	f.SetMargins(20, 20, 20)
	para := strings.Repeat("Retrieval augmented generation needs clean text with its place in the source. ", 6)
	for i := range n {
		f.AddPage()
		f.SetFont("Helvetica", "", 18)
		f.MultiCell(0, 9, fmt.Sprintf("Chapter %d", i+1), "", "L", false)
		f.SetFont("Helvetica", "", 11)
		for range 6 {
			f.MultiCell(0, 5.5, para, "", "L", false)
			f.Ln(3)
		}
	}
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestPDFManyPages(t *testing.T) {
	data := pdfTestTextDocument(t, 12)
	res, err := pdfTestExtract(t, PDF{}, "book.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blocks) != 12*6 {
		t.Fatalf("%d blocks, want 72", len(res.Blocks))
	}
	for i, b := range res.Blocks {
		page := i/6 + 1
		if b.Page != page || !slices.Equal(b.Section, []string{fmt.Sprintf("Chapter %d", page)}) {
			t.Errorf("block %d: page %d section %q, want %d Chapter %d", i, b.Page, b.Section, page, page)
		}
	}
}

func TestPDFJoinHelpers(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"extrac-", "tion works", "extraction works"},
		{"well-", "Known", "well- Known"},
		{"ends", "here", "ends here"},
		{"2019-", "2020", "2019- 2020"},
	}
	for _, tt := range tests {
		if got := pdfJoinText(tt.a, tt.b); got != tt.want {
			t.Errorf("pdfJoinText(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
	titles := []struct{ in, want string }{
		{"Microsoft Word - draft.docx", ""},
		{"untitled", ""},
		{"report.pdf", ""},
		{"  Annual   Report 2024 ", "Annual Report 2024"},
		{"12345", ""},
	}
	for _, tt := range titles {
		if got := pdfCleanTitle(tt.in); got != tt.want {
			t.Errorf("pdfCleanTitle(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPDFChromiumKerningAndLigatures covers a PDF printed by Chromium, whose
// kerned "Yo" came back twice ("YoYour") and whose "fi" ligature was split
// off by a space ("fi les").
func TestPDFChromiumKerningAndLigatures(t *testing.T) {
	data, err := os.ReadFile("../../examples/docs/getting-started.pdf")
	if err != nil {
		t.Fatal(err)
	}
	res, err := pdfTestExtract(t, PDF{}, "getting-started.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, b := range res.Blocks {
		all.WriteString(b.Text + "\n")
		all.WriteString(strings.Join(b.Section, " / ") + "\n")
	}
	text := all.String()
	for _, want := range []string{"Your own files", "a file that did not change"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, pdfTestDump(res.Blocks))
		}
	}
	for _, bad := range []string{"YoYour", "fi les"} {
		if strings.Contains(text, bad) {
			t.Errorf("text has %q:\n%s", bad, pdfTestDump(res.Blocks))
		}
	}
}

// TestPDFJoinLinesRuns checks how runs of one line are glued, with the
// boxes PDFium gives for the Chromium heading "Your own files".
func TestPDFJoinLinesRuns(t *testing.T) {
	run := func(text string, l, r float64) pdfLine {
		return pdfLine{text: text, size: 18, pdfBox: pdfBox{l: l, r: r, b: 456, t: 469}}
	}
	tests := []struct {
		name string
		runs []pdfLine
		want string
	}{
		{"kerned overlap", []pdfLine{run("Yo", 29.84, 43.21), run("Your own ", 42.16, 129.73)}, "Your own"},
		{"ligature", []pdfLine{run("Your own ", 42.16, 129.73), run("fi", 130.10, 141.55), run("les", 144.58, 171.29)}, "Your own files"},
		{"ligature char", []pdfLine{run(pdfLigatureText.Replace("\ufb01"), 130.10, 141.55), run("les", 144.58, 171.29)}, "files"},
		{"word gap", []pdfLine{run("own", 100, 129), run("files", 135, 170)}, "own files"},
		{"repeat across gap", []pdfLine{run("class", 100, 129), run("s", 135, 140)}, "class s"},
	}
	for _, tt := range tests {
		got := pdfJoinLines(tt.runs)
		if len(got) != 1 || got[0].text != tt.want {
			t.Errorf("%s: got %+v, want one line %q", tt.name, got, tt.want)
		}
	}
}

func TestPDFInitCache(t *testing.T) {
	took, err := PDFWarmup()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("PDFium start took %v", took)
	dir, err := pdfCacheDir()
	if err != nil {
		t.Skipf("no cache folder: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Errorf("compilation cache %s is empty (%v)", dir, err)
	}
}

func FuzzPDF(f *testing.F) {
	f.Add([]byte("%PDF-1.4\n%%EOF"))
	f.Add(pdfTestTextDocument(f, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res, err := PDF{NoOCR: true, MaxPages: 3, DPI: 30}.Extract(ctx, extract.Source{Path: "fuzz.pdf", Data: data})
		if err == nil && res == nil {
			t.Fatal("nil result without error")
		}
		if err != nil && res != nil {
			t.Fatal("result with error")
		}
	})
}

func BenchmarkPDFText(b *testing.B) {
	const pages = 50
	data := pdfTestTextDocument(b, pages)
	if _, err := PDFWarmup(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		res, err := PDF{NoOCR: true}.Extract(ctx, extract.Source{Path: "bench.pdf", Data: data})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Blocks) != pages*6 {
			b.Fatalf("%d blocks", len(res.Blocks))
		}
	}
	b.ReportMetric(float64(pages*b.N)/b.Elapsed().Seconds(), "pages/s")
}
