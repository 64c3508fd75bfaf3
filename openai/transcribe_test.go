package openai

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"mmrag/extract/media"
)

var _ media.Transcriber = (*Transcriber)(nil)

// transcribeServer is an OpenAI-style transcription endpoint that records
// each request (its form fields, plus "file:name", "file:type",
// "file:bytes" and "auth") and answers with status and body.
type transcribeServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []map[string]string
	status   int
	body     string
}

func newTranscribeServer(t *testing.T, status int, body string) *transcribeServer {
	s := &transcribeServer{status: status, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/audio/transcriptions" || r.Method != http.MethodPost {
			http.Error(w, `{"error":{"message":"Not Found"}}`, http.StatusNotFound)
			return
		}
		if err := r.ParseMultipartForm(64 << 20); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got := map[string]string{"auth": r.Header.Get("Authorization")}
		for k, v := range r.MultipartForm.Value {
			got[k] = v[0]
		}
		if fh := r.MultipartForm.File["file"]; len(fh) == 1 {
			f, _ := fh[0].Open()
			audio, _ := io.ReadAll(f)
			got["file:name"], got["file:type"], got["file:bytes"] = fh[0].Filename, fh[0].Header.Get("Content-Type"), string(audio)
		}
		s.mu.Lock()
		s.requests = append(s.requests, got)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		io.WriteString(w, s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

const transcribeTestAnswer = `{"task":"transcribe","language":"english","duration":3.0,"text":"Hello there. General Kenobi.",` +
	`"segments":[{"id":0,"start":0.0,"end":1.4,"text":" Hello there."},{"id":1,"start":1.5,"end":2.9,"text":" General Kenobi."}]}`

// TestTranscriberRequest: the audio goes up as multipart form data with the
// model, verbose_json, segment timestamps, the language hint and the key.
func TestTranscriberRequest(t *testing.T) {
	srv := newTranscribeServer(t, http.StatusOK, transcribeTestAnswer)
	tr := &Transcriber{Client: &Client{BaseURL: srv.URL + "/v1/", APIKey: "sk-test"}, Language: "en"}
	got, err := tr.Transcribe(context.Background(), "talks/tone.wav", []byte("RIFF…WAVE"))
	if err != nil {
		t.Fatal(err)
	}
	want := []media.Segment{
		{Start: 0, End: 1400 * time.Millisecond, Text: "Hello there."},
		{Start: 1500 * time.Millisecond, End: 2900 * time.Millisecond, Text: "General Kenobi."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("segments %+v, want %+v", got, want)
	}
	wantReq := map[string]string{
		"auth": "Bearer sk-test", "model": "whisper-1", "response_format": "verbose_json", "language": "en",
		"timestamp_granularities[]": "segment", "file:name": "tone.wav", "file:type": "audio/wav", "file:bytes": "RIFF…WAVE",
	}
	if len(srv.requests) != 1 || !reflect.DeepEqual(srv.requests[0], wantReq) {
		t.Errorf("requests %v\nwant %v", srv.requests, wantReq)
	}

	// The model: Transcriber.Model, else Client.Model; no key, no header.
	for _, tt := range []struct {
		tr   *Transcriber
		want string
	}{
		{&Transcriber{Client: &Client{BaseURL: srv.URL, Model: "whisper-large-v3"}}, "whisper-large-v3"},
		{&Transcriber{Client: &Client{BaseURL: srv.URL, Model: "chat"}, Model: "distil-whisper"}, "distil-whisper"},
	} {
		if _, err := tt.tr.Transcribe(context.Background(), "a.wav", []byte("RIFF")); err != nil {
			t.Fatal(err)
		}
		last := srv.requests[len(srv.requests)-1]
		if last["model"] != tt.want || last["auth"] != "" {
			t.Errorf("model %q auth %q, want model %q and no key", last["model"], last["auth"], tt.want)
		}
		if _, ok := last["language"]; ok {
			t.Errorf("language sent without a hint: %q", last["language"])
		}
	}
}

func TestTranscriberAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   []media.Segment
		err    string
		is     error
	}{
		{name: "segments", status: 200, body: `{"segments":[{"start":0.5,"end":1.25,"text":" a "},{"start":2,"end":3,"text":"  "}]}`,
			want: []media.Segment{{Start: 500 * time.Millisecond, End: 1250 * time.Millisecond, Text: "a"}}},
		{name: "text only", status: 200, body: `{"text":" Just text. ","duration":4.5}`,
			want: []media.Segment{{End: 4500 * time.Millisecond, Text: "Just text."}}},
		{name: "nonsense times", status: 200, body: `{"segments":[{"start":-1,"end":1e300,"text":"x"}]}`,
			want: []media.Segment{{Text: "x"}}},
		{name: "silence", status: 200, body: `{"text":"","segments":[]}`},
		{name: "not JSON", status: 200, body: `Hello world`, err: "not verbose_json"},
		{name: "server error", status: 500, body: `upstream exploded`, err: "HTTP 500: upstream exploded"},
		{name: "bad model", status: 404, body: `{"error":{"message":"The model 'x' does not exist","code":"model_not_found"}}`,
			err: "model x not found", is: ErrModelNotFound},
		{name: "bad key", status: 401, body: `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}`,
			err: "Incorrect API key provided", is: ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTranscribeServer(t, tt.status, tt.body)
			got, err := (&Transcriber{Client: &Client{BaseURL: srv.URL}, Model: "x"}).Transcribe(context.Background(), "a.wav", []byte("RIFF"))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "transcribe a.wav: ") {
					t.Errorf("error %v, want one naming a.wav and containing %q", err, tt.err)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("error %v is not %v", err, tt.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTranscriberFailures(t *testing.T) {
	// The context bounds the request.
	srv := newTranscribeServer(t, http.StatusOK, transcribeTestAnswer)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tr := &Transcriber{Client: &Client{BaseURL: srv.URL}}
	if _, err := tr.Transcribe(ctx, "a.wav", []byte("RIFF")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v", err)
	}
	// A server that never answers stalls after Client.Timeout.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	tr = &Transcriber{Client: &Client{BaseURL: hang.URL, Timeout: 50 * time.Millisecond}}
	if _, err := tr.Transcribe(context.Background(), "a.wav", []byte("RIFF")); !errors.Is(err, ErrStalled) {
		t.Errorf("silent server: %v", err)
	}
	// Nothing listening.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	tr = &Transcriber{Client: &Client{BaseURL: gone.URL}}
	if _, err := tr.Transcribe(context.Background(), "a.wav", []byte("RIFF")); !errors.Is(err, ErrUnreachable) {
		t.Errorf("no server: %v", err)
	}
}
