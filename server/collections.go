package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"mmrag"
)

// CollectionView is a collection as the API lists it.
type CollectionView struct {
	Name      string `json:"name"`
	Documents int    `json:"documents"`
}

func (s *Server) handleCollections(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.workspace(w, r)
	if !ok {
		return
	}
	list, err := ws.Collections(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	out := make([]CollectionView, len(list))
	for i, c := range list {
		out[i] = CollectionView{Name: c.Name, Documents: c.Documents}
	}
	writeJSON(w, http.StatusOK, map[string]any{"collections": out})
}

// handleSetCollections replaces a document's collections:
// {"collections": ["a", "b"]}; [] takes it out of all.
func (s *Server) handleSetCollections(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.workspace(w, r)
	if !ok {
		return
	}
	var body struct {
		Collections *[]string `json:"collections"`
	}
	if !s.decode(w, r, &body, true) {
		return
	}
	if body.Collections == nil {
		s.fail(w, r, http.StatusBadRequest, `missing collections: send {"collections": ["name", …]}`)
		return
	}
	names, err := cleanCollections(*body.Collections)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	ctx := r.Context()
	doc, err := s.cfg.Store.Document(ctx, r.PathValue("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if err := ws.SetCollections(ctx, doc.ID, names); err != nil {
		s.failErr(w, r, err)
		return
	}
	v := s.documentView(doc, -1)
	v.Collections = names
	writeJSON(w, http.StatusOK, v)
}

// maxCollections caps the collections one request names.
const maxCollections = 64

// cleanCollections checks the names a client sends (mmrag's rule), trimmed
// and without repeats.
func cleanCollections(names []string) ([]string, error) {
	if len(names) > maxCollections {
		return nil, fmt.Errorf("%w: %d collections: at most %d", ErrInvalid, len(names), maxCollections)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		n, err := mmrag.CleanCollectionName(n)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// addJob queues an ingest job whose documents join collection ("": none),
// checking the name first.
func (s *Server) addJob(kind string, targets, names []string, collection string) (Job, error) {
	if collection = strings.TrimSpace(collection); collection != "" {
		if s.cfg.Workspace == nil {
			return Job{}, errNoWorkspace
		}
		var err error
		if collection, err = mmrag.CleanCollectionName(collection); err != nil {
			return Job{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return s.jobs.add(kind, targets, names, collection)
}

// joinCollection puts the documents of a finished job in its collection;
// a failure is logged: the documents are stored all the same.
func (s *Server) joinCollection(collection string, ids []string) {
	if collection == "" || len(ids) == 0 || s.cfg.Workspace == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
	defer cancel()
	if err := s.cfg.Workspace.AddToCollection(ctx, collection, ids...); err != nil {
		s.log.Error("add documents to their collection", "collection", collection, "documents", len(ids), "err", err)
	}
}

// documentCollections maps documents to their collections; without a
// workspace, none.
func (s *Server) documentCollections(ctx context.Context) (map[string][]string, error) {
	if s.cfg.Workspace == nil {
		return map[string][]string{}, nil
	}
	return s.cfg.Workspace.DocumentCollections(ctx)
}

// forgetDocument removes a deleted document from its collections.
func (s *Server) forgetDocument(ctx context.Context, id string) {
	if s.cfg.Workspace == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	if err := s.cfg.Workspace.ForgetDocument(ctx, id); err != nil {
		s.log.Error("remove a deleted document from its collections", "request_id", RequestID(ctx), "doc", id, "err", err)
	}
}
