package server

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"path/filepath"
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
	// Kind is knowledge_base (answers with the default generator and a
	// strategy) or generator (answers with that model).
	Kind         string   `json:"kind,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
	Default      bool     `json:"default,omitempty"`
}

func (s *Server) model(id string) oaiModel {
	return oaiModel{ID: id, Object: "model", Created: s.started.Unix(), OwnedBy: "mmrag"}
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": s.modelList(r.Context())})
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, m := range s.modelList(r.Context()) {
		if m.ID == id {
			writeJSON(w, http.StatusOK, m)
			return
		}
	}
	s.oaiFail(w, r, http.StatusNotFound, "model_not_found", fmt.Sprintf("the model %q does not exist; GET /v1/models lists them", id))
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
	// N and Tools are refused rather than ignored: one answer per
	// request, and no tool calls.
	N     *int            `json:"n"`
	Tools json.RawMessage `json:"tools"`
}

// messageText reads a message's content: a string, null, or an array of
// parts whose text parts are joined; the URLs of its image_url parts are
// returned beside it.
func messageText(raw json.RawMessage) (string, []string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil, nil
	}
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL *struct {
			URL string `json:"url"`
		} `json:"image_url"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", nil, errors.New("content: want a string or an array of content parts")
	}
	var texts, images []string
	for _, p := range parts {
		switch {
		case p.Type == "text" && p.Text != "":
			texts = append(texts, p.Text)
		case p.Type == "image_url" && p.ImageURL != nil:
			images = append(images, p.ImageURL.URL)
		}
	}
	return strings.Join(texts, "\n"), images, nil
}

// chatImage decodes the picture of an image_url part: only data: URLs,
// as the server fetches nothing a client names.
func chatImage(q *ImageQuery, u string) error {
	if !strings.HasPrefix(u, "data:") {
		return errors.New("image_url: want a data: URL (data:image/png;base64,…); the server does not fetch URLs")
	}
	data, err := decodeBase64Image(u)
	if err != nil {
		return fmt.Errorf("image_url: %w", err)
	}
	_, err = queryImage(q, data)
	return err
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
	if !ok && generatorSpec(c.Model) {
		q.Model, ok = c.Model, true // the knowledge base with that generator
	}
	if !ok {
		return q, fmt.Errorf("the model %q does not exist; GET /v1/models lists them", c.Model)
	}
	if c.N != nil && *c.N != 1 {
		return q, fmt.Errorf("n=%d is not supported: mmrag gives one answer per request", *c.N)
	}
	if t := strings.TrimSpace(string(c.Tools)); t != "" && t != "null" && t != "[]" {
		return q, errors.New("tools are not supported: mmrag answers from its knowledge base and calls no tools")
	}
	if len(c.Messages) == 0 {
		return q, errors.New("missing messages")
	}
	last := c.Messages[len(c.Messages)-1]
	if last.Role != "user" {
		return q, fmt.Errorf("the last message is from %q: want the user's question last", last.Role)
	}
	for i, m := range c.Messages {
		text, images, err := messageText(m.Content)
		if err != nil {
			return q, fmt.Errorf("messages[%d]: %w", i, err)
		}
		switch {
		case i == len(c.Messages)-1:
			q.Question = text
			// The question's picture is what the sources are searched
			// with; pictures of earlier turns are not searched again.
			if len(images) > 1 {
				return q, fmt.Errorf("messages[%d]: %d images: ask with one", i, len(images))
			}
			if len(images) == 1 {
				if err := chatImage(&q.ImageQuery, images[0]); err != nil {
					return q, fmt.Errorf("messages[%d]: %w", i, err)
				}
			}
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
	Index   int            `json:"index"`
	Message map[string]any `json:"message,omitempty"`
	// Delta is a chunk's change: never left out, {} on the last chunk.
	Delta        any     `json:"delta,omitempty"`
	FinishReason *string `json:"finish_reason"`
	Logprobs     any     `json:"logprobs"`
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
	if status, err := decodeBodyLimit(w, r, &c, false, maxQueryBodyBytes); err != nil {
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
			Message:      map[string]any{"role": "assistant", "content": ans.Answer + s.sourcesList(ans.Answer, ans.Sources, baseURL(r)), "refusal": nil},
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
	tail := s.sourcesList(ans.Answer, ans.Sources, baseURL(r))
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

// baseURL is the server's address as the client reached it, for absolute
// links in answers; the Host header is one the server answers to (see
// hosts.go).
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// sourcesList is the "Sources:" block appended to chat answers: the
// sources the answer cites by [n], or the first few when it cites none,
// then the listed figures as Markdown images (thumbnails linking to the
// full picture, with absolute URLs under base) that chat UIs show.
func (s *Server) sourcesList(answer string, src SearchResponse, base string) string {
	cited := map[int]bool{}
	for _, m := range citation.FindAllStringSubmatch(answer, -1) {
		for _, n := range strings.Split(m[1], ",") {
			if k, err := strconv.Atoi(strings.TrimSpace(n)); err == nil {
				cited[k] = true
			}
		}
	}
	var lines, figures []string
	for _, list := range [][]Source{src.Text, src.Images} {
		for _, so := range list {
			if len(cited) > 0 && !cited[so.N] || len(cited) == 0 && len(lines) == maxListedSources {
				continue
			}
			lines = append(lines, "["+strconv.Itoa(so.N)+"] "+sourceLabel(so))
			if so.Modality == "image" && so.ImageURL != "" && base != "" {
				now := time.Now()
				thumb := s.signFigure(cmp.Or(so.ThumbURL, so.ImageURL), so.ItemID, now)
				figures = append(figures, "[!["+markdownAlt(so)+"]("+base+thumb+")]("+base+s.signFigure(so.ImageURL, so.ItemID, now)+")")
			}
		}
	}
	if len(lines) == 0 {
		return ""
	}
	out := sourcesHeading + strings.Join(lines, "\n")
	if len(figures) > 0 {
		out += "\n\n" + strings.Join(figures, "\n\n")
	}
	return out
}

// markdownAlt is a figure's alternative text, safe inside ![…].
func markdownAlt(so Source) string {
	alt := "Figure " + strconv.Itoa(so.N)
	if so.Caption != "" {
		alt += ": " + so.Caption
	}
	alt = strings.Join(strings.Fields(alt), " ")
	alt = strings.NewReplacer("[", "(", "]", ")", "\\", "/").Replace(alt)
	if r := []rune(alt); len(r) > 120 {
		alt = string(r[:119]) + "…"
	}
	return alt
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
	web := strings.HasPrefix(link, "http://") || strings.HasPrefix(link, "https://")
	if so.Anchor != "" && web {
		link += "#" + so.Anchor
	}
	if !web && link != "" {
		// A file on the server: its name only, never the server's path.
		link = path.Base(filepath.ToSlash(link))
	}
	if link != "" {
		parts = append(parts, link)
	}
	return strings.Join(parts, " — ")
}
