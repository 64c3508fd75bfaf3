package onnx

// IntInputs builds the integer tensors of every input in feed (a graph's
// declared inputs) from values by name, all of one shape, as int32 or
// int64 as each input declares: token graphs take either.
func IntInputs(feed []IO, shape []int64, values map[string][]int64) map[string]Tensor {
	in := make(map[string]Tensor, len(feed))
	for _, io := range feed {
		t := Tensor{Shape: shape}
		if io.DType == Int32 {
			t.Int32 = make([]int32, len(values[io.Name]))
			for i, v := range values[io.Name] {
				t.Int32[i] = int32(v)
			}
		} else {
			t.Int64 = values[io.Name]
		}
		in[io.Name] = t
	}
	return in
}
