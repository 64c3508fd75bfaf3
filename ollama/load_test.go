package ollama

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestLoad: loading sends a generate request without a prompt, with the
// client's keep_alive.
func TestLoad(t *testing.T) {
	f, srv := newFake(t, map[string]http.HandlerFunc{
		"/api/generate": jsonReply(200, `{"model":"llava","created_at":"2025-04-08T10:00:00Z","response":"","done":true,"done_reason":"load"}`),
	})
	c := &Client{BaseURL: srv.URL, Model: "llava", KeepAlive: 30 * time.Minute}
	if err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := f.bodies("/api/generate")
	if len(b) != 1 || b[0]["model"] != "llava" || b[0]["keep_alive"] != "30m0s" || b[0]["prompt"] != nil {
		t.Errorf("load request %v", b)
	}
	if err := (&Client{BaseURL: srv.URL}).Load(context.Background()); err == nil {
		t.Error("a client without a model loaded one")
	}
}

// TestModelCapabilities: the server's list where it gives one, else what
// the details tell (servers before 0.6.4).
func TestModelCapabilities(t *testing.T) {
	old := `{"template":"","details":{"format":"gguf","family":"llama","families":["llama","clip"]},"model_info":{"general.architecture":"llama"},"projector_info":{"clip.has_vision_encoder":true}}`
	for _, tc := range []struct {
		name  string
		reply http.HandlerFunc
		want  []string
	}{
		{"listed", showReply([]string{"completion", "vision"}, "mllama", ""), []string{"completion", "vision"}},
		{"projector, none listed", jsonReply(200, old), []string{"completion", "vision"}},
		{"text model, none listed", jsonReply(200, `{"details":{"family":"qwen2","families":["qwen2"]},"model_info":{}}`), []string{"completion"}},
		{"embedder, none listed", jsonReply(200, `{"details":{"family":"nomic-bert","families":["nomic-bert"]},"model_info":{}}`), []string{"embedding"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newFake(t, map[string]http.HandlerFunc{"/api/show": tc.reply})
			got, err := (&Client{BaseURL: srv.URL}).ModelCapabilities(context.Background(), "m")
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("capabilities %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}
