package main

import (
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

var (
	white = color.RGBA{255, 255, 255, 255}
	ink   = color.RGBA{30, 34, 45, 255}
	grey  = color.RGBA{150, 155, 165, 255}
	light = color.RGBA{232, 236, 244, 255}
	blue  = color.RGBA{46, 94, 170, 255}
	green = color.RGBA{46, 140, 90, 255}
	amber = color.RGBA{200, 130, 30, 255}
)

// canvas is an image with the drawing helpers the figures need.
type canvas struct{ *image.RGBA }

func newCanvas(w, h int) canvas {
	c := canvas{image.NewRGBA(image.Rect(0, 0, w, h))}
	draw.Draw(c, c.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	return c
}

func (c canvas) rect(x0, y0, x1, y1 int, col color.Color) {
	draw.Draw(c, image.Rect(x0, y0, x1, y1), image.NewUniform(col), image.Point{}, draw.Over)
}

// frame draws a rectangle's border, w pixels wide.
func (c canvas) frame(x0, y0, x1, y1, w int, col color.Color) {
	c.rect(x0, y0, x1, y0+w, col)
	c.rect(x0, y1-w, x1, y1, col)
	c.rect(x0, y0, x0+w, y1, col)
	c.rect(x1-w, y0, x1, y1, col)
}

// line draws a line w pixels thick.
func (c canvas) line(x0, y0, x1, y1 float64, w int, col color.Color) {
	n := int(math.Max(math.Abs(x1-x0), math.Abs(y1-y0))) + 1
	for i := 0; i <= n; i++ {
		t := float64(i) / float64(n)
		x, y := int(x0+(x1-x0)*t), int(y0+(y1-y0)*t)
		c.rect(x-w/2, y-w/2, x-w/2+w, y-w/2+w, col)
	}
}

// arrow draws a line ending in a head at (x1, y1).
func (c canvas) arrow(x0, y0, x1, y1 float64, col color.Color) {
	c.line(x0, y0, x1, y1, 3, col)
	a := math.Atan2(y1-y0, x1-x0)
	for _, d := range []float64{-0.5, 0.5} {
		c.line(x1, y1, x1-14*math.Cos(a+d), y1-14*math.Sin(a+d), 3, col)
	}
}

func face(bold bool, size float64) font.Face {
	data := goregular.TTF
	if bold {
		data = gobold.TTF
	}
	f, err := opentype.Parse(data)
	if err != nil {
		panic(err) // the embedded Go fonts always parse
	}
	fc, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		panic(err)
	}
	return fc
}

// text writes s with its baseline at y; align is 0 left, 1 centre, 2 right of x.
func (c canvas) text(s string, x, y int, f font.Face, col color.Color, align int) {
	d := &font.Drawer{Dst: c, Src: image.NewUniform(col), Face: f}
	w := d.MeasureString(s).Round()
	x -= align * w / 2
	d.Dot = fixed.P(x, y)
	d.DrawString(s)
}
