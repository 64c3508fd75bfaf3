package vecmath

import "golang.org/x/sys/cpu"

func haveSIMD() bool {
	return cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI
}

// dotAsm is Dot over n ≥ 1 values (dot_amd64.s).
//
//go:noescape
func dotAsm(a, b *float32, n int) float32

// dotBatchAsm is DotBatch over rows ≥ 1 rows of dim ≥ 1 values.
//
//go:noescape
func dotBatchAsm(q, rows *float32, dim, nrows int, out *float32)

// dotInt8Asm is DotInt8 over n ≥ 1 values.
//
//go:noescape
func dotInt8Asm(a, b *int8, n int) int32
