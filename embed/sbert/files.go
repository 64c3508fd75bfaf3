package sbert

import (
	"errors"
	"strings"

	"mmrag/hub"
	"mmrag/tokenizer/wordpiece"
)

// Files selects what hub.Client.Pull fetches of a sentence-transformers
// ONNX model: the graph (quantized or not), the tokenizer and the configs.
// Its Check refuses, before anything is downloaded, a repository without
// config.json, a tokenizer (tokenizer.json or vocab.txt) or the graph; the
// other files are read when the repository has them.
func Files(quantized bool) hub.Files {
	graph := ModelFile
	if quantized {
		graph = QuantizedModelFile
	}
	return hub.Files{
		Patterns: []string{
			ConfigFile, TokenizerJSON, wordpiece.VocabTxt, TokenizerConfig, "special_tokens_map.json",
			PoolingFile, SentenceBERTFile, SentenceTransFile, "modules.json", graph,
		},
		Check: func(selected []string) error {
			missing := hub.Missing(selected, ConfigFile, graph)
			if len(hub.Missing(selected, TokenizerJSON)) > 0 && len(hub.Missing(selected, wordpiece.VocabTxt)) > 0 {
				missing = append(missing, TokenizerJSON+" (or "+wordpiece.VocabTxt+")")
			}
			if len(missing) > 0 {
				return errors.New("not a usable sentence-transformers ONNX model: missing " + strings.Join(missing, ", "))
			}
			return nil
		},
	}
}
