package sqlite

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// Times are stored as unix nanoseconds, so they must fit an int64.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// encTime returns t as unix ns, or NULL for the zero time.
func encTime(t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("time %s is outside the storable range %d–%d", t.Format(time.RFC3339), minTime.Year(), maxTime.Year())
	}
	return t.UnixNano(), nil
}

func decTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(0, v.Int64).UTC()
}

// boundNS turns a filter bound into unix ns, clamping times outside the
// storable range so that they still compare correctly.
func boundNS(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// encJSON encodes v, or NULL when empty. HTML escaping is off so that the
// section path indexed by FTS holds the words as written.
func encJSON[T any](v T, empty bool) (any, error) {
	if empty {
		return nil, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}

func decMeta(v sql.NullString) (map[string]string, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(v.String), &m); err != nil {
		return nil, fmt.Errorf("decode meta: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

func decSection(v sql.NullString) ([]string, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	var s []string
	if err := json.Unmarshal([]byte(v.String), &s); err != nil {
		return nil, fmt.Errorf("decode section: %w", err)
	}
	if len(s) == 0 {
		return nil, nil
	}
	return s, nil
}

// encVector is the BLOB layout of a vector: little-endian float32.
func encVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// decVectorInto appends the float32s of b to dst: grown once, then filled
// in place (an append per value was a third of loading a matrix).
func decVectorInto(dst []float32, b []byte) []float32 {
	n := len(dst)
	dst = slices.Grow(dst, len(b)/4)[:n+len(b)/4]
	out := dst[n:]
	b = b[:4*len(out)]
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return dst
}
