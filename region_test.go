package mmrag

import (
	"strings"
	"testing"
)

func TestRegionRoundTrip(t *testing.T) {
	r := Region{X0: 0.1, Y0: 0.25, X1: 0.123456, Y1: 1}
	s := r.String()
	if s != "0.1000 0.2500 0.1235 1.0000" {
		t.Errorf("String = %q", s)
	}
	got, err := ParseRegion(s)
	if err != nil || got != (Region{X0: 0.1, Y0: 0.25, X1: 0.1235, Y1: 1}) {
		t.Errorf("ParseRegion(%q) = %+v, %v", s, got, err)
	}
}

func TestParseRegionRefuses(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "four numbers"},
		{"0.1 0.2 0.3", "four numbers"},
		{"0.1 0.2 0.3 0.4 0.5", "four numbers"},
		{"0.1 x 0.3 0.4", `"x" is not a fraction`},
		{"0.1 0.2 1.5 0.4", `"1.5" is not a fraction`},
		{"-0.1 0.2 0.3 0.4", `"-0.1" is not a fraction`},
		{"NaN 0.2 0.3 0.4", `"NaN" is not a fraction`},
		{"0.5 0.2 0.3 0.4", "out of order"},
		{"0.1 0.5 0.3 0.4", "out of order"},
	} {
		if _, err := ParseRegion(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseRegion(%q): err = %v, want %q", tt.in, err, tt.want)
		}
	}
}
