package main

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// pipeline draws mmrag's steps, each with its package.
func pipeline() image.Image {
	steps := [][2]string{
		{"extract", "extract/"}, {"chunk", "chunk/"}, {"embed", "embed/ (CLIP)"}, {"store", "sqlite/, weaviate/"},
		{"retrieve", "retrieve/"}, {"prompt", "prompt/"}, {"generate", "generate/, ollama/"}, {"serve", "server/, app/"},
	}
	c := newCanvas(1200, 520)
	title, label, small := face(true, 30), face(true, 24), face(false, 17)
	c.text("The mmrag pipeline: from files to cited answers", 600, 50, title, ink, 1)
	const w, h, gap = 240, 110, 60
	for i, st := range steps {
		row, col := i/4, i%4
		if row == 1 {
			col = 3 - col // the second row runs right to left
		}
		x := 45 + col*(w+gap)
		y := 110 + row*(h+120)
		fill := light
		if st[0] == "embed" || st[0] == "retrieve" {
			fill = color.RGBA{220, 232, 250, 255}
		}
		c.rect(x, y, x+w, y+h, fill)
		c.frame(x, y, x+w, y+h, 3, blue)
		c.text(fmt.Sprintf("%d. %s", i+1, st[0]), x+w/2, y+48, label, ink, 1)
		c.text(st[1], x+w/2, y+84, small, grey, 1)
		switch {
		case i == 3:
			c.arrow(float64(x+w/2), float64(y+h+6), float64(x+w/2), float64(y+h+114), blue)
		case i < 3:
			c.arrow(float64(x+w+6), float64(y+h/2), float64(x+w+gap-6), float64(y+h/2), blue)
		case i < 7:
			c.arrow(float64(x-6), float64(y+h/2), float64(x-gap+6), float64(y+h/2), blue)
		}
	}
	c.text("Text windows and figures share one CLIP space; answers cite passages and figures by number.", 600, 500, small, ink, 1)
	return c
}

// bars draws a horizontal bar chart.
func bars(titleText, unit string, labels []string, values []float64, col color.Color) image.Image {
	c := newCanvas(1000, 120+70*len(labels))
	title, label, small := face(true, 28), face(false, 20), face(true, 20)
	c.text(titleText, 500, 50, title, ink, 1)
	top := 0.0
	for _, v := range values {
		top = math.Max(top, v)
	}
	const x0, x1 = 330, 840
	for i, v := range values {
		y := 90 + i*70
		c.text(labels[i], x0-15, y+33, label, ink, 2)
		wid := int(float64(x1-x0) * v / top)
		c.rect(x0, y+8, x0+max(wid, 2), y+48, col)
		c.text(fmt.Sprintf("%g %s", v, unit), x0+wid+10, y+35, small, ink, 0)
	}
	c.rect(x0-2, 85, x0, 90+70*len(labels), grey)
	return c
}

// embeddingSpeed charts CLIP embedding throughput on 2 CPU cores
// (docs/PERFORMANCE.md, make bench).
func embeddingSpeed() image.Image {
	return bars("CLIP ViT-B/16 embedding speed on 2 CPU cores", "per s",
		[]string{"10-token questions", "77-token chunks, batch 8", "images (224×224)"},
		[]float64{49, 21, 3.2}, blue)
}

// searchLatency charts exact vector search time over the item count
// (docs/PERFORMANCE.md).
func searchLatency() image.Image {
	return bars("Exact vector search, top 10 of 512-d vectors", "ms",
		[]string{"10 000 items", "100 000 items", "1 000 000 items"},
		[]float64{5, 20, 193}, green)
}

// softmaxScores plots the reference scoring: softmax(q·E/T) of the same
// similarities at T = 0.25 and T = 0.5, with the 0.25 image threshold.
func softmaxScores() image.Image {
	c := newCanvas(1000, 560)
	title, label, small := face(true, 28), face(false, 20), face(false, 17)
	c.text("Reference scoring: softmax(q·E / T) over 20 items", 500, 50, title, ink, 1)
	sims := make([]float64, 20)
	for i := range sims {
		sims[i] = 0.32 - 0.012*float64(i) // similarities of the 20 best items
	}
	const x0, y0, x1, y1 = 110, 470, 930, 100
	c.rect(x0, y1, x0+2, y0, grey)
	c.rect(x0, y0, x1, y0+2, grey)
	for k, s := range []struct {
		t   float64
		col color.Color
		lbl string
	}{{0.25, blue, "T = 0.25 (text)"}, {0.5, amber, "T = 0.5 (images)"}} {
		// The query's norm (≈ 9, CLIP's raw projection) sharpens the softmax.
		var z float64
		p := make([]float64, len(sims))
		for i, v := range sims {
			p[i] = math.Exp(9 * v / s.t)
			z += p[i]
		}
		px, py := 0.0, 0.0
		for i := range p {
			x := float64(x0) + float64(i)*float64(x1-x0)/float64(len(p)-1)
			y := float64(y0) - p[i]/z*float64(y0-y1)/0.6
			if i > 0 {
				c.line(px, py, x, y, 4, s.col)
			}
			c.rect(int(x)-5, int(y)-5, int(x)+5, int(y)+5, s.col)
			px, py = x, y
		}
		c.text(s.lbl, x1-10, y1+30+36*k, label, s.col, 2)
	}
	ty := float64(y0) - 0.25*float64(y0-y1)/0.6
	for x := x0; x < x1; x += 24 {
		c.rect(x, int(ty), x+12, int(ty)+2, grey)
	}
	c.text("image threshold 0.25", x0+10, int(ty)-8, small, grey, 0)
	c.text("items, best first", (x0+x1)/2, 520, label, ink, 1)
	return c
}
