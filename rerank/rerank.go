// Package rerank owns the optional second retrieval stage: re-scoring the
// top candidates of a first-stage search with a model that reads the query
// and each passage together, which first-stage embeddings (CLIP's above all,
// weak at text–text matching) cannot do.
//
// Two rerankers implement rag.Reranker (Score: one score per passage,
// higher is better), the one reranker interface of the answer engine; both
// also sort Candidates with Rerank:
//
//   - LLM asks the configured chat model (a generate.Generator) to rate the
//     passages 0–10 in one prompt per batch. Replies it cannot read leave
//     the candidates in their original order and come back as an error
//     wrapping ErrUnparsed, which callers treat as a warning.
//   - CrossEncoder runs a Hugging Face BERT cross-encoder exported to ONNX
//     through ONNX Runtime, with the pure-Go WordPiece tokenizer of package
//     tokenizer/wordpiece (shared with the sentence embedder, embed/sbert).
//
// # Cross-encoder model folder
//
// LoadCrossEncoder reads a folder laid out as Hugging Face ONNX exports are,
// for example Xenova/ms-marco-MiniLM-L-6-v2 (about 90 MB; its
// onnx/model_quantized.onnx, about 23 MB, also works through Options.Model):
//
//	onnx/model.onnx        sequence-classification graph: inputs input_ids,
//	                       attention_mask and (optionally) token_type_ids,
//	                       int64 [batch, sequence]; output logits [batch, 1]
//	                       (or [batch, 2]: the last column is the score)
//	tokenizer.json         WordPiece model with BertNormalizer; or vocab.txt
//	                       (plus tokenizer_config.json for do_lower_case)
//	config.json            max_position_embeddings caps Options.MaxLen
//
// Download those files (for example with `huggingface-cli download
// Xenova/ms-marco-MiniLM-L-6-v2 config.json tokenizer.json
// tokenizer_config.json onnx/model.onnx --local-dir DIR`) or export your
// own with `optimum-cli export onnx --task text-classification --model
// cross-encoder/ms-marco-MiniLM-L-6-v2 DIR` (which writes model.onnx at the
// folder's top; LoadCrossEncoder finds it there too). Only BERT-family
// WordPiece models are supported: XLM-RoBERTa rerankers such as
// BAAI/bge-reranker-* use a SentencePiece tokenizer and are refused with a
// clear error.
package rerank

import (
	"cmp"
	"slices"
)

// Candidate is one first-stage result: a text chunk, or an image through
// its caption.
type Candidate struct {
	ID    string
	Text  string
	Score float64
}

// texts are the candidates' texts, in order.
func texts(cands []Candidate) []string {
	out := make([]string, len(cands))
	for i, c := range cands {
		out[i] = c.Text
	}
	return out
}

// ranked is a candidate with the new score that orders it and its place in
// the input, which breaks the last ties so the order is deterministic.
type ranked struct {
	c     Candidate
	score float64 // the reranker's
	orig  float64 // the first stage's
	index int
}

// byScore orders by the reranker's score, then by the first stage's, then
// by input position.
func byScore(a, b ranked) int {
	if c := cmp.Compare(b.score, a.score); c != 0 {
		return c
	}
	if c := cmp.Compare(b.orig, a.orig); c != 0 {
		return c
	}
	return cmp.Compare(a.index, b.index)
}

// sortByScores returns copies of cands with Score replaced by scores[i],
// best first.
func sortByScores(cands []Candidate, scores []float64) []Candidate {
	rs := make([]ranked, len(cands))
	for i, c := range cands {
		rs[i] = ranked{c: c, score: scores[i], orig: c.Score, index: i}
		rs[i].c.Score = scores[i]
	}
	slices.SortFunc(rs, byScore)
	out := make([]Candidate, len(rs))
	for i, r := range rs {
		out[i] = r.c
	}
	return out
}
