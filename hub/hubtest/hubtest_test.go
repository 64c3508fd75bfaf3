package hubtest

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noRedirect is a client that shows the hub's redirects instead of
// following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, url, rng string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestAddDirAndServe(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"config.json":          `{"a":1}`,
		"onnx/text_model.onnx": "0123456789",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := New(t)
	repo, err := s.AddDir("acme/m", dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Files) != 2 || repo.Files["config.json"].LFS || !repo.Files["onnx/text_model.onnx"].LFS {
		t.Fatalf("files %v: want config.json plain and the .onnx graph in LFS", repo.Files)
	}

	resp, body := get(t, s.URL()+"/api/models/acme/m/revision/main?blobs=true", "")
	var info struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			RFilename string `json:"rfilename"`
			LFS       *struct {
				SHA256 string `json:"sha256"`
			} `json:"lfs"`
		} `json:"siblings"`
	}
	if err := json.Unmarshal(body, &info); err != nil || resp.StatusCode != 200 || info.SHA != repo.Commit || len(info.Siblings) != 2 {
		t.Fatalf("info: HTTP %d %s (%v); want the commit and two files", resp.StatusCode, body, err)
	}

	// Small files come from the hub, with the commit and a blob ETag.
	resp, body = get(t, s.URL()+"/acme/m/resolve/main/config.json", "bytes=2-")
	if resp.StatusCode != http.StatusPartialContent || string(body) != `a":1}` ||
		resp.Header.Get("X-Repo-Commit") != repo.Commit || resp.Header.Get("ETag") != `"`+GitBlobID([]byte(`{"a":1}`))+`"` {
		t.Errorf("config.json from bytes=2-: HTTP %d %q, headers %v", resp.StatusCode, body, resp.Header)
	}

	// LFS files redirect to the CDN, which honours Range.
	resp, _ = get(t, s.URL()+"/acme/m/resolve/main/onnx/text_model.onnx", "")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.CDNURL()+"/") ||
		resp.Header.Get("X-Linked-Etag") != `"`+SHA256([]byte("0123456789"))+`"` || resp.Header.Get("X-Linked-Size") != "10" {
		t.Fatalf("LFS file: HTTP %d, headers %v; want a 302 to the CDN with X-Linked-*", resp.StatusCode, resp.Header)
	}
	resp, body = get(t, loc, "bytes=4-")
	if resp.StatusCode != http.StatusPartialContent || string(body) != "456789" {
		t.Errorf("CDN bytes=4-: HTTP %d %q", resp.StatusCode, body)
	}
	s.IgnoreRange(true)
	if resp, body = get(t, loc, "bytes=4-"); resp.StatusCode != http.StatusOK || string(body) != "0123456789" {
		t.Errorf("CDN ignoring Range: HTTP %d %q", resp.StatusCode, body)
	}

	if n := len(s.Hits(CDN, File)); n != 2 {
		t.Errorf("%d CDN hits logged, want 2", n)
	}
	if got := s.Served("onnx/text_model.onnx"); got != 16 {
		t.Errorf("Served = %d, want 6+10", got)
	}
	s.ResetLog()
	if len(s.Hits("", "")) != 0 || s.Served("onnx/text_model.onnx") != 0 {
		t.Error("ResetLog kept hits or counts")
	}
}

func TestFaults(t *testing.T) {
	s := New(t)
	s.AddRepo("acme/m", map[string]*Blob{"a.txt": Text("hello"), "gone.txt": {Data: []byte("x"), Gone: true}})

	s.Fail("a.txt", http.StatusServiceUnavailable)
	if resp, _ := get(t, s.URL()+"/acme/m/resolve/main/a.txt", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after Fail: HTTP %d, want 503", resp.StatusCode)
	}
	if resp, body := get(t, s.URL()+"/acme/m/resolve/main/a.txt", ""); resp.StatusCode != 200 || string(body) != "hello" {
		t.Errorf("Fail lasted past one request: HTTP %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, s.URL()+"/acme/m/resolve/main/gone.txt", ""); resp.StatusCode != 404 || resp.Header.Get("X-Error-Code") != "EntryNotFound" {
		t.Errorf("gone file: HTTP %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := get(t, s.URL()+"/acme/m/resolve/v9/a.txt", ""); resp.Header.Get("X-Error-Code") != "RevisionNotFound" {
		t.Errorf("unknown revision: HTTP %d %v", resp.StatusCode, resp.Header)
	}

	s.RequireToken("hf_x", true)
	if resp, _ := get(t, s.URL()+"/acme/m/resolve/main/a.txt", ""); resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Error-Code") != "GatedRepo" {
		t.Errorf("gated without token: HTTP %d %v", resp.StatusCode, resp.Header)
	}
	s.RequireToken("", false)

	s.Rename("acme/old", "acme/m")
	if resp, _ := get(t, s.URL()+"/acme/old/resolve/main/a.txt", ""); resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/acme/m/resolve/main/a.txt" {
		t.Errorf("renamed repo: HTTP %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A cut transfer announces the whole file and delivers only part of it.
	s.CutAfter("a.txt", 2)
	resp, err := noRedirect.Get(s.URL() + "/acme/m/resolve/main/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || string(body) != "he" || resp.ContentLength != 5 {
		t.Errorf("cut transfer: %q, err %v, length %d; want 2 of 5 bytes and an error", body, err, resp.ContentLength)
	}

	// Stalled transfers end when released.
	s.Stall()
	resp, err = noRedirect.Get(s.URL() + "/acme/m/resolve/main/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	n, _ := io.ReadAtLeast(resp.Body, buf, 5)
	s.Release()
	rest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n != 5 || string(buf) != "hello" || len(rest) != 0 {
		t.Errorf("stalled transfer gave %q then %q", buf[:n], rest)
	}
}
