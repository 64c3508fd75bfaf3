package prompt

import (
	"fmt"
	"strings"
	"testing"

	"mmrag/generate"
	"mmrag/retrieve"
)

// BenchmarkBuild: the reference's 15 passages and 5 figures, a two-turn
// history, under the default budget (which drops some).
func BenchmarkBuild(b *testing.B) {
	res := &retrieve.Results{}
	for i := 1; i <= 15; i++ {
		res.Text = append(res.Text, textResult(i, "Section", strings.Repeat(fmt.Sprintf("word%d ", i), 45)))
	}
	for i := 1; i <= 5; i++ {
		res.Images = append(res.Images, imageResult(i, fmt.Sprintf("images/%d.png", i), "a caption of about ten words for the figure"))
	}
	hist := []generate.Message{
		{Role: generate.User, Content: "What is CLIP?"}, {Role: generate.Assistant, Content: "A model [1]."},
		{Role: generate.User, Content: "And its loss?"}, {Role: generate.Assistant, Content: "Contrastive [2]."},
	}
	for _, style := range []Style{Cited, Reference} {
		b.Run(string(style), func(b *testing.B) {
			for b.Loop() {
				Build("How is CLIP trained?", res, hist, Options{Style: style})
			}
		})
	}
}
