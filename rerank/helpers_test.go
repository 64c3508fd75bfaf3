package rerank

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// vocabOf numbers tokens from 0 in order.
func vocabOf(tokens ...string) map[string]int {
	v := make(map[string]int, len(tokens))
	for i, t := range tokens {
		v[t] = i
	}
	return v
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tokenizerJSONFor writes a tokenizer.json as transformers saves a
// BertTokenizerFast's.
func tokenizerJSONFor(t testing.TB, vocab []string, normalizer map[string]any) string {
	t.Helper()
	tj := map[string]any{
		"version":        "1.0",
		"normalizer":     normalizer,
		"pre_tokenizer":  map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{"type": "TemplateProcessing"},
		"model": map[string]any{
			"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": vocabOf(vocab...),
		},
	}
	data, err := json.Marshal(tj)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
