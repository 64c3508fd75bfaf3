package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"mmrag"
	"mmrag/embed"
	"mmrag/internal/testenv"
	"mmrag/ollama"
	"mmrag/refkb"
	"mmrag/sqlite"
)

var (
	evalSeedBlog = filepath.Join("..", "..", "..", "shared", "fixtures", "seed-blog")
	evalSet      = filepath.Join("..", "..", "eval", "testdata", "seed-blog.jsonl")
)

// evalRun runs `mmrag eval` under a root holding only the flags it reads,
// so that the test does not depend on main.go registering it.
func evalRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	for _, k := range []string{"MMRAG_TEXT_EMBEDDER", "MMRAG_TEXT_EMBEDDER_URL", "MMRAG_LLM", "MMRAG_LLM_URL", "MMRAG_RERANK"} {
		t.Setenv(k, "")
	}
	g := &globals{}
	root := &cobra.Command{Use: "mmrag", SilenceUsage: true, SilenceErrors: true}
	root.PersistentFlags().StringVar(&g.store, "store", "", "")
	root.PersistentFlags().StringVar(&g.model, "model", embed.DefaultModel, "")
	g.llm.register(root)
	root.AddCommand(newEvalCmd(g))
	var out, errOut bytes.Buffer
	root.SetArgs(append([]string{"eval"}, args...))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// evalStore stores the seed-blog (CLIP vectors under embed.DefaultModel, and
// text's vectors of passages and captions when text is set) in a new
// store folder.
func evalStore(t *testing.T, text *ollama.Embedder) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(evalSeedBlog, refkb.TextFile)); err != nil {
		t.Skipf("seed-blog fixture absent (%v)", err)
	}
	ctx := context.Background()
	kb, err := refkb.Read(ctx, evalSeedBlog, refkb.Options{Model: embed.DefaultModel})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, d := range kb.Docs {
		vecs := d.Vectors
		if text != nil {
			var ids, texts []string
			for _, it := range d.Items {
				s := it.Text
				if it.Modality == mmrag.Image {
					s = it.Caption
				}
				if s != "" {
					ids, texts = append(ids, it.ID), append(texts, s)
				}
			}
			v, err := text.EmbedTexts(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range v {
				vecs = append(vecs, mmrag.Vector{ItemID: ids[i], Model: text.ModelID(), Values: v[i]})
			}
		}
		if err := st.PutDocument(ctx, d.Doc, d.Items, vecs, d.Blobs); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestEvalBM25(t *testing.T) {
	store := evalStore(t, nil)
	out, _, err := evalRun(t, "--store", store, "--strategy", "bm25", "--misses", evalSet)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"73 questions (39 fact, 13 figure, 9 multi, 12 unanswerable)", "| bm25 | all | 61 |", "| figure questions | 13 | – |", "miss "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, _, err = evalRun(t, "--store", store, "--strategy", "bm25", "--k", "3,1", "--json", evalSet)
	if err != nil {
		t.Fatal(err)
	}
	var got evalOut
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	reps := got.Reports
	if len(got.Embedding) != 0 {
		t.Errorf("bm25 alone embedded questions: %v", got.Embedding)
	}
	if len(reps) != 1 || reps[0].Name != "bm25" || len(reps[0].Ks) != 2 || reps[0].Ks[1] != 3 || len(reps[0].Results) != 73 {
		t.Fatalf("--json reports %+v", reps)
	}
	// BM25 finds the passage first for about half the questions (0.56
	// measured in eval's TestQuality).
	if r := reps[0].Modality[mmrag.Text].Recall[1]; r < 0.5 {
		t.Errorf("bm25 text recall@1 %.3f, measured 0.56", r)
	}
}

func TestEvalBadInput(t *testing.T) {
	store := evalStore(t, nil)
	dir := t.TempDir()
	unresolved := filepath.Join(dir, "other.jsonl")
	if err := os.WriteFile(unresolved, []byte(`{"id":"x","question":"q?","expect":[{"modality":"text","match":"not in the seed blog"}],"kind":"fact"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"id\":\"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"--store", store, filepath.Join(dir, "none.jsonl")}, "none.jsonl"},
		{"malformed set", []string{"--store", store, bad}, "bad.jsonl:1"},
		{"unresolved", []string{"--store", store, unresolved}, "not in the seed blog"},
		{"unknown strategy", []string{"--store", store, "--strategy", "bm26", evalSet}, `"bm26"`},
		{"dense without embedder", []string{"--store", store, "--strategy", "dense", evalSet}, "needs --text-embedder"},
		{"k=0", []string{"--store", store, "--strategy", "bm25", "--k", "0", evalSet}, "k=0"},
		{"empty store", []string{"--store", filepath.Join(dir, "empty"), "--strategy", "bm25", evalSet}, "is empty"},
		{"embedder without vectors", []string{"--store", store, "--strategy", "dense", "--text-embedder", "ollama:none", "--text-embedder-url", "http://127.0.0.1:1", evalSet}, "no vectors"},
		{"captions without embedder", []string{"--store", store, "--images-by-caption", evalSet}, "needs --text-embedder"},
		{"no file", []string{"--store", store}, "arg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := evalRun(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// With a real Ollama server and all-MiniLM-L6-v2: dense alone, and hybrid
// with figures scored by their captions (no CLIP needed).
func TestEvalOllama(t *testing.T) {
	u, model := testenv.OllamaURL(t), testenv.OllamaEmbedModel()
	store := evalStore(t, &ollama.Embedder{Client: &ollama.Client{BaseURL: u}, Model: model})
	// Every third question: the model server embeds one question at a
	// time, which on a busy 2-core machine takes seconds each.
	b, err := os.ReadFile(evalSet)
	if err != nil {
		t.Fatal(err)
	}
	var sub []string
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i%3 == 0 {
			sub = append(sub, l)
		}
	}
	subset := filepath.Join(t.TempDir(), "subset.jsonl")
	if err := os.WriteFile(subset, []byte(strings.Join(sub, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := evalRun(t, "--store", store, "--strategy", "dense,hybrid,hybrid-defaults", "--images-by-caption",
		"--text-embedder", "ollama:"+model, "--text-embedder-url", u, "--answers", "--json", subset)
	if err != nil {
		t.Fatal(err)
	}
	var got evalOut
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	reps := got.Reports
	if l, ok := got.Embedding["ollama/"+model]; !ok || l.P50 <= 0 {
		t.Errorf("question embedding latency %v: want the model's", got.Embedding)
	}
	if len(reps) != 3 {
		t.Fatalf("%d reports, want 3", len(reps))
	}
	// --answers: the retrieval strategies answer too (extractively).
	if len(got.Answers) != 2 || got.Answers[1].Name != "hybrid-defaults" {
		t.Fatalf("answer reports %+v, want hybrid and hybrid-defaults", got.Answers)
	}
	for _, a := range got.Answers {
		t.Logf("%s answers: context recall %.3f, answer recall %.3f, abstention %.3f, false abstention %.3f",
			a.Name, a.ContextRecall, a.AnswerRecall, a.Abstention, a.FalseAbstention)
		if a.Failed > 0 || a.Repeats > 0 || a.Unanswerable == 0 || a.Measured == 0 || a.MeanPromptTokens <= 0 {
			t.Errorf("%s answers: %+v", a.Name, a)
		}
	}
	// Measured on this subset: text MRR 0.50 (dense) and 0.54 (hybrid),
	// figure MRR 0.94 by captions (0.88 under the defaults' figure gate).
	for _, r := range reps {
		t.Logf("%s: text MRR %.3f, image MRR %.3f", r.Name, r.Modality[mmrag.Text].MRR, r.Modality[mmrag.Image].MRR)
		if r.Failed > 0 || r.Modality[mmrag.Text].MRR < 0.45 || r.Modality[mmrag.Image].MRR < 0.82 {
			t.Errorf("%s: %d failed, text MRR %.3f, image MRR %.3f", r.Name, r.Failed, r.Modality[mmrag.Text].MRR, r.Modality[mmrag.Image].MRR)
		}
	}
}
