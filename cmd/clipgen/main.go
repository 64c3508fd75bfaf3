// Command clipgen writes a Hugging Face-layout CLIP model folder with random
// weights (see package onnxgraph), so CLIP code paths can be exercised and
// timed where no real weights are available:
//
//	go run ./cmd/clipgen -preset vit-b-16 -out /tmp/clip-b16 [-tokenizer DIR | -words-from DIR] [-seed N]
//
// The vit-b-16 and vit-b-32 presets have CLIP's true shapes and FLOP counts;
// "tiny" is small and fast.
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mmrag/onnx/onnxgraph"
)

func main() {
	var opts onnxgraph.FolderOptions
	out := flag.String("out", "", "folder to write (created if missing)")
	flag.StringVar(&opts.Preset, "preset", onnxgraph.PresetTiny, "one of "+strings.Join(onnxgraph.Presets(), ", "))
	flag.StringVar(&opts.TokenizerDir, "tokenizer", "", "folder with CLIP's vocab.json and merges.txt to copy (default: generate one)")
	wordsFrom := flag.String("words-from", "", "without -tokenizer: build a whole-word BPE from the English text under this folder (e.g. $(go env GOROOT)/src), so chunks keep CLIP's size")
	flag.Uint64Var(&opts.Seed, "seed", 0, "random weights seed")
	flag.BoolVar(&opts.Quantized, "quantized", false, "also write onnx/*_quantized.onnx copies")
	flag.BoolVar(&opts.AttentionMask, "attention-mask", false, "text model also takes attention_mask")
	flag.BoolVar(&opts.FixedLength, "fixed-length", false, "text model's sequence axis fixed at 77")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: clipgen -out DIR [-preset tiny|vit-b-16|vit-b-32] [-tokenizer DIR] [-seed N]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	start := time.Now()
	if *wordsFrom != "" && opts.TokenizerDir == "" {
		words, err := onnxgraph.CountWords(*wordsFrom)
		if err != nil || len(words) == 0 {
			fmt.Fprintf(os.Stderr, "clipgen: -words-from %s: no words (%v)\n", *wordsFrom, err)
			os.Exit(1)
		}
		opts.Words = words
	}
	if err := onnxgraph.WriteModelFolder(*out, opts); err != nil {
		fmt.Fprintln(os.Stderr, "clipgen:", err)
		os.Exit(1)
	}
	if err := list(*out); err != nil {
		fmt.Fprintln(os.Stderr, "clipgen:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s preset to %s in %.1fs\n", opts.Preset, *out, time.Since(start).Seconds())
}

// list prints each file of the folder with its size.
func list(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Printf("%10s  %s\n", size(info.Size()), rel)
		return nil
	})
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
