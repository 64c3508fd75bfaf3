package onnxgraph

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// defaultORTLib is where the project installs ONNX Runtime 1.24.1.
const defaultORTLib = "/root/.cache/mmrag/ort/1.24.1/libonnxruntime.so.1"

var (
	ortOnce sync.Once
	ortErr  error
)

// needORT initialises ONNX Runtime once per process, or skips the test when
// the shared library is missing.
func needORT(tb testing.TB) {
	tb.Helper()
	lib := os.Getenv("MMRAG_ORT_LIB")
	if lib == "" {
		lib = defaultORTLib
	}
	if _, err := os.Stat(lib); err != nil {
		tb.Skipf("ONNX Runtime library not found at %s (set MMRAG_ORT_LIB): %v", lib, err)
	}
	ortOnce.Do(func() {
		ort.SetSharedLibraryPath(lib)
		ortErr = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	if ortErr != nil {
		tb.Fatalf("initialise ONNX Runtime from %s: %v", lib, ortErr)
	}
}

// input is one named graph input.
type input struct {
	name  string
	shape []int64
	i64   []int64
	f32   []float32
}

func (in input) value() (ort.Value, error) {
	if in.i64 != nil {
		return ort.NewTensor(ort.NewShape(in.shape...), in.i64)
	}
	return ort.NewTensor(ort.NewShape(in.shape...), in.f32)
}

// output is one float output read back from ONNX Runtime.
type output struct {
	shape []int64
	data  []float32
}

// session is an ONNX Runtime session over model bytes.
type session struct {
	s       *ort.DynamicAdvancedSession
	outputs []string
}

func newSession(tb testing.TB, model []byte, inputs, outputs []string, threads int) *session {
	tb.Helper()
	needORT(tb)
	opts, err := ort.NewSessionOptions()
	if err != nil {
		tb.Fatal(err)
	}
	defer opts.Destroy()
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			tb.Fatal(err)
		}
		if err := opts.SetInterOpNumThreads(1); err != nil {
			tb.Fatal(err)
		}
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, inputs, outputs, opts)
	if err != nil {
		tb.Fatalf("create session: %v", err)
	}
	tb.Cleanup(func() { s.Destroy() })
	return &session{s: s, outputs: outputs}
}

func (s *session) run(ins ...input) (map[string]output, error) {
	values := make([]ort.Value, len(ins))
	defer func() {
		for _, v := range values {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, in := range ins {
		v, err := in.value()
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", in.name, err)
		}
		values[i] = v
	}
	outs := make([]ort.Value, len(s.outputs))
	if err := s.s.Run(values, outs); err != nil {
		return nil, err
	}
	res := map[string]output{}
	var errs []error
	for i, v := range outs {
		t, ok := v.(*ort.Tensor[float32])
		if !ok {
			errs = append(errs, fmt.Errorf("output %s is %T, not a float tensor", s.outputs[i], v))
		} else {
			res[s.outputs[i]] = output{shape: t.GetShape(), data: append([]float32(nil), t.GetData()...)}
		}
		v.Destroy()
	}
	return res, errors.Join(errs...)
}

func (s *session) mustRun(tb testing.TB, ins ...input) map[string]output {
	tb.Helper()
	res, err := s.run(ins...)
	if err != nil {
		tb.Fatalf("run: %v", err)
	}
	return res
}
