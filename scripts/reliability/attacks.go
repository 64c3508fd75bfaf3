package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type attackFigures struct {
	ran                        bool
	rebindTried, rebindRefused int
	localTried, localOK        int
	encTried, encRefused       int
	images                     int
}

func checkAttacks(ctx context.Context, s *suite, e *env, srv *server) {
	f := &s.attacks
	f.ran = true
	rebinding(ctx, s, srv, f)
	traversal(ctx, s, e, srv, f)
	if srv.p.exited() {
		s.fail("attacks/server", "the server ended: %s: %s", srv.p.res, tail(srv.p.res.Stderr, 300))
	}
}

// rebinding: a page of evil.example whose name now resolves to 127.0.0.1
// sends its own Host (and Origin); the server must refuse it, and still
// serve the loopback names.
func rebinding(ctx context.Context, s *suite, srv *server, f *attackFigures) {
	_, port, _ := strings.Cut(srv.addr, ":")
	type req struct {
		method, path string
		body         any
	}
	reqs := []req{
		{"GET", "/v1/documents", nil},
		{"POST", "/v1/search", map[string]any{"query": "contrastive learning"}},
		{"POST", "/v1/ask", map[string]any{"question": "contrastive learning"}},
		{"GET", "/v1/settings", nil},
		{"GET", "/", nil},
	}
	var bad errs
	for _, host := range []string{"evil.example", "evil.example:" + port, "127.0.0.1.evil.example:" + port, "localhost.evil.example:" + port} {
		for _, r := range reqs {
			for _, origin := range []string{"http://" + host, ""} {
				f.rebindTried++
				hdr := map[string]string{"Host": host}
				if origin != "" {
					hdr["Origin"] = origin
				}
				code, _, err := srv.do(ctx, r.method, r.path, r.body, hdr)
				if err == nil && code >= 400 && code < 500 {
					f.rebindRefused++
					continue
				}
				bad.add("%s %s with Host %s%s: %d %v", r.method, r.path, host, prefixIf(", Origin ", origin), code, err)
			}
		}
	}
	s.check("attacks/rebinding refused", len(bad) == 0, "%d of %d requests with a foreign Host (and Origin) refused with 4xx%s", f.rebindRefused, f.rebindTried, problems(bad))

	bad = nil
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port} {
		for _, r := range reqs {
			for _, origin := range []string{"", "http://" + host} {
				if r.method == "GET" && origin != "" {
					continue
				}
				f.localTried++
				hdr := map[string]string{"Host": host}
				if origin != "" {
					hdr["Origin"] = origin
				}
				code, b, err := srv.do(ctx, r.method, r.path, r.body, hdr)
				if err == nil && code == 200 {
					f.localOK++
					continue
				}
				bad.add("%s %s with Host %s%s: %d %v %s", r.method, r.path, host, prefixIf(", Origin ", origin), code, err, firstLine(string(b)))
			}
		}
	}
	s.check("attacks/loopback hosts served", len(bad) == 0, "%d of %d requests with Host 127.0.0.1:PORT or localhost:PORT answered 200%s", f.localOK, f.localTried, problems(bad))
}

// traversal: an uploaded page and a Markdown file whose figures point out
// of the upload (../, absolute paths, file:// URLs), file:// URLs to
// ingest, and API paths with encoded ../.
func traversal(ctx context.Context, s *suite, e *env, srv *server, f *attackFigures) {
	out, err := makeOutside(e.path("attacks", "outside"))
	if err != nil {
		s.fail("attacks/traversal", "%v", err)
		return
	}
	passwd, _ := os.ReadFile("/etc/passwd")
	job, err := uploadOutside(ctx, srv, out)
	if !s.check("attacks/upload", err == nil && len(job.Documents) == 2, "a page and a Markdown file with figures out of the upload: job %s, %d documents %v", job.State, len(job.Documents), err) {
		return
	}
	checkUploadConfined(ctx, s, srv, f, out, job, passwd)
	checkFileURLs(ctx, s, srv, out)
	checkEncodedPaths(s, srv, f, passwd)
}

// uploadJob is what the server says of an upload job.
type uploadJob struct {
	ID        string   `json:"id"`
	State     string   `json:"state"`
	Documents []string `json:"documents"`
	Errors    []struct{ Source, Error string }
}

// uploadOutside uploads a page and a Markdown file whose figures point at
// out's files and /etc/passwd, and waits for the job to end.
func uploadOutside(ctx context.Context, srv *server, out *outside) (uploadJob, error) {
	up := strings.Repeat("../", 30)
	page := `<!doctype html><html><head><title>Upload traversal</title></head><body><p>` + prose(77, 4) + `</p>
<img src="` + up + `etc/passwd" alt="passwd">
<img src="` + up + strings.TrimPrefix(out.png, "/") + `" alt="climb to the secret">
<img src="file://` + out.png + `" alt="file url">
<img src="file:///etc/passwd" alt="file passwd">
<img src="` + out.png + `" alt="absolute">
<img src="..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd" alt="encoded">
</body></html>`
	md := "# Upload traversal\n\n" + prose(78, 4) + "\n\n![a](" + up + strings.TrimPrefix(out.png, "/") + ")\n\n![b](file://" + out.png + ")\n\n![c](" + out.png + ")\n\n![d](" + up + "etc/passwd)\n"
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, file := range [][2]string{{"traversal.html", page}, {"traversal.md", md}} {
		w, _ := mw.CreateFormFile("files", file[0])
		io.WriteString(w, file[1])
	}
	mw.Close()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.base+"/v1/documents", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var job uploadJob
	res, err := client.Do(req)
	if err == nil {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			err = fmt.Errorf("upload: %d %s", res.StatusCode, firstLine(string(b)))
		} else {
			err = jsonUnmarshal(b, &job)
		}
	}
	for deadline := time.Now().Add(2 * time.Minute); err == nil && job.State != "done" && job.State != "failed"; {
		if time.Now().After(deadline) {
			err = fmt.Errorf("job %s still %s after 2 minutes", job.ID, job.State)
			break
		}
		time.Sleep(200 * time.Millisecond)
		err = srv.getJSON(ctx, "/v1/jobs/"+job.ID, &job)
	}
	return job, err
}

// checkUploadConfined checks that no item of the uploaded documents holds
// text from outside, and that no figure the server serves, of these
// documents or of the whole store, is a file from outside.
func checkUploadConfined(ctx context.Context, s *suite, srv *server, f *attackFigures, out *outside, job uploadJob, passwd []byte) {
	var bad errs
	for _, id := range job.Documents {
		var doc struct {
			Items []struct {
				ID       string `json:"id"`
				Modality string `json:"modality"`
				ImageURL string `json:"image_url"`
				ThumbURL string `json:"thumb_url"`
				Text     string `json:"text"`
			} `json:"items"`
		}
		if err := srv.getJSON(ctx, "/v1/documents/"+id, &doc); err != nil {
			bad.add("%v", err)
			continue
		}
		for _, it := range doc.Items {
			if strings.Contains(it.Text, "root:x:0:0") || strings.Contains(it.Text, out.marker) {
				bad.add("item %s holds text from outside", it.ID)
			}
			for _, u := range []string{it.ImageURL, it.ThumbURL} {
				if u == "" {
					continue
				}
				f.images++
				code, b, err := srv.do(ctx, "GET", u, nil, nil)
				if err == nil && code == 200 && (sha256Hex(b) == out.pngHash || len(passwd) > 0 && bytes.Equal(b, passwd)) {
					bad.add("GET %s returns %s", u, "bytes from outside the upload")
				}
			}
		}
	}
	st, err := inspectStore(ctx, storeOf(srv))
	if err != nil {
		bad.add("read the store: %v", err)
	} else {
		for _, l := range out.leaked(st, "") {
			if !strings.HasPrefix(l, "document from outside") {
				bad.add("%s", l)
			}
		}
		// Every figure of the store, through the API.
		for _, id := range keys(st.items) {
			if st.items[id].modality != "image" || f.images >= 400 {
				continue
			}
			f.images++
			for _, u := range []string{"/v1/items/" + id + "/image", "/v1/items/" + id + "/image?thumb=256"} {
				code, b, err := srv.do(ctx, "GET", u, nil, nil)
				switch {
				case err != nil || code != 200:
					bad.add("GET %s: %d %v", u, code, err)
				case sha256Hex(b) == out.pngHash || len(passwd) > 0 && bytes.Equal(b, passwd):
					bad.add("GET %s returns bytes from outside the upload", u)
				}
			}
		}
	}
	s.check("attacks/upload confined", len(bad) == 0, "no item of the uploads from outside their folder; the %d figures the server serves are none of it%s", f.images, problems(bad))

}

// checkFileURLs checks that ingesting by file:// URL or by path is refused.
func checkFileURLs(ctx context.Context, s *suite, srv *server, out *outside) {
	var bad errs
	for _, u := range []string{"file:///etc/passwd", "file://" + out.png, "/etc/passwd", "../../../../etc/passwd"} {
		code, b, err := srv.do(ctx, "POST", "/v1/documents", map[string]any{"urls": []string{u}}, nil)
		if err != nil || code != 400 {
			bad.add("urls [%s]: %d %v %s", u, code, err, firstLine(string(b)))
		}
	}
	s.check("attacks/file URLs refused", len(bad) == 0, "POST /v1/documents {urls: [file://…, /etc/passwd, ../…]} answered 400%s", problems(bad))

}

// checkEncodedPaths checks that API paths with an encoded ../ answer 400 or
// 404 and leak no file bytes.
func checkEncodedPaths(s *suite, srv *server, f *attackFigures, passwd []byte) {
	var bad errs
	for _, target := range []string{
		"/v1/items/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd/image",
		"/v1/items/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd/image",
		"/v1/items/..%252f..%252f..%252fetc%252fpasswd/image",
		"/v1/items/%2e%2e/image",
		"/v1/items/..%5c..%5c..%5cetc%5cpasswd/image",
		"/v1/items/..%2f..%2fblobs/image",
		"/v1/documents/..%2f..%2f..%2f..%2fetc%2fpasswd",
		"/v1/documents/%2e%2e%2f%2e%2e%2fmmrag.db",
		"/v1/documents/%2e%2e",
		"/v1/jobs/..%2f..%2f..%2fetc%2fpasswd",
		"/v1/models/..%2f..%2f..%2fetc%2fpasswd",
		"/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/app.js/..%2f..%2f..%2f..%2fetc%2fpasswd",
		"/v1/items/x/image?thumb=..%2f..%2fetc%2fpasswd",
	} {
		f.encTried++
		code, b, err := srv.raw(target, "")
		leak := bytes.Contains(b, []byte("root:x:0:0")) || len(passwd) > 0 && bytes.Contains(b, passwd[:min(len(passwd), 32)]) ||
			bytes.Contains(b, []byte("SQLite format"))
		if err == nil && (code == 400 || code == 404) && !leak {
			f.encRefused++
			continue
		}
		bad.add("GET %s: %d %v%s", target, code, err, map[bool]string{true: " (leaked file bytes)"}[leak])
	}
	s.check("attacks/encoded paths", len(bad) == 0, "%d of %d API paths with encoded ../ answered 400 or 404, none with file bytes%s", f.encRefused, f.encTried, problems(bad))
}

// storeOf is the --store a server was started with.
func storeOf(srv *server) string {
	args := srv.p.cmd.Args
	for i, a := range args {
		if a == "--store" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return filepath.Join(srv.p.e.home, "kb")
}
