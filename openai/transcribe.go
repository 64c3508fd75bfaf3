package openai

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/textproto"
	"path/filepath"
	"strings"
	"time"

	"mmrag/extract/media"
)

// DefaultTranscribeModel is the speech-to-text model when Transcriber.Model
// and Client.Model are empty.
const DefaultTranscribeModel = "whisper-1"

// maxTranscriptResponse bounds a transcription response: an hour of speech
// is well under a megabyte of JSON.
const maxTranscriptResponse = 32 << 20

const transcribeEndpoint = "/v1/audio/transcriptions"

// Transcriber turns speech into timed text through /v1/audio/transcriptions:
// the audio goes up as multipart form data with response_format=verbose_json,
// which returns timed segments. OpenAI's API, whisper.cpp's server,
// faster-whisper-server, LocalAI and vLLM speak it. It is the media
// extractor's media.Transcriber for audio and video without subtitles.
//
// The server has Client.Timeout to answer a request (a piece of up to ten
// minutes of audio); a slow local server may need more. Safe for concurrent
// use.
type Transcriber struct {
	// Client is the server; nil: a zero Client ($OPENAI_BASE_URL…).
	Client *Client
	// Model names the speech-to-text model; empty: Client.Model, else
	// DefaultTranscribeModel.
	Model string
	// Language is an ISO-639-1 hint such as "en"; empty lets the model
	// detect it.
	Language string
}

func (t *Transcriber) client() *Client {
	if t.Client != nil {
		return t.Client
	}
	return defaultClient
}

func (t *Transcriber) model() string {
	return cmp.Or(t.Model, t.client().Model, DefaultTranscribeModel)
}

// Transcribe implements media.Transcriber: audio is a WAV file and name a
// file name for it; segment times are relative to its start.
func (t *Transcriber) Transcribe(ctx context.Context, name string, audio []byte) ([]media.Segment, error) {
	c, model := t.client(), t.model()
	form, contentType, err := transcribeForm(name, audio, model, t.Language)
	if err != nil {
		return nil, fmt.Errorf("transcribe %s: %w", name, err)
	}
	body, done, err := c.send(ctx, transcribeEndpoint, model, contentType, form)
	if err != nil {
		return nil, fmt.Errorf("transcribe %s: %w", name, err)
	}
	defer done()
	data, err := io.ReadAll(io.LimitReader(body, maxTranscriptResponse+1))
	if err != nil {
		return nil, fmt.Errorf("transcribe %s: %w", name, c.readErr(ctx, transcribeEndpoint, body, err))
	}
	if len(data) > maxTranscriptResponse {
		return nil, fmt.Errorf("transcribe %s: response over %d bytes", name, maxTranscriptResponse)
	}
	segs, err := parseTranscript(data)
	if err != nil {
		return nil, fmt.Errorf("transcribe %s: %s%s: %w", name, c.URL(), transcribeEndpoint, err)
	}
	return segs, nil
}

// transcribeForm writes the multipart form of a transcription request.
func transcribeForm(name string, audio []byte, model, language string) ([]byte, string, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filepath.Base(name)))
	h.Set("Content-Type", "audio/wav")
	fw, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := fw.Write(audio); err != nil {
		return nil, "", err
	}
	fields := [][2]string{
		{"model", model},
		{"response_format", "verbose_json"},
		{"timestamp_granularities[]", "segment"},
	}
	if language != "" {
		fields = append(fields, [2]string{"language", language})
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return body.Bytes(), mw.FormDataContentType(), nil
}

// parseTranscript reads a verbose_json answer: its segments, or its whole
// text as one segment when a server (or a newer OpenAI model) sends no
// segments.
func parseTranscript(data []byte) ([]media.Segment, error) {
	var r struct {
		Text     string  `json:"text"`
		Duration float64 `json:"duration"`
		Segments []struct {
			Start float64 `json:"start"`
			End   float64 `json:"end"`
			Text  string  `json:"text"`
		} `json:"segments"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("the answer is not verbose_json (is this an OpenAI-compatible server?): %w", err)
	}
	var out []media.Segment
	for _, s := range r.Segments {
		if t := strings.TrimSpace(s.Text); t != "" {
			out = append(out, media.Segment{Start: seconds(s.Start), End: seconds(s.End), Text: t})
		}
	}
	if len(out) == 0 && strings.TrimSpace(r.Text) != "" {
		out = append(out, media.Segment{End: seconds(r.Duration), Text: strings.TrimSpace(r.Text)})
	}
	return out, nil
}

// seconds converts a time in seconds from the server; nonsense is 0.
func seconds(f float64) time.Duration {
	if f < 0 || f > 1e7 || math.IsNaN(f) {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}
