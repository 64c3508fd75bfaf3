package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"mmrag/ingest"
)

// TestProgressBar: the bar counts files, items and embeddings across
// events, prints failures as lines above itself, and fits the width.
func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	b := &progressBar{w: &out, lines: progressPrinter(&out, false), start: time.Now().Add(-2 * time.Second), todo: map[string]int{}}
	for _, e := range []ingest.Event{
		{Kind: ingest.Started, Source: "/a.md"},
		{Kind: ingest.Chunked, Source: "/a.md", Total: 100},
		{Kind: ingest.Embedding, Source: "/a.md", Done: 60, Total: 100},
		{Kind: ingest.Started, Source: "/b.md"},
		{Kind: ingest.Failed, Source: "/b.md", Err: errTest("bad bytes")},
	} {
		b.event(e)
	}
	line := b.line(200)
	for _, want := range []string{"1/2 files", "(1 failed)", "0 items", "30 emb/s", "ETA 1s"} {
		if !strings.Contains(line, want) {
			t.Errorf("bar %q lacks %q", line, want)
		}
	}
	if !strings.Contains(out.String(), "failed") || !strings.Contains(out.String(), "bad bytes") {
		t.Errorf("the failure was not printed as a line: %q", out.String())
	}
	b.event(ingest.Event{Kind: ingest.Added, Source: "/a.md", Items: 100})
	if line := b.line(200); !strings.Contains(line, "2/2 files") || !strings.Contains(line, "100 items") || !strings.Contains(line, "ETA –") {
		t.Errorf("after the last file: %q", line)
	}
	if line := b.line(60); len([]rune(line)) > 60 {
		t.Errorf("bar of %d columns in a 60-column terminal: %q", len([]rune(line)), line)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
