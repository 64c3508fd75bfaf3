package mmrag

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The workspace is what a knowledge base keeps for its users beside the
// documents: conversations and collections. It lives in a small database
// of its own next to the store, whatever the store is.

// Conversation is a chat kept by the server, without its turns.
type Conversation struct {
	ID      string
	Title   string
	Created time.Time
	Updated time.Time // of the last turn, or of the last rename
	Turns   int
}

// Role says who wrote a turn.
type Role string

const (
	UserRole      Role = "user"
	AssistantRole Role = "assistant"
)

// Turn is one message of a conversation.
type Turn struct {
	Role    Role
	Content string
	Created time.Time
	// Sources are an answer's sources as the serving layer showed them
	// (JSON); the workspace keeps them without reading them.
	Sources json.RawMessage
	Model   string
	Notes   []string
	// Stopped says the answer was cut short: the client stopped it, and
	// Content is what had been written by then.
	Stopped bool
}

// Conversations keeps conversations. Lookups of absent ids return an error
// wrapping ErrNotFound.
type Conversations interface {
	// Conversations lists them, the most recently updated first.
	Conversations(ctx context.Context) ([]Conversation, error)
	CreateConversation(ctx context.Context, title string) (Conversation, error)
	Conversation(ctx context.Context, id string) (Conversation, []Turn, error)
	RenameConversation(ctx context.Context, id, title string) (Conversation, error)
	DeleteConversation(ctx context.Context, id string) error
	// AppendTurns adds turns at the end, in one transaction; a
	// conversation without a title takes one from its first user turn
	// (TitleFrom).
	AppendTurns(ctx context.Context, id string, turns ...Turn) (Conversation, error)
}

// Collection is a named group of documents.
type Collection struct {
	Name      string
	Documents int
}

// Collections keeps which documents belong to which collections. A
// collection exists while it has documents.
type Collections interface {
	// Collections lists them by name.
	Collections(ctx context.Context) ([]Collection, error)
	// AddToCollection puts documents in a collection.
	AddToCollection(ctx context.Context, name string, docIDs ...string) error
	// SetCollections makes names the collections of a document.
	SetCollections(ctx context.Context, docID string, names []string) error
	// DocumentCollections maps each document in a collection to the
	// names of its collections, sorted.
	DocumentCollections(ctx context.Context) (map[string][]string, error)
	// CollectionDocuments lists the documents in any of the collections
	// named, sorted; unknown names hold none.
	CollectionDocuments(ctx context.Context, names []string) ([]string, error)
	// ForgetDocument removes a deleted document from every collection.
	ForgetDocument(ctx context.Context, docID string) error
}

// Limits of the workspace's names.
const (
	MaxTitleRunes          = 200
	MaxAutoTitleRunes      = 60
	MaxCollectionNameRunes = 64
)

// ErrBadName is wrapped by the refusals of CleanTitle and
// CleanCollectionName.
var ErrBadName = errors.New("bad name")

// CleanTitle trims a conversation title and checks it: at most
// MaxTitleRunes characters, no control characters. "" is allowed (the
// first question names the conversation).
func CleanTitle(title string) (string, error) {
	title = strings.TrimSpace(title)
	if err := checkName("title", title, MaxTitleRunes); err != nil {
		return "", err
	}
	return title, nil
}

// CleanCollectionName trims a collection name and checks it: 1 to
// MaxCollectionNameRunes characters, no control characters.
func CleanCollectionName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", fmt.Errorf("%w: empty collection name", ErrBadName)
	}
	if err := checkName("collection name", name, MaxCollectionNameRunes); err != nil {
		return "", err
	}
	return name, nil
}

func checkName(what, s string, maxRunes int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadName, what)
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return fmt.Errorf("%w: %s of %d characters: at most %d", ErrBadName, what, n, maxRunes)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%w: %s holds control characters", ErrBadName, what)
	}
	return nil
}

// TitleFrom names a conversation after its first question: the question
// on one line, cut at a word to at most MaxAutoTitleRunes characters.
func TitleFrom(question string) string {
	t := strings.Join(strings.FieldsFunc(question, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	r := []rune(t)
	if len(r) <= MaxAutoTitleRunes {
		return t
	}
	cut := string(r[:MaxAutoTitleRunes-1])
	if i := strings.LastIndexByte(cut, ' '); i > len(cut)/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:") + "…"
}
