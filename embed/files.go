package embed

import (
	"errors"
	"strings"

	"mmrag/hub"
)

// DefaultModel is the hub id of the CLIP model mmrag uses when none is
// given.
const DefaultModel = "Xenova/clip-vit-base-patch16"

// CLIPFiles says which files of a hub repository in the layout of the
// Xenova/* ONNX exports make a CLIP model folder, for hub.Client.Pull: the
// configs, the tokenizer (tokenizer.json and/or vocab.json with merges.txt)
// and both ONNX graphs, quantized or not. Its Check refuses, before
// anything is downloaded, a repository without the files Load cannot do
// without: config.json, preprocessor_config.json, a tokenizer and both
// graphs. The other files are optional.
func CLIPFiles(quantized bool) hub.Files {
	text, vision := TextGraph, VisionGraph
	if quantized {
		text, vision = TextGraphQuant, VisionGraphQuant
	}
	return hub.Files{
		Patterns: []string{
			ConfigFile,
			PreprocessorConfig,
			"tokenizer.json",
			"vocab.json",
			"merges.txt",
			"tokenizer_config.json",
			"special_tokens_map.json",
			text,
			vision,
		},
		Check: func(selected []string) error {
			missing := hub.Missing(selected, ConfigFile, PreprocessorConfig, text, vision)
			if len(hub.Missing(selected, "tokenizer.json")) > 0 && len(hub.Missing(selected, "vocab.json", "merges.txt")) > 0 {
				missing = append(missing, "tokenizer.json (or vocab.json with merges.txt)")
			}
			if len(missing) > 0 {
				return errors.New("not a usable CLIP model: missing " + strings.Join(missing, ", "))
			}
			return nil
		},
	}
}
