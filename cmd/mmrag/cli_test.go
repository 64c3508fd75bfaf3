package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"mmrag/hub"
	"mmrag/hub/hubtest"
	"mmrag/onnx"
	"mmrag/onnx/onnxgraph"
	"mmrag/onnx/onnxtest"
)

// cliEnv gives the command a fresh $MMRAG_HOME and points $HF_ENDPOINT at
// endpoint, clearing the variables of the machine running the tests. It
// returns the home folder.
func cliEnv(t *testing.T, endpoint string) string {
	t.Helper()
	// ONNX Runtime is found through $MMRAG_HOME by default: pin the real
	// library before the home moves, so that test order cannot matter.
	if os.Getenv("MMRAG_ORT_LIB") == "" {
		if lib := onnx.DefaultLibraryPath(); cliFileExists(lib) {
			t.Setenv("MMRAG_ORT_LIB", lib)
		}
	}
	home := t.TempDir()
	for k, v := range map[string]string{
		"MMRAG_HOME": home, "HF_ENDPOINT": endpoint, "HF_TOKEN": "", "HUGGING_FACE_HUB_TOKEN": "",
		"MMRAG_MODEL": "", "MMRAG_STORE": "",
	} {
		t.Setenv(k, v)
	}
	return home
}

func cliFileExists(name string) bool {
	st, err := os.Stat(name)
	return err == nil && st.Mode().IsRegular()
}

// cliOffline is an endpoint nothing listens on.
const cliOffline = "http://127.0.0.1:1"

// cliRun runs mmrag with args as main would and returns what it printed. A
// panic fails the test instead of ending the test binary.
func cliRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("mmrag %q panicked: %v\n%s", args, r, debug.Stack())
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		err = root.ExecuteContext(t.Context())
	}()
	return out.String(), errOut.String(), err
}

// cliTinyModel writes a complete tiny CLIP model folder and returns it.
func cliTinyModel(t *testing.T, opts onnxgraph.FolderOptions) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	opts.Preset = onnxgraph.PresetTiny
	if err := onnxgraph.WriteModelFolder(dir, opts); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cliProjectionDim reads the embedding size from a model folder's config.json.
func cliProjectionDim(t *testing.T, dir string) int {
	t.Helper()
	var cfg struct {
		ProjectionDim int `json:"projection_dim"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil || cfg.ProjectionDim <= 0 {
		t.Fatalf("projection_dim of %s: %d, %v", dir, cfg.ProjectionDim, err)
	}
	return cfg.ProjectionDim
}

// cliWritePNG writes a w×h gradient PNG and returns its path.
func cliWritePNG(t *testing.T, dir, name string, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return cliWriteFile(t, dir, name, b.Bytes())
}

func cliWriteFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// cliPngHeaderOnly is a well-formed PNG (valid CRCs) whose IHDR declares w×h
// RGB pixels, with one tiny IDAT: decoding it for real would allocate
// w×h×4 bytes.
func cliPngHeaderOnly(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		b.Write(n[:])
		b.WriteString(typ)
		b.Write(data)
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		binary.BigEndian.PutUint32(n[:], crc.Sum32())
		b.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB, deflate, no filter, no interlace
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01}) // zlib of one zero byte
	chunk("IEND", nil)
	return b.Bytes()
}

// TestModelsPullResumeListEmbed walks a model's life through the CLI: an
// interrupted pull, its resumption, a no-op pull, the listing, and
// embedding from the cache with the hub gone.
func TestModelsPullResumeListEmbed(t *testing.T) {
	const id = "acme/clip-tiny"
	const big = "onnx/vision_model.onnx"
	src := cliTinyModel(t, onnxgraph.FolderOptions{Seed: 3})
	fh := hubtest.New(t)
	repo, err := fh.AddDir(id, src)
	if err != nil {
		t.Fatal(err)
	}
	if !repo.Files[big].LFS {
		t.Fatalf("%s is not served as an LFS file: the test would not exercise the CDN", big)
	}
	home := cliEnv(t, fh.URL())
	dir := filepath.Join(home, "models", "acme", "clip-tiny")
	size := int64(len(repo.Files[big].Data))

	// 1. The connection drops halfway through the vision graph.
	fh.CutAfter(big, size/2)
	_, _, err = cliRun(t, "models", "pull", id)
	if err == nil || !strings.Contains(err.Error(), big) || !strings.Contains(err.Error(), "pull again to resume") {
		t.Fatalf("interrupted pull: err = %v, want a resumable error naming %s", err, big)
	}
	out, _, err := cliRun(t, "models", "list", "--json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("after an interrupted pull, models list --json = %q, %v; want []", out, err)
	}

	// 2. Pulling again resumes where the transfer stopped.
	fh.ResetLog()
	out, errOut, err := cliRun(t, "models", "pull", id)
	if err != nil {
		t.Fatalf("resumed pull: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, id+"@"+repo.Commit[:10]) || !strings.Contains(out, "files fetched") {
		t.Errorf("resumed pull printed %q, want the id, commit and files fetched", out)
	}
	cliCheckResumed(t, fh, repo, big, errOut)
	for p, f := range repo.Files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s in the cache: %d bytes, %v; want the repo's %d bytes", p, len(got), err, len(f.Data))
		}
	}

	// 3. A second pull finds everything in place and downloads nothing.
	fh.ResetLog()
	out, errOut, err = cliRun(t, "models", "pull", id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "up to date") {
		t.Errorf("second pull printed %q, want up to date", out)
	}
	if n := len(fh.Hits(hubtest.CDN, "")); n != 0 {
		t.Errorf("second pull sent %d requests to the CDN, want 0", n)
	}
	if n := len(fh.Hits("", hubtest.File)); n != 0 {
		t.Errorf("second pull sent %d file requests, want 0", n)
	}
	if strings.Contains(errOut, "downloading") || strings.Contains(errOut, "resuming") {
		t.Errorf("a no-op pull reports downloads: %q", errOut)
	}

	// 4. The listing shows the model.
	cliCheckModelsList(t, repo, id, dir)

	// 5. With the hub gone, the cached model still embeds.
	fh.Close()
	t.Run("embed offline", func(t *testing.T) {
		onnxtest.Init(t)
		out, errOut, err := cliRun(t, "embed", "--model", id, "--text", "a cat", "--json")
		if err != nil {
			t.Fatalf("embed from the cache: %v\n%s", err, errOut)
		}
		lines := cliCheckEmbedJSON(t, out, cliProjectionDim(t, dir))
		if len(lines) != 1 || lines[0].Model != id || lines[0].Text != "a cat" {
			t.Errorf("embed printed %+v, want one text vector of model %s", lines, id)
		}
	})
	if _, _, err := cliRun(t, "models", "pull", id); !errors.Is(err, hub.ErrUnreachable) {
		t.Errorf("pull with the hub gone: err = %v, want ErrUnreachable", err)
	}
}

// cliCheckResumed checks that a pull resumed the interrupted transfer of
// big with one Range request and said so.
func cliCheckResumed(t *testing.T, fh *hubtest.Server, repo *hubtest.Repo, big, errOut string) {
	t.Helper()
	var ranges []string
	for _, h := range fh.Hits(hubtest.CDN, hubtest.File) {
		if h.Path == big && h.Range != "" {
			ranges = append(ranges, h.Range)
		}
	}
	if len(ranges) != 1 || ranges[0] == "bytes=0-" || !strings.HasPrefix(ranges[0], "bytes=") {
		t.Errorf("Range headers for %s = %q, want one bytes=N- with N > 0", big, ranges)
	}
	if n, size := fh.Served(big), int64(len(repo.Files[big].Data)); n >= size {
		t.Errorf("resumed transfer sent %d of %d bytes: not a resume", n, size)
	}
	if !strings.Contains(errOut, "resuming "+big) {
		t.Errorf("progress output %q does not say the transfer resumed", errOut)
	}
}

// cliCheckModelsList checks that `models list`, as JSON and as a table,
// shows the one model id, pulled from repo into dir.
func cliCheckModelsList(t *testing.T, repo *hubtest.Repo, id, dir string) {
	t.Helper()
	out, _, err := cliRun(t, "models", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var models []hub.Model
	if err := json.Unmarshal([]byte(out), &models); err != nil {
		t.Fatalf("models list --json printed %q: %v", out, err)
	}
	if len(models) != 1 || models[0].ID != id || models[0].Commit != repo.Commit || len(models[0].Files) != len(repo.Files) {
		t.Errorf("models list --json = %+v, want %s at %s with %d files", models, id, repo.Commit, len(repo.Files))
	}
	out, _, err = cliRun(t, "models", "list")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, dir) {
		t.Errorf("models list = %q, %v; want a row for %s in %s", out, err, id, dir)
	}
}

// TestTokenize checks `mmrag tokenize` against ids made with OpenAI's
// clip.tokenize, through a model folder holding CLIP's real vocabulary.
func TestTokenize(t *testing.T) {
	fixture := filepath.Join("..", "..", "..", "shared", "fixtures", "clip-tokenizer")
	data, err := os.ReadFile(filepath.Join(fixture, "reference_ids.json"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("no tokenizer fixtures in %s", fixture)
	}
	if err != nil {
		t.Fatal(err)
	}
	var refs []struct {
		Text string  `json:"text"`
		IDs  []int64 `json:"ids"`
	}
	if err := json.Unmarshal(data, &refs); err != nil || len(refs) == 0 {
		t.Fatalf("reference_ids.json: %d entries, %v", len(refs), err)
	}
	cliEnv(t, cliOffline)
	dir := cliTinyModel(t, onnxgraph.FolderOptions{TokenizerDir: fixture})

	// "Hello world" is not in the file, but CLIP lower-cases first.
	cases := []struct {
		text string
		want []int64
	}{{"Hello world", nil}}
	for _, r := range refs {
		if strings.EqualFold(r.Text, "hello world") {
			cases[0].want = r.IDs
		}
		cases = append(cases, struct {
			text string
			want []int64
		}{r.Text, r.IDs})
	}
	if cases[0].want == nil {
		cases = cases[1:]
	}
	args := []string{"tokenize", "--model", dir, "--"}
	for _, c := range cases {
		args = append(args, c.text)
	}
	out, _, err := cliRun(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for i, c := range cases {
		if !sc.Scan() {
			t.Fatalf("output ends after %d of %d lines", i, len(cases))
		}
		var got []int64
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d %q is not a JSON array: %v", i+1, sc.Text(), err)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("tokenize %q:\n got %v\nwant %v", c.text, got, c.want)
		}
	}
	if sc.Scan() {
		t.Errorf("extra output line %q", sc.Text())
	}
}

// cliEmbedLine is one line of `mmrag embed --json`.
type cliEmbedLine struct {
	Input  string    `json:"input"`
	Text   string    `json:"text"`
	Path   string    `json:"path"`
	Model  string    `json:"model"`
	Dim    int       `json:"dim"`
	Vector []float64 `json:"vector"`
}

// cliCheckEmbedJSON parses embed --json output and checks every vector has dim
// elements and unit norm.
func cliCheckEmbedJSON(t *testing.T, out string, dim int) []cliEmbedLine {
	t.Helper()
	var lines []cliEmbedLine
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var l cliEmbedLine
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("embed --json output %q: %v", out, err)
		}
		var norm float64
		for _, x := range l.Vector {
			norm += x * x
		}
		if l.Dim != dim || len(l.Vector) != dim || math.Abs(math.Sqrt(norm)-1) > 1e-4 {
			t.Errorf("%s %q%s: dim %d, %d elements, norm %.6f; want %d, %d, 1", l.Input, l.Text, l.Path, l.Dim, len(l.Vector), math.Sqrt(norm), dim, dim)
		}
		lines = append(lines, l)
	}
	return lines
}

func cliDot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func TestEmbed(t *testing.T) {
	onnxtest.Init(t)
	cliEnv(t, cliOffline)
	dir := cliTinyModel(t, onnxgraph.FolderOptions{Seed: 5})
	dim := cliProjectionDim(t, dir)
	imgDir := t.TempDir()
	imgA := cliWritePNG(t, imgDir, "a.png", 64, 48)
	imgB := cliWritePNG(t, imgDir, "b.png", 20, 90)

	out, errOut, err := cliRun(t, "embed", "--model", dir, "--json",
		"--text", "a cat", "--text", "a diagram of a pipeline", "--image", imgA, "--image", imgB)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	lines := cliCheckEmbedJSON(t, out, dim)
	want := []struct{ input, text, path string }{
		{"text", "a cat", ""}, {"text", "a diagram of a pipeline", ""}, {"image", "", imgA}, {"image", "", imgB},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d output lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if l := lines[i]; l.Input != w.input || l.Text != w.text || l.Path != w.path || l.Model != dir {
			t.Errorf("line %d: %s %q %q model %q; want %s %q %q model %q", i+1, l.Input, l.Text, l.Path, l.Model, w.input, w.text, w.path, dir)
		}
	}
	if d := cliDot(lines[0].Vector, lines[1].Vector); d > 0.9999 {
		t.Errorf("two different texts embed alike (cosine %.6f)", d)
	}

	// Without --json, one text and one image give their cosine similarity,
	// the dot product of the vectors above.
	out, _, err = cliRun(t, "embed", "--model", dir, "--text", "a cat", "--image", imgA)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(out, "cosine similarity: ")
	if !ok {
		t.Fatalf("output %q lacks cosine similarity", out)
	}
	cos, err := strconv.ParseFloat(strings.TrimSpace(after), 64)
	if want := cliDot(lines[0].Vector, lines[2].Vector); err != nil || math.Abs(cos-want) > 1e-3 {
		t.Errorf("cosine similarity %q, want %.4f", after, want)
	}
	if !strings.Contains(out, fmt.Sprintf("%d dimensions", dim)) {
		t.Errorf("summary %q does not give the %d dimensions", out, dim)
	}

	// Several of each give a table with a column per image.
	out, _, err = cliRun(t, "embed", "--model", dir, "--text", "a cat", "--text", "a dog", "--image", imgA, "--image", imgB)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"cosine", "a.png", "b.png", `"a cat"`, `"a dog"`} {
		if !strings.Contains(out, w) {
			t.Errorf("table %q lacks %q", out, w)
		}
	}
}

// TestBadInput feeds the CLI broken files and arguments: each must fail
// with an error naming the culprit and the reason, without panicking.
func TestBadInput(t *testing.T) {
	work := t.TempDir()
	good := cliWritePNG(t, work, "good.png", 32, 32)
	goodData, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := cliWriteFile(t, work, "corrupt.png", goodData[:len(goodData)*2/3])
	empty := cliWriteFile(t, work, "empty.png", nil)
	text := cliWriteFile(t, work, "notes.png", []byte("these are my notes, not a picture\n"))
	hugeData := cliPngHeaderOnly(60000, 60000)
	if cfg, err := png.DecodeConfig(bytes.NewReader(hugeData)); err != nil || cfg.Width != 60000 || cfg.Height != 60000 {
		t.Fatalf("crafted PNG header: %+v, %v; want a valid 60000×60000 header", cfg, err)
	}
	huge := cliWriteFile(t, work, "huge.png", hugeData)
	missing := filepath.Join(work, "missing.png")

	model := cliTinyModel(t, onnxgraph.FolderOptions{})
	noConfig := cliTinyModel(t, onnxgraph.FolderOptions{})
	if err := os.Remove(filepath.Join(noConfig, "config.json")); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		ort  bool // reaches model loading, so needs ONNX Runtime
		args []string
		want []string // substrings of the error
	}{
		{"corrupt png", false, []string{"embed", "--model", model, "--image", corrupt}, []string{corrupt, "corrupt or truncated"}},
		{"zero-byte file", false, []string{"embed", "--model", model, "--image", empty}, []string{empty, "empty image data"}},
		{"text named .png", false, []string{"embed", "--model", model, "--image", text}, []string{text, "unsupported image format"}},
		{"60000×60000 header", false, []string{"embed", "--model", model, "--image", huge}, []string{huge, "too large", "60000×60000", "pixel limit"}},
		{"missing image", false, []string{"embed", "--model", model, "--image", missing}, []string{missing, "no such file"}},
		{"folder as image", false, []string{"embed", "--model", model, "--image", work}, []string{work, "is a directory"}},
		{"bad image after a good one", false, []string{"embed", "--model", model, "--image", good, "--image", empty}, []string{empty, "empty image data"}},
		{"empty text", false, []string{"embed", "--model", model, "--text", ""}, []string{"--text #1", "empty"}},
		{"blank text", false, []string{"embed", "--model", model, "--text", "ok", "--text", " \t\n"}, []string{"--text #2", "empty"}},
		{"nothing to embed", false, []string{"embed", "--model", model}, []string{"nothing to embed"}},
		{"model without config.json", true, []string{"embed", "--model", noConfig, "--text", "a cat"}, []string{filepath.Join(noConfig, "config.json"), "no such file"}},
		{"missing model folder", false, []string{"embed", "--model", filepath.Join(work, "nope"), "--text", "a cat"}, []string{filepath.Join(work, "nope"), "no such file"}},
		{"unknown model offline", false, []string{"embed", "--model", "acme/unknown", "--text", "a cat"}, []string{"acme/unknown", "not in the cache", "mmrag models pull acme/unknown"}},
		{"tokenize unknown model", false, []string{"tokenize", "--model", "acme/unknown", "hi"}, []string{"acme/unknown", "mmrag models pull acme/unknown"}},
		{"pull bad id", false, []string{"models", "pull", "not-an-id"}, []string{"not-an-id", "not a hub id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ort {
				onnxtest.Init(t)
			}
			home := cliEnv(t, cliOffline)
			out, _, err := cliRun(t, tc.args...)
			if err == nil {
				t.Fatalf("mmrag %q succeeded, printing %q", tc.args, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if entries, _ := os.ReadDir(filepath.Join(home, "models")); len(entries) != 0 {
				t.Errorf("a failed command left %d entries in the model cache", len(entries))
			}
		})
	}
}
