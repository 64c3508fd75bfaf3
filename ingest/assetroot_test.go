package ingest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mmrag"
)

// TestAssetRoot: a page ingested from a folder reads the images under the
// folder named on the command line and nothing outside it — not by "..",
// an absolute path, a file: URL or a symbolic link — unless AssetRoot
// widens it; each refused reference is a warning, never stored.
func TestAssetRoot(t *testing.T) {
	tmp := t.TempDir()
	site := filepath.Join(tmp, "site")
	okPNG, secretPNG := pngBytes(t, 1, 20, 10), pngBytes(t, 9, 24, 24)
	secret := filepath.Join(tmp, "secret.png")
	page := `<html><body><h1>Page</h1><p>Some text about the figures.</p>
<img src="../images/ok.png" alt="inside">
<img src="../../secret.png" alt="dotdot">
<img src="` + filepath.ToSlash(secret) + `" alt="absolute">
<img src="file://` + filepath.ToSlash(secret) + `" alt="file URL">
<img src="link.png" alt="symlink">
</body></html>`
	writeFiles(t, tmp, map[string]string{
		"secret.png":           string(secretPNG),
		"site/images/ok.png":   string(okPNG),
		"site/pages/page.html": page,
	})
	if err := os.Symlink(filepath.Join("..", "..", "secret.png"), filepath.Join(site, "pages", "link.png")); err != nil {
		t.Skipf("symbolic links unavailable: %v", err)
	}
	pagePath := filepath.Join(site, "pages", "page.html")
	tests := []struct {
		name      string
		target    string
		assetRoot string
		want      []string // srcs of the stored images
		refused   []string // references each named in a warning
	}{
		{name: "folder target: its files only", target: site,
			want: []string{"../images/ok.png"}, refused: []string{"../../secret.png", filepath.ToSlash(secret), "file://", "link.png"}},
		{name: "file target: its own folder only", target: pagePath,
			refused: []string{"../images/ok.png", "../../secret.png", "link.png"}},
		{name: "AssetRoot widens, file: URLs still refused", target: site, assetRoot: tmp,
			want: []string{"../images/ok.png", "../../secret.png", filepath.ToSlash(secret), "link.png"}, refused: []string{"file://"}},
		{name: "AssetRoot not holding the target is ignored", target: site, assetRoot: filepath.Join(site, "images"),
			want: []string{"../images/ok.png"}, refused: []string{"../../secret.png", "outside the asset root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(t, newFake())
			log := &eventLog{}
			p.Progress = log.add
			rep, err := p.Add(t.Context(), []string{tt.target}, WalkOptions{AssetRoot: tt.assetRoot})
			if err != nil || rep.Added == 0 || rep.Failed != 0 {
				t.Fatalf("%v %+v", err, rep)
			}
			var srcs []string
			items, err := p.Store.Items(t.Context(), DocID(pagePath))
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if it.Modality == mmrag.Image {
					srcs = append(srcs, it.Meta[mmrag.MetaSrc])
					if tt.assetRoot == "" && it.BlobHash == sha256Hex(secretPNG) {
						t.Errorf("the file outside the folder was stored (item %q)", it.Meta[mmrag.MetaSrc])
					}
				}
			}
			if !slices.Equal(srcs, tt.want) {
				t.Errorf("images stored %q, want %q", srcs, tt.want)
			}
			var warns []string
			for _, e := range log.of(Warning) {
				warns = append(warns, e.Message)
			}
			all := strings.Join(warns, "\n")
			for _, ref := range tt.refused {
				if !strings.Contains(all, ref) {
					t.Errorf("no warning names %q: %q", ref, warns)
				}
			}
			if rep.Warnings != len(warns) || (len(tt.refused) > 0) != (rep.Warnings > 0) {
				t.Errorf("report counts %d warnings, %d events", rep.Warnings, len(warns))
			}
		})
	}
}

func TestAssetRootBad(t *testing.T) {
	p := newPipeline(t, newFake())
	file := filepath.Join(t.TempDir(), "f.md")
	writeFiles(t, filepath.Dir(file), map[string]string{"f.md": "# x"})
	for _, root := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		if _, err := p.Add(t.Context(), []string{file}, WalkOptions{AssetRoot: root}); err == nil || !strings.Contains(err.Error(), "asset root") {
			t.Errorf("asset root %s: %v, want an error", root, err)
		}
	}
}
