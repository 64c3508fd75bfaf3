package main

import (
	"context"
	"fmt"

	"mmrag/sqlite"
)

// openWorkspace opens the conversations and collections of the knowledge
// base: a SQLite file in the knowledge-base folder, whatever the store
// (the embedded one, or Weaviate beside it).
func (g *globals) openWorkspace(ctx context.Context) (*sqlite.Workspace, error) {
	return sqlite.OpenWorkspace(ctx, g.storeDir())
}

// joinCollection puts documents in a collection of the workspace.
func (g *globals) joinCollection(ctx context.Context, name string, docIDs []string) error {
	ws, err := g.openWorkspace(ctx)
	if err != nil {
		return err
	}
	defer ws.Close()
	if err := ws.AddToCollection(ctx, name, docIDs...); err != nil {
		return fmt.Errorf("--collection %s: %w", name, err)
	}
	return nil
}
