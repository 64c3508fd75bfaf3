package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Generators of the files the checks ingest: every file of the suite is
// written by code, none is committed.

// words is a small vocabulary for generated prose.
var words = strings.Fields(`contrastive learning aligns text and image embeddings in one space where a
caption and its picture lie close together while unrelated pairs are pushed apart the encoder
reads patches of the image and tokens of the sentence then projects both into vectors whose
cosine similarity ranks the figures of a document retrieval augmented generation feeds the best
passages to a language model which answers with citations to its sources`)

// prose is n deterministic sentences for seed.
func prose(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	for i := range n {
		k := 6 + r.IntN(10)
		for j := range k {
			w := words[r.IntN(len(words))]
			if j == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
			if j < k-1 {
				b.WriteByte(' ')
			}
		}
		b.WriteString(". ")
		if i%5 == 4 {
			b.WriteString("\n\n")
		}
	}
	return b.String()
}

// pngImage is a w×h picture, different for every seed; noise makes it
// incompressible.
func pngImage(w, h int, seed uint64, noise bool) []byte {
	r := rand.New(rand.NewPCG(seed, 11))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	c1 := color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
	for y := range h {
		for x := range w {
			if noise {
				img.Set(x, y, color.NRGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 255})
				continue
			}
			img.Set(x, y, color.NRGBA{uint8(x*255/w) ^ c1.R, uint8(y*255/h) ^ c1.G, c1.B, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

func jpegImage(w, h int, seed uint64) []byte {
	img, _ := png.Decode(bytes.NewReader(pngImage(w, h, seed, false)))
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 85})
	return b.Bytes()
}

// paddedPNG is a small w×h picture carrying n random bytes in a private
// ancillary chunk, which decoders skip: a large file, cheap to decode and
// to recognise with OCR.
func paddedPNG(w, h int, seed uint64, n int) []byte {
	img := pngImage(w, h, seed, false)
	r := rand.New(rand.NewPCG(seed, 13))
	pad := make([]byte, n)
	for i := range pad {
		pad[i] = byte(r.Uint32())
	}
	var c bytes.Buffer
	var u [4]byte
	binary.BigEndian.PutUint32(u[:], uint32(n))
	c.Write(u[:])
	c.WriteString("prVt")
	c.Write(pad)
	crc := crc32.NewIEEE()
	crc.Write([]byte("prVt"))
	crc.Write(pad)
	binary.BigEndian.PutUint32(u[:], crc.Sum32())
	c.Write(u[:])
	iend := len(img) - 12 // the IEND chunk closes every PNG
	return slices.Concat(img[:iend], c.Bytes(), img[iend:])
}

// pngHeaderOnly is a well-formed PNG (valid CRCs) whose IHDR declares w×h
// RGB pixels, with one tiny IDAT: decoding it for real would allocate
// w×h×4 bytes.
func pngHeaderOnly(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		b.Write(n[:])
		b.WriteString(typ)
		b.Write(data)
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		binary.BigEndian.PutUint32(n[:], crc.Sum32())
		b.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// pdfFile is a one-page PDF showing lines of text in Helvetica, with a
// correct cross-reference table.
func pdfFile(lines []string) []byte {
	var content strings.Builder
	content.WriteString("BT /F1 12 Tf 72 740 Td 14 TL\n")
	for _, l := range lines {
		l = strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(l)
		fmt.Fprintf(&content, "(%s) '\n", l)
	}
	content.WriteString("ET\n")
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

const (
	docxTypes = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`
	docxRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`
	xlsxTypes = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>`
	xlsxRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`
	docxHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>`
	docxTail = `</w:body></w:document>`
)

// docxFile is a minimal Word document with one paragraph per entry.
func docxFile(paras []string) []byte {
	var doc strings.Builder
	doc.WriteString(docxHead)
	for _, p := range paras {
		fmt.Fprintf(&doc, "<w:p><w:r><w:t>%s</w:t></w:r></w:p>", p)
	}
	doc.WriteString(docxTail)
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for _, f := range [][2]string{{"[Content_Types].xml", docxTypes}, {"_rels/.rels", docxRels}, {"word/document.xml", doc.String()}} {
		w, _ := z.Create(f[0])
		w.Write([]byte(f[1]))
	}
	z.Close()
	return b.Bytes()
}

// deflated is one member's data compressed once, for zip bombs.
type deflated struct {
	raw  []byte
	crc  uint32
	size uint64
}

// bombMember deflates head, then n MiB of one repeated byte, then tail.
func bombMember(head, tail string, n int) deflated {
	var raw bytes.Buffer
	fw, _ := flate.NewWriter(&raw, flate.BestSpeed)
	crc := crc32.NewIEEE()
	w := io.MultiWriter(fw, crc)
	io.WriteString(w, head)
	block := bytes.Repeat([]byte("A"), 1<<20)
	for range n {
		w.Write(block)
	}
	io.WriteString(w, tail)
	fw.Close()
	return deflated{raw: raw.Bytes(), crc: crc.Sum32(), size: uint64(len(head)+len(tail)) + uint64(n)<<20}
}

// zipBomb is an OOXML container whose member holds m; declared is the
// uncompressed size its headers claim (m.size: honest; smaller: a lie
// only reading finds out).
func zipBomb(types, rels, member string, m deflated, declared uint64) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for _, f := range [][2]string{{"[Content_Types].xml", types}, {"_rels/.rels", rels}} {
		w, _ := z.Create(f[0])
		w.Write([]byte(f[1]))
	}
	w, _ := z.CreateRaw(&zip.FileHeader{
		Name: member, Method: zip.Deflate, CRC32: m.crc,
		CompressedSize64: uint64(len(m.raw)), UncompressedSize64: declared,
	})
	w.Write(m.raw)
	z.Close()
	return b.Bytes()
}

// writeFile writes data at dir/rel, creating folders.
func writeFile(dir, rel string, data []byte) (string, error) {
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, data, 0o644)
}
