package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// EXIF holds the EXIF facts that matter downstream. Strings are trimmed of
// NULs and spaces; a zero field means the tag was absent or unreadable.
type EXIF struct {
	// Orientation is tag 0x0112 of IFD0: 1 (upright) to 8; 0 when absent
	// or out of range.
	Orientation int
	Make        string // camera maker, tag 0x010F
	Model       string // camera model, tag 0x0110
	Software    string // tag 0x0131
	// DateTime is the file's change time (0x0132) and DateTimeOriginal the
	// capture time (Exif IFD 0x9003), both as written: "2006:01:02 15:04:05",
	// local time of the camera with no zone.
	DateTime         string
	DateTimeOriginal string
	// HasGPS says whether Latitude and Longitude were read (GPS IFD tags
	// 1–4); south and west are negative.
	HasGPS    bool
	Latitude  float64
	Longitude float64
}

// errNoEXIF is returned by ReadEXIF when the data carries no EXIF block.
var errNoEXIF = errors.New("no EXIF data")

// ReadEXIF finds and parses the EXIF block of a JPEG (APP1 "Exif"), PNG
// (eXIf chunk), WebP (EXIF chunk) or TIFF (IFD0 itself) file. Data without
// EXIF gives a zero EXIF and an error wrapping errNoEXIF; malformed EXIF
// gives whatever could be read and an error.
func ReadEXIF(data []byte) (EXIF, error) {
	raw := findEXIF(data)
	if raw == nil {
		return EXIF{}, errNoEXIF
	}
	return parseEXIF(raw)
}

// findEXIF returns the TIFF-structured EXIF payload of data, or nil.
func findEXIF(data []byte) []byte {
	switch {
	case len(data) >= 4 && data[0] == 0xFF && data[1] == 0xD8:
		return jpegEXIF(data)
	case bytes.HasPrefix(data, pngSig):
		return pngEXIF(data)
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return webpEXIF(data)
	case bytes.HasPrefix(data, []byte("II*\x00")) || bytes.HasPrefix(data, []byte("MM\x00*")):
		return data
	}
	return nil
}

var pngSig = []byte("\x89PNG\r\n\x1a\n")

func stripExifHeader(b []byte) []byte {
	return bytes.TrimPrefix(b, []byte("Exif\x00\x00"))
}

// jpegEXIF walks the marker segments up to the first scan and returns the
// first APP1 Exif payload, as PIL keeps the first one.
func jpegEXIF(data []byte) []byte {
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return nil
		}
		m := data[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		if m == 0x01 || (m >= 0xD0 && m <= 0xD7) { // standalone markers
			i += 2
			continue
		}
		if m == 0xD9 || m == 0xDA {
			return nil
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return nil
		}
		seg := data[i+4 : i+2+n]
		if m == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg[6:]
		}
		i += 2 + n
	}
	return nil
}

func pngEXIF(data []byte) []byte {
	i := len(pngSig)
	for i+12 <= len(data) {
		n := binary.BigEndian.Uint32(data[i:])
		typ := string(data[i+4 : i+8])
		if uint64(n) > uint64(len(data)-i-12) {
			return nil
		}
		if typ == "eXIf" {
			return stripExifHeader(data[i+8 : i+8+int(n)])
		}
		if typ == "IEND" {
			return nil
		}
		i += 12 + int(n)
	}
	return nil
}

func webpEXIF(data []byte) []byte {
	i := 12
	for i+8 <= len(data) {
		n := binary.LittleEndian.Uint32(data[i+4:])
		if uint64(n) > uint64(len(data)-i-8) {
			return nil
		}
		if string(data[i:i+4]) == "EXIF" {
			return stripExifHeader(data[i+8 : i+8+int(n)])
		}
		i += 8 + int(n) + int(n&1)
	}
	return nil
}

// tiffReader reads a TIFF structure (the EXIF payload) with bounds checks
// on every access; offsets are relative to the start of b.
type tiffReader struct {
	b  []byte
	bo binary.ByteOrder
}

type ifdEntry struct {
	tag, typ uint16
	count    uint32
	value    []byte // the raw value bytes, count·size(typ) long
}

var tiffTypeSize = map[uint16]uint32{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}

// ifd reads the directory at off. It never follows chains, so it cannot loop.
func (r tiffReader) ifd(off uint32) ([]ifdEntry, error) {
	if uint64(off)+2 > uint64(len(r.b)) {
		return nil, fmt.Errorf("IFD offset %d outside %d bytes", off, len(r.b))
	}
	n := int(r.bo.Uint16(r.b[off:]))
	p := int(off) + 2
	if p+12*n > len(r.b) {
		return nil, fmt.Errorf("IFD at %d with %d entries runs past %d bytes", off, n, len(r.b))
	}
	out := make([]ifdEntry, 0, n)
	for k := 0; k < n; k, p = k+1, p+12 {
		e := ifdEntry{tag: r.bo.Uint16(r.b[p:]), typ: r.bo.Uint16(r.b[p+2:]), count: r.bo.Uint32(r.b[p+4:])}
		size, ok := tiffTypeSize[e.typ]
		if !ok || e.count > 1<<20 {
			continue
		}
		total := uint64(size) * uint64(e.count)
		if total <= 4 {
			e.value = r.b[p+8 : p+8+int(total)]
		} else {
			vo := uint64(r.bo.Uint32(r.b[p+8:]))
			if vo+total > uint64(len(r.b)) {
				continue
			}
			e.value = r.b[vo : vo+total]
		}
		out = append(out, e)
	}
	return out, nil
}

func (r tiffReader) uint(e ifdEntry) (uint32, bool) {
	switch {
	case e.typ == 3 && len(e.value) >= 2:
		return uint32(r.bo.Uint16(e.value)), true
	case (e.typ == 4 || e.typ == 9) && len(e.value) >= 4:
		return r.bo.Uint32(e.value), true
	case (e.typ == 1 || e.typ == 7) && len(e.value) >= 1:
		return uint32(e.value[0]), true
	}
	return 0, false
}

func asciiValue(e ifdEntry) string {
	if e.typ != 2 {
		return ""
	}
	s := string(e.value)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// rationals decodes an unsigned RATIONAL array; a zero denominator is NaN.
func (r tiffReader) rationals(e ifdEntry) []float64 {
	if e.typ != 5 {
		return nil
	}
	out := make([]float64, 0, len(e.value)/8)
	for i := 0; i+8 <= len(e.value); i += 8 {
		num, den := r.bo.Uint32(e.value[i:]), r.bo.Uint32(e.value[i+4:])
		if den == 0 {
			out = append(out, math.NaN())
			continue
		}
		out = append(out, float64(num)/float64(den))
	}
	return out
}

// parseEXIF parses a TIFF-structured EXIF block: IFD0, then the Exif and
// GPS sub-IFDs it points to.
func parseEXIF(b []byte) (EXIF, error) {
	var x EXIF
	if len(b) < 8 {
		return x, fmt.Errorf("EXIF block of %d bytes is too short for a TIFF header", len(b))
	}
	var r tiffReader
	switch string(b[:4]) {
	case "II*\x00":
		r = tiffReader{b, binary.LittleEndian}
	case "MM\x00*":
		r = tiffReader{b, binary.BigEndian}
	default:
		return x, fmt.Errorf("EXIF block does not start with a TIFF header (% x)", b[:4])
	}
	ifd0, err := r.ifd(r.bo.Uint32(b[4:]))
	if err != nil {
		return x, fmt.Errorf("EXIF IFD0: %w", err)
	}
	exifOff, gpsOff := x.readIFD0(r, ifd0)
	var errs []error
	if exifOff != 0 {
		sub, err := r.ifd(exifOff)
		if err != nil {
			errs = append(errs, fmt.Errorf("the Exif IFD: %w", err))
		}
		for _, e := range sub {
			if e.tag == 0x9003 {
				x.DateTimeOriginal = asciiValue(e)
			}
		}
	}
	if gpsOff != 0 {
		sub, err := r.ifd(gpsOff)
		if err != nil {
			errs = append(errs, fmt.Errorf("the GPS IFD: %w", err))
		}
		x.readGPS(r, sub)
	}
	return x, errors.Join(errs...)
}

// readIFD0 takes what x holds from IFD0 and returns the offsets of the
// Exif and GPS sub-IFDs (0 when absent).
func (x *EXIF) readIFD0(r tiffReader, ifd0 []ifdEntry) (exifOff, gpsOff uint32) {
	for _, e := range ifd0 {
		switch e.tag {
		case 0x0112:
			if v, ok := r.uint(e); ok && v >= 1 && v <= 8 {
				x.Orientation = int(v)
			}
		case 0x010F:
			x.Make = asciiValue(e)
		case 0x0110:
			x.Model = asciiValue(e)
		case 0x0131:
			x.Software = asciiValue(e)
		case 0x0132:
			x.DateTime = asciiValue(e)
		case 0x8769:
			exifOff, _ = r.uint(e)
		case 0x8825:
			gpsOff, _ = r.uint(e)
		}
	}
	return exifOff, gpsOff
}

// readGPS sets x's position from the GPS IFD when it holds a valid one.
func (x *EXIF) readGPS(r tiffReader, gps []ifdEntry) {
	var latRef, lonRef string
	var lat, lon []float64
	for _, e := range gps {
		switch e.tag {
		case 1:
			latRef = asciiValue(e)
		case 2:
			lat = r.rationals(e)
		case 3:
			lonRef = asciiValue(e)
		case 4:
			lon = r.rationals(e)
		}
	}
	la, ok1 := dms(lat)
	lo, ok2 := dms(lon)
	if ok1 && ok2 && la <= 90 && lo <= 180 {
		if latRef == "S" {
			la = -la
		}
		if lonRef == "W" {
			lo = -lo
		}
		x.HasGPS, x.Latitude, x.Longitude = true, la, lo
	}
}

// dms turns degrees, minutes, seconds into decimal degrees.
func dms(v []float64) (float64, bool) {
	if len(v) != 3 {
		return 0, false
	}
	d := v[0] + v[1]/60 + v[2]/3600
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return 0, false
	}
	return d, true
}
