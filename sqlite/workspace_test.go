package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"mmrag"
)

func openTestWorkspace(t *testing.T, dir string) *Workspace {
	t.Helper()
	w, err := OpenWorkspace(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestWorkspaceConversations(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := openTestWorkspace(t, dir)

	first, err := w.CreateConversation(ctx, "  Kept title ")
	if err != nil {
		t.Fatal(err)
	}
	if first.Title != "Kept title" || first.ID == "" || first.Turns != 0 {
		t.Fatalf("created %+v", first)
	}
	second, err := w.CreateConversation(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	sources := json.RawMessage(`{"text":[{"n":1}],"images":[]}`)
	long := strings.Repeat("why does the figure ", 10) + "?"
	c, err := w.AppendTurns(ctx, second.ID,
		mmrag.Turn{Role: mmrag.UserRole, Content: long},
		mmrag.Turn{Role: mmrag.AssistantRole, Content: "Because [1].", Sources: sources, Model: "ollama/x", Notes: []string{"n1"}, Stopped: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Turns != 2 || c.Title != mmrag.TitleFrom(long) || c.Title == "" {
		t.Errorf("after append: %+v (title from %q: %q)", c, long, mmrag.TitleFrom(long))
	}

	// Reopened: everything survives, newest updated first.
	w.Close()
	w = openTestWorkspace(t, dir)
	checkReopened(t, w, first, second, c, sources)

	// A title given is kept when the first turn comes.
	if c, err := w.AppendTurns(ctx, first.ID, mmrag.Turn{Role: mmrag.UserRole, Content: "q"}); err != nil || c.Title != "Kept title" {
		t.Errorf("append to titled: %+v, %v", c, err)
	}
	if c, err := w.RenameConversation(ctx, second.ID, "Renamed"); err != nil || c.Title != "Renamed" || c.Turns != 2 {
		t.Errorf("rename: %+v, %v", c, err)
	}
	if err := w.DeleteConversation(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	checkWorkspaceRefusals(t, w, first.ID, second.ID)
}

// checkReopened checks a reopened workspace holds the two conversations of
// TestWorkspaceConversations, newest updated first, with every field of
// their turns.
func checkReopened(t *testing.T, w *Workspace, first, second, c mmrag.Conversation, sources json.RawMessage) {
	t.Helper()
	ctx := context.Background()
	list, err := w.Conversations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != second.ID || list[1].ID != first.ID || list[0].Turns != 2 {
		t.Fatalf("list %+v", list)
	}
	got, turns, err := w.Conversation(ctx, second.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != c.Title || len(turns) != 2 {
		t.Fatalf("got %+v with %d turns", got, len(turns))
	}
	a := turns[1]
	if a.Role != mmrag.AssistantRole || a.Content != "Because [1]." || string(a.Sources) != string(sources) ||
		a.Model != "ollama/x" || !slices.Equal(a.Notes, []string{"n1"}) || !a.Stopped || a.Created.IsZero() {
		t.Errorf("assistant turn %+v", a)
	}
	if turns[0].Sources != nil || turns[0].Stopped {
		t.Errorf("user turn %+v", turns[0])
	}

}

// checkWorkspaceRefusals checks what the workspace refuses: unknown or
// deleted conversations, bad titles, a system turn (leaving no trace).
func checkWorkspaceRefusals(t *testing.T, w *Workspace, first, second string) {
	t.Helper()
	ctx := context.Background()
	for name, err := range map[string]error{
		"get deleted":    func() error { _, _, err := w.Conversation(ctx, first); return err }(),
		"delete deleted": w.DeleteConversation(ctx, first),
		"rename unknown": func() error { _, err := w.RenameConversation(ctx, "nope", "x"); return err }(),
		"append unknown": func() error { _, err := w.AppendTurns(ctx, "nope", mmrag.Turn{Role: mmrag.UserRole}); return err }(),
	} {
		if !errors.Is(err, mmrag.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	for name, err := range map[string]error{
		"long title":    func() error { _, err := w.CreateConversation(ctx, strings.Repeat("x", 201)); return err }(),
		"control title": func() error { _, err := w.RenameConversation(ctx, second, "a\x00b"); return err }(),
	} {
		if !errors.Is(err, mmrag.ErrBadName) {
			t.Errorf("%s: %v, want ErrBadName", name, err)
		}
	}
	if _, err := w.AppendTurns(ctx, second, mmrag.Turn{Role: "system", Content: "x"}); err == nil {
		t.Error("a system turn was appended")
	}
	if _, turns, _ := w.Conversation(ctx, second); len(turns) != 2 {
		t.Errorf("a refused append left %d turns, want 2", len(turns))
	}
}

func TestWorkspaceCollections(t *testing.T) {
	ctx := context.Background()
	w := openTestWorkspace(t, t.TempDir())
	if err := w.AddToCollection(ctx, " papers ", "d1", "d2", "d1"); err != nil {
		t.Fatal(err)
	}
	if err := w.SetCollections(ctx, "d3", []string{"notes", "papers", "notes"}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetCollections(ctx, "d2", []string{"notes"}); err != nil { // leaves papers
		t.Fatal(err)
	}
	cols, err := w.Collections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []mmrag.Collection{{Name: "notes", Documents: 2}, {Name: "papers", Documents: 2}}
	if !slices.Equal(cols, want) {
		t.Errorf("collections %+v, want %+v", cols, want)
	}
	tests := []struct {
		names []string
		want  []string
	}{
		{[]string{"papers"}, []string{"d1", "d3"}},
		{[]string{"notes", "papers"}, []string{"d1", "d2", "d3"}},
		{[]string{"unknown"}, []string{}},
		{nil, []string{}},
	}
	for _, tc := range tests {
		got, err := w.CollectionDocuments(ctx, tc.names)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("documents of %q: %v, %v; want %v", tc.names, got, err, tc.want)
		}
	}
	if err := w.ForgetDocument(ctx, "d3"); err != nil {
		t.Fatal(err)
	}
	byDoc, err := w.DocumentCollections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(byDoc) != 2 || !slices.Equal(byDoc["d1"], []string{"papers"}) || !slices.Equal(byDoc["d2"], []string{"notes"}) {
		t.Errorf("by document %v", byDoc)
	}
	for _, bad := range []string{"", "  ", strings.Repeat("n", 65), "tab\there"} {
		if err := w.AddToCollection(ctx, bad, "d1"); !errors.Is(err, mmrag.ErrBadName) {
			t.Errorf("name %q: %v, want ErrBadName", bad, err)
		}
	}
}

// TestWorkspaceConcurrentAppends: appends from several goroutines and a
// second connection pool (another process's) all land, in turn order.
func TestWorkspaceConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := openTestWorkspace(t, dir)
	other := openTestWorkspace(t, dir)
	c, err := w.CreateConversation(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 6, 5
	errs := make(chan error, writers)
	for i := range writers {
		ws := w
		if i%2 == 1 {
			ws = other
		}
		go func() {
			for range each {
				if _, err := ws.AppendTurns(ctx, c.ID, mmrag.Turn{Role: mmrag.UserRole, Content: "q"}, mmrag.Turn{Role: mmrag.AssistantRole, Content: "a"}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	_, turns, err := w.Conversation(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(turns) != 2*writers*each {
		t.Fatalf("%d turns, want %d", len(turns), 2*writers*each)
	}
	for i, tr := range turns { // each append's pair stays together
		if want := []mmrag.Role{mmrag.UserRole, mmrag.AssistantRole}[i%2]; tr.Role != want {
			t.Fatalf("turn %d is %s, want %s", i, tr.Role, want)
		}
	}
}
