package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The OpenAI-compatible routes make the knowledge base a "model" that any
// OpenAI client or chat UI can talk to: the last user message is the
// question, earlier user and assistant messages the history, and the
// answer ends with the list of the sources it cites.

// models lists the model ids: the knowledge base with the default
// strategy, then one id per strategy.
func (s *Server) models() []string {
	ids := []string{s.cfg.ModelName}
	for _, st := range strategies {
		ids = append(ids, s.cfg.ModelName+"-"+st)
	}
	return ids
}

// strategyOf returns the strategy a model id asks for.
func (s *Server) strategyOf(model string) (string, bool) {
	if model == s.cfg.ModelName {
		return "", true
	}
	st, ok := strings.CutPrefix(model, s.cfg.ModelName+"-")
	if ok && slices.Contains(strategies, st) {
		return st, true
	}
	return "", false
}

type oaiModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) model(id string) oaiModel {
	return oaiModel{ID: id, Object: "model", Created: s.started.Unix(), OwnedBy: "mmrag"}
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	data := []oaiModel{}
	for _, id := range s.models() {
		data = append(data, s.model(id))
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := s.strategyOf(id); !ok {
		s.oaiFail(w, r, http.StatusNotFound, "model_not_found", fmt.Sprintf("the model %q does not exist; GET /v1/models lists them", id))
		return
	}
	writeJSON(w, http.StatusOK, s.model(id))
}

// oaiFail answers with an error in OpenAI's shape, which OpenAI clients
// parse.
func (s *Server) oaiFail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	typ := "invalid_request_error"
	if status >= 500 {
		typ = "server_error"
	}
	writeJSON(w, status, map[string]any{
		"error":      map[string]any{"message": msg, "type": typ, "param": nil, "code": code},
		"request_id": RequestID(r.Context()),
	})
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type chatRequest struct {
	Model               string        `json:"model"`
	Messages            []chatMessage `json:"messages"`
	Stream              bool          `json:"stream"`
	Temperature         *float64      `json:"temperature"`
	MaxTokens           *int          `json:"max_tokens"`
	MaxCompletionTokens *int          `json:"max_completion_tokens"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// messageText reads a message's content: a string, null, or an array of
// parts whose text parts are joined (images in a question are ignored:
// retrieval takes text).
func messageText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("content: want a string or an array of content parts")
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" && p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// sourcesHeading starts the list of sources appended to answers; it is cut
// from assistant turns sent back as history.
const sourcesHeading = "\n\nSources:\n"

// askOf turns a chat request into an AskRequest.
func (s *Server) askOf(c chatRequest) (AskRequest, error) {
	var q AskRequest
	if c.Model == "" {
		return q, errors.New("missing model: GET /v1/models lists them")
	}
	strategy, ok := s.strategyOf(c.Model)
	if !ok {
		return q, fmt.Errorf("the model %q does not exist; GET /v1/models lists them", c.Model)
	}
	if len(c.Messages) == 0 {
		return q, errors.New("missing messages")
	}
	last := c.Messages[len(c.Messages)-1]
	if last.Role != "user" {
		return q, fmt.Errorf("the last message is from %q: want the user's question last", last.Role)
	}
	for i, m := range c.Messages {
		text, err := messageText(m.Content)
		if err != nil {
			return q, fmt.Errorf("messages[%d]: %w", i, err)
		}
		switch {
		case i == len(c.Messages)-1:
			q.Question = text
		case m.Role == "user" || m.Role == "assistant":
			if m.Role == "assistant" {
				text, _, _ = strings.Cut(text, sourcesHeading)
			}
			q.History = append(q.History, Turn{Role: m.Role, Content: text})
		}
		// System, developer and tool messages are left out: the prompt is
		// mmrag's own.
	}
	q.Strategy, q.Temperature = strategy, c.Temperature
	if c.MaxCompletionTokens != nil {
		q.MaxTokens = *c.MaxCompletionTokens
	} else if c.MaxTokens != nil {
		q.MaxTokens = *c.MaxTokens
	}
	return q, q.check()
}

type chatChoice struct {
	Index        int            `json:"index"`
	Message      map[string]any `json:"message,omitempty"`
	Delta        map[string]any `json:"delta,omitempty"`
	FinishReason *string        `json:"finish_reason"`
	Logprobs     any            `json:"logprobs"`
}

type chatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type chatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *chatUsage   `json:"usage,omitempty"`
	// Sources is mmrag's own addition; OpenAI clients ignore it.
	Sources *SearchResponse `json:"sources,omitempty"`
}

func usageOf(a *Answer) *chatUsage {
	return &chatUsage{PromptTokens: a.PromptTokens, CompletionTokens: a.OutputTokens, TotalTokens: a.PromptTokens + a.OutputTokens}
}

func (s *Server) handleChatCompletions(w http.ResponseWriter, r *http.Request) {
	var c chatRequest
	if status, err := decodeBody(w, r, &c, false); err != nil {
		s.oaiFail(w, r, status, "invalid_request", err.Error())
		return
	}
	req, err := s.askOf(c)
	if err != nil {
		code := "invalid_request"
		status := http.StatusBadRequest
		if strings.Contains(err.Error(), "does not exist") {
			code, status = "model_not_found", http.StatusNotFound
		}
		s.oaiFail(w, r, status, code, err.Error())
		return
	}
	id, created := "chatcmpl-"+randomID(12), time.Now().Unix()
	if c.Stream {
		s.streamChat(w, r, req, c, id, created)
		return
	}
	ans, err := s.cfg.Engine.Ask(r.Context(), req, nil, nil)
	if err != nil {
		status, msg := s.publicError(r, err)
		s.oaiFail(w, r, status, "", msg)
		return
	}
	s.decorate(&ans.Sources)
	stop := "stop"
	writeJSON(w, http.StatusOK, chatResponse{
		ID: id, Object: "chat.completion", Created: created, Model: c.Model,
		Choices: []chatChoice{{
			Message:      map[string]any{"role": "assistant", "content": ans.Answer + sourcesList(ans.Answer, ans.Sources), "refusal": nil},
			FinishReason: &stop,
		}},
		Usage:   usageOf(ans),
		Sources: &ans.Sources,
	})
}

// streamChat answers as chat.completion.chunk events ending with [DONE].
func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, req AskRequest, c chatRequest, id string, created int64) {
	ctx, cancel := s.streamContext(r)
	defer cancel()
	es := newEventStream(w)
	defer es.stop()
	chunk := func(delta map[string]any, finish *string) error {
		return es.send("", chatResponse{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: c.Model,
			Choices: []chatChoice{{Delta: delta, FinishReason: finish}},
		})
	}
	if chunk(map[string]any{"role": "assistant", "content": ""}, nil) != nil {
		return
	}
	streamed := false
	ans, err := s.cfg.Engine.Ask(ctx, req, nil, func(tok string) error {
		streamed = true
		return chunk(map[string]any{"content": tok}, nil)
	})
	if err != nil {
		status, msg := s.publicError(r, err)
		typ := "server_error"
		if status < 500 {
			typ = "invalid_request_error"
		}
		_ = es.send("", map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
		return
	}
	s.decorate(&ans.Sources)
	tail := sourcesList(ans.Answer, ans.Sources)
	if !streamed {
		tail = ans.Answer + tail
	}
	if tail != "" && chunk(map[string]any{"content": tail}, nil) != nil {
		return
	}
	stop := "stop"
	if chunk(map[string]any{}, &stop) != nil {
		return
	}
	if c.StreamOptions != nil && c.StreamOptions.IncludeUsage {
		_ = es.send("", chatResponse{ID: id, Object: "chat.completion.chunk", Created: created, Model: c.Model, Choices: []chatChoice{}, Usage: usageOf(ans)})
	}
	_ = es.sendRaw("[DONE]")
}

var citation = regexp.MustCompile(`\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]`)

// maxListedSources caps the list when the answer cites nothing.
const maxListedSources = 8

// sourcesList is the "Sources:" block appended to chat answers: the
// sources the answer cites by [n], or the first few when it cites none.
func sourcesList(answer string, src SearchResponse) string {
	cited := map[int]bool{}
	for _, m := range citation.FindAllStringSubmatch(answer, -1) {
		for _, n := range strings.Split(m[1], ",") {
			if k, err := strconv.Atoi(strings.TrimSpace(n)); err == nil {
				cited[k] = true
			}
		}
	}
	var lines []string
	for _, list := range [][]Source{src.Text, src.Images} {
		for _, so := range list {
			if len(cited) > 0 && !cited[so.N] || len(cited) == 0 && len(lines) == maxListedSources {
				continue
			}
			lines = append(lines, "["+strconv.Itoa(so.N)+"] "+sourceLabel(so))
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return sourcesHeading + strings.Join(lines, "\n")
}

// sourceLabel says where a source is: title, section, page, and a link
// to the original at its section when it is a web page.
func sourceLabel(so Source) string {
	var parts []string
	if so.Modality == "image" {
		fig := "Figure"
		if so.Caption != "" {
			fig += ": " + so.Caption
		}
		parts = append(parts, fig)
	}
	where := so.Title
	if len(so.Section) > 0 {
		if where != "" {
			where += " › "
		}
		where += strings.Join(so.Section, " › ")
	}
	if so.Page > 0 {
		where += " (p. " + strconv.Itoa(so.Page) + ")"
	}
	if where != "" {
		parts = append(parts, where)
	}
	link := so.Source
	if so.Anchor != "" && (strings.HasPrefix(link, "http://") || strings.HasPrefix(link, "https://")) {
		link += "#" + so.Anchor
	}
	if link != "" {
		parts = append(parts, link)
	}
	return strings.Join(parts, " — ")
}
