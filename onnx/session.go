package onnx

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	ort "github.com/yalue/onnxruntime_go"
)

// DType is a tensor element type that mmrag feeds or reads.
type DType string

const (
	Float32 DType = "float32"
	Int64   DType = "int64"
	Int32   DType = "int32"
	Other   DType = "other"
)

// IO describes one graph input or output. Dynamic axes are -1.
type IO struct {
	Name  string
	DType DType
	Shape []int64
}

// Tensor is an input value: exactly one of the data slices is set, matching
// the input's DType.
type Tensor struct {
	Shape   []int64
	Float32 []float32
	Int64   []int64
	Int32   []int32
}

// Output is a float32 result.
type Output struct {
	Shape []int64
	Data  []float32
}

// Options tune a session. The zero value uses every core and full graph
// optimisation.
type Options struct {
	Threads int // intra-op threads; 0 = DefaultThreads()
}

// Session runs one model file. It is safe for concurrent use: ONNX Runtime
// sessions allow concurrent Run calls.
type Session struct {
	path    string
	inputs  []IO
	outputs []IO
	sess    *ort.DynamicAdvancedSession
}

// Open loads a model. outputs names the outputs Run returns (nil: all of
// them); every declared input must be fed on each Run. Init must have
// succeeded first.
func Open(path string, outputs []string, opts Options) (*Session, error) {
	if !ort.IsInitialized() {
		return nil, errors.New("onnx: Init has not loaded ONNX Runtime")
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	if err := readable(path, st); err != nil {
		return nil, fmt.Errorf("open model %s: %w", path, err)
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("open model %s: empty file", path)
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = DefaultThreads()
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("open model %s: session options: %w", path, err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(threads); err != nil {
		return nil, fmt.Errorf("open model %s: set threads: %w", path, err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("open model %s: set threads: %w", path, err)
	}
	if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll); err != nil {
		return nil, fmt.Errorf("open model %s: optimisation level: %w", path, err)
	}

	// Reading the declared names needs a session of its own; a cheap one
	// without graph optimisation.
	info, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("open model %s: session options: %w", path, err)
	}
	defer info.Destroy()
	_ = info.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll)
	ins, outs, err := ort.GetInputOutputInfoWithOptions(path, info)
	if err != nil {
		return nil, fmt.Errorf("open model %s: not a valid ONNX model: %w", path, err)
	}
	s := &Session{path: path}
	for _, in := range ins {
		s.inputs = append(s.inputs, toIO(in))
	}
	for _, out := range outs {
		s.outputs = append(s.outputs, toIO(out))
	}
	if outputs == nil {
		for _, o := range s.outputs {
			outputs = append(outputs, o.Name)
		}
	}
	for _, name := range outputs {
		if !slices.ContainsFunc(s.outputs, func(o IO) bool { return o.Name == name }) {
			return nil, fmt.Errorf("open model %s: graph has no output %q (it declares %s)", path, name, names(s.outputs))
		}
	}
	inNames := make([]string, len(s.inputs))
	for i, in := range s.inputs {
		inNames[i] = in.Name
	}
	sess, err := ort.NewDynamicAdvancedSession(path, inNames, outputs, so)
	if err != nil {
		return nil, fmt.Errorf("open model %s: %w", path, err)
	}
	s.sess = sess
	s.outputs = slices.DeleteFunc(s.outputs, func(o IO) bool { return !slices.Contains(outputs, o.Name) })
	// Keep the order Run returns them in: the order asked for.
	slices.SortFunc(s.outputs, func(a, b IO) int { return slices.Index(outputs, a.Name) - slices.Index(outputs, b.Name) })
	return s, nil
}

// readable checks that path (of info st) is a file this process can read.
// ONNX Runtime reports a file it cannot open as an invalid model; this says
// what is wrong instead.
func readable(path string, st fs.FileInfo) error {
	if st.IsDir() {
		return errors.New("is a directory, not a model file")
	}
	f, err := os.Open(path)
	if err != nil {
		return unreadable(err)
	}
	return f.Close()
}

// unreadable is the error of a model file that cannot be opened: "cannot
// read the file: permission denied" (the caller names the path).
func unreadable(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("cannot read the file: %w", err)
}

func names(ios []IO) string {
	var s []string
	for _, io := range ios {
		s = append(s, fmt.Sprintf("%q", io.Name))
	}
	if len(s) == 0 {
		return "none"
	}
	return fmt.Sprint(s)
}

func toIO(in ort.InputOutputInfo) IO {
	io := IO{Name: in.Name, Shape: slices.Clone([]int64(in.Dimensions))}
	switch in.DataType {
	case ort.TensorElementDataTypeFloat:
		io.DType = Float32
	case ort.TensorElementDataTypeInt64:
		io.DType = Int64
	case ort.TensorElementDataTypeInt32:
		io.DType = Int32
	default:
		io.DType = Other
	}
	return io
}

// Path is the model file.
func (s *Session) Path() string { return s.path }

// Inputs lists the graph's declared inputs.
func (s *Session) Inputs() []IO { return s.inputs }

// Outputs lists the outputs Run returns, in order.
func (s *Session) Outputs() []IO { return s.outputs }

// Run feeds one tensor per declared input (by name) and returns the outputs
// in Outputs() order. Cancelling ctx terminates the run.
func (s *Session) Run(ctx context.Context, in map[string]Tensor) ([]Output, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	values := make([]ort.Value, 0, len(s.inputs))
	defer func() {
		for _, v := range values {
			v.Destroy()
		}
	}()
	for _, io := range s.inputs {
		t, ok := in[io.Name]
		if !ok {
			return nil, fmt.Errorf("run %s: input %q not given", s.path, io.Name)
		}
		v, err := t.value(io)
		if err != nil {
			return nil, fmt.Errorf("run %s: input %q: %w", s.path, io.Name, err)
		}
		values = append(values, v)
	}
	outs := make([]ort.Value, len(s.outputs))
	defer func() {
		for _, v := range outs {
			if v != nil {
				v.Destroy()
			}
		}
	}()

	ro, err := ort.NewRunOptions()
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", s.path, err)
	}
	defer ro.Destroy()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = ro.Terminate()
		case <-done:
		}
	}()
	if err := s.sess.RunWithOptions(values, outs, ro); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("run %s: %w", s.path, err)
	}
	res := make([]Output, len(outs))
	for i, v := range outs {
		t, ok := v.(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("run %s: output %q is %T, want float32 tensor", s.path, s.outputs[i].Name, v)
		}
		res[i] = Output{Shape: slices.Clone([]int64(t.GetShape())), Data: slices.Clone(t.GetData())}
	}
	return res, nil
}

func (t Tensor) value(io IO) (ort.Value, error) {
	shape := ort.NewShape(t.Shape...)
	if len(io.Shape) != len(t.Shape) {
		return nil, fmt.Errorf("rank %d given, graph declares shape %v", len(t.Shape), io.Shape)
	}
	for i, d := range io.Shape {
		if d > 0 && d != t.Shape[i] {
			return nil, fmt.Errorf("shape %v given, graph declares %v", t.Shape, io.Shape)
		}
	}
	switch io.DType {
	case Float32:
		if t.Float32 == nil {
			return nil, fmt.Errorf("graph wants float32 data")
		}
		return ort.NewTensor(shape, t.Float32)
	case Int64:
		if t.Int64 == nil {
			return nil, fmt.Errorf("graph wants int64 data")
		}
		return ort.NewTensor(shape, t.Int64)
	case Int32:
		if t.Int32 == nil {
			return nil, fmt.Errorf("graph wants int32 data")
		}
		return ort.NewTensor(shape, t.Int32)
	}
	return nil, fmt.Errorf("unsupported input element type")
}

// Close releases the session.
func (s *Session) Close() error {
	if s.sess == nil {
		return nil
	}
	err := s.sess.Destroy()
	s.sess = nil
	return err
}
