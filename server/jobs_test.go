package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitState polls a job until it reaches state.
func (ts *testServer) waitState(t *testing.T, id, state string) Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var j Job
		decodeRes(t, ts.do(t, "GET", "/v1/jobs/"+id, nil), http.StatusOK, &j)
		if j.State == state {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: %s, want %s", id, j.State, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// uploadDirs lists the upload folders (not the hidden ones).
func uploadDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestCancelJob: DELETE /v1/jobs/{id} cancels a queued job at once and
// stops a running one (it held the single worker before); uploads they did
// not store are removed; a finished job answers 409.
func TestCancelJob(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.ingester.block = make(chan struct{}) // jobs run until cancelled
	ct, body := multipartBody(t, [2]string{"a.txt", "first"})
	var running, queued Job
	decodeRes(t, ts.do(t, "POST", "/v1/documents", body, "Content-Type", ct), http.StatusAccepted, &running)
	ct, body = multipartBody(t, [2]string{"b.txt", "second"})
	decodeRes(t, ts.do(t, "POST", "/v1/documents", body, "Content-Type", ct), http.StatusAccepted, &queued)
	ts.waitState(t, running.ID, JobRunning)

	var j Job
	decodeRes(t, ts.do(t, "DELETE", "/v1/jobs/"+queued.ID, nil), http.StatusOK, &j)
	if j.State != JobCancelled {
		t.Errorf("queued job after DELETE: %s, want cancelled", j.State)
	}
	decodeRes(t, ts.do(t, "DELETE", "/v1/jobs/"+running.ID, nil), http.StatusAccepted, &j)
	j = ts.waitState(t, running.ID, JobCancelled)
	if len(j.Errors) == 0 || !strings.Contains(j.Errors[0].Error, "cancelled") || j.Finished == nil {
		t.Errorf("cancelled job %+v: want a reason and an end time", j)
	}
	wantError(t, ts.do(t, "DELETE", "/v1/jobs/"+running.ID, nil), http.StatusConflict, "already finished")
	wantError(t, ts.do(t, "DELETE", "/v1/jobs/job_nope", nil), http.StatusNotFound, "no job")
	if dirs := uploadDirs(t, ts.cfg.UploadDir); len(dirs) != 1 {
		// The queued job's upload waits for nobody: only the running
		// job's folder may be left until its cleanup ran.
		deadline := time.Now().Add(5 * time.Second)
		for len(uploadDirs(t, ts.cfg.UploadDir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if dirs := uploadDirs(t, ts.cfg.UploadDir); len(dirs) != 0 {
		t.Errorf("uploads of cancelled jobs left behind: %v", dirs)
	}
	// The worker is free again.
	ts.ingester.mu.Lock()
	ts.ingester.block = nil
	ts.ingester.mu.Unlock()
	if j := ts.upload(t, [2]string{"c.txt", "third"}); j.State != JobDone {
		t.Errorf("a job after the cancels: %+v", j)
	}
}

// TestJobsSurviveRestart: jobs are kept in the upload folder; a new
// server lists the finished ones and runs the unfinished ones.
func TestJobsSurviveRestart(t *testing.T) {
	ts := newTestServer(t, nil)
	done := ts.upload(t, [2]string{"a.txt", "first"})
	ts.ingester.block = make(chan struct{})
	ct, body := multipartBody(t, [2]string{"b.txt", "second"})
	var pending Job
	decodeRes(t, ts.do(t, "POST", "/v1/documents", body, "Content-Type", ct), http.StatusAccepted, &pending)
	ts.waitState(t, pending.ID, JobRunning)
	ts.Close() // the server stops with the job running

	again := newTestServer(t, func(c *Config) {
		c.Store, c.UploadDir = ts.cfg.Store, ts.cfg.UploadDir
		c.Ingester = &fakeIngester{store: ts.cfg.Store}
	})
	if j, ok := again.jobs.get(done.ID); !ok || j.State != JobDone {
		t.Errorf("finished job after a restart: %+v (%v)", j, ok)
	}
	j := again.waitJob(t, pending.ID)
	if j.State != JobDone || j.Done != 1 || len(j.Warnings) == 0 {
		t.Errorf("job running at the stop, after a restart: %+v, want done with a warning that it resumed", j)
	}
}

// TestUploadBundle: the files of one upload share a folder, so a page
// finds the pictures sent beside it as assets; assets are not ingested;
// the API names uploads by their file names, never by server paths.
func TestUploadBundle(t *testing.T) {
	ts := newTestServer(t, nil)
	pic := testPNG(t, 40, 20, false)
	j := ts.upload(t, [2]string{"page.txt", "see the figure"}, [2]string{"asset:fig.png", string(pic)})
	if j.State != JobDone || j.Total != 1 || len(j.Documents) != 1 {
		t.Fatalf("job %+v: want one document (assets are not ingested)", j)
	}
	dirs := uploadDirs(t, ts.cfg.UploadDir)
	if len(dirs) != 1 {
		t.Fatalf("upload folders %v, want one for the whole upload", dirs)
	}
	for _, name := range []string{"page.txt", "fig.png"} {
		if _, err := os.Stat(filepath.Join(ts.cfg.UploadDir, dirs[0], name)); err != nil {
			t.Errorf("%s not saved in the upload's folder: %v", name, err)
		}
	}
	var docs struct{ Documents []DocumentView }
	decodeRes(t, ts.do(t, "GET", "/v1/documents", nil), http.StatusOK, &docs)
	if len(docs.Documents) != 1 || docs.Documents[0].Source != "page.txt" || !docs.Documents[0].Uploaded {
		t.Errorf("documents %+v: want page.txt, marked uploaded, without the server's path", docs.Documents)
	}
	var res SearchResponse
	decodeRes(t, ts.do(t, "POST", "/v1/search", `{"query":"figure"}`), http.StatusOK, &res)
	for _, s := range res.Text {
		if strings.Contains(s.Source, ts.dir) || strings.Contains(s.Source, "uploads") {
			t.Errorf("search source %q shows a server path", s.Source)
		}
	}
	ct, body := multipartBody(t, [2]string{"asset:only.png", string(pic)})
	wantError(t, ts.do(t, "POST", "/v1/documents", body, "Content-Type", ct), http.StatusBadRequest, "no files")

	// The reader's view of it: passages, each naming the items it holds.
	var doc struct {
		Items    []ItemView
		Passages []PassageView
	}
	decodeRes(t, ts.do(t, "GET", "/v1/documents/"+j.Documents[0], nil), http.StatusOK, &doc)
	if len(doc.Passages) == 0 || len(doc.Passages) != len(doc.Items) || len(doc.Passages[0].Items) != 1 || doc.Passages[0].Items[0] != doc.Items[0].ID {
		t.Errorf("passages %+v of items %+v: want one per whole-block item, naming it", doc.Passages, doc.Items)
	}

	// Deleting the page removes its folder, assets included.
	if res := ts.do(t, "DELETE", "/v1/documents/"+j.Documents[0], nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	if dirs := uploadDirs(t, ts.cfg.UploadDir); len(dirs) != 0 {
		t.Errorf("upload folders left after the delete: %v", dirs)
	}
}

// TestRefusedUploadKeepsNothing: an upload refused because the queue is
// full leaves no file behind (they stayed on disk forever).
func TestRefusedUploadKeepsNothing(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.ingester.block = make(chan struct{})
	defer close(ts.ingester.block)
	for i := range maxQueuedJobs + 1 { // one runs, the queue fills
		res := ts.do(t, "POST", "/v1/documents", `{"urls":["https://example.org/`+strings.Repeat("x", i)+`"]}`)
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("job %d: %d", i, res.StatusCode)
		}
		if i == 0 {
			var j Job
			decodeRes(t, res, http.StatusAccepted, &j)
			ts.waitState(t, j.ID, JobRunning)
		}
	}
	ct, body := multipartBody(t, [2]string{"late.txt", "no room"})
	wantError(t, ts.do(t, "POST", "/v1/documents", body, "Content-Type", ct), http.StatusServiceUnavailable, "try again")
	if dirs := uploadDirs(t, ts.cfg.UploadDir); len(dirs) != 0 {
		t.Errorf("a refused upload left %v", dirs)
	}
	if strings.Contains(ts.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a full queue is logged as an error:\n%s", ts.logs.String())
	}
}

// TestSweepUploads: a start removes what a crash left: temporary files and
// upload folders from which nothing is stored and no job waits.
func TestSweepUploads(t *testing.T) {
	ts := newTestServer(t, nil)
	kept := ts.upload(t, [2]string{"kept.txt", "stored"})
	orphan := filepath.Join(ts.cfg.UploadDir, strings.Repeat("ab", 32))
	tmp := filepath.Join(ts.cfg.UploadDir, ".tmp", "upload-123")
	for _, p := range []string{filepath.Join(orphan, "lost.txt"), tmp} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ts.Close()
	newTestServer(t, func(c *Config) { c.Store, c.UploadDir = ts.cfg.Store, ts.cfg.UploadDir })
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphaned upload folder survived a start: %v", err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary upload survived a start: %v", err)
	}
	if len(uploadDirs(t, ts.cfg.UploadDir)) != 1 || kept.State != JobDone {
		t.Errorf("the stored upload's folder is gone: %v", uploadDirs(t, ts.cfg.UploadDir))
	}
}

// TestCleanupSparesPendingUpload: the same file uploaded twice is one
// upload folder; cancelling the first job must not remove the file the
// second, still queued, job is about to read.
func TestCleanupSparesPendingUpload(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.ingester.block = make(chan struct{})
	var first, second Job
	ct, body := multipartBody(t, [2]string{"same.txt", "one file, uploaded twice"})
	decodeRes(t, ts.do(t, "POST", "/v1/documents", body, "Content-Type", ct), http.StatusAccepted, &first)
	ts.waitState(t, first.ID, JobRunning)
	decodeRes(t, ts.do(t, "POST", "/v1/documents", body, "Content-Type", ct), http.StatusAccepted, &second)
	ts.ingester.mu.Lock()
	ts.ingester.block = nil // the second job runs freely
	ts.ingester.mu.Unlock()
	decodeRes(t, ts.do(t, "DELETE", "/v1/jobs/"+first.ID, nil), http.StatusAccepted, &first)
	ts.waitState(t, first.ID, JobCancelled)
	if j := ts.waitJob(t, second.ID); j.State != JobDone || j.Done != 1 {
		t.Errorf("the second upload of the file after the first was cancelled: %+v", j)
	}
}
