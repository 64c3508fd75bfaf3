package refkb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mmrag"
)

const testModel = "Xenova/clip-vit-base-patch16"

func readFixture(t *testing.T) *KB {
	t.Helper()
	kb, err := Read(context.Background(), needFixture(t), Options{Model: testModel})
	if err != nil {
		t.Fatal(err)
	}
	return kb
}

func TestReadFixture(t *testing.T) {
	kb := readFixture(t)
	if len(kb.Docs) != 2 {
		t.Fatalf("%d documents, want 2", len(kb.Docs))
	}
	var texts []textRecord
	b, err := os.ReadFile(filepath.Join(fixtureDir, TextFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &texts); err != nil {
		t.Fatal(err)
	}

	counts := map[mmrag.Modality]int{}
	ids := map[string]bool{}
	for _, d := range kb.Docs {
		checkFixtureDoc(t, d)
		for i, it := range d.Items {
			counts[it.Modality]++
			if ids[it.ID] || len(it.ID) != 32 {
				t.Errorf("item id %q is duplicate or not 32 hex digits", it.ID)
			}
			ids[it.ID] = true
			checkFixtureItem(t, d, i)
		}
	}
	if counts[mmrag.Text] != 86 || counts[mmrag.Image] != 17 {
		t.Fatalf("items %v, want 86 text and 17 image", counts)
	}

	first := kb.Docs[0].Items[0]
	if first.Modality != mmrag.Text || first.Kind != "paragraph" || first.Meta[mmrag.MetaRow] != "0" ||
		first.Meta[mmrag.MetaText] != texts[0].Text || first.Text != texts[0].Section+": "+texts[0].Text ||
		first.Section[0] != texts[0].Section || kb.Docs[0].Doc.Title != texts[0].ArticleTitle {
		t.Fatalf("first text item %+v does not match record %+v", first, texts[0])
	}
	if e := first.Meta[mmrag.MetaEmbedded]; e != EmbeddedText(texts[0].Section, texts[0].Text) || len([]rune(e)) != 256+2 {
		t.Fatalf("first item embedded %q (%d chars)", e, len([]rune(e)))
	}

	// Reading again gives the same ids and hashes.
	again := readFixture(t)
	for i, d := range again.Docs {
		if d.Doc.ID != kb.Docs[i].Doc.ID || d.Doc.Hash != kb.Docs[i].Doc.Hash || d.Items[3].ID != kb.Docs[i].Items[3].ID {
			t.Fatalf("second read of document %d differs", i)
		}
	}

	s := Summary(kb)
	for _, want := range []string{"2 documents", "86 text items", "17 image items", "15 distinct images", "512-d", testModel} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

// checkFixtureDoc checks a document of the fixture and that it has a
// vector per item.
func checkFixtureDoc(t *testing.T, d Doc) {
	t.Helper()
	if d.Doc.Type != DocType || d.Doc.Title == "" || len(d.Doc.Hash) != 64 || d.Doc.Size <= 0 || d.Doc.ModTime.IsZero() {
		t.Errorf("document %+v", d.Doc)
	}
	if want := "reference:seed-blog#" + d.Doc.Title; d.Doc.Source != want {
		t.Errorf("source %q, want %q", d.Doc.Source, want)
	}
	if len(d.Vectors) != len(d.Items) {
		t.Fatalf("%s: %d vectors for %d items", d.Doc.Title, len(d.Vectors), len(d.Items))
	}
}

// checkFixtureItem checks item i of d, its vector and, for a figure, its
// image.
func checkFixtureItem(t *testing.T, d Doc, i int) {
	t.Helper()
	it := d.Items[i]
	if it.DocID != d.Doc.ID || it.Position != i || len(it.Section) != 1 {
		t.Errorf("item %d of %s: doc %s position %d section %q", i, d.Doc.Title, it.DocID, it.Position, it.Section)
	}
	v := d.Vectors[i]
	if v.ItemID != it.ID || v.Model != testModel || len(v.Values) != 512 {
		t.Errorf("vector %d: item %s model %s dim %d", i, v.ItemID, v.Model, len(v.Values))
	}
	if n := norm(v.Values); math.Abs(n-1) > 1e-3 {
		t.Errorf("vector of item %d of %s has norm %v", i, d.Doc.Title, n)
	}
	if it.Modality != mmrag.Image {
		return
	}
	data := d.Blobs[it.BlobHash]
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != it.BlobHash {
		t.Errorf("image item %d: blob %s missing or wrong", i, it.BlobHash)
	}
	if !strings.HasPrefix(it.MIME, "image/") || it.Width <= 0 || it.Height <= 0 || it.Kind != "figure" {
		t.Errorf("image item %d: mime %q %dx%d kind %q", i, it.MIME, it.Width, it.Height, it.Kind)
	}
	if it.Caption == "" || it.Text != it.Caption || it.Meta[mmrag.MetaImagePath] == "" {
		t.Errorf("image item %d: caption %q text %q meta %v", i, it.Caption, it.Text, it.Meta)
	}
}

// The reference scored a query q against a collection E as
// softmax(q·E/T). Used as queries, the stored vectors find themselves first
// (or tie with an identical record: two figures appear twice, and both
// articles end with the same line), text items above the
// reference's text threshold. (Image-to-image scores at T=0.5 are flat,
// about 0.14, so the image threshold 0.25, meant for text queries, is not
// checked here.)
func TestReferenceSearch(t *testing.T) {
	kb := readFixture(t)
	for _, tc := range []struct {
		modality  mmrag.Modality
		temp      float64
		threshold float64
	}{{mmrag.Text, 0.25, 0.01}, {mmrag.Image, 0.5, 0}} {
		var coll [][]float32
		for _, d := range kb.Docs {
			for i, it := range d.Items {
				if it.Modality == tc.modality {
					coll = append(coll, d.Vectors[i].Values)
				}
			}
		}
		for qi, q := range coll {
			scores := referenceScores(q, coll, tc.temp)
			var sum float64
			best := 0
			for i, s := range scores {
				sum += s
				if s > scores[best] {
					best = i
				}
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Fatalf("%s query %d: softmax sums to %v", tc.modality, qi, sum)
			}
			if scores[qi] < scores[best] || scores[qi] < tc.threshold {
				t.Errorf("%s query %d: own score %.4f, best %.4f (item %d), threshold %v",
					tc.modality, qi, scores[qi], scores[best], best, tc.threshold)
			}
		}
	}
}

func referenceScores(q []float32, coll [][]float32, temp float64) []float64 {
	s := make([]float64, len(coll))
	mx := math.Inf(-1)
	for i, e := range coll {
		var d float64
		for j := range q {
			d += float64(q[j]) * float64(e[j])
		}
		s[i] = d / temp
		mx = max(mx, s[i])
	}
	var z float64
	for i := range s {
		s[i] = math.Exp(s[i] - mx)
		z += s[i]
	}
	for i := range s {
		s[i] /= z
	}
	return s
}

func TestEmbeddedText(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		section, text, want string
	}{
		{"Intro", "short", "Intro: short"},
		{"Intro", long, "Intro: " + strings.Repeat("é", 251)},
		{"", long, ": " + strings.Repeat("é", 256)},
		// Python's text[:-4] for a 260-character section.
		{strings.Repeat("s", 260), "abcdefgh", strings.Repeat("s", 260) + ": abcd"},
		{strings.Repeat("s", 300), "abc", strings.Repeat("s", 300) + ": "},
	}
	for _, tc := range tests {
		if got := EmbeddedText(tc.section, tc.text); got != tc.want {
			t.Errorf("EmbeddedText(%.10q…, %.10q…) = %.30q…, want %.30q…", tc.section, tc.text, got, tc.want)
		}
	}
}

// miniKB writes a small reference knowledge base into a temp folder:
// three text records over two articles and two image records.
type miniKB struct {
	dir    string
	texts  []textRecord
	images []imageRecord
	dim    int
}

func newMiniKB(t *testing.T) *miniKB {
	t.Helper()
	m := &miniKB{
		dir: t.TempDir(),
		texts: []textRecord{
			{"Alpha", "Alpha", "The first paragraph of alpha."},
			{"Beta", "Setup", "Beta has its own paragraph."},
			{"Alpha", "Details", "Second paragraph of alpha."},
		},
		images: []imageRecord{
			{"Beta", "Setup", "images/a.png", "No caption available"},
			{"Alpha", "Details", "images/a.png", "A red square."},
		},
		dim: 4,
	}
	if err := os.MkdirAll(filepath.Join(m.dir, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 6, 3))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	m.write(t, "images/a.png", buf.Bytes())
	m.save(t)
	return m
}

func (m *miniKB) write(t *testing.T, rel string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(m.dir, rel), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// save writes the JSON files and tensors of one-hot-ish vectors.
func (m *miniKB) save(t *testing.T) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(m.dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	tj, _ := json.Marshal(m.texts)
	ij, _ := json.Marshal(m.images)
	m.write(t, TextFile, tj)
	m.write(t, ImageFile, ij)
	m.tensor(t, TextTensor, len(m.texts), m.dim)
	m.tensor(t, ImageTensor, len(m.images), m.dim)
}

func (m *miniKB) tensor(t *testing.T, rel string, rows, cols int) {
	t.Helper()
	v := make([]float32, rows*cols)
	for i := range rows {
		v[i*cols+i%cols] = 1
	}
	top := strings.TrimSuffix(filepath.Base(rel), ".pt")
	writeZip(t, filepath.Join(m.dir, rel), ptMembers(top, floatSpec(rows, cols), floatBytes(binary.LittleEndian, v)))
}

func TestReadMini(t *testing.T) {
	m := newMiniKB(t)
	kb, err := Read(context.Background(), m.dir, Options{Model: "m", Source: "ref:mini"})
	if err != nil {
		t.Fatal(err)
	}
	if len(kb.Docs) != 2 || kb.Docs[0].Doc.Title != "Alpha" || kb.Docs[1].Doc.Title != "Beta" {
		t.Fatalf("documents %+v", kb.Docs)
	}
	alpha, beta := kb.Docs[0], kb.Docs[1]
	if alpha.Doc.Source != "ref:mini#Alpha" || len(alpha.Items) != 3 || len(beta.Items) != 2 {
		t.Fatalf("alpha %q with %d items, beta %d items", alpha.Doc.Source, len(alpha.Items), len(beta.Items))
	}
	// Alpha: text rows 0 and 2, then image row 1.
	for i, want := range []struct {
		mod  mmrag.Modality
		row  string
		text string
		vec  int // index of the 1 in the vector
	}{
		{mmrag.Text, "0", "Alpha: The first paragraph of alpha.", 0},
		{mmrag.Text, "2", "Details: Second paragraph of alpha.", 2},
		{mmrag.Image, "1", "A red square.", 1},
	} {
		it, v := alpha.Items[i], alpha.Vectors[i].Values
		if it.Modality != want.mod || it.Meta[mmrag.MetaRow] != want.row || it.Text != want.text || it.Position != i || v[want.vec] != 1 {
			t.Errorf("alpha item %d: %s row %s text %q position %d vector %v", i, it.Modality, it.Meta[mmrag.MetaRow], it.Text, it.Position, v)
		}
		if _, ok := it.Meta[mmrag.MetaEmbedded]; ok {
			t.Errorf("alpha item %d: short text has an embedded form", i)
		}
	}
	img := beta.Items[1]
	if img.Caption != "" || img.Text != "" || img.Meta[mmrag.MetaCaption] != "No caption available" ||
		img.MIME != "image/png" || img.Width != 6 || img.Height != 3 || len(beta.Blobs[img.BlobHash]) == 0 {
		t.Fatalf("uncaptioned image item %+v", img)
	}
	if img.BlobHash != alpha.Items[2].BlobHash {
		t.Fatal("the same file got two blob hashes")
	}

	// A changed record changes its document's hash and not the other's.
	m.texts[1].Text = "Beta changed its paragraph."
	m.save(t)
	kb2, err := Read(context.Background(), m.dir, Options{Model: "m", Source: "ref:mini"})
	if err != nil {
		t.Fatal(err)
	}
	if kb2.Docs[0].Doc.Hash != alpha.Doc.Hash || kb2.Docs[1].Doc.Hash == beta.Doc.Hash {
		t.Fatal("document hashes do not follow their records")
	}
	if kb2.Docs[1].Items[0].ID != beta.Items[0].ID {
		t.Fatal("item id changed with its text")
	}
}

func TestReadTextOnly(t *testing.T) {
	m := newMiniKB(t)
	for _, f := range []string{ImageFile, ImageTensor} {
		if err := os.Remove(filepath.Join(m.dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	kb, err := Read(context.Background(), m.dir, Options{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(kb.Docs[0].Items) + len(kb.Docs[1].Items); n != 3 {
		t.Fatalf("%d items, want 3", n)
	}
	if want := "reference:" + filepath.Base(m.dir) + "#Alpha"; kb.Docs[0].Doc.Source != want {
		t.Fatalf("default source %q, want %q", kb.Docs[0].Doc.Source, want)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name    string
		opt     Options
		breakKB func(t *testing.T, m *miniKB)
		want    []string
	}{
		{"no model", Options{}, func(*testing.T, *miniKB) {}, []string{"no model"}},
		{"missing text json", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			os.Remove(filepath.Join(m.dir, TextFile))
		}, []string{"text_content.json"}},
		{"malformed json", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			m.write(t, TextFile, []byte(`[{"article_title": "x",`))
		}, []string{TextFile}},
		{"missing text tensor", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			os.Remove(filepath.Join(m.dir, TextTensor))
		}, []string{"text_embeddings.pt"}},
		{"too few text rows", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			m.tensor(t, TextTensor, 2, m.dim)
		}, []string{TextTensor, "2 rows", "3 records"}},
		{"too many image rows", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			m.tensor(t, ImageTensor, 3, m.dim)
		}, []string{ImageTensor, "3 rows", "2 records"}},
		{"dimension mismatch", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			m.tensor(t, ImageTensor, 2, 5)
		}, []string{"4-d", "5-d"}},
		{"image tensor without records", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			os.Remove(filepath.Join(m.dir, ImageFile))
		}, []string{ImageTensor, ImageFile}},
		{"missing image tensor", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			os.Remove(filepath.Join(m.dir, ImageTensor))
		}, []string{"image_embeddings.pt"}},
		{"missing image file", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			m.images[1].ImagePath = "images/gone.png"
			m.save(t)
		}, []string{"record 1", "images/gone.png"}},
		{"image outside folder", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			m.images[0].ImagePath = "../a.png"
			m.save(t)
		}, []string{"../a.png", "not inside"}},
		{"not an image", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			m.write(t, "images/a.png", []byte("<html>nope</html>"))
		}, []string{"images/a.png", "not an image"}},
		{"corrupt image header", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			m.write(t, "images/a.png", []byte("\x89PNG\r\n\x1a\n garbage"))
		}, []string{"images/a.png", "decode image header"}},
		{"record without title", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			m.texts[2].ArticleTitle = ""
			m.save(t)
		}, []string{TextFile, "record 2", "article_title"}},
		{"record without text", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			m.texts[0].Text = " "
			m.save(t)
		}, []string{TextFile, "record 0", "no text"}},
		{"image record without path", Options{Model: "m"}, func(t *testing.T, m *miniKB) {
			m.images[0].ImagePath = ""
			m.save(t)
		}, []string{ImageFile, "record 0", "image_path"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMiniKB(t)
			tc.breakKB(t, m)
			kb, err := Read(context.Background(), m.dir, tc.opt)
			if err == nil {
				t.Fatalf("no error; got %d documents", len(kb.Docs))
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	t.Run("canceled", func(t *testing.T) {
		m := newMiniKB(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Read(ctx, m.dir, Options{Model: "m"}); err == nil || !strings.Contains(err.Error(), "canceled") {
			t.Fatalf("error %v, want canceled", err)
		}
	})
}
