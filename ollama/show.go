package ollama

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"mmrag/generate"
)

// ServerDefaultContext is the context window Ollama (up to 0.6) gives a model
// whose Modelfile and request set no num_ctx; prompts longer than it are
// cut from the front without an error, so it bounds the usable context.
const ServerDefaultContext = 2048

// ModelInfo is what /api/show tells about a model.
type ModelInfo struct {
	Model         string
	Family        string // "llama", "mllama", "bert"…
	Families      []string
	Format        string // "gguf"
	ParameterSize string // "7.6B"
	Quantization  string // "Q4_K_M"
	// Capabilities as the server lists them: "completion", "vision",
	// "embedding", "tools", "insert". Servers before 0.6.4 list none.
	Capabilities []string
	// ContextLength is the context the model was trained for; 0 when unknown.
	ContextLength int
	// NumCtx is the num_ctx parameter of the model's Modelfile; 0 when unset.
	NumCtx int
	// EmbeddingLength is the model's hidden size, which is an embedding
	// model's vector length; 0 when unknown.
	EmbeddingLength int
	// Projector is set for models with a separate vision projector (LLaVA
	// style), which older servers do not list as "vision".
	Projector bool
	Template  string
	Info      map[string]any // model_info as sent
}

type showResponse struct {
	Template   string `json:"template"`
	Parameters string `json:"parameters"`
	Details    struct {
		Format            string   `json:"format"`
		Family            string   `json:"family"`
		Families          []string `json:"families"`
		ParameterSize     string   `json:"parameter_size"`
		QuantizationLevel string   `json:"quantization_level"`
	} `json:"details"`
	ModelInfo     map[string]any `json:"model_info"`
	ProjectorInfo map[string]any `json:"projector_info"`
	Capabilities  []string       `json:"capabilities"`
}

// Show describes model (empty: the client's Model) through /api/show.
func (c *Client) Show(ctx context.Context, model string) (ModelInfo, error) {
	if model == "" {
		model = c.Model
	}
	if model == "" {
		return ModelInfo{}, errors.New("ollama show: no model set")
	}
	var r showResponse
	if err := c.getJSON(ctx, http.MethodPost, "/api/show", model, map[string]string{"model": model}, &r); err != nil {
		return ModelInfo{}, fmt.Errorf("ollama show %s: %w", model, err)
	}
	info := ModelInfo{
		Model:         model,
		Family:        r.Details.Family,
		Families:      r.Details.Families,
		Format:        r.Details.Format,
		ParameterSize: r.Details.ParameterSize,
		Quantization:  r.Details.QuantizationLevel,
		Capabilities:  r.Capabilities,
		Projector:     len(r.ProjectorInfo) > 0,
		Template:      r.Template,
		Info:          r.ModelInfo,
	}
	arch, _ := r.ModelInfo["general.architecture"].(string)
	info.ContextLength = infoInt(r.ModelInfo, arch, "context_length")
	info.EmbeddingLength = infoInt(r.ModelInfo, arch, "embedding_length")
	info.NumCtx = paramInt(r.Parameters, "num_ctx")
	return info, nil
}

// infoInt reads model_info's "<arch>.<key>", or the one "*.<key>" when the
// architecture is not named.
func infoInt(info map[string]any, arch, key string) int {
	if v, ok := info[arch+"."+key]; ok && arch != "" {
		return toInt(v)
	}
	for k, v := range info {
		if strings.HasSuffix(k, "."+key) && strings.Count(k, ".") == 1 {
			return toInt(v)
		}
	}
	return 0
}

func toInt(v any) int {
	if f, ok := v.(float64); ok && f > 0 && f < 1<<31 {
		return int(f)
	}
	return 0
}

// paramInt reads a parameter of the Modelfile text "name   value\n…".
func paramInt(params, name string) int {
	for _, line := range strings.Split(params, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == name {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// Capabilities reports what the client's model accepts, read from /api/show
// once and then remembered. Vision comes from the "vision" capability (or a
// vision projector, for servers before 0.6.4); LLaMA 3.2 Vision (family
// mllama) takes one image. ContextTokens is the context the server will
// actually use: the Options' or Modelfile's num_ctx, else
// ServerDefaultContext, never more than the model was trained for.
func (c *Client) Capabilities(ctx context.Context) (generate.Capabilities, error) {
	c.mu.Lock()
	caps, ok := c.caps[c.Model]
	c.mu.Unlock()
	if ok {
		return caps, nil
	}
	info, err := c.Show(ctx, c.Model)
	if err != nil {
		return generate.Capabilities{}, err
	}
	caps = generate.Capabilities{
		Model:  c.Model,
		Vision: slices.Contains(info.Capabilities, "vision") || info.Projector,
	}
	if info.Family == "mllama" || slices.Contains(info.Families, "mllama") {
		caps.MaxImages = 1
	}
	caps.ContextTokens = ServerDefaultContext
	if info.NumCtx > 0 {
		caps.ContextTokens = info.NumCtx
	}
	if n := optInt(c.Options["num_ctx"]); n > 0 {
		caps.ContextTokens = n
	}
	if info.ContextLength > 0 && info.ContextLength < caps.ContextTokens {
		caps.ContextTokens = info.ContextLength
	}
	c.mu.Lock()
	if c.caps == nil {
		c.caps = map[string]generate.Capabilities{}
	}
	c.caps[c.Model] = caps
	c.mu.Unlock()
	return caps, nil
}

// optInt reads a number the caller put in Options.
func optInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	}
	return 0
}

// ModelSummary is one installed model, as /api/tags lists it.
type ModelSummary struct {
	Name          string // "llama3.2:latest"
	Size          int64  // bytes on disk
	Digest        string
	ModifiedAt    time.Time
	Family        string
	ParameterSize string
	Quantization  string
}

// List returns the models installed on the server.
func (c *Client) List(ctx context.Context) ([]ModelSummary, error) {
	var r struct {
		Models []struct {
			Name       string    `json:"name"`
			Size       int64     `json:"size"`
			Digest     string    `json:"digest"`
			ModifiedAt time.Time `json:"modified_at"`
			Details    struct {
				Family            string `json:"family"`
				ParameterSize     string `json:"parameter_size"`
				QuantizationLevel string `json:"quantization_level"`
			} `json:"details"`
		} `json:"models"`
	}
	if err := c.getJSON(ctx, http.MethodGet, "/api/tags", "", nil, &r); err != nil {
		return nil, fmt.Errorf("ollama list: %w", err)
	}
	out := make([]ModelSummary, len(r.Models))
	for i, m := range r.Models {
		out[i] = ModelSummary{Name: m.Name, Size: m.Size, Digest: m.Digest, ModifiedAt: m.ModifiedAt,
			Family: m.Details.Family, ParameterSize: m.Details.ParameterSize, Quantization: m.Details.QuantizationLevel}
	}
	return out, nil
}

// Version returns the server's version ("0.6.5").
func (c *Client) Version(ctx context.Context) (string, error) {
	var r struct {
		Version string `json:"version"`
	}
	if err := c.getJSON(ctx, http.MethodGet, "/api/version", "", nil, &r); err != nil {
		return "", fmt.Errorf("ollama version: %w", err)
	}
	if r.Version == "" {
		return "", fmt.Errorf("ollama version: %s/api/version named no version (is this an Ollama server?)", c.URL())
	}
	return r.Version, nil
}
