// Command sbertgen converts a BERT sentence-embedder GGUF (the format
// llama.cpp and Ollama run) into the Hugging Face ONNX folder that
// `mmrag --text-embedder onnx:DIR` loads (see package
// embed/sbert/sberttest). By default it converts the real
// all-MiniLM-L6-v2-Q4_K_M.gguf of the Go module
// github.com/mutablelogic/go-llama@v0.0.11, downloading the module through
// the Go module proxy when it is not in the module cache:
//
//	go run ./cmd/sbertgen -out /tmp/minilm [-gguf FILE]
//
// It exists for benchmarks, evaluations and demos where the hub cannot be
// reached; it is not part of the mmrag binary.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"mmrag/embed/sbert/sberttest"
)

func main() {
	out := flag.String("out", "", "folder to write (created if missing)")
	in := flag.String("gguf", "", "BERT GGUF file (default: all-MiniLM-L6-v2-Q4_K_M.gguf of "+sberttest.GGUFModule+")")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: sbertgen -out DIR [-gguf FILE]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "sbertgen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	start := time.Now()
	if in == "" {
		p, err := sberttest.FindGGUF()
		if err != nil {
			return err
		}
		in = p
	}
	if err := sberttest.Convert(in, out); err != nil {
		return err
	}
	fmt.Printf("wrote %s from %s in %.1fs\n", out, in, time.Since(start).Seconds())
	return nil
}
