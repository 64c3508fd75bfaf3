//go:build !amd64

package vecmath

func haveSIMD() bool { return false }

func dotAsm(a, b *float32, n int) float32                        { panic("unreachable") }
func dotBatchAsm(q, rows *float32, dim, nrows int, out *float32) { panic("unreachable") }
func dotInt8Asm(a, b *int8, n int) int32                         { panic("unreachable") }
