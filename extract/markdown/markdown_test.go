package markdown

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"mmrag/extract"
	"mmrag/extract/internal/extracttest"
)

func TestMarkdownBlocks(t *testing.T) {
	tests := []struct {
		name      string
		md        string
		wantTitle string
		want      []extract.Block
		wantMeta  map[string]string
		wantWarn  string
	}{
		{
			name: "front matter, heading path and anchors",
			md: `---
title: "Field Guide"
tags: [birds, "field notes"]
date: 2024-11-19
author:
  name: Ann
draft: false
---
# Birds of Europe

Intro text that
wraps over lines.

## Hello, World! {#hello}

Under hello.

### Deeper *level*

Deep text.

## Hello, World!

Second hello.

# Appendix

End.
`,
			wantTitle: "Field Guide",
			wantMeta:  map[string]string{"title": "Field Guide", "tags": "birds, field notes", "date": "2024-11-19", "author.name": "Ann", "draft": "false"},
			want: []extract.Block{
				extracttest.Blk(extract.Paragraph, "Intro text that wraps over lines.", "Birds of Europe", "birds-of-europe"),
				extracttest.Blk(extract.Paragraph, "Under hello.", "Birds of Europe > Hello, World!", "hello"),
				extracttest.Blk(extract.Paragraph, "Deep text.", "Birds of Europe > Hello, World! > Deeper level", "deeper-level"),
				extracttest.Blk(extract.Paragraph, "Second hello.", "Birds of Europe > Hello, World!", "hello-world"),
				extracttest.Blk(extract.Paragraph, "End.", "Appendix", "appendix"),
			},
		},
		{
			name: "lists, task lists, hard breaks",
			md:   "# T\n\n- one\n- two **bold**\n  - nested `code`\n- three\n\n3. c\n4. d\n\n- [x] done\n- [ ] todo\n\nline one  \nline two\n",
			want: []extract.Block{
				extracttest.Blk(extract.List, "- one\n- two bold\n  - nested code\n- three", "T", "t"),
				extracttest.Blk(extract.List, "3. c\n4. d", "T", "t"),
				extracttest.Blk(extract.List, "- [x] done\n- [ ] todo", "T", "t"),
				extracttest.Blk(extract.Paragraph, "line one\nline two", "T", "t"),
			},
			wantTitle: "T",
		},
		{
			name: "GFM table, code blocks, quote, links",
			md: "## Data\n\n| Item | Cost |\n|------|-----:|\n| Tea  | 2 |\n| *Cof* | 3 |\n\n" +
				"```go\nfunc main() {\n\tprintln(1)\n}\n```\n\n    indented code\n\n" +
				"> quoted *text*\n> goes on\n>\n> - a\n\nSee [the docs](https://x.example) and https://auto.example now.\n",
			wantTitle: "Data",
			want: []extract.Block{
				extracttest.Blk(extract.Table, "Item | Cost\nTea | 2\nCof | 3", "Data", "data"),
				extracttest.Blk(extract.Code, "func main() {\n\tprintln(1)\n}", "Data", "data"),
				extracttest.Blk(extract.Code, "indented code", "Data", "data"),
				extracttest.Blk(extract.Quote, "quoted text goes on\n- a", "Data", "data"),
				extracttest.Blk(extract.Paragraph, "See the docs and https://auto.example now.", "Data", "data"),
			},
		},
		{
			name: "raw HTML blocks follow the HTML rules",
			md:   "# Top\n\n<div class=\"note\">\n<h2 id=\"n\">Note</h2>\n<p>Inside   <b>html</b>.</p>\n</div>\n\nAfter.\n\n<!-- a comment -->\n",
			want: []extract.Block{
				extracttest.Blk(extract.Paragraph, "Inside html.", "Top > Note", "n"),
				extracttest.Blk(extract.Paragraph, "After.", "Top > Note", "n"),
			},
			wantTitle: "Top",
		},
		{
			name:      "no front matter: first heading is the title",
			md:        "Some text.\n\n## Sub\n\n# Main\n",
			wantTitle: "Main",
			want:      []extract.Block{extracttest.Blk(extract.Paragraph, "Some text.", "", "")},
		},
		{
			name:      "invalid front matter is dropped with a warning",
			md:        "---\ntitle: [unclosed\n---\nBody.\n",
			want:      []extract.Block{extracttest.Blk(extract.Paragraph, "Body.", "", "")},
			wantWarn:  "front matter ignored: invalid YAML",
			wantTitle: "",
		},
		{
			name:      "a lone --- is a thematic break, not front matter",
			md:        "---\nJust text.\n",
			want:      []extract.Block{extracttest.Blk(extract.Paragraph, "Just text.", "", "")},
			wantTitle: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Markdown{}.Extract(context.Background(), extract.Source{Path: "t.md", Data: []byte(tt.md)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Type != "markdown" || res.Title != tt.wantTitle {
				t.Errorf("Type %q Title %q, want markdown %q", res.Type, res.Title, tt.wantTitle)
			}
			if !reflect.DeepEqual(res.Blocks, tt.want) {
				t.Errorf("blocks:\n got %s\nwant %s", extracttest.DumpBlocks(res.Blocks), extracttest.DumpBlocks(tt.want))
			}
			for k, v := range tt.wantMeta {
				if res.Meta[k] != v {
					t.Errorf("Meta[%q] = %q, want %q (all %v)", k, res.Meta[k], v, res.Meta)
				}
			}
			gotWarn := strings.Join(res.Warnings, "; ")
			if (tt.wantWarn == "") != (gotWarn == "") || !strings.Contains(gotWarn, tt.wantWarn) {
				t.Errorf("warnings %q, want %q", gotWarn, tt.wantWarn)
			}
		})
	}
}

func TestMarkdownImages(t *testing.T) {
	dir := t.TempDir()
	docs := filepath.Join(dir, "docs")
	pngA := extracttest.PNG(t, 12, 9, 1)
	pngB := extracttest.PNG(t, 6, 5, 2)
	extracttest.WriteFile(t, filepath.Join(docs, "img", "a.png"), pngA)
	extracttest.WriteFile(t, filepath.Join(dir, "shared", "b.png"), pngB)
	md := "# Gallery\n\nIntro paragraph.\n\n" +
		"![A chart](img/a.png \"Sales by month\")\n\n" +
		"Here is ![inline](../shared/b.png) in a sentence.\n\n" +
		"![missing](img/none.png)\n\n" +
		"![remote](https://example.com/r.png)\n\n" +
		"<img src=\"data:image/png;base64," + base64.StdEncoding.EncodeToString(pngB) + "\" alt=\"raw\" title=\"Raw caption\">\n\n" +
		"Text with <img src=\"img/a.png\" alt=\"inline raw\"> tag.\n\n" +
		"- item ![in list](img/a.png)\n"
	res, err := Markdown{}.Extract(context.Background(), extract.Source{Path: filepath.Join(docs, "g.md"), Data: []byte(md), Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		data                []byte
		alt, caption        string
		contextHas          string
		wantWidth, wantHigh int
	}
	wants := []want{
		{pngA, "A chart", "Sales by month", "Intro paragraph.", 12, 9},
		{pngB, "inline", "Here is in a sentence.", "Here is in a sentence.", 6, 5},
		{pngB, "raw", "Raw caption", "", 6, 5},
		{pngA, "inline raw", "Text with tag.", "Text with tag.", 12, 9},
		{pngA, "in list", "", "- item", 12, 9},
	}
	if len(res.Images) != len(wants) {
		t.Fatalf("got %d images, want %d; warnings %q", len(res.Images), len(wants), res.Warnings)
	}
	for i, w := range wants {
		got := res.Images[i]
		if !bytes.Equal(got.Data, w.data) || got.Alt != w.alt || got.Caption != w.caption {
			t.Errorf("image %d: alt %q caption %q (bytes equal %v), want %q %q", i, got.Alt, got.Caption, bytes.Equal(got.Data, w.data), w.alt, w.caption)
		}
		if got.Width != w.wantWidth || got.Height != w.wantHigh || got.MIME != "image/png" {
			t.Errorf("image %d: %dx%d %s", i, got.Width, got.Height, got.MIME)
		}
		if !reflect.DeepEqual(got.Section, []string{"Gallery"}) || got.Anchor != "gallery" {
			t.Errorf("image %d: place %q #%s", i, got.Section, got.Anchor)
		}
		if !strings.Contains(got.Context, w.contextHas) {
			t.Errorf("image %d: context %q lacks %q", i, got.Context, w.contextHas)
		}
	}
	if len(res.Warnings) != 2 ||
		!strings.Contains(res.Warnings[0], `"img/none.png" skipped`) ||
		!strings.Contains(res.Warnings[1], `"https://example.com/r.png" skipped: remote image`) {
		t.Errorf("warnings %q", res.Warnings)
	}
	// An image-only paragraph adds no text block.
	for _, b := range res.Blocks {
		if b.Text == "" || strings.Contains(b.Text, "A chart") {
			t.Errorf("unexpected block %q", b.Text)
		}
	}
}

func TestMarkdownInputs(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte
		wantErr  string
		want     string
		wantWarn string
	}{
		{name: "binary", data: []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), wantErr: "x.md: not Markdown: binary content"},
		{name: "empty", data: nil, wantWarn: "empty document"},
		{name: "front matter only", data: []byte("---\ntitle: x\n---\n"), wantWarn: "empty document"},
		{name: "latin-1", data: []byte("Caf\xe9."), want: "Café.", wantWarn: "Windows-1252"},
		{name: "UTF-16BE with BOM", data: []byte{0xfe, 0xff, 0, 'h', 0, 'i'}, want: "hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Markdown{}.Extract(context.Background(), extract.Source{Path: "x.md", Data: tt.data})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			for _, b := range res.Blocks {
				texts = append(texts, b.Text)
			}
			if (tt.want == "" && len(texts) != 0) || (tt.want != "" && (len(texts) != 1 || texts[0] != tt.want)) {
				t.Errorf("blocks %q, want %q", texts, tt.want)
			}
			gotWarn := strings.Join(res.Warnings, "; ")
			if (tt.wantWarn == "") != (gotWarn == "") || !strings.Contains(gotWarn, tt.wantWarn) {
				t.Errorf("warnings %q, want %q", gotWarn, tt.wantWarn)
			}
		})
	}
}

func FuzzMarkdown(f *testing.F) {
	f.Add([]byte("---\ntitle: t\n---\n# H {#x}\n\n- a\n  - b\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode\n```\n"))
	f.Add([]byte("![x](data:image/png;base64,AAAA \"t\")\n\n<img srcset=\", 2x\">\n\n> q\n"))
	f.Add([]byte("---\n---\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Markdown{}.Extract(context.Background(), extract.Source{Path: filepath.Join(dir, "f.md"), Data: data})
		if err != nil {
			return
		}
		for _, b := range res.Blocks {
			if !utf8.ValidString(b.Text) || b.Text == "" {
				t.Fatalf("bad block text %q", b.Text)
			}
		}
	})
}
