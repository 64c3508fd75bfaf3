// Package tokenizer owns CLIP's text tokenizer: the byte-level BPE with
// end-of-word merges that turns text into the token ids CLIP's text encoder
// takes (openai/clip-vit-base-patch16 and the other OpenAI CLIP models).
//
// It reproduces OpenAI's clip.tokenize(text, truncate=True), unpadded:
// the text is cleaned as OpenAI's tokenizer does (ftfy fixes, HTML
// unescaping, whitespace collapsing, lower-casing; see clean.go for the one
// ftfy step left out), split with CLIP's pre-tokenizer pattern, mapped to
// GPT-2's byte alphabet and merged with BPE, and wrapped in
// <|startoftext|> ... <|endoftext|>. The literal strings "<|startoftext|>"
// and "<|endoftext|>" in the text become those special tokens, as they do
// in both OpenAI's and Hugging Face's tokenizers.
//
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"
)

// ContextLength is the number of token positions CLIP's text encoder has,
// counting <|startoftext|> and <|endoftext|>.
const ContextLength = 77

// maxCache bounds the per-word BPE cache; past it the cache starts over.
// Words longer than maxCachedWord bytes (runs of CJK text, say) are rare
// repeats and are not kept.
const (
	maxCache      = 1 << 16
	maxCachedWord = 256
)

// Tokenizer encodes text to CLIP token ids. Make one with Load, LoadFiles
// or LoadJSON; the zero value is not usable.
type Tokenizer struct {
	tokens  []string // id -> token ("" for unused ids)
	size    int      // number of vocabulary entries
	merges  map[uint64]merge
	byteSym [256]int32 // id of each byte's symbol
	byteEnd [256]int32 // id of each byte's symbol + "</w>"
	sot     int32
	eot     int32

	mu    sync.RWMutex
	cache map[string][]int32 // pre-token -> ids
}

// Load reads a tokenizer from a model folder: tokenizer.json when present,
// else vocab.json and merges.txt.
func Load(dir string) (*Tokenizer, error) {
	path := filepath.Join(dir, "tokenizer.json")
	_, err := os.Stat(path)
	if err == nil {
		return LoadJSON(path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	vocab, merges := filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt")
	for _, p := range []string{vocab, merges} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("tokenizer: load %s: no tokenizer.json, and vocab.json+merges.txt incomplete: %w", dir, err)
		}
	}
	return LoadFiles(vocab, merges)
}

// LoadFiles reads a tokenizer from a vocab.json (token -> id) and a
// merges.txt (one "a b" merge per line, highest priority first).
func LoadFiles(vocabPath, mergesPath string) (*Tokenizer, error) {
	data, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var vocab map[string]int
	if err := json.Unmarshal(data, &vocab); err != nil {
		return nil, fmt.Errorf("tokenizer: parse %s: %w", vocabPath, err)
	}
	f, err := os.Open(mergesPath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	var merges [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		if text == "" || (line == 1 && strings.HasPrefix(text, "#version")) {
			continue
		}
		a, b, ok := strings.Cut(text, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, fmt.Errorf("tokenizer: %s:%d: merge %q is not two space-separated symbols", mergesPath, line, text)
		}
		merges = append(merges, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: read %s: %w", mergesPath, err)
	}
	return build(vocab, merges, nil, vocabPath+" and "+mergesPath)
}

// LoadJSON reads a Hugging Face tokenizer.json: model.vocab, model.merges
// (as "a b" strings or ["a", "b"] pairs) and, for the special tokens if the
// vocabulary lacks them, added_tokens. Its normalizer and pre-tokenizer
// settings are not read: the CLIP pipeline is fixed.
func LoadJSON(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var doc struct {
		Model *struct {
			Type   string            `json:"type"`
			Vocab  map[string]int    `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("tokenizer: parse %s: %w", path, err)
	}
	if doc.Model == nil || doc.Model.Vocab == nil {
		return nil, fmt.Errorf("tokenizer: %s: no model.vocab", path)
	}
	if doc.Model.Type != "" && doc.Model.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer: %s: model type %q, want BPE", path, doc.Model.Type)
	}
	merges := make([][2]string, 0, len(doc.Model.Merges))
	for i, raw := range doc.Model.Merges {
		var pair [2]string
		var s string
		var arr []string
		switch {
		case json.Unmarshal(raw, &s) == nil:
			a, b, ok := strings.Cut(s, " ")
			if !ok || a == "" || b == "" || strings.Contains(b, " ") {
				return nil, fmt.Errorf("tokenizer: %s: model.merges[%d] %q is not two space-separated symbols", path, i, s)
			}
			pair = [2]string{a, b}
		case json.Unmarshal(raw, &arr) == nil && len(arr) == 2 && arr[0] != "" && arr[1] != "":
			pair = [2]string{arr[0], arr[1]}
		default:
			return nil, fmt.Errorf("tokenizer: %s: model.merges[%d] %s is neither \"a b\" nor [\"a\", \"b\"]", path, i, bytes.TrimSpace(raw))
		}
		merges = append(merges, pair)
	}
	added := map[string]int{}
	for _, t := range doc.AddedTokens {
		added[t.Content] = t.ID
	}
	return build(doc.Model.Vocab, merges, added, path)
}

// build checks and indexes a vocabulary and its merges; src names the
// files for errors.
func build(vocab map[string]int, merges [][2]string, added map[string]int, src string) (*Tokenizer, error) {
	if len(vocab) == 0 {
		return nil, fmt.Errorf("tokenizer: %s: empty vocabulary", src)
	}
	t := &Tokenizer{merges: make(map[uint64]merge, len(merges)), cache: map[string][]int32{}}
	maxID := 0
	for tok, id := range vocab {
		if id < 0 || id > 1<<30 {
			return nil, fmt.Errorf("tokenizer: %s: token %q has id %d out of range", src, tok, id)
		}
		maxID = max(maxID, id)
	}
	t.tokens = make([]string, maxID+1)
	for tok, id := range vocab {
		if t.tokens[id] != "" {
			return nil, fmt.Errorf("tokenizer: %s: id %d used by both %q and %q", src, id, t.tokens[id], tok)
		}
		t.tokens[id] = tok
	}
	t.size = len(vocab)
	for b := 0; b < 256; b++ {
		c := string(byteRunes[b])
		id, ok := vocab[c]
		end, ok2 := vocab[c+endOfWord]
		if !ok || !ok2 {
			return nil, fmt.Errorf("tokenizer: %s: vocabulary lacks byte symbol %q or %q", src, c, c+endOfWord)
		}
		t.byteSym[b], t.byteEnd[b] = int32(id), int32(end)
	}
	for i, m := range merges {
		a, okA := vocab[m[0]]
		b, okB := vocab[m[1]]
		ab, okAB := vocab[m[0]+m[1]]
		if !okA || !okB || !okAB {
			return nil, fmt.Errorf("tokenizer: %s: merge %d %q+%q: symbol missing from vocabulary", src, i+1, m[0], m[1])
		}
		// A repeated pair keeps its last rank, as both reference tokenizers do.
		t.merges[pairKey(int32(a), int32(b))] = merge{rank: int32(i), id: int32(ab)}
	}
	special := func(s string) (int32, error) {
		if id, ok := vocab[s]; ok {
			return int32(id), nil
		}
		if id, ok := added[s]; ok && id >= 0 && id < len(t.tokens) {
			return int32(id), nil
		}
		return 0, fmt.Errorf("tokenizer: %s: special token %s not in vocabulary", src, s)
	}
	var err error
	if t.sot, err = special(sotText); err != nil {
		return nil, err
	}
	if t.eot, err = special(eotText); err != nil {
		return nil, err
	}
	return t, nil
}

// SOT returns the id of <|startoftext|>.
func (t *Tokenizer) SOT() int64 { return int64(t.sot) }

// EOT returns the id of <|endoftext|>, which is also the default padding.
func (t *Tokenizer) EOT() int64 { return int64(t.eot) }

// VocabSize returns the number of entries in the vocabulary.
func (t *Tokenizer) VocabSize() int { return t.size }

// Encode returns <|startoftext|>, the text's tokens and <|endoftext|>,
// truncated to ContextLength as clip.tokenize(truncate=True) does: at most
// ContextLength-2 text tokens, and <|endoftext|> always last. It is not
// padded; see Pad. Invalid UTF-8 is read as U+FFFD, one per bad byte.
func (t *Tokenizer) Encode(text string) []int64 {
	ids := make([]int64, 1, 16)
	ids[0] = int64(t.sot)
	t.tokenize(text, ContextLength-2, func(id int32) { ids = append(ids, int64(id)) })
	return append(ids, int64(t.eot))
}

// Count returns how many ids Encode would return without truncation,
// <|startoftext|> and <|endoftext|> included.
func (t *Tokenizer) Count(text string) int {
	n := 2
	t.tokenize(text, -1, func(int32) { n++ })
	return n
}

// tokenize calls emit with the text's token ids, at most limit of them
// (limit < 0: all).
func (t *Tokenizer) tokenize(text string, limit int, emit func(int32)) {
	if limit == 0 {
		return
	}
	n := 0
	splitWords(cleanText(text), func(word string) bool {
		for _, id := range t.word(word) {
			emit(id)
			if n++; n == limit {
				return false
			}
		}
		return true
	})
}

// word returns the ids of one pre-token, through the cache.
func (t *Tokenizer) word(w string) []int32 {
	switch w {
	case sotText:
		return []int32{t.sot}
	case eotText:
		return []int32{t.eot}
	}
	t.mu.RLock()
	ids, ok := t.cache[w]
	t.mu.RUnlock()
	if ok {
		return ids
	}
	ids = t.bpe(w)
	if len(w) > maxCachedWord {
		return ids
	}
	t.mu.Lock()
	if len(t.cache) >= maxCache {
		clear(t.cache)
	}
	t.cache[w] = ids
	t.mu.Unlock()
	return ids
}

// Pad returns ids padded with <|endoftext|> to length, and the attention
// mask (1 for the given ids, 0 for padding); see PadWith.
func (t *Tokenizer) Pad(ids []int64, length int) (padded, mask []int64) {
	return PadWith(ids, length, int64(t.eot))
}

// PadWith returns ids padded with padID to length and its attention mask.
// Ids longer than length are cut to length with their last id kept last,
// so an <|endoftext|> stays in place.
//
// Any pad id gives the same embedding. CLIP's text encoder pools the hidden
// state at the first <|endoftext|>, found as the argmax of the ids (it has
// the largest id) or as the first position equal to the EOT id, so pads
// after it are never pooled; and its attention is causal, so no position
// up to that one sees them. Hugging Face pads CLIP with <|endoftext|>
// (pad_token), OpenAI with 0; Pad follows Hugging Face.
func PadWith(ids []int64, length int, padID int64) (padded, mask []int64) {
	if length < 0 {
		length = 0
	}
	padded = make([]int64, length)
	mask = make([]int64, length)
	n := copy(padded, ids)
	if len(ids) > length && length > 0 {
		padded[length-1] = ids[len(ids)-1]
	}
	for i := range padded {
		if i < n {
			mask[i] = 1
		} else {
			padded[i] = padID
		}
	}
	return padded, mask
}

// Decode returns the text the ids spell: words separated by single spaces
// (BPE keeps no other spacing), lower-cased as encoded. Special tokens and
// unknown ids are left out; bytes that do not form UTF-8 become U+FFFD.
func (t *Tokenizer) Decode(ids []int64) string {
	var raw []byte
	for _, id := range ids {
		if id < 0 || id >= int64(len(t.tokens)) || id == int64(t.sot) || id == int64(t.eot) {
			continue
		}
		for _, r := range t.tokens[id] {
			if b, ok := runeBytes[r]; ok {
				raw = append(raw, b)
			}
		}
	}
	s := string(raw)
	if !utf8.ValidString(s) {
		s = validUTF8(s)
	}
	return strings.TrimRight(strings.ReplaceAll(s, endOfWord, " "), " ")
}
