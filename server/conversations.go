package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"mmrag"
	"mmrag/app"
)

// Workspace keeps what the server keeps for its users beside the
// documents: conversations and collections (package sqlite's Workspace).
type Workspace interface {
	mmrag.Conversations
	mmrag.Collections
}

// errNoWorkspace answers the workspace routes of a server without one.
var errNoWorkspace = fmt.Errorf("%w: this server keeps no conversations or collections", ErrUnavailable)

// ConversationView is a conversation as the API lists it.
type ConversationView struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Turns   int       `json:"turns"`
}

func conversationView(c mmrag.Conversation) ConversationView {
	return ConversationView{ID: c.ID, Title: c.Title, Created: c.Created.UTC(), Updated: c.Updated.UTC(), Turns: c.Turns}
}

// TurnView is one message of a stored conversation. Sources are those
// /v1/ask sent with the answer (null for questions).
type TurnView struct {
	Role    string          `json:"role"`
	Content string          `json:"content"`
	Created time.Time       `json:"created"`
	Sources json.RawMessage `json:"sources"`
	Model   string          `json:"model,omitempty"`
	Notes   []string        `json:"notes,omitempty"`
	// Stopped: the client stopped the answer; Content is what had been
	// written by then.
	Stopped bool `json:"stopped,omitempty"`
}

// ConversationDetail is a conversation with its turns.
type ConversationDetail struct {
	ID      string     `json:"id"`
	Title   string     `json:"title"`
	Created time.Time  `json:"created"`
	Updated time.Time  `json:"updated"`
	Turns   []TurnView `json:"turns"`
}

// conversationID is the form of the ids the workspace makes; anything else
// is refused before it reaches the database.
var conversationID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func checkConversationID(id string) error {
	if !conversationID.MatchString(id) {
		return fmt.Errorf("%w: conversation id %.70q: want letters, digits, _ or -, at most 64", ErrInvalid, id)
	}
	return nil
}

// workspace returns the Workspace, answering 503 itself when there is none.
func (s *Server) workspace(w http.ResponseWriter, r *http.Request) (Workspace, bool) {
	if s.cfg.Workspace == nil {
		s.failErr(w, r, errNoWorkspace)
		return nil, false
	}
	return s.cfg.Workspace, true
}

// conversation is the workspace and the conversation id a request's path
// names, or false when it answered the request with why not.
func (s *Server) conversation(w http.ResponseWriter, r *http.Request) (Workspace, string, bool) {
	ws, ok := s.workspace(w, r)
	if !ok {
		return nil, "", false
	}
	id := r.PathValue("id")
	if err := checkConversationID(id); err != nil {
		s.failErr(w, r, err)
		return nil, "", false
	}
	return ws, id, true
}

func (s *Server) handleConversations(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.workspace(w, r)
	if !ok {
		return
	}
	list, err := ws.Conversations(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	out := make([]ConversationView, len(list))
	for i, c := range list {
		out[i] = conversationView(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": out})
}

// titleBody is the body of creating and renaming a conversation.
type titleBody struct {
	Title *string `json:"title"`
}

func (s *Server) handleCreateConversation(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.workspace(w, r)
	if !ok {
		return
	}
	var body titleBody
	if r.ContentLength != 0 && !s.decode(w, r, &body, true) {
		return
	}
	title := ""
	if body.Title != nil {
		title = *body.Title
	}
	c, err := ws.CreateConversation(r.Context(), title)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/conversations/"+c.ID)
	writeJSON(w, http.StatusCreated, conversationView(c))
}

func (s *Server) handleConversation(w http.ResponseWriter, r *http.Request) {
	ws, id, ok := s.conversation(w, r)
	if !ok {
		return
	}
	c, turns, err := ws.Conversation(r.Context(), id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	out := ConversationDetail{ID: c.ID, Title: c.Title, Created: c.Created.UTC(), Updated: c.Updated.UTC(), Turns: make([]TurnView, len(turns))}
	for i, t := range turns {
		out.Turns[i] = TurnView{Role: string(t.Role), Content: t.Content, Created: t.Created.UTC(), Sources: t.Sources,
			Model: t.Model, Notes: t.Notes, Stopped: t.Stopped}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRenameConversation(w http.ResponseWriter, r *http.Request) {
	ws, id, ok := s.conversation(w, r)
	if !ok {
		return
	}
	var body titleBody
	if !s.decode(w, r, &body, true) {
		return
	}
	if body.Title == nil {
		s.fail(w, r, http.StatusBadRequest, `missing title: send {"title": "…"}`)
		return
	}
	c, err := ws.RenameConversation(r.Context(), id, *body.Title)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, conversationView(c))
}

func (s *Server) handleDeleteConversation(w http.ResponseWriter, r *http.Request) {
	ws, id, ok := s.conversation(w, r)
	if !ok {
		return
	}
	if err := ws.DeleteConversation(r.Context(), id); err != nil {
		s.failErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// chatLog records one ask of a stored conversation: the question, and the
// answer once it ends. An answer the client stops (it cancels or goes
// away) is kept as far as it was written, marked stopped, so that the
// conversation shows what the user saw; an answer that fails keeps
// nothing: the client still has the question to send again.
type chatLog struct {
	s        *Server
	ws       Workspace
	id       string
	question string

	mu      sync.Mutex
	sources *SearchResponse // as sent to the client
	partial strings.Builder
	gone    bool // a write to the client failed: it went away
}

// openChat loads the conversation req names and makes its turns the
// request's history. It answers the request itself when it returns false;
// a nil log means the ask names no conversation.
func (s *Server) openChat(w http.ResponseWriter, r *http.Request, req *AskRequest) (*chatLog, bool) {
	if req.ConversationID == "" {
		return nil, true
	}
	ws, ok := s.workspace(w, r)
	if !ok {
		return nil, false
	}
	if err := checkConversationID(req.ConversationID); err != nil {
		s.failErr(w, r, err)
		return nil, false
	}
	_, turns, err := ws.Conversation(r.Context(), req.ConversationID)
	if err != nil {
		s.failErr(w, r, err)
		return nil, false
	}
	req.History = req.History[:0]
	for _, t := range turns {
		if strings.TrimSpace(t.Content) != "" {
			req.History = append(req.History, Turn{Role: string(t.Role), Content: t.Content})
		}
	}
	q := req.Question
	if q == "" {
		q = app.ImageQuestion
	}
	return &chatLog{s: s, ws: ws, id: req.ConversationID, question: q}, true
}

// onSources remembers the sources the client was sent.
func (c *chatLog) onSources(src *SearchResponse) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.sources = src
	c.mu.Unlock()
}

// onToken remembers the answer as far as it was streamed.
func (c *chatLog) onToken(tok string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.partial.WriteString(tok)
	c.mu.Unlock()
}

// sent notes a failed write to the client: it stopped the answer, even
// if its request's context does not say so yet.
func (c *chatLog) sent(err error) error {
	if c != nil && err != nil {
		c.mu.Lock()
		c.gone = true
		c.mu.Unlock()
	}
	return err
}

// saveTimeout bounds the write of a turn after the client left.
const saveTimeout = 10 * time.Second

// finish appends the question and the answer (ans, or what was streamed
// before err) and returns the conversation, or nil when nothing was kept.
func (c *chatLog) finish(ctx context.Context, ans *Answer, err error) *ConversationView {
	if c == nil {
		return nil
	}
	reply := mmrag.Turn{Role: mmrag.AssistantRole}
	c.mu.Lock()
	src := c.sources
	switch {
	case err == nil && !c.gone && ctx.Err() == nil:
		src = &ans.Sources
		reply.Content, reply.Model, reply.Notes = ans.Answer, ans.Model, ans.Notes
	case errors.Is(err, context.Canceled) || ctx.Err() != nil || c.gone:
		reply.Content, reply.Stopped = c.partial.String(), true
	default:
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if src != nil {
		b, jerr := json.Marshal(src)
		if jerr == nil {
			reply.Sources = b
		}
	}
	// The client may have gone: the record is still written.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	conv, werr := c.ws.AppendTurns(sctx, c.id, mmrag.Turn{Role: mmrag.UserRole, Content: c.question}, reply)
	if werr != nil {
		c.s.log.Error("save conversation turns", "request_id", RequestID(ctx), "conversation", c.id, "err", werr)
		return nil
	}
	v := conversationView(conv)
	return &v
}
