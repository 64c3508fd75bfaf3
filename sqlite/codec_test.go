package sqlite

import (
	"math"
	"slices"
	"testing"
)

// TestVectorCodec round-trips vectors through the blob encoding, appended
// after values already in the destination, bit for bit.
func TestVectorCodec(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prefix []float32
		v      []float32
	}{
		{"empty", nil, nil},
		{"one", nil, []float32{1.5}},
		{"after others", []float32{9, 8}, []float32{-0.25, 3e-38, math.MaxFloat32, float32(math.Inf(-1)), -0}},
		{"512", nil, func() []float32 {
			v := make([]float32, 512)
			for i := range v {
				v[i] = float32(i)*0.001 - 0.2
			}
			return v
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decVectorInto(slices.Clone(tc.prefix), encVector(tc.v))
			want := append(slices.Clone(tc.prefix), tc.v...)
			if len(got) != len(want) {
				t.Fatalf("%d values, want %d", len(got), len(want))
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("value %d: %v, want %v", i, got[i], want[i])
				}
			}
		})
	}
}
