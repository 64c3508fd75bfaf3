package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"mmrag/internal/home"
)

// DefaultHome is $MMRAG_HOME, or the "mmrag" folder in the user's cache
// folder (os.UserCacheDir) when that is unset.
func DefaultHome() (string, error) { return home.Dir() }

// ModelDir is the cache folder of hub model repoID under home ("" means
// DefaultHome()); the folder need not exist.
func ModelDir(home, repoID string) (string, error) {
	org, name, err := splitID(repoID)
	if err != nil {
		return "", err
	}
	if home == "" {
		if home, err = DefaultHome(); err != nil {
			return "", err
		}
	}
	return filepath.Join(home, "models", org, name), nil
}

// NotCachedError is Resolve's answer for a hub id whose model has not been
// pulled (completely) into the cache. It matches ErrNotCached.
type NotCachedError struct {
	ID  string // hub id
	Dir string // the cache folder the model would be in
}

func (e *NotCachedError) Error() string {
	return fmt.Sprintf("model %q is not in the cache (%s); fetch it with: mmrag models pull %s", e.ID, e.Dir, e.ID)
}

// Is makes errors.Is(err, ErrNotCached) hold.
func (e *NotCachedError) Is(target error) bool { return target == ErrNotCached }

// Resolve turns a model argument into a folder. arg is either a local folder
// (an absolute path, a path starting with ./ or ../, or any existing
// directory), returned as an absolute path, or a hub id org/name, whose
// cache folder under home ("" means DefaultHome()) is returned when a pull
// of it completed. Resolve never touches the network.
func Resolve(home, arg string) (string, error) {
	if arg == "" {
		return "", errors.New("empty model argument: give a model folder or a hub id of the form org/name")
	}
	explicit := filepath.IsAbs(arg) || arg == "." || arg == ".." ||
		strings.HasPrefix(arg, "./") || strings.HasPrefix(arg, "../") ||
		(filepath.Separator == '\\' && (strings.HasPrefix(arg, `.\`) || strings.HasPrefix(arg, `..\`)))
	st, err := os.Stat(arg)
	switch {
	case err == nil && st.IsDir():
		abs, err := filepath.Abs(arg)
		if err != nil {
			return "", fmt.Errorf("model folder %s: %w", arg, err)
		}
		return abs, nil
	case explicit && err != nil:
		return "", fmt.Errorf("model folder %s: %w", arg, err)
	case explicit:
		return "", fmt.Errorf("model folder %s: not a directory", arg)
	}
	if _, _, err := splitID(arg); err != nil {
		return "", fmt.Errorf("model %q: not an existing folder, and %w", arg, err)
	}
	dir, err := ModelDir(home, arg)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", &NotCachedError{ID: arg, Dir: dir}
		}
		return "", fmt.Errorf("model %q: %w", arg, err)
	}
	return dir, nil
}

// List returns the complete models in the cache under home ("" means
// DefaultHome()), sorted by id. Unfinished pulls are left out; an
// unreadable manifest is an error naming it.
func List(home string) ([]Model, error) {
	if home == "" {
		var err error
		if home, err = DefaultHome(); err != nil {
			return nil, err
		}
	}
	root := filepath.Join(home, "models")
	orgs, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	var models []Model
	for _, org := range orgs {
		if !org.IsDir() {
			continue
		}
		names, err := os.ReadDir(filepath.Join(root, org.Name()))
		if err != nil {
			return nil, fmt.Errorf("list models: %w", err)
		}
		for _, name := range names {
			if !name.IsDir() {
				continue
			}
			m, err := readManifest(filepath.Join(root, org.Name(), name.Name()))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			models = append(models, *m)
		}
	}
	sort.Slice(models, func(i, j int) bool { return models[i].ID < models[j].ID })
	return models, nil
}

// Hub ids: an owner and a name made of letters, digits, '-', '_' and '.'.
var idPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)

func splitID(id string) (org, name string, err error) {
	org, name, ok := strings.Cut(id, "/")
	if !ok || !idPart.MatchString(org) || !idPart.MatchString(name) ||
		strings.Contains(id, "..") {
		return "", "", fmt.Errorf("%q is not a hub id of the form org/name", id)
	}
	return org, name, nil
}

// safeRepoPath says whether a repo path from the hub can be written under a
// model folder without escaping it or clobbering the cache's own files.
func safeRepoPath(p string) bool {
	return p != "" && path.Clean(p) == p && filepath.IsLocal(filepath.FromSlash(p)) &&
		!strings.Contains(p, `\`) && p != ManifestName && p != ManifestName+".tmp" &&
		p != partialDir && !strings.HasPrefix(p, partialDir+"/")
}

var (
	hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)
	hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

func readManifest(dir string) (*Model, error) {
	name := filepath.Join(dir, ManifestName)
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w (delete the folder or pull the model again)", name, err)
	}
	if _, _, err := splitID(m.ID); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", name, err)
	}
	for _, f := range m.Files {
		if !safeRepoPath(f.Path) || f.Size < 0 {
			return nil, fmt.Errorf("manifest %s: bad file entry %q", name, f.Path)
		}
	}
	m.Dir = dir
	return &m, nil
}

func writeManifest(dir string, m *Model) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	name := filepath.Join(dir, ManifestName)
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write manifest %s: %w", name, err)
	}
	return nil
}
