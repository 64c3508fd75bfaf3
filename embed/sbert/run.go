package sbert

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"mmrag/onnx"
	"mmrag/tokenizer/wordpiece"
)

// embed tokenizes prefix+text for each text, runs the encoder over batches
// of like length, pools and normalises.
func (e *Embedder) embed(ctx context.Context, texts []string, prefix string) ([][]float32, error) {
	encs := make([]wordpiece.Encoding, len(texts))
	for i, t := range texts {
		encs[i] = e.tok.Encode(prefix+t, e.cfg.MaxLen)
	}
	// Batching texts of like length wastes less work on padding.
	order := make([]int, len(encs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(encs[a].IDs), len(encs[b].IDs)) })
	out := make([][]float32, len(texts))
	for start, end := 0, 0; start < len(order); start = end {
		end = e.batchEnd(encs, order, start)
		idx := order[start:end]
		vecs, err := e.run(ctx, encs, idx)
		if err != nil {
			return nil, err
		}
		for k, i := range idx {
			out[i] = vecs[k]
		}
	}
	return out, nil
}

// batchEnd returns where the batch starting at order[start] ends: at most
// e.batch texts and, past the first, at most e.tokens padded tokens (the
// texts are sorted by length, so the last one sets the padding).
func (e *Embedder) batchEnd(encs []wordpiece.Encoding, order []int, start int) int {
	end := start + 1
	for end < len(order) && end-start < e.batch && (end-start+1)*len(encs[order[end]].IDs) <= e.tokens {
		end++
	}
	return end
}

// inputs returns the tensors of every input the graph declares.
func inputs(b wordpiece.Batch, feed []onnx.IO) map[string]onnx.Tensor {
	return onnx.IntInputs(feed, []int64{int64(b.Rows), int64(b.Seq)},
		map[string][]int64{InputIDs: b.IDs, AttentionMask: b.Mask, TokenTypeIDs: b.TypeIDs})
}

// run embeds one batch.
func (e *Embedder) run(ctx context.Context, encs []wordpiece.Encoding, idx []int) ([][]float32, error) {
	b := wordpiece.NewBatch(encs, idx, 0, e.tok.PadID())
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sess == nil {
		return nil, errors.New("sentence embedder: closed")
	}
	outs, err := e.sess.Run(ctx, inputs(b, e.feed))
	if err != nil {
		return nil, fmt.Errorf("sentence embedder: %w", err)
	}
	out := outs[e.out]
	vecs, err := e.pool(out, b)
	if err != nil {
		return nil, fmt.Errorf("sentence embedder %s: %w", e.sess.Path(), err)
	}
	if e.dim == 0 && len(vecs) > 0 {
		e.dim = len(vecs[0])
	}
	return vecs, nil
}

// pool turns the graph's output into one normalised vector per row.
func (e *Embedder) pool(out onnx.Output, b wordpiece.Batch) ([][]float32, error) {
	if e.pooled {
		if len(out.Shape) != 2 || out.Shape[0] != int64(b.Rows) || out.Shape[1] <= 0 {
			return nil, fmt.Errorf("output of shape %v for a batch of %d", out.Shape, b.Rows)
		}
		dim := int(out.Shape[1])
		vecs := make([][]float32, b.Rows)
		for r := range vecs {
			vecs[r] = normalize(slices.Clone(out.Data[r*dim : (r+1)*dim]))
		}
		return vecs, nil
	}
	if len(out.Shape) != 3 || out.Shape[0] != int64(b.Rows) || out.Shape[1] != int64(b.Seq) || out.Shape[2] <= 0 {
		return nil, fmt.Errorf("output of shape %v for a batch of %d×%d tokens", out.Shape, b.Rows, b.Seq)
	}
	dim := int(out.Shape[2])
	vecs := make([][]float32, b.Rows)
	for r := range vecs {
		rows := out.Data[r*b.Seq*dim : (r+1)*b.Seq*dim]
		if e.cfg.Pooling == CLS {
			vecs[r] = normalize(slices.Clone(rows[:dim]))
			continue
		}
		vecs[r] = normalize(meanPool(rows, b.Mask[r*b.Seq:(r+1)*b.Seq], dim))
	}
	return vecs, nil
}

// meanPool averages the token vectors whose mask is 1 (summed in float64).
func meanPool(rows []float32, mask []int64, dim int) []float32 {
	sum := make([]float64, dim)
	n := 0
	for j, m := range mask {
		if m == 0 {
			continue
		}
		n++
		for k, v := range rows[j*dim : (j+1)*dim] {
			sum[k] += float64(v)
		}
	}
	out := make([]float32, dim)
	for k := range out {
		out[k] = float32(sum[k] / float64(max(n, 1)))
	}
	return out
}

// normalize scales v to unit length in place (a zero vector stays zero).
func normalize(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return v
	}
	inv := 1 / math.Sqrt(s)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
	return v
}
