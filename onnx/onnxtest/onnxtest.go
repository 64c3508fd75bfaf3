// Package onnxtest gives tests one way to load ONNX Runtime: skip with a
// clear message when the library is absent on a developer machine, fail when
// MMRAG_REQUIRE_ORT is set (CI sets it, so a missing library can never turn
// the embedder's tests into silent skips).
package onnxtest

import (
	"fmt"
	"testing"

	"mmrag/internal/testenv"
	"mmrag/onnx"
)

// Init loads ONNX Runtime from the usual places (onnx.Candidates).
func Init(t testing.TB) {
	t.Helper()
	if err := onnx.Init(""); err != nil {
		testenv.Need(t, false, testenv.RequireORT, fmt.Sprintf("ONNX Runtime not available (run `make setup`): %v", err))
	}
}
