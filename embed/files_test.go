package embed_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"

	"mmrag/embed"
	"mmrag/hub"
	"mmrag/hub/hubtest"
)

func TestCLIPFiles(t *testing.T) {
	for _, k := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "MMRAG_HOME"} {
		t.Setenv(k, "")
	}
	const id = "acme/clip-tiny"
	for _, tc := range []struct {
		name      string
		quantized bool
		drop      []string
		want      string // "" = success
	}{
		{"complete", false, nil, ""},
		{"quantized", true, nil, ""},
		{"no vision graph", false, []string{"onnx/vision_model.onnx"}, "missing onnx/vision_model.onnx"},
		{"no quantized text graph", true, []string{"onnx/text_model_quantized.onnx"}, "missing onnx/text_model_quantized.onnx"},
		{"no configs", false, []string{"config.json", "preprocessor_config.json"}, "missing config.json, preprocessor_config.json"},
		{"no tokenizer at all", false, []string{"tokenizer.json", "merges.txt"}, "missing tokenizer.json (or vocab.json with merges.txt)"},
		{"bpe files instead of tokenizer.json", false, []string{"tokenizer.json", "special_tokens_map.json"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fh := hubtest.New(t)
			files := hubtest.CLIPRepo(14)
			for _, p := range tc.drop {
				delete(files, p)
			}
			repo := fh.AddRepo(id, files)
			c := &hub.Client{Endpoint: fh.URL(), Home: t.TempDir()}
			m, err := c.Pull(context.Background(), id, "", embed.CLIPFiles(tc.quantized))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "not a usable CLIP model") {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
				if n := len(fh.Hits("", hubtest.File)); n != 0 {
					t.Errorf("%d files downloaded before the requirement check", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := slices.DeleteFunc(embed.CLIPFiles(tc.quantized).Patterns, func(p string) bool { return slices.Contains(tc.drop, p) })
			sort.Strings(want)
			var got []string
			for _, f := range m.Files {
				got = append(got, f.Path)
			}
			if !slices.Equal(got, want) || m.Commit != repo.Commit {
				t.Errorf("pulled %q at %s, want %q at %s", got, m.Commit, want, repo.Commit)
			}
		})
	}
}
