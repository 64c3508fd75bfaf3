package ollama

import (
	"context"
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

type chatMessage struct {
	Role    string   `json:"role"`
	Content string   `json:"content"`
	Images  [][]byte `json:"images,omitempty"` // encoding/json writes []byte as base64, as Ollama wants
}

type chatRequest struct {
	Model     string         `json:"model"`
	Messages  []chatMessage  `json:"messages"`
	Stream    bool           `json:"stream"`
	Options   map[string]any `json:"options,omitempty"`
	KeepAlive string         `json:"keep_alive,omitempty"`
}

// chatChunk is one line of /api/chat's NDJSON stream; the last has Done set
// and the counts, and a failure mid-stream arrives as a line with Error.
type chatChunk struct {
	Model   string `json:"model"`
	Message struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"message"`
	Done            bool   `json:"done"`
	DoneReason      string `json:"done_reason"`
	PromptEvalCount int    `json:"prompt_eval_count"`
	EvalCount       int    `json:"eval_count"`
	Error           string `json:"error"`
}

// Generate answers req through /api/chat, streaming tokens to onToken. When
// the request carries images, the model's capabilities are read first
// (/api/show, once per model): a model without vision gets none of them,
// and a model that takes fewer (LLaMA 3.2 Vision: one) gets the first ones;
// either way Notify says what was left out. Ollama itself would drop them
// silently. On an error after the stream began, the Response holds the text
// received so far.
func (c *Client) Generate(ctx context.Context, req generate.Request, onToken func(string) error) (generate.Response, error) {
	start := time.Now()
	if c.Model == "" {
		return generate.Response{}, errors.New("ollama chat: no model set")
	}
	if len(req.Messages) == 0 {
		return generate.Response{}, errors.New("ollama chat: no messages")
	}
	msgs, err := c.messages(ctx, req.Messages)
	if err != nil {
		return generate.Response{}, err
	}
	opts := make(map[string]any, len(c.Options)+2)
	for k, v := range c.Options {
		opts[k] = v
	}
	if req.Temperature != nil {
		if *req.Temperature < 0 {
			return generate.Response{}, fmt.Errorf("ollama chat: temperature %v is negative", *req.Temperature)
		}
		opts["temperature"] = *req.Temperature
	}
	if req.MaxTokens < 0 {
		return generate.Response{}, fmt.Errorf("ollama chat: max tokens %d is negative", req.MaxTokens)
	}
	if req.MaxTokens > 0 {
		opts["num_predict"] = req.MaxTokens
	}
	body, done, err := c.call(ctx, http.MethodPost, "/api/chat", c.Model, chatRequest{
		Model: c.Model, Messages: msgs, Stream: true, Options: opts, KeepAlive: c.keepAlive(),
	})
	if err != nil {
		return generate.Response{}, fmt.Errorf("ollama chat with %s: %w", c.Model, err)
	}
	defer done()

	resp := generate.Response{Model: c.Model}
	var text strings.Builder
	dec := json.NewDecoder(body)
	for {
		var ch chatChunk
		if err := dec.Decode(&ch); err != nil {
			resp.Text, resp.Duration = text.String(), time.Since(start)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // a stream must end with done
			}
			return resp, c.readErr(ctx, "/api/chat", body, err)
		}
		if ch.Error != "" {
			resp.Text, resp.Duration = text.String(), time.Since(start)
			return resp, &APIError{Endpoint: "/api/chat", StatusCode: http.StatusOK, Message: ch.Error}
		}
		if ch.Message.Content != "" {
			// Chunks already buffered must not reach a caller that has
			// cancelled.
			if err := ctx.Err(); err != nil {
				resp.Text, resp.Duration = text.String(), time.Since(start)
				return resp, err
			}
			text.WriteString(ch.Message.Content)
			if onToken != nil {
				if err := onToken(ch.Message.Content); err != nil {
					resp.Text, resp.Duration = text.String(), time.Since(start)
					return resp, err
				}
			}
		}
		if ch.Done {
			if ch.Model != "" {
				resp.Model = ch.Model
			}
			resp.Text = text.String()
			resp.PromptTokens, resp.OutputTokens = ch.PromptEvalCount, ch.EvalCount
			resp.Duration = time.Since(start)
			return resp, nil
		}
	}
}

// messages converts the request, leaving out the images the model cannot take.
func (c *Client) messages(ctx context.Context, in []generate.Message) ([]chatMessage, error) {
	n, err := llmclient.CheckMessages("ollama chat", in)
	if err != nil {
		return nil, err
	}
	keep := n
	if n > 0 {
		caps, err := c.Capabilities(ctx)
		if err != nil {
			return nil, fmt.Errorf("ollama chat with %s: reading whether it takes images: %w", c.Model, err)
		}
		keep = llmclient.KeepImages(c.Model, n, caps.Vision, caps.MaxImages, "has no vision capability (per /api/show)", c.note)
	}
	out := make([]chatMessage, len(in))
	for i, m := range in {
		out[i] = chatMessage{Role: m.Role, Content: m.Content}
		for _, img := range m.Images {
			if keep == 0 {
				break
			}
			out[i].Images = append(out[i].Images, img)
			keep--
		}
	}
	return out, nil
}
