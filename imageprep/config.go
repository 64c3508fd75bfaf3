package imageprep

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
)

// Resample names a PIL resampling filter by its PIL number, as
// preprocessor_config.json's "resample" does.
type Resample int

// The filters Pillow's convolution resampler implements. PIL's NEAREST (0)
// is a different algorithm and is not supported.
const (
	Lanczos  Resample = 1
	Bilinear Resample = 2
	Bicubic  Resample = 3
	Box      Resample = 4
	Hamming  Resample = 5
)

func (r Resample) String() string {
	switch r {
	case Lanczos:
		return "lanczos"
	case Bilinear:
		return "bilinear"
	case Bicubic:
		return "bicubic"
	case Box:
		return "box"
	case Hamming:
		return "hamming"
	case 0:
		return "nearest"
	}
	return fmt.Sprintf("Resample(%d)", int(r))
}

// Size is a resize target: the shortest edge when ShortestEdge > 0 (the
// long edge keeps the aspect ratio), else exactly Height×Width.
type Size struct {
	ShortestEdge  int
	Height, Width int
}

// Config is an image preprocessing recipe in the terms of Hugging Face's
// CLIPImageProcessor; field comments give the preprocessor_config.json key.
// Build one with DefaultCLIP or LoadConfig; the zero Config does nothing
// useful and fails Validate.
type Config struct {
	DoResize      bool     // do_resize
	ResizeTo      Size     // size: int, {"shortest_edge"}, {"height","width"} or [h, w]
	Resample      Resample // resample
	DoCenterCrop  bool     // do_center_crop
	CropHeight    int      // crop_size: int, {"height","width"} or [h, w]
	CropWidth     int
	DoRescale     bool       // do_rescale
	RescaleFactor float64    // rescale_factor
	DoNormalize   bool       // do_normalize
	Mean, Std     [3]float64 // image_mean, image_std: one number or three
	// DoConvertRGB mirrors do_convert_rgb. Output always has 3 channels, so
	// images are converted to RGB whatever its value.
	DoConvertRGB bool
	// ExifTranspose turns photos upright by their EXIF orientation in Load
	// and PreprocessData. Hugging Face's processor does not do this (it sees
	// whatever PIL.Image.open returned); it is on by default here because a
	// sideways photo embeds as a sideways photo. Not read from JSON.
	ExifTranspose bool
}

// DefaultCLIP returns the preprocessing of openai/clip-vit-base-patch16 and
// the CLIPImageProcessor defaults: shortest edge 224 with bicubic
// resampling, 224×224 centre crop, ×1/255, OpenAI CLIP mean and std.
func DefaultCLIP() Config {
	return Config{
		DoResize:      true,
		ResizeTo:      Size{ShortestEdge: 224},
		Resample:      Bicubic,
		DoCenterCrop:  true,
		CropHeight:    224,
		CropWidth:     224,
		DoRescale:     true,
		RescaleFactor: 1.0 / 255,
		DoNormalize:   true,
		Mean:          [3]float64{0.48145466, 0.4578275, 0.40821073},
		Std:           [3]float64{0.26862954, 0.26130258, 0.27577711},
		DoConvertRGB:  true,
		ExifTranspose: true,
	}
}

// maxConfigBytes bounds preprocessor_config.json; real ones are < 2 KB.
const maxConfigBytes = 1 << 20

// LoadConfig reads a Hugging Face preprocessor_config.json. Keys it lacks
// take CLIPImageProcessor's defaults (DefaultCLIP); unknown keys are
// ignored; invalid values are errors naming the file and the key.
func LoadConfig(path string) (Config, error) {
	data, err := readFileLimited(path, maxConfigBytes)
	if err != nil {
		return Config{}, fmt.Errorf("imageprep: load config %s: %w", path, err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("imageprep: config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses the JSON of a preprocessor_config.json; see LoadConfig.
func ParseConfig(data []byte) (Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("not a JSON object: %w", err)
	}
	c := DefaultCLIP()
	var errs []error
	field := func(key string, parse func(json.RawMessage) error) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return
		}
		if err := parse(v); err != nil {
			errs = append(errs, fmt.Errorf("%q: %w", key, err))
		}
	}
	boolField := func(key string, dst *bool) {
		field(key, func(v json.RawMessage) error { return json.Unmarshal(v, dst) })
	}
	boolField("do_resize", &c.DoResize)
	boolField("do_center_crop", &c.DoCenterCrop)
	boolField("do_rescale", &c.DoRescale)
	boolField("do_normalize", &c.DoNormalize)
	boolField("do_convert_rgb", &c.DoConvertRGB)
	field("size", func(v json.RawMessage) error {
		s, err := parseSize(v, false)
		c.ResizeTo = s
		return err
	})
	field("crop_size", func(v json.RawMessage) error {
		s, err := parseSize(v, true)
		c.CropHeight, c.CropWidth = s.Height, s.Width
		return err
	})
	field("resample", func(v json.RawMessage) error {
		var n int
		if err := json.Unmarshal(v, &n); err != nil {
			return err
		}
		c.Resample = Resample(n)
		return nil
	})
	field("rescale_factor", func(v json.RawMessage) error { return json.Unmarshal(v, &c.RescaleFactor) })
	field("image_mean", func(v json.RawMessage) error { return parseTriple(v, &c.Mean) })
	field("image_std", func(v json.RawMessage) error { return parseTriple(v, &c.Std) })
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// parseSize reads HF's size forms. A bare int means the shortest edge for
// "size" and a square for "crop_size" (get_size_dict's default_to_square).
func parseSize(v json.RawMessage, square bool) (Size, error) {
	var n int
	if err := json.Unmarshal(v, &n); err == nil {
		if square {
			return Size{Height: n, Width: n}, nil
		}
		return Size{ShortestEdge: n}, nil
	}
	var hw []int
	if err := json.Unmarshal(v, &hw); err == nil {
		if len(hw) != 2 {
			return Size{}, fmt.Errorf("want [height, width], got %d numbers", len(hw))
		}
		return Size{Height: hw[0], Width: hw[1]}, nil
	}
	var m map[string]*int
	if err := json.Unmarshal(v, &m); err != nil {
		return Size{}, fmt.Errorf("want an integer, [height, width] or an object of integers: %s", v)
	}
	get := func(k string) int {
		if p := m[k]; p != nil {
			return *p
		}
		return 0
	}
	if _, ok := m["shortest_edge"]; ok && !square {
		if _, ok := m["longest_edge"]; ok {
			return Size{}, errors.New("shortest_edge with longest_edge is not supported")
		}
		return Size{ShortestEdge: get("shortest_edge")}, nil
	}
	_, hok := m["height"]
	_, wok := m["width"]
	if hok && wok {
		return Size{Height: get("height"), Width: get("width")}, nil
	}
	if square {
		return Size{}, fmt.Errorf("want {\"height\", \"width\"}, got %s", v)
	}
	return Size{}, fmt.Errorf("want {\"shortest_edge\"} or {\"height\", \"width\"}, got %s", v)
}

func parseTriple(v json.RawMessage, dst *[3]float64) error {
	var f float64
	if err := json.Unmarshal(v, &f); err == nil {
		*dst = [3]float64{f, f, f}
		return nil
	}
	var fs []float64
	if err := json.Unmarshal(v, &fs); err != nil {
		return fmt.Errorf("want a number or 3 numbers: %s", v)
	}
	if len(fs) != 3 {
		return fmt.Errorf("want 3 values (R, G, B), got %d", len(fs))
	}
	copy(dst[:], fs)
	return nil
}

// maxSide bounds configured sizes: far beyond any vision model, small
// enough that a tensor for it cannot overflow.
const maxSide = 1 << 14

// Validate reports configuration values the pipeline cannot run with.
func (c Config) Validate() error {
	var errs []error
	side := func(name string, v int) {
		if v <= 0 || v > maxSide {
			errs = append(errs, fmt.Errorf("%s = %d: want 1..%d", name, v, maxSide))
		}
	}
	if c.DoResize {
		if c.ResizeTo.ShortestEdge != 0 || (c.ResizeTo.Height == 0 && c.ResizeTo.Width == 0) {
			side("size.shortest_edge", c.ResizeTo.ShortestEdge)
		} else {
			side("size.height", c.ResizeTo.Height)
			side("size.width", c.ResizeTo.Width)
		}
		switch c.Resample {
		case Lanczos, Bilinear, Bicubic, Box, Hamming:
		default:
			errs = append(errs, fmt.Errorf("resample = %d (%v): want 1 lanczos, 2 bilinear, 3 bicubic, 4 box or 5 hamming", int(c.Resample), c.Resample))
		}
	}
	if c.DoCenterCrop {
		side("crop_size.height", c.CropHeight)
		side("crop_size.width", c.CropWidth)
	}
	if c.DoRescale && (!(c.RescaleFactor > 0) || math.IsInf(c.RescaleFactor, 0)) {
		errs = append(errs, fmt.Errorf("rescale_factor = %v: want a positive number", c.RescaleFactor))
	}
	if c.DoNormalize {
		for i := range 3 {
			if math.IsNaN(c.Mean[i]) || math.IsInf(c.Mean[i], 0) {
				errs = append(errs, fmt.Errorf("image_mean[%d] = %v: want a finite number", i, c.Mean[i]))
			}
			if !(c.Std[i] > 0) || math.IsInf(c.Std[i], 0) {
				errs = append(errs, fmt.Errorf("image_std[%d] = %v: want a positive number", i, c.Std[i]))
			}
		}
	}
	return errors.Join(errs...)
}

// Size returns the height and width of every preprocessed image, or (0, 0)
// when it depends on the input (no centre crop and a shortest-edge or no
// resize).
func (c Config) Size() (h, w int) {
	switch {
	case c.DoCenterCrop:
		return c.CropHeight, c.CropWidth
	case c.DoResize && c.ResizeTo.ShortestEdge == 0:
		return c.ResizeTo.Height, c.ResizeTo.Width
	}
	return 0, 0
}

// OutputSize returns the height and width Preprocess gives for an input of
// w×h pixels.
func (c Config) OutputSize(w, h int) (oh, ow int) {
	oh, ow = h, w
	if c.DoResize {
		oh, ow = c.resizeSize(w, h)
	}
	if c.DoCenterCrop {
		oh, ow = c.CropHeight, c.CropWidth
	}
	return oh, ow
}

// resizeSize is transformers' get_resize_output_image_size with
// default_to_square=False: the short side becomes ShortestEdge and the long
// side int(ShortestEdge·long/short), truncated as Python's int() does.
func (c Config) resizeSize(w, h int) (oh, ow int) {
	if c.ResizeTo.ShortestEdge == 0 {
		return c.ResizeTo.Height, c.ResizeTo.Width
	}
	s := c.ResizeTo.ShortestEdge
	short, long := h, w
	if w <= h {
		short, long = w, h
	}
	newLong := int(float64(s) * float64(long) / float64(short))
	if w <= h {
		return newLong, s
	}
	return s, newLong
}

// Load decodes data (see Decode) and, when ExifTranspose is set, turns the
// image upright by its EXIF orientation.
func (c Config) Load(data []byte, limits Limits) (image.Image, Info, error) {
	img, info, err := Decode(data, limits)
	if err != nil {
		return nil, info, err
	}
	if c.ExifTranspose {
		img = Orient(img, info.Orientation)
	}
	return img, info, nil
}
