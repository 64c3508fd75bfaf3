package server

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// uploadTo uploads files with a collection field and waits for the job.
func (ts *testServer) uploadTo(t *testing.T, collection string, files ...[2]string) Job {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField(collectionField, collection); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		w, err := mw.CreateFormFile(filesField, f[0])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f[1]))
	}
	mw.Close()
	var j Job
	decodeRes(t, ts.do(t, "POST", "/v1/documents", buf.Bytes(), "Content-Type", mw.FormDataContentType()), http.StatusAccepted, &j)
	return ts.waitJob(t, j.ID)
}

func TestCollections(t *testing.T) {
	ts := newTestServer(t, nil)
	j := ts.uploadTo(t, " papers ", [2]string{"a.txt", "Alpha paragraph."}, [2]string{"b.txt", "Beta paragraph."})
	if j.State != JobDone || j.Collection != "papers" || len(j.Documents) != 2 {
		t.Fatalf("job %+v", j)
	}
	plain := ts.upload(t, [2]string{"c.txt", "Gamma paragraph."})
	docC := plain.Documents[0]

	var list struct{ Documents []DocumentView }
	decodeRes(t, ts.do(t, "GET", "/v1/documents", nil), 200, &list)
	byName := map[string]DocumentView{}
	for _, d := range list.Documents {
		byName[d.Source] = d
	}
	if got := byName["a.txt"].Collections; !slices.Equal(got, []string{"papers"}) {
		t.Errorf("a.txt collections %v", got)
	}
	if got := byName["c.txt"]; got.Collections == nil || len(got.Collections) != 0 || got.Size == 0 || got.Ingested == nil {
		t.Errorf("c.txt %+v: want [] collections, a size and a time", got)
	}

	var d DocumentView
	decodeRes(t, ts.do(t, "PUT", "/v1/documents/"+docC+"/collections", `{"collections":["notes"," papers","notes"]}`), 200, &d)
	if !slices.Equal(d.Collections, []string{"notes", "papers"}) || d.Source != "c.txt" {
		t.Errorf("after PUT %+v", d)
	}
	var cols struct{ Collections []CollectionView }
	decodeRes(t, ts.do(t, "GET", "/v1/collections", nil), 200, &cols)
	want := []CollectionView{{Name: "notes", Documents: 1}, {Name: "papers", Documents: 3}}
	if !slices.Equal(cols.Collections, want) {
		t.Errorf("collections %+v, want %+v", cols.Collections, want)
	}
	var one struct{ Document DocumentView }
	decodeRes(t, ts.do(t, "GET", "/v1/documents/"+docC, nil), 200, &one)
	if !slices.Equal(one.Document.Collections, []string{"notes", "papers"}) {
		t.Errorf("document view collections %v", one.Document.Collections)
	}

	// Search options carry collections to the engine.
	decodeRes(t, ts.do(t, "POST", "/v1/search", `{"query":"alpha","collections":["papers"]}`), 200, nil)
	if got := ts.engine.lastSearch.Collections; !slices.Equal(got, []string{"papers"}) {
		t.Errorf("engine got collections %v", got)
	}

	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"PUT", "/v1/documents/" + docC + "/collections", `{"collections":[""]}`, 400, "empty collection name"},
		{"PUT", "/v1/documents/" + docC + "/collections", `{"collections":["` + strings.Repeat("n", 65) + `"]}`, 400, "at most 64"},
		{"PUT", "/v1/documents/" + docC + "/collections", `{}`, 400, "missing collections"},
		{"PUT", "/v1/documents/unknown/collections", `{"collections":["x"]}`, 404, "not found"},
		{"POST", "/v1/search", `{"query":"x","collections":["a\nb"]}`, 400, "control"},
		{"POST", "/v1/documents", `{"urls":["https://example.com/"],"collection":"` + strings.Repeat("n", 65) + `"}`, 400, "at most 64"},
	} {
		wantError(t, ts.do(t, tc.method, tc.path, tc.body), tc.status, tc.want)
	}

	// Deleting a document removes it from its collections.
	if res := ts.do(t, "DELETE", "/v1/documents/"+docC, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	decodeRes(t, ts.do(t, "GET", "/v1/collections", nil), 200, &cols)
	want = []CollectionView{{Name: "papers", Documents: 2}}
	if !slices.Equal(cols.Collections, want) {
		t.Errorf("after delete %+v, want %+v", cols.Collections, want)
	}
}
