package onnxgraph

import (
	"cmp"
	"container/heap"
	"slices"
)

// CLIPMerges is the number of merges in CLIP's vocabulary: 49 408 ids less
// the 2×256 byte symbols and the two special tokens.
const CLIPMerges = CLIPVocabSize - 2*256 - 2

// WordTokenizer returns vocab.json and merges.txt of a CLIP-style
// byte-level BPE trained on the word frequencies freq (lowercase ASCII
// words): the classic algorithm, merging the most frequent adjacent pair
// of symbols until maxMerges (CLIPMerges when ≤ 0) or no pair occurs
// twice. It stands in for CLIP's own vocabulary where that cannot be had:
// English text then takes about as many tokens as under CLIP, so chunks
// keep CLIP's size, where MinimalTokenizer's single letters would make
// them a few words long.
func WordTokenizer(freq map[string]int, maxMerges int) (vocabJSON, mergesTXT []byte) {
	if maxMerges <= 0 {
		maxMerges = CLIPMerges
	}
	return bpeFiles(trainBPE(freq, maxMerges))
}

// bpePair is two adjacent symbols; a merge joins them.
type bpePair = [2]string

// bpeWord is one distinct word as its current symbols.
type bpeWord struct {
	syms  []string
	count int
}

// trainBPE learns up to n merges from freq: each step joins the most
// frequent adjacent pair (ties: the first in byte order), counted over the
// words it occurs in, weighted by their frequency.
func trainBPE(freq map[string]int, n int) []bpePair {
	words := bpeWords(freq)
	counts := map[bpePair]int{}
	where := map[bpePair]map[int]bool{}
	for i, w := range words {
		w.eachPair(func(p bpePair) {
			counts[p] += w.count
			if where[p] == nil {
				where[p] = map[int]bool{}
			}
			where[p][i] = true
		})
	}
	h := &pairHeap{}
	for p, c := range counts {
		heap.Push(h, pairCount{p, c})
	}
	var out []bpePair
	for len(out) < n && h.Len() > 0 {
		top := heap.Pop(h).(pairCount)
		if c := counts[top.pair]; c != top.count { // stale: requeue its current count
			if c > 1 {
				heap.Push(h, pairCount{top.pair, c})
			}
			continue
		}
		if top.count < 2 {
			break
		}
		out = append(out, top.pair)
		changed := map[bpePair]bool{}
		for i := range where[top.pair] {
			w := &words[i]
			w.eachPair(func(p bpePair) { counts[p] -= w.count; changed[p] = true })
			w.merge(top.pair)
			w.eachPair(func(p bpePair) {
				counts[p] += w.count
				changed[p] = true
				if where[p] == nil {
					where[p] = map[int]bool{}
				}
				where[p][i] = true
			})
		}
		delete(where, top.pair)
		delete(counts, top.pair)
		for p := range changed {
			if c := counts[p]; c > 1 && p != top.pair {
				heap.Push(h, pairCount{p, c})
			}
		}
	}
	return out
}

// bpeWords turns the lowercase ASCII words of freq into symbol lists, the
// last symbol marked with </w> as CLIP marks word ends.
func bpeWords(freq map[string]int) []bpeWord {
	keys := make([]string, 0, len(freq))
	for w := range freq {
		if isLowerWord(w) {
			keys = append(keys, w)
		}
	}
	slices.Sort(keys)
	out := make([]bpeWord, 0, len(keys))
	for _, k := range keys {
		syms := make([]string, len(k))
		for i := range k {
			syms[i] = k[i : i+1]
		}
		syms[len(syms)-1] += "</w>"
		out = append(out, bpeWord{syms: syms, count: freq[k]})
	}
	return out
}

func (w *bpeWord) eachPair(f func(bpePair)) {
	for i := 0; i+1 < len(w.syms); i++ {
		f(bpePair{w.syms[i], w.syms[i+1]})
	}
}

func (w *bpeWord) merge(p bpePair) {
	out := w.syms[:0]
	for i := 0; i < len(w.syms); i++ {
		if i+1 < len(w.syms) && w.syms[i] == p[0] && w.syms[i+1] == p[1] {
			out = append(out, p[0]+p[1])
			i++
			continue
		}
		out = append(out, w.syms[i])
	}
	w.syms = out
}

type pairCount struct {
	pair  bpePair
	count int
}

// pairHeap pops the largest count, ties broken by the pair's byte order.
type pairHeap []pairCount

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	if h[i].count != h[j].count {
		return h[i].count > h[j].count
	}
	return cmp.Or(cmp.Compare(h[i].pair[0], h[j].pair[0]), cmp.Compare(h[i].pair[1], h[j].pair[1])) < 0
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pairCount)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// isLowerWord says whether w is two or more ASCII lowercase letters.
func isLowerWord(w string) bool {
	if len(w) < 2 {
		return false
	}
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}
