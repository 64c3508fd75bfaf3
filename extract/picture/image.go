// Package picture extracts image files (the picture and its EXIF facts)
// and recognises the text in images with tesseract (Tesseract), which the
// PDF extractor uses for scanned pages too.
package picture

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"strconv"
	"strings"
	"time"
	"unicode"

	"mmrag/extract"
	"mmrag/imageprep"
)

// Picture extracts image files: PNG, JPEG, GIF (first frame), WebP, BMP and
// TIFF, everything mmrag/imageprep decodes. (The name Image is taken by the
// extracted image type.)
//
// The Result has Type "image", the file name without extension as Title and
// one Image holding the original bytes. The image is decoded in full, so a
// truncated or corrupt file is an error rather than an unreadable blob in the
// store. Width and Height are as displayed, after the EXIF orientation; the
// bytes are left as they are. EXIF facts go to the image's Meta and to the
// Result's: "camera_make", "camera_model", "camera" (both, without
// repeating the make), "date" (capture time as 2006-01-02T15:04:05, the
// camera's local time), "gps" ("lat,lon" in degrees) and "orientation" (2–8,
// only when not upright); "format" is always set.
//
// Text in the picture (a screenshot, a scanned note, a slide photo) is
// recognised with OCR when tesseract is installed. It is kept only when it
// reads as text, see MinOCRLetters, since OCR of an ordinary photo yields
// noise; kept text becomes OCR blocks, one per paragraph, and the image's
// Context.
type Picture struct {
	OCR   Tesseract // recogniser; the zero value runs tesseract from PATH
	NoOCR bool      // never run OCR
	// Limits bound decoding; the zero value means imageprep's defaults.
	Limits imageprep.Limits
	// MinOCRLetters is how many letters, counted in words of three or more
	// letters, recognised text needs to be kept; such words must also make
	// up half of its non-space characters. 0 means 12.
	MinOCRLetters int
}

// pictureMinOCRSide is the smallest side worth recognising: tesseract
// fails on icons with "image too small to scale".
const pictureMinOCRSide = 24

// Extract implements Extractor.
func (x Picture) Extract(ctx context.Context, src extract.Source) (*extract.Result, error) {
	name := src.Name()
	if err := extract.Interrupted(ctx, name); err != nil {
		return nil, err
	}
	img, info, err := imageprep.Decode(src.Data, x.Limits)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable image: %w", name, err)
	}
	meta := pictureMeta(info)
	im := extract.Image{
		Data:   src.Data,
		MIME:   "image/" + info.Format,
		Src:    src.Path,
		Width:  info.Width,
		Height: info.Height,
		Meta:   meta,
	}
	if info.Orientation >= 5 && info.Orientation <= 8 { // quarter turns
		im.Width, im.Height = info.Height, info.Width
	}
	res := &extract.Result{Type: "image", Title: src.FileTitle(), Meta: map[string]string{}}
	for k, v := range meta {
		res.Meta[k] = v
	}
	if text := x.recognise(ctx, img, info, src.Data, res); text != "" {
		im.Context = extract.Clip(text, 500)
		for part := range strings.SplitSeq(text, "\n\n") {
			if t := strings.TrimSpace(part); t != "" {
				res.Blocks = append(res.Blocks, extract.Block{Kind: extract.OCR, Text: t})
			}
		}
	}
	if err := extract.Interrupted(ctx, name); err != nil {
		return nil, err
	}
	res.Images = []extract.Image{im}
	return res, nil
}

// recognise runs OCR and returns the text when it reads as text; problems
// are warnings, never errors, since the picture itself is still good.
func (x Picture) recognise(ctx context.Context, img image.Image, info imageprep.Info, data []byte, res *extract.Result) string {
	if x.NoOCR || min(info.Width, info.Height) < pictureMinOCRSide {
		return ""
	}
	if !x.OCR.Available() {
		res.Warnings = append(res.Warnings, "text in the image not recognised: install tesseract-ocr for OCR")
		return ""
	}
	in := data
	// Tesseract ignores EXIF orientation and may lack a WebP or GIF reader;
	// those get an upright PNG.
	if info.Orientation != 1 || (info.Format != "png" && info.Format != "jpeg" && info.Format != "tiff" && info.Format != "bmp") {
		var buf bytes.Buffer
		if err := png.Encode(&buf, imageprep.Orient(img, info.Orientation)); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("OCR skipped: re-encode as PNG: %v", err))
			return ""
		}
		in = buf.Bytes()
	}
	text, err := x.OCR.Image(ctx, in)
	if err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("OCR failed: %v", err))
		return ""
	}
	minLetters := x.MinOCRLetters
	if minLetters <= 0 {
		minLetters = 12
	}
	if !pictureReadsAsText(text, minLetters) {
		return ""
	}
	return text
}

// pictureReadsAsText tells recognised text from OCR noise: enough letters
// in words of three or more letters, and such words making up at least half
// of the non-space characters. Noise from photos is mostly punctuation and
// one- or two-letter fragments ("| ~ ee —").
func pictureReadsAsText(s string, minLetters int) bool {
	inWords, nonSpace, run := 0, 0, 0
	end := func() {
		if run >= 3 {
			inWords += run
		}
		run = 0
	}
	for _, r := range s {
		if unicode.IsSpace(r) {
			end()
			continue
		}
		nonSpace++
		if unicode.IsLetter(r) {
			run++
		} else {
			end()
		}
	}
	end()
	return inWords >= minLetters && 2*inWords >= nonSpace
}

// pictureMeta turns decoded facts into Meta entries.
func pictureMeta(info imageprep.Info) map[string]string {
	m := map[string]string{"format": info.Format}
	e := info.EXIF
	if e.Make != "" {
		m["camera_make"] = e.Make
	}
	if e.Model != "" {
		m["camera_model"] = e.Model
	}
	switch {
	case e.Make != "" && e.Model != "" && !strings.HasPrefix(strings.ToLower(e.Model), strings.ToLower(e.Make)):
		m["camera"] = e.Make + " " + e.Model
	case e.Model != "":
		m["camera"] = e.Model
	case e.Make != "":
		m["camera"] = e.Make
	}
	date := e.DateTimeOriginal
	if date == "" {
		date = e.DateTime
	}
	if date != "" {
		if t, err := time.Parse("2006:01:02 15:04:05", date); err == nil {
			date = t.Format("2006-01-02T15:04:05")
		}
		m["date"] = date
	}
	if e.HasGPS {
		m["gps"] = strconv.FormatFloat(e.Latitude, 'f', 6, 64) + "," + strconv.FormatFloat(e.Longitude, 'f', 6, 64)
	}
	if info.Orientation >= 2 && info.Orientation <= 8 {
		m["orientation"] = strconv.Itoa(info.Orientation)
	}
	return m
}
