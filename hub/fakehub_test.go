package hub

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub mimics the parts of the Hugging Face hub Pull talks to: the model
// info API, /resolve/ URLs that answer small files themselves and redirect
// LFS files (302) to a second server acting as the CDN, with the hub's
// X-Repo-Commit, X-Linked-Etag, X-Linked-Size and ETag headers.
type fakeHub struct {
	hub, cdn *httptest.Server

	mu          sync.Mutex
	repos       map[string]*fakeRepo
	renames     map[string]string // old id → new id, answered with 307
	token       string            // when set, the hub wants "Bearer <token>"
	gated       bool              // refuse with 403 GatedRepo instead of 401
	cut         map[string]int64  // repo path → cut the next transfer after N bytes
	ignoreRange bool
	block       chan struct{} // when set, transfers send 64 KiB then wait for it to close
	log         []hit
	served      map[string]int64 // repo path → body bytes sent
}

type hit struct {
	server string // "hub" or "cdn"
	kind   string // "api" or "file"
	path   string // repo path for files
	auth   string
	rng    string
}

type fakeRepo struct {
	commit string
	files  map[string]*fakeFile
}

type fakeFile struct {
	data  []byte
	lfs   bool
	serve []byte // when set, served instead of data (what the API lists)
	gone  bool   // listed by the API but 404 at /resolve/
}

func newFakeHub(t testing.TB) *fakeHub {
	t.Helper()
	fh := &fakeHub{repos: map[string]*fakeRepo{}, renames: map[string]string{}, cut: map[string]int64{}, served: map[string]int64{}}
	fh.hub = httptest.NewServer(http.HandlerFunc(fh.route))
	fh.cdn = httptest.NewServer(http.HandlerFunc(fh.cdnBlob))
	t.Cleanup(func() {
		fh.mu.Lock()
		if fh.block != nil {
			select {
			case <-fh.block:
			default:
				close(fh.block)
			}
		}
		fh.mu.Unlock()
		fh.hub.Close()
		fh.cdn.Close()
	})
	return fh
}

// clipRepo returns the files of a small CLIP-like repository; seed varies
// the content.
func clipRepo(seed uint64) map[string]*fakeFile {
	rng := rand.New(rand.NewChaCha8([32]byte{byte(seed)}))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	text := func(s string) *fakeFile { return &fakeFile{data: []byte(s)} }
	return map[string]*fakeFile{
		"config.json":                      text(fmt.Sprintf(`{"model_type":"clip","seed":%d}`, seed)),
		"preprocessor_config.json":         text(`{"crop_size":224}`),
		"tokenizer.json":                   text(`{"model":{"type":"BPE"}}`),
		"vocab.json":                       text(`{"a":0}`),
		"merges.txt":                       text("#version: 0.2\na b\n"),
		"tokenizer_config.json":            text(`{}`),
		"special_tokens_map.json":          text(`{}`),
		"README.md":                        text("# model\n"),
		"onnx/text_model.onnx":             {data: random(1_200_000), lfs: true},
		"onnx/vision_model.onnx":           {data: random(2_000_000), lfs: true},
		"onnx/text_model_quantized.onnx":   {data: random(300_000), lfs: true},
		"onnx/vision_model_quantized.onnx": {data: random(500_000), lfs: true},
	}
}

func commitFor(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (fh *fakeHub) addRepo(id string, files map[string]*fakeFile) *fakeRepo {
	fh.mu.Lock()
	defer fh.mu.Unlock()
	r := &fakeRepo{commit: commitFor(id + time.Now().String()), files: files}
	fh.repos[id] = r
	return r
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (fh *fakeHub) record(h hit) {
	fh.mu.Lock()
	fh.log = append(fh.log, h)
	fh.mu.Unlock()
}

func (fh *fakeHub) hits(server, kind string) []hit {
	fh.mu.Lock()
	defer fh.mu.Unlock()
	var out []hit
	for _, h := range fh.log {
		if (server == "" || h.server == server) && (kind == "" || h.kind == kind) {
			out = append(out, h)
		}
	}
	return out
}

func (fh *fakeHub) resetLog() {
	fh.mu.Lock()
	fh.log = nil
	fh.served = map[string]int64{}
	fh.mu.Unlock()
}

// lookup applies renames and auth; it answers the error itself when it
// returns nil.
func (fh *fakeHub) lookup(w http.ResponseWriter, r *http.Request) *fakeRepo {
	id := r.PathValue("org") + "/" + r.PathValue("name")
	fh.mu.Lock()
	defer fh.mu.Unlock()
	if to, ok := fh.renames[id]; ok {
		w.Header().Set("Location", strings.Replace(r.URL.RequestURI(), "/"+id+"/", "/"+to+"/", 1))
		w.WriteHeader(http.StatusTemporaryRedirect)
		return nil
	}
	if fh.token != "" && r.Header.Get("Authorization") != "Bearer "+fh.token {
		if fh.gated {
			w.Header().Set("X-Error-Code", "GatedRepo")
			w.Header().Set("X-Error-Message", "Access to model "+id+" is restricted.")
			http.Error(w, `{"error":"gated"}`, http.StatusForbidden)
			return nil
		}
		http.Error(w, `{"error":"Invalid username or password."}`, http.StatusUnauthorized)
		return nil
	}
	repo := fh.repos[id]
	if repo == nil {
		w.Header().Set("X-Error-Code", "RepoNotFound")
		http.Error(w, `{"error":"Repository not found"}`, http.StatusNotFound)
		return nil
	}
	if rev := r.PathValue("rev"); rev != "main" && rev != repo.commit {
		w.Header().Set("X-Error-Code", "RevisionNotFound")
		http.Error(w, `{"error":"Invalid rev id"}`, http.StatusNotFound)
		return nil
	}
	return repo
}

// route dispatches /api/models/{org}/{name}/revision/{rev} and
// /{org}/{name}/resolve/{rev}/{path...}; ServeMux finds the two ambiguous.
func (fh *fakeHub) route(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	set := func(names ...string) {
		for i, n := range names {
			r.SetPathValue(n, parts[i])
		}
	}
	switch {
	case r.Method != http.MethodGet:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	case len(parts) == 6 && parts[0] == "api" && parts[1] == "models" && parts[4] == "revision":
		parts = append(parts[2:4], parts[5])
		set("org", "name", "rev")
		fh.apiInfo(w, r)
	case len(parts) >= 5 && parts[2] == "resolve":
		parts = []string{parts[0], parts[1], parts[3], strings.Join(parts[4:], "/")}
		set("org", "name", "rev", "path")
		fh.resolve(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (fh *fakeHub) apiInfo(w http.ResponseWriter, r *http.Request) {
	fh.record(hit{server: "hub", kind: "api", auth: r.Header.Get("Authorization")})
	repo := fh.lookup(w, r)
	if repo == nil {
		return
	}
	type lfs struct {
		SHA256      string `json:"sha256"`
		Size        int    `json:"size"`
		PointerSize int    `json:"pointerSize"`
	}
	type sibling struct {
		RFilename string `json:"rfilename"`
		BlobID    string `json:"blobId"`
		Size      int    `json:"size"`
		LFS       *lfs   `json:"lfs,omitempty"`
	}
	fh.mu.Lock()
	var sibs []sibling
	for p, f := range repo.files {
		s := sibling{RFilename: p, Size: len(f.data), BlobID: gitBlobID(f.data)}
		if f.lfs {
			s.BlobID = gitBlobID([]byte("version https://git-lfs.github.com/spec/v1\noid sha256:" + sha256Hex(f.data)))
			s.LFS = &lfs{SHA256: sha256Hex(f.data), Size: len(f.data), PointerSize: 134}
		}
		sibs = append(sibs, s)
	}
	commit := repo.commit
	fh.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": r.PathValue("org") + "/" + r.PathValue("name"), "sha": commit, "siblings": sibs})
}

func (fh *fakeHub) resolve(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("path")
	fh.record(hit{server: "hub", kind: "file", path: p, auth: r.Header.Get("Authorization"), rng: r.Header.Get("Range")})
	repo := fh.lookup(w, r)
	if repo == nil {
		return
	}
	fh.mu.Lock()
	f := repo.files[p]
	commit := repo.commit
	fh.mu.Unlock()
	if f == nil || f.gone {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		http.Error(w, `{"error":"Entry not found"}`, http.StatusNotFound)
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	if f.lfs {
		sum := sha256Hex(f.data)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		w.Header().Set("X-Linked-Size", fmt.Sprint(len(f.data)))
		w.Header().Set("ETag", `"`+gitBlobID([]byte(sum))+`"`)
		w.Header().Set("Location", fh.cdn.URL+"/repos/"+sum[:2]+"/"+sum+"?X-Amz-Signature=s3cr3t&path="+p)
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+gitBlobID(f.data)+`"`)
	fh.serveBytes(w, r, p, f)
}

func (fh *fakeHub) cdnBlob(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Query().Get("path")
	fh.record(hit{server: "cdn", kind: "file", path: p, auth: r.Header.Get("Authorization"), rng: r.Header.Get("Range")})
	var f *fakeFile
	fh.mu.Lock()
	for _, repo := range fh.repos {
		if g := repo.files[p]; g != nil && strings.HasSuffix(r.URL.Path, "/"+sha256Hex(g.data)) {
			f = g
		}
	}
	fh.mu.Unlock()
	if f == nil {
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	w.Header().Set("ETag", `"`+sha256Hex(f.data)+`"`)
	fh.serveBytes(w, r, p, f)
}

type countingWriter struct {
	http.ResponseWriter
	n  *int64
	mu *sync.Mutex
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.mu.Lock()
	*c.n += int64(n)
	c.mu.Unlock()
	return n, err
}

func (c countingWriter) Flush() { c.ResponseWriter.(http.Flusher).Flush() }

func (fh *fakeHub) serveBytes(w http.ResponseWriter, r *http.Request, p string, f *fakeFile) {
	data := f.data
	if f.serve != nil {
		data = f.serve
	}
	fh.mu.Lock()
	n := new(int64)
	cw := countingWriter{ResponseWriter: w, n: n, mu: &fh.mu}
	cut, doCut := fh.cut[p]
	delete(fh.cut, p)
	block := fh.block
	ignore := fh.ignoreRange
	fh.mu.Unlock()
	defer func() {
		fh.mu.Lock()
		fh.served[p] += *n
		fh.mu.Unlock()
	}()

	switch {
	case doCut:
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		cw.Write(data[:cut])
		cw.Flush()
		fh.mu.Lock()
		fh.served[p] += *n
		*n = 0
		fh.mu.Unlock()
		panic(http.ErrAbortHandler) // drops the connection mid-body
	case block != nil:
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		cw.Write(data[:64<<10])
		cw.Flush()
		select {
		case <-r.Context().Done():
		case <-block:
		}
		return
	}
	if ignore {
		r.Header.Del("Range")
	}
	http.ServeContent(cw, r, "", time.Time{}, bytes.NewReader(data))
}
