package onnxgraph

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// addGraph is y = x + c for a [batch, 3] float input.
func addGraph() *Graph {
	g := NewGraph("add")
	g.Input("x", Float, "batch", "3")
	c := g.Initializer("c", []float32{1, 2, 3}, 3)
	g.Node("Add", []string{"x", c}, []string{"y"})
	g.Output("y", Float, "batch", Fixed(3))
	return g
}

func TestBuilderRunsInORT(t *testing.T) {
	m := NewModel(addGraph())
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "add.onnx")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if onDisk, _ := os.ReadFile(path); !bytes.Equal(onDisk, b) {
		t.Fatalf("WriteFile wrote %d bytes differing from Bytes' %d", len(onDisk), len(b))
	}
	if n, _ := m.Size(); n != len(b) {
		t.Errorf("Size = %d, Bytes has %d", n, len(b))
	}
	needORT(t)
	meta, err := ort.GetModelMetadataWithONNXData(b)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Destroy()
	if p, _ := meta.GetProducerName(); p != Producer {
		t.Errorf("producer %q, want %q", p, Producer)
	}
	if name, _ := meta.GetGraphName(); name != "add" {
		t.Errorf("graph name %q", name)
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(b)
	if err != nil {
		t.Fatal(err)
	}
	checkInfo(t, ins, "x", ort.TensorElementDataTypeFloat, -1, 3)
	checkInfo(t, outs, "y", ort.TensorElementDataTypeFloat, -1, 3)
	s := newSession(t, b, []string{"x"}, []string{"y"}, 1)
	got := s.mustRun(t, input{name: "x", shape: []int64{2, 3}, f32: []float32{0, 0, 0, 10, 20, 30}})
	if want := []float32{1, 2, 3, 11, 22, 33}; !slices.Equal(got["y"].data, want) {
		t.Errorf("y = %v, want %v", got["y"].data, want)
	}
}

func TestBuilderErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func(g *Graph)
		want  string
	}{
		{"undefined input", func(g *Graph) { g.Op("Relu", []string{"nope"}) }, `input "nope" is not defined`},
		{"defined twice", func(g *Graph) { g.Node("Relu", []string{"x"}, []string{"y"}) }, `"y" defined twice`},
		{"wrong data length", func(g *Graph) { g.Initializer("w", []float32{1, 2}, 3) }, "holds 3 values, got 2"},
		{"negative dim", func(g *Graph) { g.InitializerInt64("w", nil, -1) }, "negative dimension"},
		{"output not produced", func(g *Graph) { g.Output("z", Float) }, `output "z" is not produced`},
		{"rename missing", func(g *Graph) { g.Rename("q", "r") }, `"q" is not defined`},
		{"rename onto existing", func(g *Graph) { g.Rename("x", "c") }, `"c" is already defined`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := addGraph()
			tc.build(g)
			_, err := NewModel(g).Bytes()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if werr := NewModel(g).WriteFile(filepath.Join(t.TempDir(), "m.onnx")); werr == nil {
				t.Error("WriteFile succeeded on a broken graph")
			}
		})
	}
}

func TestRename(t *testing.T) {
	g := addGraph()
	g.Rename("x", "input")
	g.Rename("c", "bias")
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	if g.InitializerTensor("bias") == nil || g.InitializerTensor("c") != nil {
		t.Error("initializer not renamed")
	}
	b, err := NewModel(g).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	needORT(t)
	ins, _, err := ort.GetInputOutputInfoWithONNXData(b)
	if err != nil {
		t.Fatal(err)
	}
	checkInfo(t, ins, "input", ort.TensorElementDataTypeFloat, -1, 3)
	s := newSession(t, b, []string{"input"}, []string{"y"}, 1)
	if got := s.mustRun(t, input{name: "input", shape: []int64{1, 3}, f32: []float32{1, 1, 1}}); !slices.Equal(got["y"].data, []float32{2, 3, 4}) {
		t.Errorf("y = %v", got["y"].data)
	}
}

func TestAttributeKinds(t *testing.T) {
	g := NewGraph("attrs")
	g.Input("x", Float, "1", "3")
	k, err := NewFloatTensor("", []float32{10, 20, 30}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	g.Node("Constant", nil, []string{"k"}, AttrTensor("value", k))
	g.Node("Constant", nil, []string{"f"}, AttrFloats("value_floats", 0.5, 0.25, 0.125))
	sum := g.Op("Add", []string{"x", "k"})
	sum = g.Op("Mul", []string{sum, "f"})
	g.Node("Pad", []string{sum, g.Ints(0, 1, 0, 1)}, []string{"y"}, AttrString("mode", "edge"))
	g.Output("y", Float, "1", "5")
	b, err := NewModel(g).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(t, b, []string{"x"}, []string{"y"}, 1)
	got := s.mustRun(t, input{name: "x", shape: []int64{1, 3}, f32: []float32{2, 4, 6}})
	if want := []float32{6, 6, 6, 4.5, 4.5}; !slices.Equal(got["y"].data, want) {
		t.Errorf("y = %v, want %v", got["y"].data, want)
	}
	g.Node("Identity", nil, []string{"z"}, AttrTensor("value", nil))
	if g.Err() == nil || !strings.Contains(g.Err().Error(), `attribute "value" has no value`) {
		t.Errorf("nil tensor attribute: error %v", g.Err())
	}
}
