package rag_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"mmrag/generate"
	"mmrag/rag"
)

// An extractive answer's own sources: whole passages, the cited ones
// first in the order the text cites them, and an abstention when the
// knowledge base does not answer.
func TestAnswerSources(t *testing.T) {
	k := newKB(t)
	ctx := context.Background()
	a, err := k.engine(nil).Ask(ctx, rag.Request{Question: "At what temperature is the sourdough loaf baked?", Strategy: rag.TextOnly}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Abstained || !strings.Contains(a.Text, "250 degrees") {
		t.Fatalf("answer %q (abstained %v)", a.Text, a.Abstained)
	}
	var order []int
	for _, m := range regexp.MustCompile(`\[(\d+)\]`).FindAllStringSubmatch(a.Text, -1) {
		n, _ := strconv.Atoi(m[1])
		if len(order) == 0 || order[len(order)-1] != n {
			order = append(order, n)
		}
	}
	for i, n := range order {
		if c := a.Citations[i]; c.N != n || !c.Cited {
			t.Errorf("source %d is [%d] (cited %v); the answer cites %v first", i, c.N, c.Cited, order)
		}
	}
	for _, c := range a.Citations[len(order):] {
		if c.Cited {
			t.Errorf("[%d] marked cited after the cited ones", c.N)
		}
	}
	if a.PromptTokens <= 0 || a.Evidence <= 0 {
		t.Errorf("prompt tokens %d, evidence %v", a.PromptTokens, a.Evidence)
	}

	a, err = k.engine(nil).Ask(ctx, rag.Request{Question: "Which GPU does the Kubernetes cluster use?", Strategy: rag.TextOnly}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Abstained || !strings.HasPrefix(a.Text, generate.NoAnswer) || len(a.Citations) == 0 || !a.Citations[0].Cited {
		t.Errorf("unanswerable: abstained %v, %q", a.Abstained, a.Text)
	}
}
