package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"mmrag/extract/media"
	"mmrag/internal/testenv"
	"mmrag/onnx/onnxgraph"
	"mmrag/onnx/onnxtest"
	"mmrag/openai"
)

func TestTranscriberFlag(t *testing.T) {
	l := &llmFlags{llmURL: "http://127.0.0.1:8000", llmKey: "sk-test"}
	for _, spec := range []string{"", "none"} {
		if tr, err := l.transcriber(spec); tr != nil || err != nil {
			t.Errorf("%q: %v, %v; want no transcriber", spec, tr, err)
		}
	}
	for _, spec := range []string{"whisper-1", "openai:", "ollama:whisper"} {
		if _, err := l.transcriber(spec); err == nil || !strings.Contains(err.Error(), "--transcribe") {
			t.Errorf("%q: error %v, want one naming --transcribe", spec, err)
		}
	}
	tr, err := l.transcriber("openai:whisper-large-v3")
	if err != nil {
		t.Fatal(err)
	}
	o, ok := tr.(*openai.Transcriber)
	if !ok || o.Model != "whisper-large-v3" || o.Client.BaseURL != l.llmURL || o.Client.APIKey != l.llmKey {
		t.Errorf("transcriber %#v", tr)
	}
	// The media extractor gets it.
	if av, ok := extractors(nil, tr, io.Discard)["media"].(media.Media); ok && av.Transcribe != tr {
		t.Errorf("media extractor without the transcriber: %#v", av)
	}
}

// TestIngestTranscribe: with --transcribe, a recording without subtitles
// is transcribed by the OpenAI-compatible server --llm-url names, with
// --llm-key, and its transcript is stored.
func TestIngestTranscribe(t *testing.T) {
	onnxtest.Init(t)
	testenv.Tool(t, "ffmpeg", "ffmpeg")
	testenv.Tool(t, "ffmpeg", "ffprobe")
	cliEnv(t, cliOffline)
	model := cliTinyModel(t, onnxgraph.FolderOptions{})
	store, docs := t.TempDir(), t.TempDir()
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=2", "-c:a", "flac", filepath.Join(docs, "talk.flac"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}

	var mu sync.Mutex
	var got []string // model, auth, file name of each request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/audio/transcriptions" || r.ParseMultipartForm(32<<20) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		name := ""
		if fh := r.MultipartForm.File["file"]; len(fh) == 1 {
			name = fh[0].Filename
		}
		mu.Lock()
		got = append(got, r.FormValue("model"), r.Header.Get("Authorization"), name)
		mu.Unlock()
		io.WriteString(w, `{"text":"Hello there. General Kenobi.","segments":[{"start":0,"end":0.9,"text":" Hello there."},{"start":1,"end":1.9,"text":" General Kenobi."}]}`)
	}))
	defer srv.Close()

	_, errOut, err := cliRun(t, "--model", model, "--store", store, "--llm-url", srv.URL, "--llm-key", "sk-test",
		"ingest", "--transcribe", "openai:whisper-1", docs)
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, errOut)
	}
	mu.Lock()
	if strings.Join(got, " ") != "whisper-1 Bearer sk-test talk.wav" {
		t.Errorf("requests (model, auth, file): %q", got)
	}
	mu.Unlock()
	out, errOut, err := cliRun(t, "--model", model, "--store", store, "ls", "--items", "--json")
	if err != nil || !strings.Contains(out, "General Kenobi.") {
		t.Errorf("ls --items: %v, transcript not stored:\n%s\n%s", err, out, errOut)
	}

	// A bad spec fails before anything is opened.
	if _, _, err := cliRun(t, "--model", model, "--store", store, "ingest", "--transcribe", "whisper", docs); err == nil ||
		!strings.Contains(err.Error(), "openai:MODEL") {
		t.Errorf("bad --transcribe: %v", err)
	}
}
