package markup

import "testing"

func TestLargestSrcset(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a.png 100w, b.png 800w, c.png 400w", "b.png"},
		{"a.png, b.png 2x, c.png 1.5x", "b.png"},
		{"a.png 1x,b.png 3x", "b.png"},
		{"only.png", "only.png"},
		{"a.png 2x, b.png 300w", "b.png"}, // width descriptors win over densities
		{"data:image/png;base64,AAA= 1x, x.png 2x", "x.png"},
		{"data:image/png;base64,AAA= 2x, x.png 1x", "data:image/png;base64,AAA="},
		{"a.png 100w (junk, more), b.png 50w", "a.png"},
		{"", ""},
		{" , ,", ""},
	}
	for _, tt := range tests {
		if got := LargestSrcset(tt.in); got != tt.want {
			t.Errorf("LargestSrcset(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
