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

// Files says which files of a repository Pull fetches. The hub knows no
// kind of model: each caller (the CLIP embedder, a text embedder) names the
// files its model folder is made of and checks that it can do without the
// ones the repository lacks.
type Files struct {
	// Patterns are path.Match patterns over repo paths, e.g. "config.json"
	// or "onnx/*.onnx"; nil selects every file of the repository.
	Patterns []string
	// Check, when set, is given the repo paths the patterns selected,
	// sorted, before anything is downloaded; an error from it stops Pull,
	// which names the repository, revision and commit in front of it.
	Check func(selected []string) error
}

// Missing returns the paths in required that selected lacks, in the order
// of required: the usual body of a Files.Check.
func Missing(selected []string, required ...string) []string {
	var missing []string
	for _, p := range required {
		if !slices.Contains(selected, p) {
			missing = append(missing, p)
		}
	}
	return missing
}

// Pull makes the cache hold the files of repoID at revision ("" means
// DefaultRevision) that files selects, downloading only what is missing or
// fails verification. Interrupted transfers are resumed by the next Pull.
// Files are checked against the sizes and SHA-256 sums the hub lists (git
// blob ids for small files); the model becomes usable only once every file
// is in place. When the cache is already up to date Pull downloads nothing
// and the result's Fetched is empty.
func (c *Client) Pull(ctx context.Context, repoID, revision string, files Files) (*Model, error) {
	p, err := c.plan(ctx, repoID, revision, files)
	if err != nil {
		return nil, err
	}
	p.prev, _ = readManifest(p.dir) // an unreadable manifest is simply rewritten
	if err := p.fetchWanted(ctx); err != nil {
		return nil, err
	}
	p.keepEarlier()
	m := p.model()
	if p.upToDate(m) {
		m.Pulled = p.prev.Pulled
		return m, nil
	}
	if err := p.install(m); err != nil {
		return nil, err
	}
	return m, nil
}

// pull is one Pull in progress.
type pull struct {
	c                     *Client
	repoID, revision, dir string
	info                  *repoInfo
	want                  []remoteFile // the files selected, sorted by path
	prev                  *Model       // the earlier pull's manifest, if any

	entries map[string]File // what the new manifest lists, by repo path
	moves   []move          // verified downloads to rename into place
	fetched []string        // repo paths downloaded
	stale   []string        // repo paths of the earlier pull to delete
}

type move struct{ from, to string }

// plan checks Pull's arguments, asks the hub what the repository holds and
// selects the files to pull, all before anything is downloaded.
func (c *Client) plan(ctx context.Context, repoID, revision string, files Files) (*pull, error) {
	org, name, err := splitID(repoID)
	if err != nil {
		return nil, err
	}
	if revision == "" {
		revision = DefaultRevision
	}
	for _, p := range files.Patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("file pattern %q: %w", p, err)
		}
	}
	home, err := c.home()
	if err != nil {
		return nil, err
	}
	info, err := c.repoInfo(ctx, repoID, revision)
	if err != nil {
		return nil, err
	}
	p := &pull{c: c, repoID: repoID, revision: revision, dir: filepath.Join(home, "models", org, name), info: info}
	var selected []string
	for _, f := range info.files {
		if matchAny(files.Patterns, f.Path) {
			p.want = append(p.want, f)
			selected = append(selected, f.Path)
		}
	}
	if len(p.want) == 0 {
		return nil, fmt.Errorf("%s at %s (commit %s): no file matches %q", repoID, revision, info.commit, files.Patterns)
	}
	if files.Check != nil {
		if err := files.Check(selected); err != nil {
			return nil, fmt.Errorf("%s at %s (commit %s): %w", repoID, revision, info.commit, err)
		}
	}
	return p, nil
}

// fetchWanted keeps each wanted file already in place and intact, and
// downloads the others into partial files.
func (p *pull) fetchWanted(ctx context.Context) error {
	p.entries = map[string]File{}
	for _, w := range p.want {
		final := filepath.Join(p.dir, filepath.FromSlash(w.Path))
		f, ok, err := verifyInPlace(ctx, final, w, prevEntry(p.prev, p.info.commit, w.Path))
		if err != nil {
			return err
		}
		if ok {
			p.entries[w.Path] = f
			p.c.report(Progress{File: w.Path, Done: f.Size, Total: f.Size})
			continue
		}
		part, f, err := p.c.fetch(ctx, p.dir, p.repoID, p.info.commit, w)
		if err != nil {
			return err
		}
		p.entries[w.Path] = f
		p.moves = append(p.moves, move{part, final})
		p.fetched = append(p.fetched, w.Path)
	}
	return nil
}

// keepEarlier decides the fate of the files of an earlier pull that this
// one did not select: they stay when they still belong to the new commit;
// the others are stale.
func (p *pull) keepEarlier() {
	if p.prev == nil {
		return
	}
	byPath := map[string]remoteFile{}
	for _, f := range p.info.files {
		byPath[f.Path] = f
	}
	for _, e := range p.prev.Files {
		if _, ok := p.entries[e.Path]; ok {
			continue
		}
		r, inRepo := byPath[e.Path]
		same := p.prev.Commit == p.info.commit || (r.SHA256 != "" && r.SHA256 == e.SHA256)
		if inRepo && same && (r.Size < 0 || r.Size == e.Size) && hasSize(filepath.Join(p.dir, filepath.FromSlash(e.Path)), e.Size) {
			p.entries[e.Path] = e
		} else {
			p.stale = append(p.stale, e.Path)
		}
	}
}

// model is the result of the pull, without its Pulled time.
func (p *pull) model() *Model {
	m := &Model{ID: p.repoID, Revision: p.revision, Commit: p.info.commit, Dir: p.dir, Fetched: p.fetched}
	for _, f := range p.entries {
		m.Files = append(m.Files, f)
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	return m
}

// upToDate says whether the earlier pull's manifest already describes m
// and nothing is to be moved or deleted.
func (p *pull) upToDate(m *Model) bool {
	prev := p.prev
	return prev != nil && len(p.moves) == 0 && len(p.stale) == 0 && prev.ID == m.ID &&
		prev.Revision == m.Revision && prev.Commit == m.Commit && slices.Equal(prev.Files, m.Files)
}

// install moves the downloads into place, deletes the stale files and
// writes m as the new manifest.
func (p *pull) install(m *Model) error {
	// From here the folder is incomplete until the new manifest lands, so
	// that Resolve never hands out a mix of two commits.
	manifest := filepath.Join(p.dir, ManifestName)
	if err := os.Remove(manifest); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove old manifest: %w", err)
	}
	for _, mv := range p.moves {
		if err := os.MkdirAll(filepath.Dir(mv.to), 0o755); err != nil {
			return fmt.Errorf("create folder for %s: %w", mv.to, err)
		}
		if err := os.Rename(mv.from, mv.to); err != nil {
			return fmt.Errorf("move %s into place: %w", mv.to, err)
		}
	}
	for _, s := range p.stale {
		removeWithEmptyParents(p.dir, s)
	}
	m.Pulled = time.Now().UTC()
	if err := writeManifest(p.dir, m); err != nil {
		return err
	}
	// Whatever is left there belongs to transfers no commit needs any more.
	_ = os.RemoveAll(filepath.Join(p.dir, partialDir))
	return nil
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
