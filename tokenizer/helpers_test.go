package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fixtureDir holds vocab.json, merges.txt and reference_ids.json for
// openai/clip-vit-base-patch16 (shared, read-only, outside the repo).
const fixtureDir = "../../shared/fixtures/clip-tokenizer"

type refEntry struct {
	Text string  `json:"text"`
	IDs  []int64 `json:"ids"`
	Note string  `json:"note"`
}

func needFixtures(t testing.TB) (vocab, merges string) {
	t.Helper()
	vocab, merges = filepath.Join(fixtureDir, "vocab.json"), filepath.Join(fixtureDir, "merges.txt")
	for _, p := range []string{vocab, merges, filepath.Join(fixtureDir, "reference_ids.json")} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("CLIP tokenizer fixtures not available (%v); they live in ../shared next to the repo", err)
		}
	}
	return vocab, merges
}

func readReference(t testing.TB) []refEntry {
	t.Helper()
	needFixtures(t)
	data, err := os.ReadFile(filepath.Join(fixtureDir, "reference_ids.json"))
	if err != nil {
		t.Fatal(err)
	}
	var refs []refEntry
	if err := json.Unmarshal(data, &refs); err != nil {
		t.Fatalf("parse reference_ids.json: %v", err)
	}
	if len(refs) == 0 {
		t.Fatal("reference_ids.json has no entries")
	}
	return refs
}

var (
	clipOnce sync.Once
	clipTok  *Tokenizer
	clipErr  error
)

// clipTokenizer loads the real CLIP vocabulary once per test binary.
func clipTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	vocab, merges := needFixtures(t)
	clipOnce.Do(func() { clipTok, clipErr = LoadFiles(vocab, merges) })
	if clipErr != nil {
		t.Fatalf("LoadFiles: %v", clipErr)
	}
	return clipTok
}

// writeTokenizerJSON converts vocab.json + merges.txt into a Hugging Face
// tokenizer.json in dir, with merges as "a b" strings or as [a, b] pairs.
func writeTokenizerJSON(t testing.TB, dir, vocabPath, mergesPath string, pairs bool) string {
	t.Helper()
	data, err := os.ReadFile(vocabPath)
	if err != nil {
		t.Fatal(err)
	}
	var vocab map[string]int
	if err := json.Unmarshal(data, &vocab); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(mergesPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var merges []any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#version") {
			continue
		}
		if pairs {
			a, b, _ := strings.Cut(line, " ")
			merges = append(merges, []string{a, b})
		} else {
			merges = append(merges, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{
		"version": "1.0",
		"added_tokens": []map[string]any{
			{"id": vocab[sotText], "content": sotText, "special": true},
			{"id": vocab[eotText], "content": eotText, "special": true},
		},
		"model": map[string]any{
			"type":               "BPE",
			"vocab":              vocab,
			"merges":             merges,
			"end_of_word_suffix": endOfWord,
		},
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// miniModel is a small synthetic vocabulary: every byte symbol with and
// without "</w>", the results of its merges, and the special tokens.
type miniModel struct {
	vocab  map[string]int
	merges [][2]string
}

func newMiniModel(merges ...[2]string) *miniModel {
	m := &miniModel{vocab: map[string]int{}, merges: merges}
	add := func(s string) {
		if _, ok := m.vocab[s]; !ok {
			m.vocab[s] = len(m.vocab)
		}
	}
	for b := 0; b < 256; b++ {
		add(string(byteRunes[b]))
	}
	for b := 0; b < 256; b++ {
		add(string(byteRunes[b]) + endOfWord)
	}
	for _, mg := range merges {
		add(mg[0] + mg[1])
	}
	add(sotText)
	add(eotText)
	return m
}

// write saves the model as vocab.json and merges.txt in dir.
func (m *miniModel) write(t testing.TB, dir string) (vocabPath, mergesPath string) {
	t.Helper()
	vocabPath, mergesPath = filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt")
	data, err := json.Marshal(m.vocab)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vocabPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("#version: 0.2\n")
	for _, mg := range m.merges {
		b.WriteString(mg[0] + " " + mg[1] + "\n")
	}
	if err := os.WriteFile(mergesPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return vocabPath, mergesPath
}

func (m *miniModel) load(t testing.TB) *Tokenizer {
	t.Helper()
	v, mg := m.write(t, t.TempDir())
	tok, err := LoadFiles(v, mg)
	if err != nil {
		t.Fatalf("LoadFiles: %v", err)
	}
	return tok
}

// ids looks tokens up in the model's vocabulary.
func (m *miniModel) ids(t testing.TB, tokens ...string) []int64 {
	t.Helper()
	out := make([]int64, len(tokens))
	for i, s := range tokens {
		id, ok := m.vocab[s]
		if !ok {
			t.Fatalf("token %q not in mini vocabulary", s)
		}
		out[i] = int64(id)
	}
	return out
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
