package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mmrag/onnx/onnxgraph"
	"mmrag/onnx/onnxtest"
)

func TestSafe(t *testing.T) {
	for _, tc := range []struct{ in, line, text string }{
		{"plain name.md", "plain name.md", "plain name.md"},
		{"Zoë’s ☃ 日本語 \\ back", "Zoë’s ☃ 日本語 \\ back", "Zoë’s ☃ 日本語 \\ back"},
		{"evil\x1b[31m\nadded fake.md", `evil\x1b[31m\nadded fake.md`, "evil\\x1b[31m\nadded fake.md"},
		{"tab\there\r", `tab\there\r`, "tab\there\\r"},
		{"bell\a del\x7f nul\x00", `bell\x07 del\x7f nul\x00`, `bell\x07 del\x7f nul\x00`},
		{"c1 \u0085 \u009b csi", `c1 \u0085 \u009b csi`, `c1 \u0085 \u009b csi`},
		{"raw byte \x9b[2J", `raw byte \x9b[2J`, `raw byte \x9b[2J`},
		{"gpj.\u202eexe", `gpj.\u202eexe`, `gpj.\u202eexe`},
		{"\u2066iso\u2069 \u202amark\u202c \u200f", `\u2066iso\u2069 \u202amark\u202c \u200f`, `\u2066iso\u2069 \u202amark\u202c \u200f`},
		{"line\u2028sep", `line\u2028sep`, `line\u2028sep`},
	} {
		if got := safe(tc.in); got != tc.line {
			t.Errorf("safe(%q) = %q, want %q", tc.in, got, tc.line)
		}
		if got := safeText(tc.in); got != tc.text {
			t.Errorf("safeText(%q) = %q, want %q", tc.in, got, tc.text)
		}
	}
}

// TestTerminalInjection ingests, lists and removes a file whose name holds
// an escape sequence and a line feed: every command prints it as one line,
// escaped.
func TestTerminalInjection(t *testing.T) {
	onnxtest.Init(t)
	cliEnv(t, cliOffline)
	model := cliTinyModel(t, onnxgraph.FolderOptions{})
	store := t.TempDir()
	docs := t.TempDir()
	evil := "evil\x1b[31m\nadded fake.md"
	if err := os.WriteFile(filepath.Join(docs, evil), []byte("# Evil \u202eeman\n\nSome text about cats.\n"), 0o644); err != nil {
		t.Skipf("this file system refuses the name: %v", err)
	}
	want := safe(filepath.Join(docs, evil))
	if !strings.Contains(want, `evil\x1b[31m\nadded fake.md`) {
		t.Fatalf("escaped name %q", want)
	}
	check := func(what, out string, lines int) {
		t.Helper()
		if strings.ContainsAny(out, "\x1b\u202e") {
			t.Errorf("%s printed a raw control character:\n%q", what, out)
		}
		n := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "added fake.md") {
				n++
				if !strings.Contains(l, want) {
					t.Errorf("%s: line %q lacks the escaped name %q", what, l, want)
				}
			}
			if strings.HasPrefix(l, "added fake.md") {
				t.Errorf("%s printed a forged line %q", what, l)
			}
		}
		if n != lines {
			t.Errorf("%s: %d lines name the file, want %d:\n%s", what, n, lines, out)
		}
	}

	_, errOut, err := cliRun(t, "--model", model, "--store", store, "ingest", docs)
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, errOut)
	}
	check("ingest", errOut, 1)
	out, errOut, err := cliRun(t, "--model", model, "--store", store, "ls")
	if err != nil {
		t.Fatalf("ls: %v\n%s", err, errOut)
	}
	check("ls", out, 1)
	if strings.Contains(out, "\u202e") || !strings.Contains(out, `Evil \u202eeman`) {
		t.Errorf("ls printed the title unescaped:\n%q", out)
	}
	out, errOut, err = cliRun(t, "--model", model, "--store", store, "rm", docs)
	if err != nil {
		t.Fatalf("rm: %v\n%s", err, errOut)
	}
	check("rm", out, 1)
}

// TestIngestLimitFlags: a file over --max-chunks fails naming the flag, the
// other is stored, the exit status is 1; raising the flag stores it.
func TestIngestLimitFlags(t *testing.T) {
	onnxtest.Init(t)
	cliEnv(t, cliOffline)
	model := cliTinyModel(t, onnxgraph.FolderOptions{})
	store := t.TempDir()
	docs := t.TempDir()
	var rows strings.Builder
	rows.WriteString("name,value,note\n")
	for i := range 400 {
		rows.WriteString("row " + strings.Repeat("x", i%7) + ",1,a note long enough to need some room in a chunk of its own\n")
	}
	cliWriteFile(t, docs, "rows.csv", []byte(rows.String()))
	cliWriteFile(t, docs, "ok.md", []byte("# Fine\n\nA short note.\n"))

	_, errOut, err := cliRun(t, "--model", model, "--store", store, "ingest", "--max-chunks", "5", docs)
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 {
		t.Fatalf("ingest over the limit: %v, want exit status 1\n%s", err, errOut)
	}
	for _, w := range []string{filepath.Join(docs, "rows.csv") + ": ", "chunks, over the limit of 5", "--max-chunks", "1 added", "1 failed"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("output lacks %q:\n%s", w, errOut)
		}
	}
	_, errOut, err = cliRun(t, "--model", model, "--store", store, "ingest", "--max-chunks", "-1", docs)
	if err != nil || !strings.Contains(errOut, "1 added") || !strings.Contains(errOut, "1 unchanged") {
		t.Errorf("ingest without the limit: %v\n%s", err, errOut)
	}
}
