// Package hub owns mmrag's model cache: it downloads model repositories from
// the Hugging Face hub into it and resolves a model argument (a local folder
// or a hub id) to a folder on disk.
//
// Cache layout: $MMRAG_HOME/models/{org}/{name}/ holds the repository files
// under their repo paths (onnx/text_model.onnx…) plus a manifest,
// .mmrag-model.json, written last. A folder without a manifest is an
// unfinished pull and is never used. Transfers in progress live in
// .mmrag-partial/ inside the model folder and the next Pull resumes them.
//
// Two Pulls of the same model must not run at the same time.
package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

const (
	// DefaultModel is the hub id of the model mmrag uses when none is given.
	DefaultModel = "Xenova/clip-vit-base-patch16"
	// DefaultEndpoint is the hub used when neither Client.Endpoint nor
	// $HF_ENDPOINT is set.
	DefaultEndpoint = "https://huggingface.co"
	// DefaultRevision is the branch pulled when no revision is given.
	DefaultRevision = "main"
	// ManifestName is the file, inside a model folder, that marks the
	// model complete.
	ManifestName = ".mmrag-model.json"

	partialDir = ".mmrag-partial"
)

// Errors a caller may want to tell apart with errors.Is.
var (
	ErrNotFound    = errors.New("repository or file not found")
	ErrAccess      = errors.New("access denied by the hub")
	ErrUnreachable = errors.New("could not reach the Hugging Face hub")
	ErrIntegrity   = errors.New("downloaded file failed verification")
	ErrNotCached   = errors.New("model is not in the cache")
)

// Client downloads from a hub. The zero value is ready to use.
type Client struct {
	// Endpoint is the hub's base URL; "" means $HF_ENDPOINT, or
	// DefaultEndpoint when that is unset.
	Endpoint string
	// Token is the hub access token; "" means $HF_TOKEN, or
	// $HUGGING_FACE_HUB_TOKEN. It is sent only to the endpoint's own
	// scheme, host and port, never to a redirect target such as the CDN.
	Token string
	// HTTP sends the requests; nil means a client with connect and
	// response-header timeouts but no whole-transfer timeout. Its
	// CheckRedirect is not used: Pull follows redirects itself.
	HTTP *http.Client
	// Home is mmrag's data folder; "" means DefaultHome().
	Home string
	// Progress, when set, is called often during Pull, from the goroutine
	// running Pull, with the file being fetched and its progress.
	Progress func(p Progress)
}

// Progress reports how far the transfer of one file has got.
type Progress struct {
	File  string // repo path, e.g. onnx/vision_model.onnx
	Done  int64  // bytes on disk so far, including a resumed part
	Total int64  // file size, or -1 when unknown
}

// File is one file of a cached model.
type File struct {
	Path   string `json:"path"` // repo path, slash-separated
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

// Model is a complete model in the cache; its fields are those of the
// manifest, plus Dir and, for Pull's result, Fetched.
type Model struct {
	ID       string    `json:"id"`       // hub id, org/name
	Revision string    `json:"revision"` // revision asked for (branch, tag or commit)
	Commit   string    `json:"commit"`   // commit sha the files come from
	Files    []File    `json:"files"`    // sorted by Path
	Pulled   time.Time `json:"pulled"`   // when the manifest was written
	Dir      string    `json:"-"`        // model folder
	// Fetched lists the repo paths Pull downloaded; empty means the cache
	// was already up to date.
	Fetched []string `json:"-"`
}

// Size is the total size of the model's files in bytes.
func (m *Model) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// CLIPFiles returns the repo paths (all plain names, usable as patterns) of a
// CLIP model in the layout of the Xenova/* ONNX exports. Pull given exactly
// this list also checks, before downloading anything, that the repository
// has the files such a model cannot do without: config.json,
// preprocessor_config.json, tokenizer.json or vocab.json with merges.txt, and
// both ONNX graphs. The other files are optional.
func CLIPFiles(quantized bool) []string {
	return []string{
		"config.json",
		"preprocessor_config.json",
		"tokenizer.json",
		"vocab.json",
		"merges.txt",
		"tokenizer_config.json",
		"special_tokens_map.json",
		"onnx/text_model" + quantSuffix(quantized) + ".onnx",
		"onnx/vision_model" + quantSuffix(quantized) + ".onnx",
	}
}

func quantSuffix(quantized bool) string {
	if quantized {
		return "_quantized"
	}
	return ""
}

// missingCLIP lists the files a CLIP model needs that have lacks.
func missingCLIP(have map[string]bool, quantized bool) []string {
	var missing []string
	for _, p := range []string{
		"config.json",
		"preprocessor_config.json",
		"onnx/text_model" + quantSuffix(quantized) + ".onnx",
		"onnx/vision_model" + quantSuffix(quantized) + ".onnx",
	} {
		if !have[p] {
			missing = append(missing, p)
		}
	}
	if !have["tokenizer.json"] && !(have["vocab.json"] && have["merges.txt"]) {
		missing = append(missing, "tokenizer.json (or vocab.json with merges.txt)")
	}
	return missing
}

// Pull makes the cache hold the files of repoID at revision ("" means
// DefaultRevision) whose repo paths match one of the path.Match patterns in
// files (nil means every file), downloading only what is missing or fails
// verification. Interrupted transfers are resumed by the next Pull. Files
// are checked against the sizes and SHA-256 sums the hub lists (git blob
// ids for small files); the model becomes usable only once every file is in
// place. When the cache is already up to date Pull downloads nothing and
// the result's Fetched is empty.
func (c *Client) Pull(ctx context.Context, repoID, revision string, files []string) (*Model, error) {
	org, name, err := splitID(repoID)
	if err != nil {
		return nil, err
	}
	if revision == "" {
		revision = DefaultRevision
	}
	for _, p := range files {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("file pattern %q: %w", p, err)
		}
	}
	home, err := c.home()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(home, "models", org, name)

	info, err := c.repoInfo(ctx, repoID, revision)
	if err != nil {
		return nil, err
	}
	var want []remoteFile
	have := map[string]bool{}
	for _, f := range info.files {
		if matchAny(files, f.Path) {
			want = append(want, f)
			have[f.Path] = true
		}
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("%s at %s (commit %s): no file matches %q", repoID, revision, info.commit, files)
	}
	for _, q := range []bool{false, true} {
		if slices.Equal(files, CLIPFiles(q)) {
			if m := missingCLIP(have, q); len(m) > 0 {
				return nil, fmt.Errorf("%s at %s (commit %s) is not a usable CLIP model: missing %s",
					repoID, revision, info.commit, strings.Join(m, ", "))
			}
		}
	}

	prev, _ := readManifest(dir) // an unreadable manifest is simply rewritten
	type move struct{ from, to string }
	var (
		moves   []move
		entries = map[string]File{}
		fetched []string
	)
	for _, w := range want {
		final := filepath.Join(dir, filepath.FromSlash(w.Path))
		f, ok, err := verifyInPlace(ctx, final, w, prevEntry(prev, info.commit, w.Path))
		if err != nil {
			return nil, err
		}
		if ok {
			entries[w.Path] = f
			c.report(Progress{File: w.Path, Done: f.Size, Total: f.Size})
			continue
		}
		part, f, err := c.fetch(ctx, dir, repoID, info.commit, w)
		if err != nil {
			return nil, err
		}
		entries[w.Path] = f
		moves = append(moves, move{part, final})
		fetched = append(fetched, w.Path)
	}

	// Files of an earlier pull that this one did not select stay when they
	// still belong to the new commit; the others are stale.
	var stale []string
	if prev != nil {
		byPath := map[string]remoteFile{}
		for _, f := range info.files {
			byPath[f.Path] = f
		}
		for _, e := range prev.Files {
			if _, ok := entries[e.Path]; ok {
				continue
			}
			r, inRepo := byPath[e.Path]
			same := prev.Commit == info.commit || (r.SHA256 != "" && r.SHA256 == e.SHA256)
			if inRepo && same && (r.Size < 0 || r.Size == e.Size) && hasSize(filepath.Join(dir, filepath.FromSlash(e.Path)), e.Size) {
				entries[e.Path] = e
			} else {
				stale = append(stale, e.Path)
			}
		}
	}

	m := &Model{ID: repoID, Revision: revision, Commit: info.commit, Dir: dir, Fetched: fetched}
	for _, f := range entries {
		m.Files = append(m.Files, f)
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })

	if prev != nil && len(moves) == 0 && len(stale) == 0 && prev.ID == m.ID &&
		prev.Revision == m.Revision && prev.Commit == m.Commit && slices.Equal(prev.Files, m.Files) {
		m.Pulled = prev.Pulled
		return m, nil
	}

	// From here the folder is incomplete until the new manifest lands, so
	// that Resolve never hands out a mix of two commits.
	manifest := filepath.Join(dir, ManifestName)
	if err := os.Remove(manifest); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove old manifest: %w", err)
	}
	for _, mv := range moves {
		if err := os.MkdirAll(filepath.Dir(mv.to), 0o755); err != nil {
			return nil, fmt.Errorf("create folder for %s: %w", mv.to, err)
		}
		if err := os.Rename(mv.from, mv.to); err != nil {
			return nil, fmt.Errorf("move %s into place: %w", mv.to, err)
		}
	}
	for _, p := range stale {
		removeWithEmptyParents(dir, p)
	}
	m.Pulled = time.Now().UTC()
	if err := writeManifest(dir, m); err != nil {
		return nil, err
	}
	// Whatever is left there belongs to transfers no commit needs any more.
	_ = os.RemoveAll(filepath.Join(dir, partialDir))
	return m, nil
}

func (c *Client) report(p Progress) {
	if c.Progress != nil {
		c.Progress(p)
	}
}

func (c *Client) home() (string, error) {
	if c.Home != "" {
		return c.Home, nil
	}
	return DefaultHome()
}

func (c *Client) endpoint() string {
	e := c.Endpoint
	if e == "" {
		e = os.Getenv("HF_ENDPOINT")
	}
	if e == "" {
		e = DefaultEndpoint
	}
	return strings.TrimRight(e, "/")
}

func (c *Client) token() string {
	if c.Token != "" {
		return c.Token
	}
	if t := os.Getenv("HF_TOKEN"); t != "" {
		return t
	}
	return os.Getenv("HUGGING_FACE_HUB_TOKEN")
}

func matchAny(patterns []string, p string) bool {
	if patterns == nil {
		return true
	}
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
	}
	return false
}

func prevEntry(prev *Model, commit, p string) *File {
	if prev == nil || prev.Commit != commit {
		return nil
	}
	for i := range prev.Files {
		if prev.Files[i].Path == p {
			return &prev.Files[i]
		}
	}
	return nil
}

func hasSize(name string, size int64) bool {
	st, err := os.Stat(name)
	return err == nil && st.Mode().IsRegular() && st.Size() == size
}

// removeWithEmptyParents deletes a stale repo file and the folders it leaves
// empty, up to the model folder.
func removeWithEmptyParents(dir, repoPath string) {
	_ = os.Remove(filepath.Join(dir, filepath.FromSlash(repoPath)))
	for d := path.Dir(repoPath); d != "." && d != "/"; d = path.Dir(d) {
		if os.Remove(filepath.Join(dir, filepath.FromSlash(d))) != nil {
			return
		}
	}
}
