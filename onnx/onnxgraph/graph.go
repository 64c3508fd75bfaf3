// Package onnxgraph builds ONNX models in pure Go: a small graph builder that
// writes ModelProto bytes by hand, and generators for CLIP-shaped models
// (tiny ones for exact tests, true-shape random-weight ones for speed
// measurements) plus a writer for a complete Hugging Face-layout CLIP folder.
//
// It exists because no real CLIP weights can be downloaded where the project
// is developed and tested; the graphs have the real input/output names,
// dtypes and dynamic axes, so code that runs real CLIP ONNX exports runs
// these unchanged.
package onnxgraph

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// DataType is an ONNX TensorProto.DataType.
type DataType int32

// The tensor element types the generators use.
const (
	Float DataType = 1
	Int8  DataType = 3
	Int32 DataType = 6
	Int64 DataType = 7
	Bool  DataType = 9
)

func (t DataType) size() int {
	switch t {
	case Float, Int32:
		return 4
	case Int64:
		return 8
	case Bool, Int8:
		return 1
	}
	return 0
}

// Dim is one axis of a declared input or output shape: a non-negative
// decimal integer is a fixed size, anything else names a dynamic axis (dim_param), so
// g.Input("input_ids", Int64, "batch_size", "sequence_length") reads as the
// shape it declares.
type Dim string

// Fixed returns the Dim of a fixed-size axis.
func Fixed(n int) Dim { return Dim(strconv.Itoa(n)) }

// Tensor is a TensorProto with its data in raw little-endian form.
type Tensor struct {
	Name string
	Type DataType
	Dims []int64
	Raw  []byte
}

// Float32s decodes the tensor's data; it fails for non-float tensors.
func (t *Tensor) Float32s() ([]float32, error) {
	if t.Type != Float {
		return nil, fmt.Errorf("tensor %q has data type %d, not float", t.Name, t.Type)
	}
	out := make([]float32, len(t.Raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Raw[4*i:]))
	}
	return out, nil
}

func (t *Tensor) proto() message {
	var m message
	for _, d := range t.Dims {
		m.varint(1, d)
	}
	m.varint(2, int64(t.Type))
	if t.Name != "" {
		m.str(8, t.Name)
	}
	m.bytes(9, t.Raw)
	return m
}

// NewFloatTensor packs data as a float tensor of shape dims.
func NewFloatTensor(name string, data []float32, dims ...int64) (*Tensor, error) {
	if err := checkCount(name, len(data), dims); err != nil {
		return nil, err
	}
	raw := make([]byte, 0, 4*len(data))
	for _, v := range data {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	return &Tensor{Name: name, Type: Float, Dims: dims, Raw: raw}, nil
}

// NewInt64Tensor packs data as an int64 tensor of shape dims.
func NewInt64Tensor(name string, data []int64, dims ...int64) (*Tensor, error) {
	if err := checkCount(name, len(data), dims); err != nil {
		return nil, err
	}
	raw := make([]byte, 0, 8*len(data))
	for _, v := range data {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
	}
	return &Tensor{Name: name, Type: Int64, Dims: dims, Raw: raw}, nil
}

// NewInt8Tensor packs data as an int8 tensor of shape dims.
func NewInt8Tensor(name string, data []int8, dims ...int64) (*Tensor, error) {
	if err := checkCount(name, len(data), dims); err != nil {
		return nil, err
	}
	raw := make([]byte, len(data))
	for i, v := range data {
		raw[i] = byte(v)
	}
	return &Tensor{Name: name, Type: Int8, Dims: dims, Raw: raw}, nil
}

func checkCount(name string, n int, dims []int64) error {
	want := int64(1)
	for _, d := range dims {
		if d < 0 {
			return fmt.Errorf("tensor %q: negative dimension in %v", name, dims)
		}
		want *= d
	}
	if want != int64(n) {
		return fmt.Errorf("tensor %q: shape %v holds %d values, got %d", name, dims, want, n)
	}
	return nil
}

// Attr is a node attribute; make one with AttrInt, AttrFloat, AttrInts,
// AttrFloats, AttrString or AttrTensor.
type Attr struct {
	name   string
	typ    int64 // AttributeProto.AttributeType
	i      int64
	f      float32
	s      string
	t      *Tensor
	ints   []int64
	floats []float32
}

// AttributeProto.AttributeType values.
const (
	attrFloat  = 1
	attrInt    = 2
	attrString = 3
	attrTensor = 4
	attrFloats = 6
	attrInts   = 7
)

// AttrInt is an int attribute.
func AttrInt(name string, v int64) Attr { return Attr{name: name, typ: attrInt, i: v} }

// AttrFloat is a float attribute.
func AttrFloat(name string, v float32) Attr { return Attr{name: name, typ: attrFloat, f: v} }

// AttrString is a string attribute.
func AttrString(name, v string) Attr { return Attr{name: name, typ: attrString, s: v} }

// AttrTensor is a tensor attribute, such as Constant's value.
func AttrTensor(name string, t *Tensor) Attr { return Attr{name: name, typ: attrTensor, t: t} }

// AttrInts is an ints attribute.
func AttrInts(name string, v ...int64) Attr { return Attr{name: name, typ: attrInts, ints: v} }

// AttrFloats is a floats attribute.
func AttrFloats(name string, v ...float32) Attr { return Attr{name: name, typ: attrFloats, floats: v} }

func (a Attr) proto() message {
	var m message
	m.str(1, a.name)
	switch a.typ {
	case attrFloat:
		m.float(2, a.f)
	case attrInt:
		m.varint(3, a.i)
	case attrString:
		m.str(4, a.s)
	case attrTensor:
		m.msg(5, a.t.proto())
	case attrFloats:
		for _, v := range a.floats {
			m.float(7, v)
		}
	case attrInts:
		for _, v := range a.ints {
			m.varint(8, v)
		}
	}
	m.varint(20, a.typ)
	return m
}

type node struct {
	op, name        string
	inputs, outputs []string
	attrs           []Attr
}

func (n node) proto() message {
	var m message
	for _, s := range n.inputs {
		m.str(1, s)
	}
	for _, s := range n.outputs {
		m.str(2, s)
	}
	m.str(3, n.name)
	m.str(4, n.op)
	for _, a := range n.attrs {
		m.msg(5, a.proto())
	}
	return m
}

type valueInfo struct {
	name string
	typ  DataType
	dims []Dim
}

func (v valueInfo) proto() message {
	var shape message
	for _, d := range v.dims {
		var dm message
		if n, err := strconv.ParseUint(string(d), 10, 63); err == nil {
			dm.varint(1, int64(n))
		} else {
			dm.str(2, string(d))
		}
		shape.msg(1, dm)
	}
	var tensorType message
	tensorType.varint(1, int64(v.typ))
	tensorType.msg(2, shape)
	var typ message
	typ.msg(1, tensorType)
	var m message
	m.str(1, v.name)
	m.msg(2, typ)
	return m
}

// Graph is an ONNX graph under construction. Builder methods never fail on
// the spot: the first error is kept and reported by Err, Model.Bytes and
// Model.WriteTo, so construction code reads straight through.
type Graph struct {
	name      string
	nodes     []node
	inits     []*Tensor
	inputs    []valueInfo
	outputs   []valueInfo
	valueInfo []valueInfo
	defined   map[string]bool // graph inputs, initializers and node outputs
	seq       int
	err       error
}

// NewGraph returns an empty graph called name.
func NewGraph(name string) *Graph {
	return &Graph{name: name, defined: map[string]bool{}}
}

// Err returns the first error met while building the graph.
func (g *Graph) Err() error { return g.err }

func (g *Graph) fail(format string, args ...any) { g.setErr(fmt.Errorf(format, args...)) }

func (g *Graph) setErr(err error) {
	if g.err == nil {
		g.err = fmt.Errorf("graph %s: %w", g.name, err)
	}
}

func (g *Graph) define(name string) {
	if name == "" {
		g.fail("empty value name")
	} else if g.defined[name] {
		g.fail("value %q defined twice", name)
	}
	g.defined[name] = true
}

// fresh returns an unused value name starting with prefix.
func (g *Graph) fresh(prefix string) string {
	for {
		g.seq++
		name := prefix + "_" + strconv.Itoa(g.seq)
		if !g.defined[name] {
			return name
		}
	}
}

// Input declares a graph input.
func (g *Graph) Input(name string, typ DataType, dims ...Dim) {
	g.define(name)
	g.inputs = append(g.inputs, valueInfo{name, typ, dims})
}

// Output declares a graph output; a node must produce it.
func (g *Graph) Output(name string, typ DataType, dims ...Dim) {
	g.outputs = append(g.outputs, valueInfo{name, typ, dims})
}

// ValueInfo records the type and shape of an intermediate value.
func (g *Graph) ValueInfo(name string, typ DataType, dims ...Dim) {
	g.valueInfo = append(g.valueInfo, valueInfo{name, typ, dims})
}

// AddInitializer adds t as a constant input and returns its name, which
// must be set and unused.
func (g *Graph) AddInitializer(t *Tensor) string {
	if t == nil {
		g.fail("nil initializer")
		return ""
	}
	g.define(t.Name)
	g.inits = append(g.inits, t)
	return t.Name
}

func (g *Graph) addTensor(t *Tensor, err error) string {
	if err != nil {
		g.setErr(err)
		return ""
	}
	return g.AddInitializer(t)
}

// Initializer adds a float initializer and returns its name; an empty name
// gets a fresh one.
func (g *Graph) Initializer(name string, data []float32, dims ...int64) string {
	if name == "" {
		name = g.fresh("const")
	}
	return g.addTensor(NewFloatTensor(name, data, dims...))
}

// InitializerInt64 adds an int64 initializer and returns its name; an empty
// name gets a fresh one.
func (g *Graph) InitializerInt64(name string, data []int64, dims ...int64) string {
	if name == "" {
		name = g.fresh("const")
	}
	return g.addTensor(NewInt64Tensor(name, data, dims...))
}

// InitializerInt8 adds an int8 initializer and returns its name; an empty
// name gets a fresh one.
func (g *Graph) InitializerInt8(name string, data []int8, dims ...int64) string {
	if name == "" {
		name = g.fresh("const")
	}
	return g.addTensor(NewInt8Tensor(name, data, dims...))
}

// Ints adds a 1-D int64 constant (shapes, axes, slice bounds).
func (g *Graph) Ints(v ...int64) string { return g.InitializerInt64("", v, int64(len(v))) }

// Scalar adds a float scalar constant.
func (g *Graph) Scalar(v float32) string { return g.Initializer("", []float32{v}) }

// Params returns the number of initializer elements: the model's weights
// plus its constants.
func (g *Graph) Params() int64 {
	var n int64
	for _, t := range g.inits {
		if size := t.Type.size(); size > 0 {
			n += int64(len(t.Raw) / size)
		}
	}
	return n
}

// InitializerTensor returns the initializer called name, or nil.
func (g *Graph) InitializerTensor(name string) *Tensor {
	for _, t := range g.inits {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Node appends a node. Every input must already be defined (graph input,
// initializer or earlier node output) or be "" for an omitted optional input.
func (g *Graph) Node(op string, inputs, outputs []string, attrs ...Attr) {
	for _, in := range inputs {
		if in != "" && !g.defined[in] {
			g.fail("%s node: input %q is not defined yet", op, in)
		}
	}
	for _, out := range outputs {
		g.define(out)
	}
	for _, a := range attrs {
		if a.typ == 0 || a.typ == attrTensor && a.t == nil {
			g.fail("%s node: attribute %q has no value", op, a.name)
		}
	}
	g.nodes = append(g.nodes, node{op: op, name: g.fresh(op), inputs: inputs, outputs: outputs, attrs: attrs})
}

// Op appends a single-output node and returns the output's fresh name.
func (g *Graph) Op(op string, inputs []string, attrs ...Attr) string {
	out := g.fresh(op + "_out")
	g.Node(op, inputs, []string{out}, attrs...)
	return out
}

// Rename renames a value everywhere it appears: declarations, initializers
// and node inputs/outputs.
func (g *Graph) Rename(from, to string) {
	if !g.defined[from] {
		g.fail("rename: %q is not defined", from)
		return
	}
	if g.defined[to] {
		g.fail("rename: %q is already defined", to)
		return
	}
	delete(g.defined, from)
	g.defined[to] = true
	swap := func(s []string) {
		for i := range s {
			if s[i] == from {
				s[i] = to
			}
		}
	}
	for _, n := range g.nodes {
		swap(n.inputs)
		swap(n.outputs)
	}
	for _, list := range [][]valueInfo{g.inputs, g.outputs, g.valueInfo} {
		for i := range list {
			if list[i].name == from {
				list[i].name = to
			}
		}
	}
	for _, t := range g.inits {
		if t.Name == from {
			t.Name = to
		}
	}
}

func (g *Graph) proto() (message, error) {
	if g.err != nil {
		return nil, g.err
	}
	for _, o := range g.outputs {
		if !g.defined[o.name] {
			return nil, fmt.Errorf("graph %s: output %q is not produced by any node", g.name, o.name)
		}
	}
	var m message
	for _, n := range g.nodes {
		m.msg(1, n.proto())
	}
	m.str(2, g.name)
	for _, t := range g.inits {
		m.msg(5, t.proto())
	}
	for _, v := range g.inputs {
		m.msg(11, v.proto())
	}
	for _, v := range g.outputs {
		m.msg(12, v.proto())
	}
	for _, v := range g.valueInfo {
		m.msg(13, v.proto())
	}
	return m, nil
}

// Model is a ModelProto around a graph. NewModel fills in the defaults.
type Model struct {
	Graph        *Graph
	IRVersion    int64
	Opset        int64 // default-domain opset
	ProducerName string
}

// Defaults written by NewModel: IR version 8 is the one that goes with opset
// 17, the first with LayerNormalization; ONNX Runtime 1.24 loads both.
const (
	DefaultIRVersion = 8
	DefaultOpset     = 17
	Producer         = "mmrag-onnxgraph"
)

// NewModel wraps g with the default IR version, opset and producer name.
func NewModel(g *Graph) *Model {
	return &Model{Graph: g, IRVersion: DefaultIRVersion, Opset: DefaultOpset, ProducerName: Producer}
}

func (m *Model) proto() (message, error) {
	graph, err := m.Graph.proto()
	if err != nil {
		return nil, err
	}
	var opset message
	opset.str(1, "")
	opset.varint(2, m.Opset)
	var p message
	p.varint(1, m.IRVersion)
	p.str(2, m.ProducerName)
	p.msg(7, graph)
	p.msg(8, opset)
	return p, nil
}

// Bytes returns the serialised ModelProto.
func (m *Model) Bytes() ([]byte, error) {
	p, err := m.proto()
	if err != nil {
		return nil, err
	}
	return p.appendTo(make([]byte, 0, p.size())), nil
}

// Size returns the length of the serialised ModelProto.
func (m *Model) Size() (int, error) {
	p, err := m.proto()
	if err != nil {
		return 0, err
	}
	return p.size(), nil
}

// WriteFile writes the model to path, through a temporary file in the same
// folder so a failed write never leaves a truncated model behind.
func (m *Model) WriteFile(path string) error {
	p, err := m.proto()
	if err != nil {
		return fmt.Errorf("write model %s: %w", path, err)
	}
	if p.size() > math.MaxInt32 {
		// Protobuf parsers, ONNX Runtime's included, refuse messages over 2 GiB.
		return fmt.Errorf("write model %s: %d bytes is over the 2 GiB protobuf limit", path, p.size())
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".onnxgraph-*.tmp")
	if err != nil {
		return fmt.Errorf("write model %s: %w", path, err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = p.writeTo(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write model %s: %w", path, err)
	}
	return nil
}

// Truncated returns a copy of the first half of serialised model bytes: a
// corrupt model for bad-input tests.
func Truncated(model []byte) []byte {
	return bytes.Clone(model[:len(model)/2])
}
