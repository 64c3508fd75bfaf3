package imageprep

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"math"
	"mmrag/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// pillowScript writes derived files with Pillow's own encoders (libjpeg,
// libwebp, GIF quantiser, Adobe CMYK JPEG, EXIF orientation) from the PNG
// sources the test drew, then for every case records what the Python side
// of the pipeline sees: exif_transpose + convert("RGB") pixels, and the
// CLIPImageProcessor output computed with Pillow + numpy exactly as
// transformers' image_transforms does (resize via PIL, floor-division
// centre crop, float64 rescale cast to float32, float32 normalise).
const pillowScript = `
import json, os, sys
import numpy as np
from PIL import Image, ImageOps

d = sys.argv[1]
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)

def clip(img):
    w, h = img.size
    s = 224
    short, long = (w, h) if w <= h else (h, w)
    nl = int(s * long / short)
    ow, oh = (s, nl) if w <= h else (nl, s)
    arr = np.array(Image.fromarray(np.array(img)).resize((ow, oh), resample=3))
    top, left = (oh - 224) // 2, (ow - 224) // 2
    arr = arr[top:top + 224, left:left + 224]
    x = (arr.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))

for f in sorted(os.listdir(d)):
    if not f.startswith("src_"):
        continue
    base = f[4:-4]
    rgb = Image.open(os.path.join(d, f)).convert("RGB")
    small = rgb.width * rgb.height <= 400 * 400
    rgb.save(f"{d}/case_{base}.jpg", quality=90)
    rgb.save(f"{d}/case_{base}.webp", quality=80)
    if not small:
        continue
    rgb.save(f"{d}/case_{base}.png")
    rgb.save(f"{d}/case_{base}_444.jpg", quality=90, subsampling=0)
    rgb.save(f"{d}/case_{base}_422.jpg", quality=90, subsampling=1)
    rgb.save(f"{d}/case_{base}_lossless.webp", lossless=True)
    rgb.convert("CMYK").save(f"{d}/case_{base}_cmyk.jpg", quality=95)
    rgb.convert("L").save(f"{d}/case_{base}_gray.jpg", quality=90)
    rgb.quantize(64).save(f"{d}/case_{base}_pal.png")
    q = rgb.quantize(32)
    q.info["transparency"] = 3
    q.save(f"{d}/case_{base}_trns.gif", transparency=3)
    rgba = rgb.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    rgba.save(f"{d}/case_{base}_alpha.png")
    rgba.save(f"{d}/case_{base}_alpha.webp", quality=80)
    for o in range(2, 9):
        ex = Image.Exif()
        ex[0x0112] = o
        rgb.save(f"{d}/case_{base}_o{o}.jpg", quality=90, exif=ex.tobytes())

manifest = {}
for f in sorted(os.listdir(d)):
    if not f.startswith("case_"):
        continue
    im = ImageOps.exif_transpose(Image.open(os.path.join(d, f)))
    rgb = im.convert("RGB")
    with open(os.path.join(d, f + ".rgb"), "wb") as fh:
        fh.write(rgb.tobytes())
    with open(os.path.join(d, f + ".f32"), "wb") as fh:
        fh.write(clip(rgb).astype("<f4").tobytes())
    manifest[f] = [rgb.width, rgb.height, Image.open(os.path.join(d, f)).mode]
with open(os.path.join(d, "manifest.json"), "w") as fh:
    json.dump(manifest, fh)
`

// findPillow returns a Python interpreter with Pillow and numpy, or "".
func findPillow() string {
	cands := []string{os.Getenv("IMAGEPREP_PYTHON"), "python3", "/usr/bin/python3"}
	for _, p := range cands {
		if p == "" {
			continue
		}
		if err := exec.Command(p, "-c", "import PIL, numpy").Run(); err == nil {
			return p
		}
	}
	return ""
}

const pillowMissing = "no python3 with Pillow and numpy (apt-get install python3-pil python3-numpy, or set IMAGEPREP_PYTHON)"

// TestAgainstPillow compares the whole path (decode, orientation, RGB
// conversion, CLIP preprocessing) with Pillow + numpy on images Pillow
// itself encoded. It needs python3 with Pillow and numpy (Debian:
// python3-pil python3-numpy) and skips without them (fails under
// MMRAG_REQUIRE_TOOLS, as CI installs them).
func TestAgainstPillow(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Pillow comparison")
	}
	py := findPillow()
	testenv.Need(t, py != "", testenv.RequireTools, pillowMissing)
	dir := t.TempDir()
	if keep := os.Getenv("IMAGEPREP_KEEP"); keep != "" {
		dir = keep
		os.MkdirAll(dir, 0o755)
	}
	srcs := map[string][2]int{"land": {400, 267}, "port": {250, 375}, "up": {120, 90}, "odd": {301, 223}, "hd": {1920, 1080}}
	for name, wh := range srcs {
		os.WriteFile(filepath.Join(dir, "src_"+name+".png"), encodePNG(t, photoLike(wh[0], wh[1], uint64(wh[0]))), 0o644)
	}
	// 16-bit PNGs straight from Go: PIL reads RGB(A) ones as 8-bit by
	// keeping the high byte, grey ones as 32-bit "I".
	src16 := photoLike(120, 80, 16)
	rgb16 := image.NewNRGBA64(src16.Rect)
	gray16 := image.NewGray16(src16.Rect)
	for y := 0; y < 80; y++ {
		for x := 0; x < 120; x++ {
			c := src16.NRGBAAt(x, y)
			lo := uint16(x*7 + y)
			rgb16.SetNRGBA64(x, y, color.NRGBA64{uint16(c.R)<<8 | lo&0xff, uint16(c.G)<<8 | lo>>1&0xff, uint16(c.B) << 8, uint16(200+x)<<8 | 0x80})
			gray16.SetGray16(x, y, color.Gray16{uint16(c.G)<<8 | lo&0xff})
		}
	}
	os.WriteFile(filepath.Join(dir, "case_rgba16.png"), encodePNG(t, rgb16), 0o644)
	os.WriteFile(filepath.Join(dir, "case_gray16.png"), encodePNG(t, gray16), 0o644)
	script := filepath.Join(dir, "ref.py")
	os.WriteFile(script, []byte(pillowScript), 0o644)
	if out, err := exec.Command(py, script, dir).CombinedOutput(); err != nil {
		t.Fatalf("reference script: %v\n%s", err, out)
	}
	var manifest map[string][3]any
	mj, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mj, &manifest); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(manifest))
	for n := range manifest {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) < 20 {
		t.Fatalf("reference produced only %d cases", len(names))
	}
	cfg := DefaultCLIP()
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if name == "case_gray16.png" {
				t.Skip("PIL opens 16-bit grey as mode I and convert(\"RGB\") clamps it to 255; imageprep keeps the high byte (DIFFERENCES.md)")
			}
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			img, _, err := cfg.Load(data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got := ToRGB(img)
			m := manifest[name]
			w, h := int(m[0].(float64)), int(m[1].(float64))
			if got.Rect.Dx() != w || got.Rect.Dy() != h {
				t.Fatalf("size %v, Pillow %d×%d", got.Rect.Size(), w, h)
			}
			want, _ := os.ReadFile(filepath.Join(dir, name+".rgb"))
			var maxD, nDiff int
			var sumD float64
			for y := 0; y < h; y++ {
				row := got.Pix[y*got.Stride : y*got.Stride+3*w]
				for i, v := range row {
					d := int(v) - int(want[y*3*w+i])
					if d < 0 {
						d = -d
					}
					maxD = max(maxD, d)
					sumD += float64(d)
					if d != 0 {
						nDiff++
					}
				}
			}
			tensor, err := cfg.Preprocess(img)
			if err != nil {
				t.Fatal(err)
			}
			wantF := readF32(t, filepath.Join(dir, name+".f32"))
			var maxF float64
			for i := range tensor {
				maxF = math.Max(maxF, math.Abs(float64(tensor[i]-wantF[i])))
			}
			// In normalised units one uint8 level is 1/255/std ≈ 0.0152.
			t.Logf("%-24s mode %-5s RGB max|Δ| %3d, mean|Δ| %.4f, %5.2f%% samples differ; tensor max|Δ| %.5f (≈%.1f levels)",
				name, m[2], maxD, sumD/float64(3*w*h), 100*float64(nDiff)/float64(3*w*h), maxF, maxF*255*0.2613)
			limit := 0
			switch {
			case strings.HasSuffix(name, ".jpg"):
				// Go's IDCT is not libjpeg-turbo's islow IDCT.
				limit = 6
			}
			if maxD > limit {
				t.Errorf("RGB differs from Pillow by up to %d levels, want ≤ %d", maxD, limit)
			}
			if limit > 0 && maxF > 0.1 { // ≈ 6.5 levels
				t.Errorf("tensor differs from Pillow by %g", maxF)
			}
			if limit == 0 && maxF != 0 {
				t.Errorf("tensor differs from Pillow by %g with identical pixels, want bit-exact", maxF)
			}
		})
	}
}

// TestResizeAgainstPillow checks every supported filter against PIL's
// Image.resize on up- and downscales; see TestAgainstPillow for the setup.
func TestResizeAgainstPillow(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Pillow comparison")
	}
	py := findPillow()
	testenv.Need(t, py != "", testenv.RequireTools, pillowMissing)
	dir := t.TempDir()
	src := photoLike(400, 267, 400)
	os.WriteFile(filepath.Join(dir, "src_land.png"), encodePNG(t, src), 0o644)
	script := `
import sys
from PIL import Image
d = sys.argv[1]
land = Image.open(f"{d}/src_land.png").convert("RGB")
for flt in (1, 2, 3, 4, 5):
    for (w, h) in ((224, 149), (97, 300), (800, 534), (400, 100), (13, 7), (400, 267)):
        with open(f"{d}/resize_{flt}_{w}x{h}.rgb", "wb") as fh:
            fh.write(land.resize((w, h), resample=flt).tobytes())
`
	os.WriteFile(filepath.Join(dir, "resize.py"), []byte(script), 0o644)
	if out, err := exec.Command(py, filepath.Join(dir, "resize.py"), dir).CombinedOutput(); err != nil {
		t.Fatalf("reference script: %v\n%s", err, out)
	}
	for _, f := range []Resample{Lanczos, Bilinear, Bicubic, Box, Hamming} {
		for _, wh := range [][2]int{{224, 149}, {97, 300}, {800, 534}, {400, 100}, {13, 7}, {400, 267}} {
			want, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("resize_%d_%dx%d.rgb", int(f), wh[0], wh[1])))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Resize(src, wh[0], wh[1], f)
			if err != nil {
				t.Fatal(err)
			}
			diff := 0
			for i := range want {
				if got.Pix[i] != want[i] {
					diff++
				}
			}
			if diff != 0 {
				t.Errorf("%v to %dx%d: %d of %d samples differ from Pillow", f, wh[0], wh[1], diff, len(want))
			}
		}
	}
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	if len(out) != 3*224*224 {
		t.Fatalf("%s: %d floats", path, len(out))
	}
	return out
}
