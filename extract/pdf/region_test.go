package pdf

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"math"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"

	"mmrag/extract"
)

const (
	pdfRegionPara1 = "Regions let a reader highlight the cited paragraph over the page image. This paragraph is long enough to wrap over several lines of the narrow column it is set in."
	pdfRegionPara2 = "A second paragraph sits on the second page, lower and to the right."
)

// pdfRegionCell is where fpdf drew a paragraph, in points from the page's
// top left corner: the text's left and right edges and the top and bottom
// of its lines' cells.
type pdfRegionCell struct {
	page             int
	left, right      float64
	top, bottom      float64
	lineH, pageW, pH float64
}

// pdfRegionDocument writes a two-page Letter PDF (612 × 792 points) with a
// paragraph in a narrow column on each page, and says where each was drawn.
func pdfRegionDocument(t testing.TB) ([]byte, []pdfRegionCell) {
	t.Helper()
	f := fpdf.New("P", "pt", "Letter", "")
	f.SetAutoPageBreak(false, 0)
	pageW, pageH := f.GetPageSize()
	var cells []pdfRegionCell
	para := func(page int, x, y, w, lh float64, text string) {
		f.SetFont("Helvetica", "", 12)
		f.SetXY(x, y)
		lines := f.SplitText(text, w)
		widest := 0.0
		for _, l := range lines {
			widest = max(widest, f.GetStringWidth(l))
		}
		margin := f.GetCellMargin()
		f.MultiCell(w, lh, text, "", "L", false)
		cells = append(cells, pdfRegionCell{page: page, left: x + margin, right: x + margin + widest,
			top: y, bottom: y + float64(len(lines))*lh, lineH: lh, pageW: pageW, pH: pageH})
	}
	f.AddPage()
	f.SetFont("Helvetica", "B", 20)
	f.SetXY(72, 72)
	f.CellFormat(0, 24, "Region test", "", 1, "L", false, 0, "")
	para(1, 72, 200, 240, 15, pdfRegionPara1)
	f.AddPage()
	para(2, 330, 500, 200, 15, pdfRegionPara2)
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		t.Fatalf("write test PDF: %v", err)
	}
	return buf.Bytes(), cells
}

// The box of a paragraph is where fpdf drew it, as fractions of the page
// from its top left corner.
func TestPDFBlockRegions(t *testing.T) {
	data, cells := pdfRegionDocument(t)
	res, err := pdfTestExtract(t, PDF{}, "regions.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{pdfRegionPara1, pdfRegionPara2} {
		c := cells[i]
		b, ok := pdfTestFind(res.Blocks, text[:40])
		if !ok {
			t.Fatalf("paragraph %d not found in %s", i+1, pdfTestDump(res.Blocks))
		}
		if b.Page != c.page {
			t.Errorf("paragraph %d: page %d, want %d", i+1, b.Page, c.page)
		}
		// Horizontally the glyphs start and end where fpdf measured the
		// text; vertically they sit inside their lines' cells, at most
		// half a line in from the cells' edges.
		want := extract.Box{X0: c.left / c.pageW, Y0: c.top / c.pH, X1: c.right / c.pageW, Y1: c.bottom / c.pH}
		tolX, tolY := 3/c.pageW, c.lineH/2/c.pH
		got := b.Box
		if math.Abs(got.X0-want.X0) > tolX || math.Abs(got.X1-want.X1) > tolX ||
			got.Y0 < want.Y0 || got.Y0 > want.Y0+tolY || got.Y1 > want.Y1 || got.Y1 < want.Y1-tolY {
			t.Errorf("paragraph %d: box %+v, want about %+v", i+1, got, want)
		}
	}
	// Every block has a box on its page.
	for _, b := range res.Blocks {
		if x := b.Box; x.IsZero() || x.X0 < 0 || x.X1 > 1 || x.Y0 < 0 || x.Y1 > 1 || x.X0 >= x.X1 || x.Y0 >= x.Y1 {
			t.Errorf("block %q: box %+v", b.Text, x)
		}
	}
}

func TestPDFRegionClamp(t *testing.T) {
	pg := &pdfPage{w: 200, h: 100}
	got := pg.region(pdfBox{l: -10, b: 25, r: 100, t: 150})
	want := extract.Box{X0: 0, Y0: 0, X1: 0.5, Y1: 0.75}
	if got != want {
		t.Errorf("region = %+v, want %+v", got, want)
	}
	if b := (&pdfPage{}).region(pdfBox{l: 1, b: 1, r: 2, t: 2}); !b.IsZero() {
		t.Errorf("page without size: region %+v, want zero", b)
	}
}

// A page render fits the bounds with the page's aspect, and shows ink
// where the paragraph's box says and none in an empty corner.
func TestPDFRenderPage(t *testing.T) {
	data, cells := pdfRegionDocument(t)
	res, err := pdfTestExtract(t, PDF{}, "regions.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	box := func(text string) extract.Box {
		b, ok := pdfTestFind(res.Blocks, text[:40])
		if !ok {
			t.Fatalf("%q not found", text[:40])
		}
		return b.Box
	}
	ctx := context.Background()
	src := extract.Source{Path: "regions.pdf", Data: data}
	page, err := RenderPage(ctx, src, 1, 800, 2000)
	if err != nil {
		t.Fatal(err)
	}
	wantH := int(math.Round(cells[0].pH / cells[0].pageW * 800))
	if page.Width != 800 || page.Height != wantH || page.Pages != 2 {
		t.Fatalf("render %d×%d of %d pages, want 800×%d of 2", page.Width, page.Height, page.Pages, wantH)
	}
	img, err := png.Decode(bytes.NewReader(page.PNG))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != page.Width || b.Dy() != page.Height {
		t.Fatalf("PNG is %v, reported %d×%d", b, page.Width, page.Height)
	}
	inBox := pdfTestInk(img, box(pdfRegionPara1))
	corner := pdfTestInk(img, extract.Box{X0: 0.7, Y0: 0.5, X1: 1, Y1: 1})
	if inBox < 0.02 || corner != 0 {
		t.Errorf("ink: %.3f in the paragraph's box (want some), %.3f in an empty corner (want none)", inBox, corner)
	}
	// Page 2: the paragraph is where its box says, not where page 1's is.
	page2, err := RenderPage(ctx, src, 2, 800, 2000)
	if err != nil {
		t.Fatal(err)
	}
	img2, err := png.Decode(bytes.NewReader(page2.PNG))
	if err != nil {
		t.Fatal(err)
	}
	if in, out := pdfTestInk(img2, box(pdfRegionPara2)), pdfTestInk(img2, box(pdfRegionPara1)); in < 0.02 || out != 0 {
		t.Errorf("page 2 ink: %.3f in its paragraph's box, %.3f in page 1's paragraph box", in, out)
	}
}

// pdfTestInk is the share of dark pixels of img inside box.
func pdfTestInk(img image.Image, box extract.Box) float64 {
	b := img.Bounds()
	x0, x1 := b.Min.X+int(box.X0*float64(b.Dx())), b.Min.X+int(math.Ceil(box.X1*float64(b.Dx())))
	y0, y1 := b.Min.Y+int(box.Y0*float64(b.Dy())), b.Min.Y+int(math.Ceil(box.Y1*float64(b.Dy())))
	dark, all := 0, 0
	for y := y0; y < min(y1, b.Max.Y); y++ {
		for x := x0; x < min(x1, b.Max.X); x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if (r+g+bl)/3 < 0x8000 {
				dark++
			}
			all++
		}
	}
	if all == 0 {
		return 0
	}
	return float64(dark) / float64(all)
}

func TestPDFRenderPageLimits(t *testing.T) {
	data, _ := pdfRegionDocument(t)
	ctx := context.Background()
	src := extract.Source{Path: "regions.pdf", Data: data}

	// Bounds: the default width, the cap, and a height that binds first.
	for _, tt := range []struct{ maxW, maxH, w, h int }{
		{0, 0, DefaultPageWidth, DefaultPageWidth * 792 / 612},
		{100000, 100000, 4000 * 612 / 792, 4000},
		{1000, 396, 306, 396},
	} {
		p, err := RenderPage(ctx, src, 1, tt.maxW, tt.maxH)
		if err != nil {
			t.Fatal(err)
		}
		if abs(p.Width-tt.w) > 1 || abs(p.Height-tt.h) > 1 {
			t.Errorf("bounds %d×%d: render %d×%d, want %d×%d", tt.maxW, tt.maxH, p.Width, p.Height, tt.w, tt.h)
		}
	}

	for _, tt := range []struct {
		name string
		src  extract.Source
		page int
		is   error
		want string
	}{
		{"page 0", src, 0, ErrNoPage, "regions.pdf: page 0"},
		{"past the end", src, 3, ErrNoPage, "the PDF has 2"},
		{"not a PDF", extract.Source{Path: "notes.pdf", Data: []byte("plain text")}, 1, nil, "notes.pdf: not a PDF"},
		{"corrupt", extract.Source{Path: "broken.pdf", Data: []byte("%PDF-1.7\nnothing here")}, 1, nil, "broken.pdf: corrupt"},
	} {
		_, err := RenderPage(ctx, tt.src, tt.page, 400, 400)
		if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %v mentioning %q", tt.name, err, tt.is, tt.want)
		}
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := RenderPage(cancelled, src, 1, 400, 400); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "regions.pdf") {
		t.Errorf("cancelled context: err = %v", err)
	}
}

func TestPDFFit(t *testing.T) {
	for _, tt := range []struct {
		w, h       float64
		maxW, maxH int
		pw, ph     int
		ok         bool
		name       string
	}{
		{612, 792, 1600, 1600, 1236, 1600, true, "portrait, height binds"},
		{792, 612, 1600, 1600, 1600, 1236, true, "landscape, width binds"},
		{1, 14400, 1600, 1600, 1, 1600, true, "a sliver keeps one pixel"},
		{0, 792, 1600, 1600, 0, 0, false, "no width"},
		{math.Inf(1), 792, 1600, 1600, 0, 0, false, "infinite"},
		{math.NaN(), 792, 1600, 1600, 0, 0, false, "NaN"},
	} {
		pw, ph, ok := pdfFit(tt.w, tt.h, tt.maxW, tt.maxH)
		if pw != tt.pw || ph != tt.ph || ok != tt.ok {
			t.Errorf("%s: %d×%d %v, want %d×%d %v", tt.name, pw, ph, ok, tt.pw, tt.ph, tt.ok)
		}
	}
}

func abs(n int) int { return max(n, -n) }

func BenchmarkPDFRenderPage(b *testing.B) {
	data, _ := pdfRegionDocument(b)
	src := extract.Source{Path: "regions.pdf", Data: data}
	var size int
	for b.Loop() {
		p, err := RenderPage(context.Background(), src, 1, DefaultPageWidth, 2400)
		if err != nil {
			b.Fatal(err)
		}
		size = len(p.PNG)
	}
	b.ReportMetric(float64(size), "png-bytes")
}
