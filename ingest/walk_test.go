package ingest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// walkTree is the folder the walk rules are tried on.
var walkTree = map[string]string{
	"a.md":                 "a",
	"b.txt":                "b",
	"notes/c.md":           "c",
	"notes/keep.txt":       "k",
	"notes/e.txt":          "e",
	"notes/drafts/d.md":    "d",
	"notes/deep/x/y/z.md":  "z",
	"build/h.md":           "h",
	"kb/mmrag.db":          "store",
	".hidden/f.md":         "f",
	".g.md":                "g",
	"notes/.mmragignore":   "*.txt\n!keep.txt\n",
	".mmragignore":         "# comment\nbuild/\n/top-only.md\n",
	"sub/top-only.md":      "not anchored here",
	"top-only.md":          "anchored",
	".gitignore":           "notes/deep/\n",
	"notes/drafts/.keepme": "hidden",
}

// walkFiles lists the files walking dir with opts would ingest, relative to
// dir, sorted.
func walkFiles(t *testing.T, dir string, targets []string, opts WalkOptions) ([]string, []string) {
	t.Helper()
	w, err := newWalker(opts)
	if err != nil {
		t.Fatal(err)
	}
	var got, failed []string
	w.emit = func(j job) bool {
		rel, _ := filepath.Rel(dir, j.source)
		got = append(got, filepath.ToSlash(rel))
		return true
	}
	w.fail = func(source string, err error) { failed = append(failed, source+": "+err.Error()) }
	for _, tg := range targets {
		w.target(context.Background(), tg)
	}
	slices.Sort(got)
	return got, failed
}

func TestWalkRules(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, walkTree)
	all := []string{"a.md", "b.txt", "kb/mmrag.db", "notes/c.md", "notes/deep/x/y/z.md", "notes/drafts/d.md", "notes/keep.txt", "sub/top-only.md"}
	tests := []struct {
		name string
		opts WalkOptions
		want []string
	}{
		{"defaults: hidden, .mmragignore", WalkOptions{}, all},
		{"store folder skipped", WalkOptions{Skip: []string{filepath.Join(dir, "kb")}},
			[]string{"a.md", "b.txt", "notes/c.md", "notes/deep/x/y/z.md", "notes/drafts/d.md", "notes/keep.txt", "sub/top-only.md"}},
		{"include by base name", WalkOptions{Include: []string{"*.md"}},
			[]string{"a.md", "notes/c.md", "notes/deep/x/y/z.md", "notes/drafts/d.md", "sub/top-only.md"}},
		{"include anchored with **", WalkOptions{Include: []string{"notes/**/*.md"}},
			[]string{"notes/c.md", "notes/deep/x/y/z.md", "notes/drafts/d.md"}},
		{"include anchored, one level", WalkOptions{Include: []string{"notes/*.md"}}, []string{"notes/c.md"}},
		{"exclude folder by name", WalkOptions{Exclude: []string{"drafts", "deep"}},
			[]string{"a.md", "b.txt", "kb/mmrag.db", "notes/c.md", "notes/keep.txt", "sub/top-only.md"}},
		{"exclude anchored", WalkOptions{Exclude: []string{"/notes/**"}},
			[]string{"a.md", "b.txt", "kb/mmrag.db", "sub/top-only.md"}},
		{"include and exclude", WalkOptions{Include: []string{"*.md"}, Exclude: []string{"notes/drafts"}},
			[]string{"a.md", "notes/c.md", "notes/deep/x/y/z.md", "sub/top-only.md"}},
		{"no ignore files", WalkOptions{IgnoreFiles: []string{}},
			[]string{"a.md", "b.txt", "build/h.md", "kb/mmrag.db", "notes/c.md", "notes/deep/x/y/z.md", "notes/drafts/d.md", "notes/e.txt", "notes/keep.txt", "sub/top-only.md", "top-only.md"}},
		{"with .gitignore", WalkOptions{IgnoreFiles: []string{".mmragignore", ".gitignore"}},
			[]string{"a.md", "b.txt", "kb/mmrag.db", "notes/c.md", "notes/drafts/d.md", "notes/keep.txt", "sub/top-only.md"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, failed := walkFiles(t, dir, []string{dir}, tc.opts)
			if len(failed) > 0 {
				t.Errorf("failures: %v", failed)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestWalkTargets(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, walkTree)
	tests := []struct {
		name    string
		targets []string
		opts    WalkOptions
		want    []string
		fails   int
	}{
		{"hidden file named directly", []string{filepath.Join(dir, ".g.md")}, WalkOptions{}, []string{".g.md"}, 0},
		{"ignored file named directly", []string{filepath.Join(dir, "build", "h.md")}, WalkOptions{}, []string{"build/h.md"}, 0},
		{"excluded file named directly", []string{filepath.Join(dir, "a.md")}, WalkOptions{Exclude: []string{"a.*"}}, nil, 0},
		{"file twice", []string{filepath.Join(dir, "a.md"), dir + "/./a.md"}, WalkOptions{}, []string{"a.md"}, 0},
		{"glob", []string{filepath.Join(dir, "notes", "**", "*.md")}, WalkOptions{}, []string{"notes/c.md", "notes/deep/x/y/z.md", "notes/drafts/d.md"}, 0},
		{"glob one level", []string{filepath.Join(dir, "*", "*.md")}, WalkOptions{}, []string{"notes/c.md", "sub/top-only.md"}, 0},
		{"glob with no match", []string{filepath.Join(dir, "*.xyz")}, WalkOptions{}, nil, 1},
		{"missing", []string{filepath.Join(dir, "nope.md")}, WalkOptions{}, nil, 1},
		{"bad pattern", []string{filepath.Join(dir, "[.md")}, WalkOptions{}, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, failed := walkFiles(t, dir, tc.targets, tc.opts)
			if len(failed) != tc.fails {
				t.Errorf("failures %v, want %d", failed, tc.fails)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestWalkSymlinks(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"real/a.md": "a", "other/b.md": "b"})
	for _, l := range [][2]string{
		{filepath.Join(dir, "other"), filepath.Join(dir, "real", "link")}, // folder link
		{filepath.Join(dir, "real"), filepath.Join(dir, "real", "loop")},  // loop
		{filepath.Join(dir, "nowhere"), filepath.Join(dir, "real", "broken.md")},
	} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Skipf("symlinks: %v", err)
		}
	}
	root := filepath.Join(dir, "real")
	got, failed := walkFiles(t, dir, []string{root}, WalkOptions{})
	if !slices.Equal(got, []string{"real/a.md"}) || len(failed) != 0 {
		t.Errorf("not following: %v %v", got, failed)
	}
	got, failed = walkFiles(t, dir, []string{root}, WalkOptions{FollowSymlinks: true})
	if !slices.Equal(got, []string{"real/a.md", "real/link/b.md"}) {
		t.Errorf("following: %v", got)
	}
	if len(failed) != 1 || !strings.Contains(failed[0], "broken") {
		t.Errorf("broken link: %v", failed)
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*.md", "a.md", true},
		{"*.md", "a/b.md", false},
		{"**/*.md", "a.md", true},
		{"**/*.md", "a/b/c.md", true},
		{"a/**", "a/b/c", true},
		{"a/**", "b/c", false},
		{"a/**/c", "a/c", true},
		{"a/**/c", "a/x/y/c", true},
		{"a/**/c", "a/x/y/d", false},
		{"**", "anything/at/all", true},
		{"a/*/c", "a/b/c", true},
		{"a/*/c", "a/b/b/c", false},
		{"[ab].txt", "b.txt", true},
		{"?.txt", "ab.txt", false},
	}
	for _, tc := range tests {
		got, err := matchGlob(tc.pattern, tc.name)
		if err != nil || got != tc.want {
			t.Errorf("matchGlob(%q, %q) = %v, %v; want %v", tc.pattern, tc.name, got, err, tc.want)
		}
	}
}

func TestIgnoreRules(t *testing.T) {
	rules, err := parseIgnore([]byte("# c\n\n*.log\n!keep.log\nbuild/\n/root.txt\ndocs/*.tmp\n\\#hash\nspace\\ \n"), "")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := parseIgnore([]byte("*.md\n"), "sub")
	if err != nil {
		t.Fatal(err)
	}
	rules = append(rules, sub...)
	tests := []struct {
		path string
		dir  bool
		want bool
	}{
		{"x.log", false, true},
		{"a/b/x.log", false, true},
		{"keep.log", false, false},
		{"build", true, true},
		{"build", false, false}, // a file named build
		{"a/build", true, true},
		{"root.txt", false, true},
		{"a/root.txt", false, false},
		{"docs/x.tmp", false, true},
		{"a/docs/x.tmp", false, false},
		{"#hash", false, true},
		{"space ", false, true},
		{"sub/a.md", false, true},
		{"a.md", false, false},
	}
	for _, tc := range tests {
		if got := ignored(rules, tc.path, tc.dir); got != tc.want {
			t.Errorf("ignored(%q, dir=%v) = %v, want %v", tc.path, tc.dir, got, tc.want)
		}
	}
	if _, err := parseIgnore([]byte("ok\n[bad\n"), ""); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad pattern: %v", err)
	}
}
