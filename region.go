package mmrag

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Region is a rectangle on a page in fractions of the page's width and
// height, measured from its top left corner as the page is shown (y grows
// downwards): 0 ≤ X0 ≤ X1 ≤ 1 and 0 ≤ Y0 ≤ Y1 ≤ 1. Fractions fit a render
// of the page at any size. Item.Meta[MetaRegion] holds it.
type Region struct{ X0, Y0, X1, Y1 float64 }

// regionDigits is the precision a Region is stored with: a ten-thousandth
// of the page, a fraction of a pixel on any screen.
const regionDigits = 4

// String writes r as four decimal fractions separated by spaces:
// "x0 y0 x1 y1".
func (r Region) String() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', regionDigits, 64) }
	return f(r.X0) + " " + f(r.Y0) + " " + f(r.X1) + " " + f(r.Y1)
}

// ParseRegion reads a Region written by String. It refuses anything else:
// not four numbers, numbers outside [0, 1], or corners out of order.
func ParseRegion(s string) (Region, error) {
	f := strings.Fields(s)
	if len(f) != 4 {
		return Region{}, fmt.Errorf("region %q: want four numbers \"x0 y0 x1 y1\"", s)
	}
	var v [4]float64
	for i, x := range f {
		n, err := strconv.ParseFloat(x, 64)
		if err != nil || math.IsNaN(n) || n < 0 || n > 1 {
			return Region{}, fmt.Errorf("region %q: %q is not a fraction from 0 to 1", s, x)
		}
		v[i] = n
	}
	r := Region{X0: v[0], Y0: v[1], X1: v[2], Y1: v[3]}
	if r.X0 > r.X1 || r.Y0 > r.Y1 {
		return Region{}, fmt.Errorf("region %q: corners out of order", s)
	}
	return r, nil
}
