package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// WalkOptions choose the files Add takes from folders and globs.
type WalkOptions struct {
	// Include, when not empty, keeps only files matching one of its globs;
	// Exclude drops files and folders matching one of its globs. A pattern
	// without "/" matches a base name at any depth ("*.md", "drafts"); one
	// with "/" matches the path relative to the folder walked
	// ("notes/**/*.md"). "**" spans folders. Both apply to files named
	// directly too (matched by base name and by the path as given).
	Include, Exclude []string
	// IgnoreFiles are the names of gitignore-style files read in every
	// folder walked; nil means DefaultIgnoreFiles. .gitignore is not read
	// unless named here: what git should not track (build output, data) is
	// not necessarily what a knowledge base should not hold.
	IgnoreFiles []string
	// FollowSymlinks follows symbolic links met while walking (loops are
	// detected). Links named directly are always followed.
	FollowSymlinks bool
	// MaxFileBytes is the largest file read; 0 means DefaultMaxFileBytes.
	// Larger files of a supported type fail with ErrTooLarge.
	MaxFileBytes int64
	// Skip lists folders never walked into (absolute or relative paths),
	// such as the store's own directory.
	Skip []string
	// Prune removes the stored documents under a walked folder whose file
	// no longer exists.
	Prune bool
	// AssetRoot widens the folder whose files a local document may
	// reference (the images of a page: extract.Source.Root). By default it
	// is the folder named as the target (every page under it may use any
	// file under it), or for a file named directly, or a glob, the file's
	// own folder or the glob's fixed leading folder. AssetRoot applies to
	// the targets inside it; a target outside it keeps its own folder, with
	// a warning. A folder reached through a followed symbolic link is the
	// root of what lies under it.
	AssetRoot string
}

// DefaultIgnoreFiles is what WalkOptions.IgnoreFiles means when nil.
var DefaultIgnoreFiles = []string{".mmragignore"}

// DefaultMaxFileBytes is what WalkOptions.MaxFileBytes means when 0.
const DefaultMaxFileBytes = 512 << 20

// job is one source to ingest.
type job struct {
	source   string // absolute path or URL: what Document.Source holds
	path     string // local file to read; "" for URLs
	root     string // folder its local references must stay inside; "" for URLs
	explicit bool   // named by the caller: an unsupported type is an error, not a skip
}

// walker expands targets into jobs.
type walker struct {
	opts      WalkOptions
	include   []filterRule
	exclude   []filterRule
	ignore    []string
	skip      map[string]bool
	seen      map[string]bool // sources already sent: a file named twice is ingested once
	roots     []string        // folders walked (absolute), for Prune
	emit      func(job) bool  // false: stop (cancelled)
	fail      func(source string, err error)
	warn      func(source, msg string) // nil: warnings dropped
	assetRoot string                   // WalkOptions.AssetRoot, absolute
	root      string                   // the current target's asset root
	visited   map[string]bool          // real paths of folders entered, against symlink loops
	cancelled bool
}

func newWalker(opts WalkOptions) (*walker, error) {
	w := &walker{opts: opts, skip: map[string]bool{}, seen: map[string]bool{}, visited: map[string]bool{}}
	var err error
	if w.include, err = newFilterRules(opts.Include); err != nil {
		return nil, fmt.Errorf("include: %w", err)
	}
	if w.exclude, err = newFilterRules(opts.Exclude); err != nil {
		return nil, fmt.Errorf("exclude: %w", err)
	}
	w.ignore = opts.IgnoreFiles
	if w.ignore == nil {
		w.ignore = DefaultIgnoreFiles
	}
	for _, s := range opts.Skip {
		if abs, err := filepath.Abs(s); err == nil {
			w.skip[abs] = true
		}
	}
	if opts.AssetRoot != "" {
		if w.assetRoot, err = checkAssetRoot(opts.AssetRoot); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// checkAssetRoot makes WalkOptions.AssetRoot absolute; it must be a folder.
func checkAssetRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("asset root: %w", err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("asset root: %w", err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("asset root %s: not a folder", abs)
	}
	return abs, nil
}

// setRoot makes own — the folder a target names — the asset root of the
// files found from it, or AssetRoot when that holds it.
func (w *walker) setRoot(target, own string) {
	w.root = own
	if w.assetRoot == "" {
		return
	}
	if rel, err := filepath.Rel(w.assetRoot, own); err == nil && filepath.IsLocal(rel) {
		w.root = w.assetRoot
	} else if w.warn != nil {
		w.warn(target, fmt.Sprintf("outside the asset root %s: its documents read only files under %s", w.assetRoot, own))
	}
}

// target expands one target: a URL, a file, a folder or a glob.
func (w *walker) target(ctx context.Context, t string) {
	if isURL(t) {
		w.send(job{source: normalizeURL(t), explicit: true})
		return
	}
	info, err := os.Stat(t)
	if err != nil && hasMeta(t) {
		w.glob(ctx, t)
		return
	}
	abs, aerr := filepath.Abs(t)
	if aerr != nil {
		w.fail(t, aerr)
		return
	}
	if err != nil {
		w.fail(abs, fmt.Errorf("cannot read: %w", unwrapPath(err)))
		return
	}
	if info.IsDir() {
		w.roots = append(w.roots, abs)
		w.setRoot(abs, abs)
		w.dir(ctx, abs, "", nil, nil)
		return
	}
	if !info.Mode().IsRegular() {
		w.fail(abs, errors.New("not a regular file"))
		return
	}
	rel := filepath.ToSlash(filepath.Clean(t))
	if !w.wanted(rel) {
		return
	}
	w.setRoot(abs, filepath.Dir(abs))
	w.send(job{source: abs, path: abs, explicit: true})
}

// wanted applies Include and Exclude to a file path relative to its root.
func (w *walker) wanted(rel string) bool {
	if matchAny(w.exclude, rel) {
		return false
	}
	return len(w.include) == 0 || matchAny(w.include, rel)
}

func (w *walker) send(j job) {
	if w.cancelled || w.seen[j.source] {
		return
	}
	if j.path != "" {
		j.root = w.root
	}
	w.seen[j.source] = true
	if !w.emit(j) {
		w.cancelled = true
	}
}

// glob walks the longest folder prefix of pattern without glob syntax and
// sends the files whose path matches the whole pattern.
func (w *walker) glob(ctx context.Context, pattern string) {
	abs, err := filepath.Abs(pattern)
	if err != nil {
		w.fail(pattern, err)
		return
	}
	slash := filepath.ToSlash(abs)
	if err := validGlob(slash); err != nil {
		w.fail(pattern, err)
		return
	}
	segs := strings.Split(slash, "/")
	i := slices.IndexFunc(segs, hasMeta)
	base := filepath.FromSlash(strings.Join(segs[:i], "/"))
	if base == "" {
		base = string(filepath.Separator)
	}
	before := len(w.seen)
	w.setRoot(pattern, base)
	if info, err := os.Stat(base); err == nil && info.IsDir() {
		w.dir(ctx, base, "", nil, func(p string) bool {
			ok, _ := matchGlob(slash, filepath.ToSlash(p))
			return ok
		})
	}
	if len(w.seen) == before && !w.cancelled {
		w.fail(pattern, errors.New("no file matches the pattern"))
	}
}

// dir walks folder abs (rel from the walk root) depth first, in name order.
// match, when set, further filters files by absolute path (globs).
func (w *walker) dir(ctx context.Context, abs, rel string, rules []ignoreRule, match func(string) bool) {
	if w.cancelled {
		return
	}
	if ctx.Err() != nil {
		w.cancelled = true
		return
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		if w.visited[real] {
			return // a symlink loop, or a folder reached twice
		}
		w.visited[real] = true
	}
	more, err := readIgnoreFiles(abs, rel, w.ignore)
	if err != nil {
		w.fail(abs, fmt.Errorf("ignore file: %w", err))
	}
	if len(more) > 0 {
		rules = append(slices.Clip(rules), more...)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		w.fail(abs, fmt.Errorf("cannot list folder: %w", unwrapPath(err)))
		return
	}
	for _, e := range entries {
		if w.cancelled {
			return
		}
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue // hidden: .git, editor state, the ignore files themselves
		}
		p := filepath.Join(abs, name)
		r := name
		if rel != "" {
			r = rel + "/" + name
		}
		if w.skip[p] {
			continue
		}
		typ := e.Type()
		if typ&fs.ModeSymlink != 0 {
			if !w.opts.FollowSymlinks {
				continue
			}
			info, err := os.Stat(p)
			if err != nil {
				w.fail(p, fmt.Errorf("broken symbolic link: %w", unwrapPath(err)))
				continue
			}
			typ = info.Mode().Type()
		}
		switch {
		case typ.IsDir():
			if ignored(rules, r, true) || matchAny(w.exclude, r) {
				continue
			}
			if e.Type()&fs.ModeSymlink != 0 {
				// os.Root refuses to follow the link from above it.
				w.dirAsRoot(ctx, p, r, rules, match)
				continue
			}
			w.dir(ctx, p, r, rules, match)
		case typ.IsRegular():
			if ignored(rules, r, false) || !w.wanted(r) {
				continue
			}
			if match != nil && !match(p) {
				continue
			}
			w.send(job{source: p, path: p})
		}
	}
}

// dirAsRoot walks a folder reached through a symbolic link, as the asset
// root of what lies under it.
func (w *walker) dirAsRoot(ctx context.Context, abs, rel string, rules []ignoreRule, match func(string) bool) {
	outer := w.root
	w.root = abs
	w.dir(ctx, abs, rel, rules, match)
	w.root = outer
}

// unwrapPath drops the *fs.PathError wrapper, whose path the caller names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
