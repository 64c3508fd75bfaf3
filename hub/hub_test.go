package hub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"mmrag/hub/hubtest"
)

const testID = "acme/clip-tiny"

// clipPaths are the files of a CLIP model folder (embed.CLIPFiles' patterns;
// hub itself knows no kind of model).
func clipPaths(quantized bool) []string {
	q := ""
	if quantized {
		q = "_quantized"
	}
	return []string{
		"config.json", "preprocessor_config.json", "tokenizer.json", "vocab.json", "merges.txt",
		"tokenizer_config.json", "special_tokens_map.json", "onnx/text_model" + q + ".onnx", "onnx/vision_model" + q + ".onnx",
	}
}

func clipFiles(quantized bool) Files { return Files{Patterns: clipPaths(quantized)} }

// newClient returns a client for fh with a fresh home, with the token and
// endpoint variables of the machine running the tests cleared.
func newClient(t *testing.T, fh *hubtest.Server) *Client {
	t.Helper()
	for _, k := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "MMRAG_HOME"} {
		t.Setenv(k, "")
	}
	return &Client{Endpoint: fh.URL(), Home: t.TempDir()}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkFiles asserts that dir holds exactly the wanted repo files with the
// repo's content, and that m describes them.
func checkFiles(t *testing.T, m *Model, repo *hubtest.Repo, want []string) {
	t.Helper()
	var got []string
	for _, f := range m.Files {
		got = append(got, f.Path)
		src := repo.Files[f.Path]
		if src == nil {
			t.Errorf("manifest lists %s, which the repo lacks", f.Path)
			continue
		}
		if f.Size != int64(len(src.Data)) || f.SHA256 != hubtest.SHA256(src.Data) {
			t.Errorf("%s: manifest says size %d sha %s, repo has %d %s", f.Path, f.Size, f.SHA256, len(src.Data), hubtest.SHA256(src.Data))
		}
		if b := readFile(t, filepath.Join(m.Dir, filepath.FromSlash(f.Path))); !bytes.Equal(b, src.Data) {
			t.Errorf("%s: content on disk differs from the repo's (%d vs %d bytes)", f.Path, len(b), len(src.Data))
		}
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	if m.Commit != repo.Commit {
		t.Errorf("commit = %s, want %s", m.Commit, repo.Commit)
	}
	disk, err := readManifest(m.Dir)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if !slices.Equal(disk.Files, m.Files) || disk.Commit != m.Commit || disk.ID != m.ID {
		t.Errorf("manifest on disk %+v differs from result %+v", disk, m)
	}
}

func TestPullFull(t *testing.T) {
	fh := hubtest.New(t)
	repo := fh.AddRepo(testID, hubtest.CLIPRepo(1))
	c := newClient(t, fh)
	type span struct{ last, total int64 }
	progress := map[string]*span{}
	var partial, events int
	c.Progress = func(p Progress) {
		events++
		s := progress[p.File]
		if s == nil {
			s = &span{}
			progress[p.File] = s
		}
		if p.Done < s.last {
			t.Errorf("%s: progress went back from %d to %d", p.File, s.last, p.Done)
		}
		if p.Done > 0 && p.Done < p.Total {
			partial++
		}
		s.last, s.total = p.Done, p.Total
	}

	m, err := c.Pull(context.Background(), testID, "", clipFiles(false))
	if err != nil {
		t.Fatal(err)
	}
	want := clipPaths(false)
	checkFiles(t, m, repo, want)
	if len(m.Fetched) != len(want) {
		t.Errorf("fetched %v, want all %d files", m.Fetched, len(want))
	}
	if m.Revision != "main" || m.ID != testID {
		t.Errorf("id/revision = %s/%s", m.ID, m.Revision)
	}
	for _, p := range want {
		s := progress[p]
		if s == nil || s.last != int64(len(repo.Files[p].Data)) || s.total != s.last {
			t.Errorf("%s: last progress %+v, want done = total = %d", p, s, len(repo.Files[p].Data))
		}
	}
	if partial == 0 {
		t.Errorf("no progress report between 0 and the total in %d events", events)
	}
	for _, p := range []string{"README.md", "onnx/text_model_quantized.onnx"} {
		if _, err := os.Stat(filepath.Join(m.Dir, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was not asked for but is there (err %v)", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(m.Dir, partialDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial folder left behind: %v", err)
	}
	// LFS files come from the CDN, the others from the hub itself.
	for _, h := range fh.Hits(hubtest.CDN, "") {
		if !strings.HasPrefix(h.Path, "onnx/") {
			t.Errorf("CDN served %s", h.Path)
		}
	}
	if n := len(fh.Hits(hubtest.CDN, "")); n != 2 {
		t.Errorf("%d CDN requests, want 2", n)
	}
	dir, err := Resolve(c.Home, testID)
	if err != nil || dir != m.Dir {
		t.Errorf("Resolve = %q, %v; want %q", dir, err, m.Dir)
	}
}

func TestPullQuantized(t *testing.T) {
	fh := hubtest.New(t)
	repo := fh.AddRepo(testID, hubtest.CLIPRepo(2))
	c := newClient(t, fh)
	m, err := c.Pull(context.Background(), testID, "main", clipFiles(true))
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, m, repo, clipPaths(true))
	// A later full-precision pull keeps the quantized files: same commit.
	m, err = c.Pull(context.Background(), testID, "main", clipFiles(false))
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, m, repo, append(clipPaths(false), "onnx/text_model_quantized.onnx", "onnx/vision_model_quantized.onnx"))
	if len(m.Fetched) != 2 {
		t.Errorf("second pull fetched %v, want only the two full-precision graphs", m.Fetched)
	}
}

func TestPullTwiceIsNoop(t *testing.T) {
	fh := hubtest.New(t)
	repo := fh.AddRepo(testID, hubtest.CLIPRepo(3))
	c := newClient(t, fh)
	ctx := context.Background()
	first, err := c.Pull(ctx, testID, "", clipFiles(false))
	if err != nil {
		t.Fatal(err)
	}
	fh.ResetLog()
	second, err := c.Pull(ctx, testID, "", clipFiles(false))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fh.Hits("", hubtest.File)); n != 0 {
		t.Errorf("second pull sent %d file requests, want 0", n)
	}
	if n := len(fh.Hits(hubtest.Hub, hubtest.API)); n != 1 {
		t.Errorf("second pull sent %d info requests, want 1", n)
	}
	if len(second.Fetched) != 0 || !second.Pulled.Equal(first.Pulled) {
		t.Errorf("second pull: fetched %v, pulled %v (first %v); want nothing fetched, same time", second.Fetched, second.Pulled, first.Pulled)
	}
	checkFiles(t, second, repo, clipPaths(false))
	if disk, err := readManifest(second.Dir); err != nil || !disk.Pulled.Equal(first.Pulled) {
		t.Errorf("manifest rewritten by a no-op pull: %v, %v", disk, err)
	}

	// A damaged file is found out and fetched again, alone.
	name := filepath.Join(first.Dir, "onnx", "text_model.onnx")
	b := readFile(t, name)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	fh.ResetLog()
	third, err := c.Pull(ctx, testID, "", clipFiles(false))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(third.Fetched, []string{"onnx/text_model.onnx"}) {
		t.Errorf("after damage fetched %v, want only onnx/text_model.onnx", third.Fetched)
	}
	checkFiles(t, third, repo, clipPaths(false))
}

func TestPullNewCommit(t *testing.T) {
	fh := hubtest.New(t)
	files := hubtest.CLIPRepo(4)
	fh.AddRepo(testID, files)
	c := newClient(t, fh)
	ctx := context.Background()
	m, err := c.Pull(ctx, testID, "", clipFiles(false))
	if err != nil {
		t.Fatal(err)
	}
	next := hubtest.CLIPRepo(4)
	next["onnx/vision_model.onnx"] = hubtest.CLIPRepo(5)["onnx/vision_model.onnx"]
	delete(next, "merges.txt")
	repo := fh.AddRepo(testID, next)
	m2, err := c.Pull(ctx, testID, "", clipFiles(false))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m2.Fetched, []string{"onnx/vision_model.onnx"}) {
		t.Errorf("fetched %v, want only the changed file", m2.Fetched)
	}
	want := slices.DeleteFunc(clipPaths(false), func(p string) bool { return p == "merges.txt" })
	checkFiles(t, m2, repo, want)
	if _, err := os.Stat(filepath.Join(m.Dir, "merges.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file removed upstream is still in the cache (err %v)", err)
	}
}

func TestPullResume(t *testing.T) {
	for _, tc := range []struct {
		name        string
		file        string
		server      string // which server sends the bytes
		ignoreRange bool
	}{
		{"lfs via cdn", "onnx/vision_model.onnx", "cdn", false},
		{"small file from hub", "config.json", "hub", false},
		{"server ignores range", "onnx/vision_model.onnx", "cdn", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fh := hubtest.New(t)
			files := hubtest.CLIPRepo(6)
			if tc.file == "config.json" {
				files["config.json"].Data = bytes.Repeat([]byte(`{"pad":0}`), 40_000)
			}
			repo := fh.AddRepo(testID, files)
			size := int64(len(files[tc.file].Data))
			fh.CutAfter(tc.file, size*2/5)
			fh.IgnoreRange(tc.ignoreRange)
			c := newClient(t, fh)
			ctx := context.Background()

			_, err := c.Pull(ctx, testID, "", clipFiles(false))
			if err == nil || !strings.Contains(err.Error(), "pull again to resume") || !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("interrupted pull: err = %v, want a resumable error naming %s", err, tc.file)
			}
			if _, err := Resolve(c.Home, testID); !errors.Is(err, ErrNotCached) {
				t.Errorf("after an interrupted pull Resolve err = %v, want ErrNotCached", err)
			}
			if _, err := os.Stat(filepath.Join(c.Home, "models", "acme", "clip-tiny", filepath.FromSlash(tc.file))); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("partial %s is in place: %v", tc.file, err)
			}
			fh.ResetLog()

			m, err := c.Pull(ctx, testID, "", clipFiles(false))
			if err != nil {
				t.Fatal(err)
			}
			checkFiles(t, m, repo, clipPaths(false))
			var ranges []string
			for _, h := range fh.Hits(tc.server, hubtest.File) {
				if h.Path == tc.file && h.Range != "" {
					ranges = append(ranges, h.Range)
				}
			}
			if len(ranges) != 1 || ranges[0] == "bytes=0-" || !strings.HasPrefix(ranges[0], "bytes=") {
				t.Fatalf("Range headers for %s = %q, want one bytes=N- with N > 0", tc.file, ranges)
			}
			served := fh.Served(tc.file)
			if !tc.ignoreRange && served >= size {
				t.Errorf("resumed transfer sent %d bytes of %d: not a resume", served, size)
			}
			if tc.ignoreRange && served != size {
				t.Errorf("server ignoring Range sent %d bytes, want the whole %d", served, size)
			}
		})
	}
}

func TestPullResumeTotal(t *testing.T) {
	// Across both pulls, a resumed file costs less than two transfers.
	fh := hubtest.New(t)
	files := hubtest.CLIPRepo(7)
	fh.AddRepo(testID, files)
	p := "onnx/vision_model.onnx"
	size := int64(len(files[p].Data))
	fh.CutAfter(p, size/2)
	c := newClient(t, fh)
	if _, err := c.Pull(context.Background(), testID, "", clipFiles(false)); err == nil {
		t.Fatal("first pull succeeded despite the cut")
	}
	if _, err := c.Pull(context.Background(), testID, "", clipFiles(false)); err != nil {
		t.Fatal(err)
	}
	total := fh.Served(p)
	if total < size || total >= 2*size {
		t.Errorf("served %d bytes in all for a %d-byte file, want [size, 2×size)", total, size)
	}
}

func TestPullIntegrity(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string
		serve func(data []byte) []byte
		want  string
	}{
		{"sha256 mismatch", "onnx/text_model.onnx", func(d []byte) []byte {
			b := bytes.Clone(d)
			b[7] ^= 1
			return b
		}, "sha256 mismatch"},
		{"short file", "onnx/text_model.onnx", func(d []byte) []byte { return d[:len(d)-10] }, "size mismatch"},
		{"long file", "onnx/text_model.onnx", func(d []byte) []byte { return append(bytes.Clone(d), "extra"...) }, "size mismatch"},
		{"git blob mismatch", "preprocessor_config.json", func(d []byte) []byte { return bytes.ToUpper(d) }, "git blob id mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fh := hubtest.New(t)
			files := hubtest.CLIPRepo(8)
			files[tc.file].Serve = tc.serve(files[tc.file].Data)
			fh.AddRepo(testID, files)
			c := newClient(t, fh)
			_, err := c.Pull(context.Background(), testID, "", clipFiles(false))
			if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("err = %v, want ErrIntegrity with %q naming %s", err, tc.want, tc.file)
			}
			dir := filepath.Join(c.Home, "models", "acme", "clip-tiny")
			for _, p := range []string{tc.file, ManifestName} {
				if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p))); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists after a failed verification (err %v)", p, err)
				}
			}
			parts, _ := os.ReadDir(filepath.Join(dir, partialDir))
			for _, e := range parts {
				if st, _ := e.Info(); st != nil && st.Size() == int64(len(files[tc.file].Serve)) {
					t.Errorf("bad transfer kept as %s", e.Name())
				}
			}
		})
	}
}

func TestPullAuth(t *testing.T) {
	for _, tc := range []struct {
		name    string
		token   string
		gated   bool
		wantErr []string // nil: success
	}{
		{"no token", "", false, []string{"HTTP 401", "HF_TOKEN is not set", "gated"}},
		{"wrong token", "hf_wrong", false, []string{"HTTP 401", "HF_TOKEN was refused", "gated"}},
		{"gated without token", "", true, []string{"HTTP 403", "the model is gated", "HF_TOKEN is not set"}},
		{"right token", "hf_secret", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fh := hubtest.New(t)
			repo := fh.AddRepo(testID, hubtest.CLIPRepo(9))
			fh.RequireToken("hf_secret", tc.gated)
			c := newClient(t, fh)
			c.Token = tc.token
			m, err := c.Pull(context.Background(), testID, "", clipFiles(false))
			if tc.wantErr != nil {
				if !errors.Is(err, ErrAccess) {
					t.Fatalf("err = %v, want ErrAccess", err)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkFiles(t, m, repo, clipPaths(false))
			for _, h := range fh.Hits(hubtest.Hub, "") {
				if h.Auth != "Bearer hf_secret" {
					t.Errorf("hub request for %q had Authorization %q", h.Path, h.Auth)
				}
			}
			cdn := fh.Hits(hubtest.CDN, "")
			if len(cdn) == 0 {
				t.Fatal("no CDN request: the test proves nothing")
			}
			for _, h := range cdn {
				if h.Auth != "" {
					t.Errorf("token leaked to the CDN for %s: %q", h.Path, h.Auth)
				}
			}
		})
	}
}

func TestPullRenamedRepo(t *testing.T) {
	// The hub answers a renamed repository with a same-host 307; the token
	// must follow it, and still never reach the CDN.
	fh := hubtest.New(t)
	repo := fh.AddRepo("acme/clip-new", hubtest.CLIPRepo(10))
	fh.Rename(testID, "acme/clip-new")
	fh.RequireToken("hf_secret", false)
	c := newClient(t, fh)
	c.Token = "hf_secret"
	m, err := c.Pull(context.Background(), testID, "", clipFiles(false))
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, m, repo, clipPaths(false))
	if m.ID != testID || !strings.HasSuffix(m.Dir, filepath.Join("acme", "clip-tiny")) {
		t.Errorf("model stored as %s in %s, want under the id asked for", m.ID, m.Dir)
	}
	for _, h := range fh.Hits(hubtest.CDN, "") {
		if h.Auth != "" {
			t.Errorf("token leaked to the CDN: %q", h.Auth)
		}
	}
}

func TestPullNotFound(t *testing.T) {
	for _, tc := range []struct {
		name, id, rev string
		gone          string // file listed but missing at /resolve/
		want          string
	}{
		{"unknown repo", "acme/nothing", "", "", "no such repository"},
		{"unknown revision", testID, "v9", "", "no such revision"},
		{"file vanished", testID, "", "onnx/vision_model.onnx", "no such file in the repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fh := hubtest.New(t)
			files := hubtest.CLIPRepo(11)
			if tc.gone != "" {
				files[tc.gone].Gone = true
			}
			fh.AddRepo(testID, files)
			c := newClient(t, fh)
			_, err := c.Pull(context.Background(), tc.id, tc.rev, clipFiles(false))
			if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "repository or file not found") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrNotFound saying %q", err, tc.want)
			}
			if _, err := Resolve(c.Home, testID); !errors.Is(err, ErrNotCached) {
				t.Errorf("Resolve after failed pull: %v, want ErrNotCached", err)
			}
		})
	}
}

func TestPullUnreachable(t *testing.T) {
	fh := hubtest.New(t)
	c := newClient(t, fh)
	url := fh.URL()
	fh.Close()
	_, err := c.Pull(context.Background(), testID, "", clipFiles(false))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	for _, w := range []string{"could not reach the Hugging Face hub", url + "/api/models/" + testID, "local model folder"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestPullCancel(t *testing.T) {
	fh := hubtest.New(t)
	fh.AddRepo(testID, hubtest.CLIPRepo(12))
	fh.Stall()
	c := newClient(t, fh)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Progress = func(p Progress) {
		if p.Done > 0 {
			cancel()
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Pull(ctx, testID, "", Files{Patterns: []string{"onnx/vision_model.onnx"}})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Pull did not return after its context was cancelled")
	}
	parts, _ := os.ReadDir(filepath.Join(c.Home, "models", "acme", "clip-tiny", partialDir))
	if len(parts) != 1 {
		t.Errorf("want the partial transfer kept for resuming, found %d files", len(parts))
	}
}

func TestPullStalled(t *testing.T) {
	old := stallTimeout
	stallTimeout = 200 * time.Millisecond
	defer func() { stallTimeout = old }()
	fh := hubtest.New(t)
	fh.AddRepo(testID, hubtest.CLIPRepo(13))
	fh.Stall()
	c := newClient(t, fh)
	_, err := c.Pull(context.Background(), testID, "", Files{Patterns: []string{"onnx/vision_model.onnx"}})
	if !errors.Is(err, errStalled) || !strings.Contains(err.Error(), "pull again to resume") {
		t.Fatalf("err = %v, want a stalled-transfer error", err)
	}
}

func TestPullCheck(t *testing.T) {
	fh := hubtest.New(t)
	fh.AddRepo(testID, hubtest.CLIPRepo(14))
	c := newClient(t, fh)
	errNo := errors.New("not a usable model: missing onnx/model.onnx")
	var got []string
	files := Files{
		Patterns: []string{"onnx/*.onnx", "config.json", "onnx/model.onnx"},
		Check: func(selected []string) error {
			got = selected
			if m := Missing(selected, "config.json", "onnx/model.onnx"); len(m) > 0 {
				if !slices.Equal(m, []string{"onnx/model.onnx"}) {
					t.Errorf("Missing = %q", m)
				}
				return errNo
			}
			return nil
		},
	}
	_, err := c.Pull(context.Background(), testID, "", files)
	if !errors.Is(err, errNo) || !strings.HasPrefix(err.Error(), testID+" at main (commit ") {
		t.Fatalf("err = %v, want the check's error after the repository, revision and commit", err)
	}
	want := []string{"config.json", "onnx/text_model.onnx", "onnx/text_model_quantized.onnx", "onnx/vision_model.onnx", "onnx/vision_model_quantized.onnx"}
	if !slices.Equal(got, want) {
		t.Errorf("Check saw %q, want %q", got, want)
	}
	if n := len(fh.Hits("", hubtest.File)); n != 0 {
		t.Errorf("%d files downloaded before the check", n)
	}
	files.Patterns = files.Patterns[:2]
	if _, err := c.Pull(context.Background(), testID, "", files); !errors.Is(err, errNo) {
		t.Fatalf("err = %v, want the check's error", err)
	}
	files.Check = func([]string) error { return nil }
	m, err := c.Pull(context.Background(), testID, "", files)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != len(want) {
		t.Errorf("pulled %d files, want %d", len(m.Files), len(want))
	}
}

func TestPullBadInput(t *testing.T) {
	fh := hubtest.New(t)
	fh.AddRepo(testID, hubtest.CLIPRepo(15))
	c := newClient(t, fh)
	for _, tc := range []struct {
		id    string
		files []string
		want  string
	}{
		{"clip", nil, "not a hub id"},
		{"a/b/c", nil, "not a hub id"},
		{"../etc", nil, "not a hub id"},
		{"acme/..", nil, "not a hub id"},
		{testID, []string{"["}, `file pattern "["`},
		{testID, []string{"*.bin"}, "no file matches"},
	} {
		_, err := c.Pull(context.Background(), tc.id, "", Files{Patterns: tc.files})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Pull(%q, %q): err = %v, want %q", tc.id, tc.files, err, tc.want)
		}
	}
	if n := len(fh.Hits("", hubtest.File)); n != 0 {
		t.Errorf("bad input still downloaded %d files", n)
	}
}

func TestPullAllFiles(t *testing.T) {
	fh := hubtest.New(t)
	repo := fh.AddRepo(testID, hubtest.CLIPRepo(16))
	c := newClient(t, fh)
	m, err := c.Pull(context.Background(), testID, "", Files{})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for p := range repo.Files {
		all = append(all, p)
	}
	checkFiles(t, m, repo, all)
}

func TestEnvironment(t *testing.T) {
	for _, tokenVar := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		t.Run(tokenVar, func(t *testing.T) {
			fh := hubtest.New(t)
			repo := fh.AddRepo(testID, hubtest.CLIPRepo(17))
			fh.RequireToken("hf_env", false)
			home := t.TempDir()
			for _, k := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
				t.Setenv(k, "")
			}
			t.Setenv(tokenVar, "hf_env")
			t.Setenv("HF_ENDPOINT", fh.URL()+"/")
			t.Setenv("MMRAG_HOME", home)
			var c Client
			m, err := c.Pull(context.Background(), testID, "", clipFiles(false))
			if err != nil {
				t.Fatal(err)
			}
			checkFiles(t, m, repo, clipPaths(false))
			if want := filepath.Join(home, "models", "acme", "clip-tiny"); m.Dir != want {
				t.Errorf("dir = %s, want %s", m.Dir, want)
			}
			if dir, err := Resolve("", testID); err != nil || dir != m.Dir {
				t.Errorf(`Resolve("") = %q, %v`, dir, err)
			}
			if models, err := List(""); err != nil || len(models) != 1 {
				t.Errorf(`List("") = %v, %v`, models, err)
			}
		})
	}
	t.Run("default home", func(t *testing.T) {
		t.Setenv("MMRAG_HOME", "")
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Skipf("no user cache folder here: %v", err)
		}
		if h, err := DefaultHome(); err != nil || h != filepath.Join(cache, "mmrag") {
			t.Errorf("DefaultHome = %q, %v", h, err)
		}
		t.Setenv("MMRAG_HOME", "/x/y")
		if h, _ := DefaultHome(); h != "/x/y" {
			t.Errorf("DefaultHome with MMRAG_HOME = %q", h)
		}
	})
}

func TestResolve(t *testing.T) {
	home := t.TempDir()
	cached := filepath.Join(home, "models", "acme", "done")
	if err := os.MkdirAll(cached, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeManifest(cached, &Model{ID: "acme/done", Commit: strings.Repeat("ab", 20)}); err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(home, "models", "acme", "half")
	if err := os.MkdirAll(filepath.Join(half, "onnx"), 0o755); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	t.Chdir(work)
	for _, d := range []string{"local/model", "plain"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "file.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	notCached := func(id, dir string) string {
		return `model "` + id + `" is not in the cache (` + dir + `); fetch it with: mmrag models pull ` + id
	}
	for _, tc := range []struct {
		arg, want, wantErr string
	}{
		{arg: filepath.Join(work, "plain"), want: filepath.Join(work, "plain")},
		{arg: "./plain", want: filepath.Join(work, "plain")},
		{arg: "local/model", want: filepath.Join(work, "local", "model")}, // an existing folder wins over a hub id
		{arg: "acme/done", want: cached},
		{arg: "acme/half", wantErr: notCached("acme/half", half)},
		{arg: "acme/none", wantErr: notCached("acme/none", filepath.Join(home, "models", "acme", "none"))},
		{arg: "./missing", wantErr: "model folder ./missing: "},
		{arg: "./file.txt", wantErr: "model folder ./file.txt: not a directory"},
		{arg: "not-an-id", wantErr: "not an existing folder"},
		{arg: "", wantErr: "empty model argument"},
	} {
		got, err := Resolve(home, tc.arg)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Resolve(%q) = %q, %v; want error %q", tc.arg, got, err, tc.wantErr)
			}
			if strings.HasPrefix(tc.wantErr, "model \"") && (!errors.Is(err, ErrNotCached) || err.Error() != tc.wantErr) {
				t.Errorf("Resolve(%q): err %q, want exactly %q matching ErrNotCached", tc.arg, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.arg, got, err, tc.want)
		}
	}
}

func TestList(t *testing.T) {
	fh := hubtest.New(t)
	a := fh.AddRepo("zeta/clip", hubtest.CLIPRepo(18))
	b := fh.AddRepo("alpha/clip", hubtest.CLIPRepo(19))
	c := newClient(t, fh)
	if models, err := List(c.Home); err != nil || len(models) != 0 {
		t.Fatalf("empty home: List = %v, %v", models, err)
	}
	for _, id := range []string{"zeta/clip", "alpha/clip"} {
		if _, err := c.Pull(context.Background(), id, "", clipFiles(true)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(c.Home, "models", "beta", "unfinished"), 0o755); err != nil {
		t.Fatal(err)
	}
	models, err := List(c.Home)
	if err != nil {
		t.Fatal(err)
	}
	if len(models) != 2 || models[0].ID != "alpha/clip" || models[1].ID != "zeta/clip" {
		t.Fatalf("List = %+v, want alpha/clip then zeta/clip", models)
	}
	for i, repo := range []*hubtest.Repo{b, a} {
		m := models[i]
		var size int64
		for _, p := range clipPaths(true) {
			size += int64(len(repo.Files[p].Data))
		}
		if m.Size() != size || m.Commit != repo.Commit || len(m.Files) != len(clipPaths(true)) || m.Pulled.IsZero() {
			t.Errorf("%s: size %d commit %s files %d pulled %v; want size %d commit %s", m.ID, m.Size(), m.Commit, len(m.Files), m.Pulled, size, repo.Commit)
		}
		if want := filepath.Join(c.Home, "models", filepath.FromSlash(m.ID)); m.Dir != want {
			t.Errorf("dir = %s, want %s", m.Dir, want)
		}
	}

	bad := filepath.Join(c.Home, "models", "beta", "unfinished", ManifestName)
	if err := os.WriteFile(bad, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := List(c.Home); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt manifest: err = %v, want one naming %s", err, bad)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes */200", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes x-1/2", 0, 0, false},
		{"", 0, 0, false},
	} {
		start, total, ok := parseContentRange(tc.in)
		if ok != tc.ok || (ok && (start != tc.start || total != tc.total)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %v; want %d, %d, %v", tc.in, start, total, ok, tc.start, tc.total, tc.ok)
		}
	}
}

// BenchmarkPull measures a pull of one LFS file through the redirect to the
// CDN (transfer, write, verification), from a local server.
func BenchmarkPull(b *testing.B) {
	fh := hubtest.New(b)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	fh.AddRepo(testID, map[string]*hubtest.Blob{"onnx/vision_model.onnx": {Data: data, LFS: true}})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := &Client{Endpoint: fh.URL(), Home: b.TempDir()}
		if _, err := c.Pull(context.Background(), testID, "", Files{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpToDate measures a no-op pull, which re-hashes the cached file.
func BenchmarkUpToDate(b *testing.B) {
	fh := hubtest.New(b)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
	fh.AddRepo(testID, map[string]*hubtest.Blob{"onnx/vision_model.onnx": {Data: data, LFS: true}})
	c := &Client{Endpoint: fh.URL(), Home: b.TempDir()}
	if _, err := c.Pull(context.Background(), testID, "", Files{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m, err := c.Pull(context.Background(), testID, "", Files{})
		if err != nil || len(m.Fetched) != 0 {
			b.Fatal(m, err)
		}
	}
}
