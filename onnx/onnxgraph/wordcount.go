package onnxgraph

import (
	"bufio"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// CountWords counts the lowercased ASCII words of the English prose under
// dir: Go comments (lines starting with //) and Markdown or text files.
// It feeds WordTokenizer from text any machine with Go has (GOROOT/src).
func CountWords(dir string) (map[string]int, error) {
	freq := map[string]int{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable parts are skipped: this is a sample of text
		}
		if d.IsDir() {
			if name := d.Name(); path != dir && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		if ext != ".go" && ext != ".md" && ext != ".txt" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		countWords(f, ext == ".go", freq)
		return nil
	})
	return freq, err
}

func countWords(r io.Reader, commentsOnly bool, freq map[string]int) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if commentsOnly {
			var ok bool
			if line, ok = strings.CutPrefix(line, "//"); !ok {
				continue
			}
		}
		for _, w := range strings.FieldsFunc(strings.ToLower(line), func(r rune) bool { return r < 'a' || r > 'z' || r > unicode.MaxASCII }) {
			freq[w]++
		}
	}
}
