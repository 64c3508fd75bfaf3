package markup_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mmrag/extract"
	"mmrag/extract/html"
	"mmrag/extract/internal/extracttest"
	"mmrag/extract/markdown"
	"mmrag/extract/markup"
)

// assetSite lays out a site in a temp folder, with a secret beside it:
//
//	tmp/secret.png               outside every root
//	tmp/outside/secret.png       outside, reached through a folder link
//	tmp/site/images/ok.png       inside the site
//	tmp/site/pages/index.html    the document (not written: tests pass Data)
//	tmp/site/pages/local.png     beside the document
//	tmp/site/pages/link.png      → tmp/secret.png
//	tmp/site/pages/dirlink       → tmp/outside
//	tmp/site/pages/loop1.png     → loop2.png → loop1.png
type assetSite struct {
	tmp, site, pages, secret   string
	okPNG, localPNG, secretPNG []byte
}

func newAssetSite(t *testing.T) assetSite {
	t.Helper()
	tmp := t.TempDir()
	s := assetSite{
		tmp:       tmp,
		site:      filepath.Join(tmp, "site"),
		pages:     filepath.Join(tmp, "site", "pages"),
		secret:    filepath.Join(tmp, "secret.png"),
		okPNG:     extracttest.PNG(t, 30, 20, 1),
		localPNG:  extracttest.PNG(t, 16, 12, 2),
		secretPNG: extracttest.PNG(t, 24, 24, 9),
	}
	extracttest.WriteFile(t, s.secret, s.secretPNG)
	extracttest.WriteFile(t, filepath.Join(tmp, "outside", "secret.png"), s.secretPNG)
	extracttest.WriteFile(t, filepath.Join(s.site, "images", "ok.png"), s.okPNG)
	extracttest.WriteFile(t, filepath.Join(s.pages, "local.png"), s.localPNG)
	for link, target := range map[string]string{
		"link.png":  s.secret,
		"dirlink":   filepath.Join(tmp, "outside"),
		"loop1.png": "loop2.png",
		"loop2.png": "loop1.png",
	} {
		if err := os.Symlink(target, filepath.Join(s.pages, link)); err != nil {
			t.Skipf("symbolic links unavailable: %v", err)
		}
	}
	return s
}

// TestMarkupAssetRoot: a hostile page cannot make the extractors read files
// outside the folder it may read from (Source.Root, else its own folder),
// and each refused reference is a warning, never a failure.
func TestMarkupAssetRoot(t *testing.T) {
	s := newAssetSite(t)
	deep := strings.Repeat("../", 30) + strings.TrimPrefix(filepath.ToSlash(s.secret), "/")
	const outsideWarn = "refused: outside "
	tests := []struct {
		name     string
		md       bool   // Markdown instead of HTML
		doc      string // the page's text
		root     string // Source.Root; "" = the page's own folder
		want     []byte // the one image expected, nil for none
		warnings []string
	}{
		{name: "../ traversal out of the page's folder",
			doc: `<p>x</p><img src="../images/ok.png">`, warnings: []string{`"../images/ok.png" ` + outsideWarn + s.pages, "--asset-root"}},
		{name: "../ inside a wider root works",
			doc: `<p>x</p><img src="../images/ok.png">`, root: s.site, want: s.okPNG},
		{name: "a reference beside the page works",
			doc: `<p>x</p><img src="local.png">`, want: s.localPNG},
		{name: "deep ../../../ escape",
			doc: `<p>x</p><img src="` + deep + `">`, root: s.site, warnings: []string{outsideWarn + s.site}},
		{name: "absolute path outside",
			doc: `<p>x</p><img src="` + filepath.ToSlash(s.secret) + `">`, root: s.site, warnings: []string{outsideWarn + s.site}},
		{name: "absolute path inside the root works",
			doc: `<p>x</p><img src="` + filepath.ToSlash(filepath.Join(s.site, "images", "ok.png")) + `">`, root: s.site, want: s.okPNG},
		{name: "file:// URL",
			doc: `<p>x</p><img src="file://` + filepath.ToSlash(s.secret) + `">`, root: s.tmp, warnings: []string{"refused: file: URLs are never read"}},
		{name: "symbolic link to a file outside",
			doc: `<p>x</p><img src="link.png">`, root: s.site, warnings: []string{`"link.png" refused: a symbolic link on the way is absolute or leads outside ` + s.site}},
		{name: "symbolic link to a folder outside",
			doc: `<p>x</p><img src="dirlink/secret.png">`, root: s.site, warnings: []string{`"dirlink/secret.png" refused: a symbolic link on the way is absolute or leads outside`}},
		{name: "symbolic link loop",
			doc: `<p>x</p><img src="loop1.png">`, root: s.site, warnings: []string{`"loop1.png" skipped`}},
		{name: "<base href> climbing out",
			doc: `<head><base href="../../"></head><body><p>x</p><img src="secret.png"></body>`, root: s.site, warnings: []string{`"secret.png" ` + outsideWarn}},
		{name: "srcset candidate escaping, src inside kept",
			doc: `<p>x</p><img srcset="../../secret.png 2x" src="../images/ok.png">`, root: s.site, want: s.okPNG,
			warnings: []string{`"../../secret.png" ` + outsideWarn}},
		{name: "Markdown image escaping",
			md: true, doc: "x\n\n![s](../../secret.png)\n", root: s.site, warnings: []string{`"../../secret.png" ` + outsideWarn}},
		{name: "Markdown raw <img> escaping",
			md: true, doc: "x <img src=\"../../secret.png\">\n", root: s.site, warnings: []string{`"../../secret.png" ` + outsideWarn}},
		{name: "Markdown image inside the root works",
			md: true, doc: "x\n\n![ok](../images/ok.png)\n", root: s.site, want: s.okPNG},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ex extract.Extractor = html.HTML{}
			path := filepath.Join(s.pages, "index.html")
			if tt.md {
				ex, path = markdown.Markdown{}, filepath.Join(s.pages, "index.md")
			}
			res, err := ex.Extract(context.Background(), extract.Source{Path: path, Data: []byte(tt.doc), Root: tt.root})
			if err != nil {
				t.Fatalf("a bad reference failed the document: %v", err)
			}
			for _, img := range res.Images {
				if bytes.Equal(img.Data, s.secretPNG) {
					t.Fatalf("read the file outside the root through %q", img.Src)
				}
			}
			switch {
			case tt.want == nil && len(res.Images) != 0:
				t.Errorf("%d images, want none; warnings %q", len(res.Images), res.Warnings)
			case tt.want != nil && (len(res.Images) != 1 || !bytes.Equal(res.Images[0].Data, tt.want)):
				t.Errorf("%d images, want the one inside the root; warnings %q", len(res.Images), res.Warnings)
			}
			all := strings.Join(res.Warnings, "\n")
			for _, w := range tt.warnings {
				if !strings.Contains(all, w) {
					t.Errorf("warnings %q lack %q", res.Warnings, w)
				}
			}
			if len(tt.warnings) == 0 && len(res.Warnings) != 0 {
				t.Errorf("unexpected warnings %q", res.Warnings)
			}
		})
	}
}

// TestHTMLDeepNesting: a page nested deeper than the HTML parser's 512
// levels is indexed as far as it can be, with a warning, not rejected.
func TestHTMLDeepNesting(t *testing.T) {
	const depth = 5000
	page := "<html><body><p>Top text before the nesting.</p>" +
		strings.Repeat("<div>", depth) + "<p>Deep text at the bottom.</p>" + strings.Repeat("</div>", depth) +
		"<p>Bottom text after the nesting.</p></body></html>"
	res, err := html.HTML{}.Extract(context.Background(), extract.Source{Path: "deep.html", Data: []byte(page)})
	if err != nil {
		t.Fatalf("deep page rejected: %v", err)
	}
	text := extracttest.DumpBlocks(res.Blocks)
	for _, want := range []string{"Top text before the nesting.", "Deep text at the bottom.", "Bottom text after the nesting."} {
		if !strings.Contains(text, want) {
			t.Errorf("%q not indexed; blocks:\n%s", want, text)
		}
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "nesting") {
		t.Errorf("no warning about the nesting cut: %q", res.Warnings)
	}
}

// TestMarkdownDeepNesting: the same for raw HTML inside Markdown.
func TestMarkdownDeepNesting(t *testing.T) {
	md := "# Top\n\nTop text.\n\n" + strings.Repeat("<div>", 3000) + "Deep text." + strings.Repeat("</div>", 3000) + "\n"
	res, err := markdown.Markdown{}.Extract(context.Background(), extract.Source{Path: "deep.md", Data: []byte(md)})
	if err != nil {
		t.Fatal(err)
	}
	text := extracttest.DumpBlocks(res.Blocks)
	if !strings.Contains(text, "Top text.") || !strings.Contains(text, "Deep text.") {
		t.Errorf("text lost; blocks:\n%s\nwarnings %q", text, res.Warnings)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "nesting") {
		t.Errorf("no warning about the nesting cut: %q", res.Warnings)
	}
}

// TestHTMLParseDeepFallback: when even the flattened page is too deep for
// the parser, the page's text is parsed alone.
func TestHTMLParseDeepFallback(t *testing.T) {
	var parsed []string
	tooDeep := func(r io.Reader) (string, error) {
		b, _ := io.ReadAll(r)
		parsed = append(parsed, string(b))
		if strings.Contains(string(b), "<div") {
			return "", errors.New("html: open stack of elements exceeds 512 nodes")
		}
		return string(b), nil
	}
	got, warn, err := markup.ParseDeep(`<div><p>a &amp; b</p><script>x()</script></div>`, tooDeep)
	if err != nil || len(parsed) != 3 || !strings.Contains(warn, "plain text") {
		t.Fatalf("err %v, %d parses, warning %q", err, len(parsed), warn)
	}
	if !strings.Contains(got, "a &amp; b") || strings.Contains(got, "x()") {
		t.Errorf("plain text %q", got)
	}
}
