package ollama

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// Load loads the client's model into the server's memory without
// generating anything (a generate request without a prompt), so that the
// first question does not wait for it; the model stays loaded for the
// client's KeepAlive, or the server's default.
func (c *Client) Load(ctx context.Context) error {
	if c.Model == "" {
		return errors.New("ollama load: no model set")
	}
	in := map[string]string{"model": c.Model}
	if ka := c.keepAlive(); ka != "" {
		in["keep_alive"] = ka
	}
	var r struct {
		Done bool `json:"done"`
	}
	if err := c.getJSON(ctx, http.MethodPost, "/api/generate", c.Model, in, &r); err != nil {
		return fmt.Errorf("ollama load %s: %w", c.Model, err)
	}
	return nil
}

// ListModels names the models installed on the server.
func (c *Client) ListModels(ctx context.Context) ([]string, error) {
	ms, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out, nil
}

// ModelCapabilities lists what a model does: the server's own list
// ("completion", "vision", "embedding", "tools", "insert"), or for servers
// before 0.6.4, which list none, what its details tell: embedding for a
// BERT-family model, else completion, with vision for a model with a
// vision projector or of the mllama family.
func (c *Client) ModelCapabilities(ctx context.Context, name string) ([]string, error) {
	info, err := c.Show(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(info.Capabilities) > 0 {
		return info.Capabilities, nil
	}
	families := append([]string{info.Family}, info.Families...)
	if slices.ContainsFunc(families, func(f string) bool { return f == "bert" || f == "nomic-bert" }) {
		return []string{"embedding"}, nil
	}
	caps := []string{"completion"}
	if info.Projector || slices.Contains(families, "mllama") {
		caps = append(caps, "vision")
	}
	return caps, nil
}
