package main

import (
	"fmt"
	"strings"

	"mmrag/extract/media"
	"mmrag/openai"
)

// transcriber builds the speech-to-text client that --transcribe names:
// "openai:MODEL" on the OpenAI-compatible server of --llm-url (default
// $OPENAI_BASE_URL, else api.openai.com) with --llm-key, waiting at most
// --llm-timeout for an answer. "" or "none": nil, and audio and video
// without subtitles get no transcript.
func (l *llmFlags) transcriber(spec string) (media.Transcriber, error) {
	if spec == "" || spec == "none" {
		return nil, nil
	}
	kind, model, ok := strings.Cut(spec, ":")
	if !ok || kind != "openai" || model == "" {
		return nil, fmt.Errorf("--transcribe %q: want openai:MODEL, a model of an OpenAI-compatible /v1/audio/transcriptions (e.g. openai:whisper-1)", spec)
	}
	return &openai.Transcriber{Client: &openai.Client{BaseURL: l.llmURL, APIKey: l.llmKey, Timeout: l.timeout}, Model: model}, nil
}
