package ingest

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkAdd ingests 100 Markdown files of six paragraphs into a fresh
// store with the fake embedder: the pipeline's own cost (walk, extract,
// chunk, store), without a model.
func BenchmarkAdd(b *testing.B) {
	dir := b.TempDir()
	files := map[string]string{}
	for i := range 100 {
		var sb strings.Builder
		fmt.Fprintf(&sb, "# Note %d\n\n", i)
		for s := range 3 {
			fmt.Fprintf(&sb, "## Section %d\n\n%s\n\n%s\n\n", s, para(fmt.Sprintf("n%ds%da", i, s), 40), para(fmt.Sprintf("n%ds%db", i, s), 40))
		}
		files[fmt.Sprintf("n%03d.md", i)] = sb.String()
	}
	writeFiles(b, dir, files)
	items := 0
	for b.Loop() {
		b.StopTimer()
		p := newPipeline(b, newFake())
		b.StartTimer()
		rep, err := p.Add(b.Context(), []string{dir}, WalkOptions{})
		if err != nil || rep.Added != 100 {
			b.Fatalf("%v %+v", err, rep)
		}
		items = rep.Items
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(float64(items*b.N)/b.Elapsed().Seconds(), "items/s")
}
