package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"mmrag"
)

// conversationQuery selects conversations with their turn counts.
const conversationQuery = `SELECT c.id, c.title, c.created, c.updated,
	(SELECT count(*) FROM turns t WHERE t.conversation = c.id) FROM conversations c`

func scanConversation(row interface{ Scan(...any) error }) (mmrag.Conversation, error) {
	var (
		c                mmrag.Conversation
		created, updated int64
	)
	if err := row.Scan(&c.ID, &c.Title, &created, &updated, &c.Turns); err != nil {
		return c, err
	}
	c.Created, c.Updated = fromNanos(created), fromNanos(updated)
	return c, nil
}

// Conversations lists the conversations, the most recently updated first.
func (w *Workspace) Conversations(ctx context.Context) ([]mmrag.Conversation, error) {
	rows, err := w.db.QueryContext(ctx, conversationQuery+` ORDER BY c.updated DESC, c.id`)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	defer rows.Close()
	out := []mmrag.Conversation{}
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("list conversations: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	return out, nil
}

// CreateConversation starts a conversation; title is checked with
// mmrag.CleanTitle.
func (w *Workspace) CreateConversation(ctx context.Context, title string) (mmrag.Conversation, error) {
	title, err := mmrag.CleanTitle(title)
	if err != nil {
		return mmrag.Conversation{}, err
	}
	now := time.Now().UTC()
	c := mmrag.Conversation{ID: newID(), Title: title, Created: now, Updated: now}
	err = w.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO conversations(id, title, created, updated) VALUES (?, ?, ?, ?)`,
			c.ID, c.Title, nanos(now), nanos(now))
		return err
	})
	if err != nil {
		return mmrag.Conversation{}, fmt.Errorf("create conversation: %w", err)
	}
	return c, nil
}

func (w *Workspace) conversation(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, id string) (mmrag.Conversation, error) {
	c, err := scanConversation(q.QueryRowContext(ctx, conversationQuery+` WHERE c.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("conversation %s: %w", id, mmrag.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("conversation %s: %w", id, err)
	}
	return c, nil
}

// Conversation returns a conversation and its turns, oldest first.
func (w *Workspace) Conversation(ctx context.Context, id string) (mmrag.Conversation, []mmrag.Turn, error) {
	tx, err := w.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return mmrag.Conversation{}, nil, fmt.Errorf("conversation %s: %w", id, err)
	}
	defer tx.Rollback()
	c, err := w.conversation(ctx, tx, id)
	if err != nil {
		return c, nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT role, content, created, sources, model, notes, stopped
		FROM turns WHERE conversation = ? ORDER BY seq`, id)
	if err != nil {
		return c, nil, fmt.Errorf("conversation %s: turns: %w", id, err)
	}
	defer rows.Close()
	turns := []mmrag.Turn{}
	for rows.Next() {
		var (
			t              mmrag.Turn
			created        int64
			sources, notes sql.NullString
		)
		if err := rows.Scan(&t.Role, &t.Content, &created, &sources, &t.Model, &notes, &t.Stopped); err != nil {
			return c, nil, fmt.Errorf("conversation %s: turns: %w", id, err)
		}
		t.Created = fromNanos(created)
		if sources.Valid {
			t.Sources = json.RawMessage(sources.String)
		}
		if notes.Valid {
			if err := json.Unmarshal([]byte(notes.String), &t.Notes); err != nil {
				return c, nil, fmt.Errorf("conversation %s: notes of a turn: %w", id, err)
			}
		}
		turns = append(turns, t)
	}
	if err := rows.Err(); err != nil {
		return c, nil, fmt.Errorf("conversation %s: turns: %w", id, err)
	}
	return c, turns, nil
}

// RenameConversation sets a conversation's title (mmrag.CleanTitle).
func (w *Workspace) RenameConversation(ctx context.Context, id, title string) (mmrag.Conversation, error) {
	title, err := mmrag.CleanTitle(title)
	if err != nil {
		return mmrag.Conversation{}, err
	}
	var c mmrag.Conversation
	err = w.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE conversations SET title = ?, updated = ? WHERE id = ?`, title, nanos(time.Now()), id)
		if err != nil {
			return fmt.Errorf("rename conversation %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("conversation %s: %w", id, mmrag.ErrNotFound)
		}
		c, err = w.conversation(ctx, tx, id)
		return err
	})
	return c, err
}

// DeleteConversation removes a conversation with its turns.
func (w *Workspace) DeleteConversation(ctx context.Context, id string) error {
	return w.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM conversations WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete conversation %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("conversation %s: %w", id, mmrag.ErrNotFound)
		}
		return nil
	})
}

// AppendTurns adds turns at the end of a conversation in one transaction.
// A conversation without a title takes one from its first user turn.
// Turns without a time get the present.
func (w *Workspace) AppendTurns(ctx context.Context, id string, turns ...mmrag.Turn) (mmrag.Conversation, error) {
	var c mmrag.Conversation
	err := w.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if c, err = w.conversation(ctx, tx, id); err != nil {
			return err
		}
		now := time.Now().UTC()
		for i, t := range turns {
			if t.Role != mmrag.UserRole && t.Role != mmrag.AssistantRole {
				return fmt.Errorf("append to conversation %s: turn of role %q", id, t.Role)
			}
			if t.Created.IsZero() {
				t.Created = now
			}
			if err := insertTurn(ctx, tx, id, c.Turns+i, t); err != nil {
				return fmt.Errorf("append to conversation %s: %w", id, err)
			}
			if c.Title == "" && t.Role == mmrag.UserRole {
				c.Title = mmrag.TitleFrom(t.Content)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE conversations SET title = ?, updated = ? WHERE id = ?`, c.Title, nanos(now), id); err != nil {
			return fmt.Errorf("append to conversation %s: %w", id, err)
		}
		c.Turns += len(turns)
		c.Updated = now
		return nil
	})
	return c, err
}

func insertTurn(ctx context.Context, tx *sql.Tx, conv string, seq int, t mmrag.Turn) error {
	var sources, notes sql.NullString
	if len(t.Sources) > 0 && string(t.Sources) != "null" {
		if !json.Valid(t.Sources) {
			return errors.New("sources are not JSON")
		}
		sources = sql.NullString{String: string(t.Sources), Valid: true}
	}
	if len(t.Notes) > 0 {
		b, err := json.Marshal(t.Notes)
		if err != nil {
			return err
		}
		notes = sql.NullString{String: string(b), Valid: true}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO turns(conversation, seq, role, content, created, sources, model, notes, stopped)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, conv, seq, string(t.Role), t.Content, nanos(t.Created), sources, t.Model, notes, t.Stopped)
	return err
}
