// Command democorpus draws the figures of the demo corpus in
// examples/docs (the pipeline, two benchmark charts, the scoring curve)
// and prints a getting-started guide (getting-started.html beside this
// file) to a PDF with Chromium, so that `make run` has documents to answer
// from on a fresh clone. Run it from the repository root:
//
//	go run ./scripts/democorpus -out examples/docs
//
// The figures are drawn from numbers this project measured (see
// docs/PERFORMANCE.md); the output is committed, so running the demo needs
// neither this program nor Chromium.
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

func main() {
	out := flag.String("out", "examples/docs", "the demo corpus folder")
	noPDF := flag.Bool("no-pdf", false, "do not print the PDF (no Chromium)")
	flag.Parse()
	if err := run(*out, !*noPDF); err != nil {
		fmt.Fprintln(os.Stderr, "democorpus:", err)
		os.Exit(1)
	}
}

func run(out string, pdf bool) error {
	figs := filepath.Join(out, "figures")
	if err := os.MkdirAll(figs, 0o755); err != nil {
		return err
	}
	for name, draw := range map[string]func() image.Image{
		"pipeline.png":        pipeline,
		"embedding-speed.png": embeddingSpeed,
		"search-latency.png":  searchLatency,
		"softmax-scores.png":  softmaxScores,
	} {
		if err := writePNG(filepath.Join(figs, name), draw()); err != nil {
			return err
		}
		fmt.Println("wrote", filepath.Join(figs, name))
	}
	if pdf {
		return printPDF(filepath.Join("scripts", "democorpus", "getting-started.html"), filepath.Join(out, "getting-started.pdf"))
	}
	return nil
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return f.Close()
}

// printPDF prints an HTML page of the corpus to PDF with headless Chromium.
func printPDF(page, pdf string) error {
	abs, err := filepath.Abs(page)
	if err != nil {
		return err
	}
	dst, err := filepath.Abs(pdf)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	profile, err := os.MkdirTemp("", "democorpus-chromium-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)
	cmd := exec.CommandContext(ctx, "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--no-pdf-header-footer", "--print-to-pdf="+dst, "file://"+abs)
	if outb, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("chromium --print-to-pdf %s: %w\n%s", page, err, outb)
	}
	fmt.Println("wrote", pdf)
	return nil
}
