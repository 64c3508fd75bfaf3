package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"mmrag/generate"
	"mmrag/internal/llmclient"
)

var _ generate.Generator = (*Client)(nil)
var _ generate.Describer = (*Client)(nil)

// Capabilities reports what the config says the model accepts; the API has
// no way to ask.
func (c *Client) Capabilities(ctx context.Context) (generate.Capabilities, error) {
	return generate.Capabilities{Model: c.Model, Vision: c.Vision, MaxImages: c.MaxImages, ContextTokens: c.ContextTokens}, nil
}

type contentPart struct {
	Type     string    `json:"type"` // "text" or "image_url"
	Text     string    `json:"text,omitempty"`
	ImageURL *imageURL `json:"image_url,omitempty"`
}

type imageURL struct {
	URL string `json:"url"`
}

type chatMessage struct {
	Role string `json:"role"`
	// Content is a string, or content parts when the message has images:
	// some servers (older llama.cpp) accept only strings for text.
	Content any `json:"content"`
}

type chatRequest struct {
	Model         string         `json:"model"`
	Messages      []chatMessage  `json:"messages"`
	Stream        bool           `json:"stream"`
	StreamOptions map[string]any `json:"stream_options,omitempty"`
	Temperature   *float64       `json:"temperature,omitempty"`
	MaxTokens     int            `json:"max_tokens,omitempty"`
}

// chatChunk is one event of the stream. The last content event has a
// finish_reason; with include_usage an event with no choices carries the
// counts; "data: [DONE]" ends the stream.
type chatChunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// Generate answers req through /v1/chat/completions, streaming tokens to
// onToken. Images go as data URLs when Vision is set; otherwise (or past
// MaxImages) they are left out and Notify says so. On an error after the
// stream began, the Response holds the text received so far.
func (c *Client) Generate(ctx context.Context, req generate.Request, onToken func(string) error) (generate.Response, error) {
	start := time.Now()
	if c.Model == "" {
		return generate.Response{}, errors.New("openai chat: no model set")
	}
	if len(req.Messages) == 0 {
		return generate.Response{}, errors.New("openai chat: no messages")
	}
	if req.Temperature != nil && *req.Temperature < 0 {
		return generate.Response{}, fmt.Errorf("openai chat: temperature %v is negative", *req.Temperature)
	}
	if req.MaxTokens < 0 {
		return generate.Response{}, fmt.Errorf("openai chat: max tokens %d is negative", req.MaxTokens)
	}
	msgs, err := c.messages(req.Messages)
	if err != nil {
		return generate.Response{}, err
	}
	const endpoint = "/v1/chat/completions"
	body, done, err := c.call(ctx, endpoint, c.Model, chatRequest{
		Model: c.Model, Messages: msgs, Stream: true,
		StreamOptions: map[string]any{"include_usage": true}, // token counts in a last event
		Temperature:   req.Temperature, MaxTokens: req.MaxTokens,
	})
	if err != nil {
		return generate.Response{}, fmt.Errorf("openai chat with %s: %w", c.Model, err)
	}
	defer done()

	resp := generate.Response{Model: c.Model}
	var text strings.Builder
	finished := false
	fail := func(err error) (generate.Response, error) {
		resp.Text, resp.Duration = text.String(), time.Since(start)
		return resp, err
	}
	ev := newEventReader(body)
	for {
		data, err := ev.next()
		if err == io.EOF && finished {
			break // some servers end with the finish_reason and no [DONE]
		}
		if err != nil {
			return fail(fmt.Errorf("openai chat with %s: %w", c.Model, c.readErr(ctx, endpoint, body, err)))
		}
		if data == "[DONE]" {
			break
		}
		var ch chatChunk
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			return fail(fmt.Errorf("openai chat with %s: %w", c.Model, c.readErr(ctx, endpoint, body, err)))
		}
		if len(ch.Error) > 0 && string(ch.Error) != "null" {
			msg, code, ok := parseErrorValue(ch.Error)
			if !ok {
				msg = string(ch.Error)
			}
			return fail(fmt.Errorf("openai chat with %s: %w", c.Model,
				&APIError{URL: c.URL(), Endpoint: endpoint, Model: c.Model, StatusCode: http.StatusOK, Message: msg, Code: code}))
		}
		if ch.Model != "" {
			resp.Model = ch.Model
		}
		if ch.Usage != nil {
			resp.PromptTokens, resp.OutputTokens = ch.Usage.PromptTokens, ch.Usage.CompletionTokens
		}
		for _, choice := range ch.Choices {
			if s := choice.Delta.Content; s != "" {
				if err := ctx.Err(); err != nil {
					return fail(err) // buffered chunks must not reach a caller that cancelled
				}
				text.WriteString(s)
				if onToken != nil {
					if err := onToken(s); err != nil {
						return fail(err)
					}
				}
			}
			if choice.FinishReason != nil && *choice.FinishReason != "" {
				finished = true
			}
		}
	}
	resp.Text, resp.Duration = text.String(), time.Since(start)
	return resp, nil
}

// messages converts the request, leaving out the images the model cannot take.
func (c *Client) messages(in []generate.Message) ([]chatMessage, error) {
	n, err := llmclient.CheckMessages("openai chat", in)
	if err != nil {
		return nil, err
	}
	keep := llmclient.KeepImages(c.Model, n, c.Vision, c.MaxImages, "is not configured as taking images", c.note)
	out := make([]chatMessage, len(in))
	for i, m := range in {
		out[i] = chatMessage{Role: m.Role, Content: m.Content}
		if keep == 0 || len(m.Images) == 0 {
			continue
		}
		parts := []contentPart{{Type: "text", Text: m.Content}}
		for _, img := range m.Images {
			if keep == 0 {
				break
			}
			mime, _ := llmclient.ImageType(img)
			parts = append(parts, contentPart{Type: "image_url", ImageURL: &imageURL{
				URL: "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(img),
			}})
			keep--
		}
		out[i].Content = parts
	}
	return out, nil
}

// eventReader reads server-sent events: "data:" lines, joined by newlines
// until a blank line ends the event; comments (":") and other fields are
// skipped.
type eventReader struct {
	r *bufio.Reader
}

func newEventReader(r io.Reader) *eventReader { return &eventReader{r: bufio.NewReader(r)} }

// next returns the next event's data; io.EOF at the end of the stream (an
// event cut off by it is returned as io.ErrUnexpectedEOF).
func (e *eventReader) next() (string, error) {
	var data bytes.Buffer
	have := false
	for {
		line, err := e.r.ReadBytes('\n')
		if err == io.EOF {
			if t := bytes.TrimSpace(line); len(t) > 0 && !bytes.Equal(t, []byte("data: [DONE]")) {
				return "", io.ErrUnexpectedEOF // a line cut off
			} else if len(t) > 0 {
				return "[DONE]", nil
			}
			if have {
				return data.String(), nil
			}
			return "", io.EOF
		}
		if err != nil {
			return "", err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if have {
				return data.String(), nil
			}
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			if have {
				data.WriteByte('\n')
			}
			data.Write(bytes.TrimPrefix(v, []byte(" ")))
			have = true
		}
	}
}
