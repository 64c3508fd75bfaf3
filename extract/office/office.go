// Package office extracts the Office Open XML formats: Word documents
// (DOCX), PowerPoint presentations (PPTX) and Excel workbooks (XLSX). One
// reader opens the zip container within limits (zip bombs are refused),
// resolves relationships and reads the core properties for all three.
package office

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"mmrag/extract"
)

// ErrZipBomb is wrapped by the error returned when an Office file (a zip
// container) would expand beyond its ZipLimits.
var ErrZipBomb = errors.New("zip bomb suspected")

// ZipLimits bounds what reading an Office (OOXML) container may expand to.
// The zero value means the defaults given on each field.
//
// Sizes declared in the zip directory are checked first, which rejects an
// honest bomb without reading it; the bytes actually inflated are counted as
// well, since declared sizes can lie.
type ZipLimits struct {
	// MaxTotal caps the uncompressed bytes read from all members together;
	// 0 means 512 MiB.
	MaxTotal int64
	// MaxMember caps the uncompressed size of one member; 0 means 256 MiB.
	MaxMember int64
	// MaxMembers caps the number of members in the archive; 0 means 20000.
	MaxMembers int
	// MaxRatio caps uncompressed/compressed size of a member once it has
	// inflated past 1 MiB; 0 means 300. Deflate tops out near 1030:1 on
	// zeros, while real XML parts stay well under 100:1.
	MaxRatio int64
}

const ooxmlRatioFloor = 1 << 20 // members smaller than this skip the ratio check

func (l ZipLimits) withDefaults() ZipLimits {
	if l.MaxTotal <= 0 {
		l.MaxTotal = 512 << 20
	}
	if l.MaxMember <= 0 {
		l.MaxMember = 256 << 20
	}
	if l.MaxMembers <= 0 {
		l.MaxMembers = 20000
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = 300
	}
	return l
}

// ooxmlDocument is an opened OOXML package and its main part.
type ooxmlDocument struct {
	name string // the source, for error messages
	pkg  *ooxmlPackage
	main string              // the main part's name, e.g. "word/document.xml"
	data []byte              // the main part
	rels map[string]ooxmlRel // the main part's relationships
}

// openDocument opens src as an OOXML package within lim and reads its main
// part: the target of the package's officeDocument relationship, else def.
// A missing main part is an error saying src is not what (for example "a
// Word document"). It is how the DOCX, PPTX and XLSX extractors begin.
func openDocument(ctx context.Context, src extract.Source, lim ZipLimits, def, what string) (*ooxmlDocument, error) {
	name := src.Name()
	if err := extract.Interrupted(ctx, name); err != nil {
		return nil, err
	}
	pkg, err := openOOXML(name, src.Data, lim)
	if err != nil {
		return nil, err
	}
	main := def
	if rels, err := pkg.rels(""); err == nil {
		for _, r := range rels {
			if strings.HasSuffix(r.Type, "/officeDocument") && !r.External {
				main = r.Target
			}
		}
	}
	data, err := pkg.readPart(main)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: not %s: no %s", name, what, main)
	}
	if err != nil {
		return nil, err
	}
	rels, err := pkg.rels(main)
	if err != nil {
		return nil, err
	}
	return &ooxmlDocument{name: name, pkg: pkg, main: main, data: data, rels: rels}, nil
}

// result starts the Result of the document: its type, and its title and
// metadata from the core properties.
func (d *ooxmlDocument) result(typ string) *extract.Result {
	res := &extract.Result{Type: typ, Meta: map[string]string{}}
	res.Title = d.pkg.core(res.Meta)
	return res
}

// ooxmlPackage reads the parts of one OOXML container within its limits.
// Part names are matched without regard to case, as OPC requires.
type ooxmlPackage struct {
	name   string // the source, for error messages
	limits ZipLimits
	files  map[string]*zip.File // lower-cased part name → member
	read   int64                // uncompressed bytes read so far
}

func openOOXML(name string, data []byte, lim ZipLimits) (*ooxmlPackage, error) {
	lim = lim.withDefaults()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a zip container: %w", name, err)
	}
	if len(zr.File) > lim.MaxMembers {
		return nil, fmt.Errorf("%s: %w (%d members, limit %d)", name, ErrZipBomb, len(zr.File), lim.MaxMembers)
	}
	p := &ooxmlPackage{name: name, limits: lim, files: make(map[string]*zip.File, len(zr.File))}
	for _, f := range zr.File {
		if f.UncompressedSize64 > uint64(lim.MaxMember) {
			return nil, fmt.Errorf("%s: %w (member %s expands beyond %d bytes)", name, ErrZipBomb, f.Name, lim.MaxMember)
		}
		key := strings.ToLower(strings.TrimPrefix(f.Name, "/"))
		if _, dup := p.files[key]; !dup {
			p.files[key] = f
		}
	}
	return p, nil
}

// readPart returns the uncompressed bytes of a part. A missing part yields an
// error wrapping fs.ErrNotExist.
func (p *ooxmlPackage) readPart(part string) ([]byte, error) {
	f, ok := p.files[strings.ToLower(strings.TrimPrefix(part, "/"))]
	if !ok {
		return nil, fmt.Errorf("%s: part %s: %w", p.name, part, fs.ErrNotExist)
	}
	lim := p.limits
	if f.UncompressedSize64 > uint64(lim.MaxMember) {
		return nil, p.bomb(f.Name, lim.MaxMember)
	}
	if p.read+int64(f.UncompressedSize64) > lim.MaxTotal {
		return nil, fmt.Errorf("%s: %w (member %s would take the total past %d bytes)", p.name, ErrZipBomb, f.Name, lim.MaxTotal)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: open part %s: %w", p.name, f.Name, err)
	}
	defer rc.Close()

	// The cap is the smallest of what the member, the total budget left and
	// the ratio allow; whichever is hit names the limit in the error.
	budget := min(lim.MaxMember, lim.MaxTotal-p.read)
	ratioCap := int64(-1)
	if c := int64(f.CompressedSize64); c < (1<<62)/lim.MaxRatio {
		ratioCap = max(c*lim.MaxRatio, ooxmlRatioFloor)
		budget = min(budget, ratioCap)
	}
	// Preallocate only what the directory declares and the budget allows;
	// a lying header costs no more than the bytes really inflated.
	buf := bytes.NewBuffer(make([]byte, 0, min(int64(f.UncompressedSize64), budget, 64<<20)+1))
	n, err := io.Copy(buf, io.LimitReader(rc, budget+1))
	p.read += n
	if n > budget {
		if budget == ratioCap {
			return nil, fmt.Errorf("%s: %w (member %s expands beyond %d bytes from %d compressed)", p.name, ErrZipBomb, f.Name, budget, f.CompressedSize64)
		}
		return nil, p.bomb(f.Name, budget)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: read part %s: %w", p.name, f.Name, err)
	}
	return buf.Bytes(), nil
}

func (p *ooxmlPackage) bomb(member string, limit int64) error {
	return fmt.Errorf("%s: %w (member %s expands beyond %d bytes)", p.name, ErrZipBomb, member, limit)
}

// ooxmlRel is one relationship of a part.
type ooxmlRel struct {
	Type     string // full type URI; match with strings.HasSuffix
	Target   string // resolved part name (no leading slash), or the URL when External
	External bool
}

// rels reads the relationships of part (dir/_rels/base.rels), resolving
// targets against the part's folder. A part without relationships yields an
// empty map.
func (p *ooxmlPackage) rels(part string) (map[string]ooxmlRel, error) {
	dir, base := path.Split(strings.TrimPrefix(part, "/"))
	data, err := p.readPart(dir + "_rels/" + base + ".rels")
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]ooxmlRel{}, nil
	}
	if err != nil {
		return nil, err
	}
	var doc struct {
		Rels []struct {
			ID         string `xml:"Id,attr"`
			Type       string `xml:"Type,attr"`
			Target     string `xml:"Target,attr"`
			TargetMode string `xml:"TargetMode,attr"`
		} `xml:"Relationship"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: relationships of %s: %w", p.name, part, err)
	}
	out := make(map[string]ooxmlRel, len(doc.Rels))
	for _, r := range doc.Rels {
		rel := ooxmlRel{Type: r.Type, Target: r.Target, External: strings.EqualFold(r.TargetMode, "External")}
		if !rel.External {
			rel.Target = ooxmlResolve(dir, r.Target)
		}
		out[r.ID] = rel
	}
	return out, nil
}

// ooxmlResolve resolves a relationship target against the folder of its
// source part: "../media/a.png" from "word/" is "media/a.png" under the root.
func ooxmlResolve(dir, target string) string {
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(path.Clean(target), "/")
	}
	return strings.TrimPrefix(path.Clean("/"+dir+target), "/")
}

// ooxmlCore reads docProps/core.xml into title and meta. Missing or broken
// properties are not an error: they are only metadata.
func (p *ooxmlPackage) core(meta map[string]string) (title string) {
	data, err := p.readPart("docProps/core.xml")
	if err != nil {
		return ""
	}
	var c struct {
		Title    string `xml:"title"`
		Subject  string `xml:"subject"`
		Creator  string `xml:"creator"`
		Keywords string `xml:"keywords"`
		Desc     string `xml:"description"`
		Created  string `xml:"created"`
		Modified string `xml:"modified"`
		LastBy   string `xml:"lastModifiedBy"`
	}
	if xml.Unmarshal(data, &c) != nil {
		return ""
	}
	for k, v := range map[string]string{
		"subject": c.Subject, "author": c.Creator, "keywords": c.Keywords,
		"description": c.Desc, "created": officeDate(c.Created), "modified": officeDate(c.Modified),
		"last_modified_by": c.LastBy,
	} {
		if v = strings.TrimSpace(v); v != "" {
			meta[k] = v
		}
	}
	return strings.TrimSpace(c.Title)
}

// image reads an image part and fills what can be known cheaply. Formats Go
// cannot decode (EMF, WMF, SVG) are kept with their MIME type and no size.
func (p *ooxmlPackage) image(part string) (extract.Image, error) {
	data, err := p.readPart(part)
	if err != nil {
		return extract.Image{}, err
	}
	img := extract.Image{Data: data, Src: part, MIME: officeMIME(part, data)}
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
		img.Width, img.Height = cfg.Width, cfg.Height
	}
	return img, nil
}

func officeMIME(name string, data []byte) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".emf":
		return "image/emf"
	case ".wmf":
		return "image/wmf"
	case ".svg":
		return "image/svg+xml"
	case ".tif", ".tiff":
		return "image/tiff"
	}
	mt := http.DetectContentType(data)
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	return mt
}

// xmlNode is a small element tree for one OOXML fragment (a paragraph, a
// table row, a slide). Whole parts are streamed; only fragments are built.
type xmlNode struct {
	Name xml.Name
	Attr []xml.Attr
	Kids []*xmlNode
	Text string // character data directly inside the element
}

const xmlMaxDepth = 256 // deeper nesting is malformed or hostile

// xmlTree reads the element that start opened, up to its end.
func xmlTree(d *xml.Decoder, start xml.StartElement) (*xmlNode, error) {
	root := &xmlNode{Name: start.Name, Attr: start.Attr}
	stack := []*xmlNode{root}
	for len(stack) > 0 {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= xmlMaxDepth {
				return nil, fmt.Errorf("elements nested deeper than %d", xmlMaxDepth)
			}
			n := &xmlNode{Name: t.Name, Attr: t.Attr}
			top.Kids = append(top.Kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.Text += string(t)
		}
	}
	return root, nil
}

// xmlDecoder returns a decoder that tolerates the entity and charset quirks
// of real Office files. encoding/xml never expands external or custom
// entities, so there is no entity bomb to guard against.
func xmlDecoder(data []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		// Office writes UTF-8 (or UTF-16, which encoding/xml rejects
		// earlier); treat any declared label as UTF-8 rather than fail.
		return r, nil
	}
	return d
}

// kid returns the first child with the local name.
func (n *xmlNode) kid(local string) *xmlNode {
	if n == nil {
		return nil
	}
	for _, k := range n.Kids {
		if k.Name.Local == local {
			return k
		}
	}
	return nil
}

// path follows first children by local name.
func (n *xmlNode) path(locals ...string) *xmlNode {
	for _, l := range locals {
		n = n.kid(l)
	}
	return n
}

// attr returns the value of the attribute with the local name, ignoring the
// relationships namespace (use relAttr for r:id and r:embed).
func (n *xmlNode) attr(local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Name.Local == local && !ooxmlIsRelNS(a.Name.Space) {
			return a.Value
		}
	}
	return ""
}

// relAttr returns r:<local>, an attribute in the relationships namespace
// (transitional or strict).
func (n *xmlNode) relAttr(local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Name.Local == local && ooxmlIsRelNS(a.Name.Space) {
			return a.Value
		}
	}
	return ""
}

func ooxmlIsRelNS(space string) bool {
	return strings.Contains(space, "relationships") || space == "r"
}

// walk visits n and its descendants in document order; fn returns false to
// skip a node's children.
func (n *xmlNode) walk(fn func(*xmlNode) bool) {
	if n == nil || !fn(n) {
		return
	}
	for _, k := range n.Kids {
		k.walk(fn)
	}
}

// officeDate normalises a W3CDTF date from core properties; unknown forms
// are returned as they are.
func officeDate(s string) string {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(time.RFC3339)
	}
	return s
}

// officeAtoi parses a small non-negative integer attribute; bad → def.
func officeAtoi(s string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return def
	}
	return n
}
