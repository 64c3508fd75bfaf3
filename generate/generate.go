// Package generate owns answer generation: the Generator interface that LLM
// clients (packages ollama and openai) implement, and the extractive
// generator that answers from retrieved passages when no LLM is configured.
package generate

import (
	"context"
	"time"
)

// Roles of chat messages.
const (
	System    = "system"
	User      = "user"
	Assistant = "assistant"
)

// Message is one chat turn. Images are encoded image files (PNG, JPEG…);
// a generator that cannot see drops them only after saying so through
// Capabilities.
type Message struct {
	Role    string
	Content string
	Images  [][]byte
}

// Request is what a generator answers.
type Request struct {
	Messages    []Message
	Temperature *float64 // nil: the server's default
	MaxTokens   int      // 0: the server's default
}

// Response is a finished answer.
type Response struct {
	Text         string
	Model        string
	PromptTokens int // as the server counted them; 0 when unknown
	OutputTokens int
	Duration     time.Duration
}

// Generator answers a chat request. onToken, when not nil, receives the
// answer's text as it streams; an error from it stops generation and is
// returned. Implementations are safe for concurrent use.
type Generator interface {
	Generate(ctx context.Context, req Request, onToken func(string) error) (Response, error)
}

// Capabilities says what a model accepts.
type Capabilities struct {
	Model  string
	Vision bool // accepts images
	// MaxImages is how many images the model takes in one request; 0 means
	// no known limit. LLaMA 3.2 Vision takes one.
	MaxImages int
	// ContextTokens is the model's context window; 0 when unknown.
	ContextTokens int
}

// Describer is implemented by generators that can report their model's
// capabilities before a request is built.
type Describer interface {
	Capabilities(ctx context.Context) (Capabilities, error)
}
