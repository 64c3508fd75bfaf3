package imageprep

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clipB16 is openai/clip-vit-base-patch16's preprocessor_config.json.
const clipB16 = `{
  "crop_size": 224,
  "do_center_crop": true,
  "do_normalize": true,
  "do_resize": true,
  "feature_extractor_type": "CLIPFeatureExtractor",
  "image_mean": [0.48145466, 0.4578275, 0.40821073],
  "image_std": [0.26862954, 0.26130258, 0.27577711],
  "resample": 3,
  "size": 224
}`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "preprocessor_config.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		body string
		want func(*Config)
	}{
		{"clip-vit-base-patch16", clipB16, func(c *Config) {}},
		{"new-style dicts", `{"size": {"shortest_edge": 336}, "crop_size": {"height": 336, "width": 336}, "image_processor_type": "CLIPImageProcessor", "do_convert_rgb": true}`,
			func(c *Config) { c.ResizeTo.ShortestEdge, c.CropHeight, c.CropWidth = 336, 336, 336 }},
		{"empty object keeps defaults", `{}`, func(c *Config) {}},
		{"fixed size, no crop, bilinear", `{"size": {"height": 384, "width": 256}, "do_center_crop": false, "resample": 2}`,
			func(c *Config) {
				c.ResizeTo = Size{Height: 384, Width: 256}
				c.DoCenterCrop, c.Resample = false, Bilinear
			}},
		{"list size and scalar mean/std", `{"size": [300, 200], "crop_size": [100, 50], "image_mean": 0.5, "image_std": 0.25}`,
			func(c *Config) {
				c.ResizeTo = Size{Height: 300, Width: 200}
				c.CropHeight, c.CropWidth = 100, 50
				c.Mean, c.Std = [3]float64{0.5, 0.5, 0.5}, [3]float64{0.25, 0.25, 0.25}
			}},
		{"nulls mean default", `{"size": null, "image_mean": null, "do_resize": null}`, func(c *Config) {}},
		{"switches off", `{"do_resize": false, "do_rescale": false, "do_normalize": false, "do_center_crop": false, "rescale_factor": 0.5, "resample": 99}`,
			func(c *Config) {
				c.DoResize, c.DoRescale, c.DoNormalize, c.DoCenterCrop = false, false, false, false
				c.RescaleFactor, c.Resample = 0.5, 99
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(writeConfig(t, tt.body))
			if err != nil {
				t.Fatal(err)
			}
			want := DefaultCLIP()
			tt.want(&want)
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct{ name, body, mention string }{
		{"not json", `{"size": 224,`, "JSON"},
		{"not an object", `[1, 2, 3]`, "JSON object"},
		{"size zero", `{"size": 0}`, "size.shortest_edge = 0"},
		{"negative crop", `{"crop_size": {"height": -5, "width": 224}}`, "crop_size.height = -5"},
		{"short mean", `{"image_mean": [0.5, 0.5]}`, `"image_mean": want 3 values`},
		{"zero std", `{"image_std": [0.2, 0, 0.2]}`, "image_std[1] = 0"},
		{"string size", `{"size": "big"}`, `"size"`},
		{"size without keys", `{"size": {"longest": 3}}`, `"size"`},
		{"shortest and longest", `{"size": {"shortest_edge": 224, "longest_edge": 1000}}`, "longest_edge"},
		{"nearest", `{"resample": 0}`, "resample = 0 (nearest)"},
		{"bad rescale", `{"rescale_factor": -1}`, "rescale_factor"},
		{"bad bool", `{"do_resize": "yes"}`, `"do_resize"`},
		{"huge size", `{"size": 100000}`, "size.shortest_edge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, tt.body)
			_, err := LoadConfig(p)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q should name %s and mention %q", err, p, tt.mention)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "nope.json")
	if _, err := LoadConfig(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
}

func TestConfigSize(t *testing.T) {
	c := DefaultCLIP()
	if h, w := c.Size(); h != 224 || w != 224 {
		t.Errorf("default Size = %d×%d", h, w)
	}
	c.DoCenterCrop = false
	if h, w := c.Size(); h != 0 || w != 0 {
		t.Errorf("shortest edge without crop: Size = %d×%d, want 0×0", h, w)
	}
	if h, w := c.OutputSize(1920, 1080); h != 224 || w != 398 {
		t.Errorf("OutputSize = %d×%d", h, w)
	}
	c.ResizeTo = Size{Height: 10, Width: 20}
	if h, w := c.Size(); h != 10 || w != 20 {
		t.Errorf("fixed size: Size = %d×%d", h, w)
	}
}
