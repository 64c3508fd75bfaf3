package picture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Tesseract recognises text in images (OCR) by running the tesseract
// command-line tool. The zero value runs "tesseract" from PATH for English with
// a two-minute limit per image. (The name OCR is taken by the BlockKind.)
type Tesseract struct {
	Cmd     string        // program to run; empty means "tesseract"
	Lang    string        // tesseract language(s), e.g. "eng+deu"; empty means "eng"
	Timeout time.Duration // limit for one image; 0 means 2 minutes
}

const ocrDefaultTimeout = 2 * time.Minute

// ocrLookups caches exec.LookPath per command: Available is asked once per
// scanned page and PATH does not change while we run.
var ocrLookups sync.Map // string → bool

func (o Tesseract) cmd() string {
	if o.Cmd == "" {
		return "tesseract"
	}
	return o.Cmd
}

func (o Tesseract) lang() string {
	if o.Lang == "" {
		return "eng"
	}
	return o.Lang
}

// Available reports whether the OCR program can be found.
func (o Tesseract) Available() bool {
	c := o.cmd()
	if v, ok := ocrLookups.Load(c); ok {
		return v.(bool)
	}
	_, err := exec.LookPath(c)
	ocrLookups.Store(c, err == nil)
	return err == nil
}

// Image returns the text recognised in an encoded image (PNG, JPEG, TIFF or
// anything else tesseract reads). Lines are separated by "\n" and paragraphs
// by a blank line, as tesseract prints them.
func (o Tesseract) Image(ctx context.Context, img []byte) (string, error) {
	if len(img) == 0 {
		return "", errors.New("ocr: empty image")
	}
	if !o.Available() {
		return "", fmt.Errorf("ocr: %s not found in PATH (install tesseract-ocr)", o.cmd())
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = ocrDefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, o.cmd(), "stdin", "stdout", "-l", o.lang())
	cmd.Stdin = bytes.NewReader(img)
	// One thread per process: the pipeline runs several extractions at once on
	// few cores, and tesseract's OpenMP threads only add contention there.
	cmd.Env = append(os.Environ(), "OMP_THREAD_LIMIT=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("ocr: %s stopped (limit %v): %w", o.cmd(), timeout, ctx.Err())
		}
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return "", fmt.Errorf("ocr: %s -l %s: %w: %s", o.cmd(), o.lang(), err, msg)
	}
	return ocrClean(stdout.String()), nil
}

// ocrClean trims trailing spaces and form feeds and collapses runs of blank
// lines, keeping single blank lines as paragraph breaks.
func ocrClean(s string) string {
	s = strings.ReplaceAll(s, "\f", "\n")
	var b strings.Builder
	blank := 0
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if strings.TrimSpace(line) == "" {
			blank++
			continue
		}
		if b.Len() > 0 {
			if blank > 0 {
				b.WriteString("\n\n")
			} else {
				b.WriteByte('\n')
			}
		}
		blank = 0
		b.WriteString(line)
	}
	return b.String()
}
