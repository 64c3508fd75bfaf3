package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestStaticGzip checks the UI's files: compressed for a client that
// accepts gzip (the same bytes once decompressed, an ETag of their own that
// revalidates), as they are for one that does not or refuses it.
func TestStaticGzip(t *testing.T) {
	ts := newTestServer(t, nil)
	plain := ts.do(t, "GET", "/app.js", nil, "Accept-Encoding", "identity")
	want := readAll(t, plain)
	if plain.StatusCode != http.StatusOK || len(want) == 0 {
		t.Fatalf("GET /app.js: %d, %d bytes", plain.StatusCode, len(want))
	}
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"gzip", true},
		{"br, gzip;q=0.5", true},
		{"*", true},
		{"gzip;q=0, *", false},
		{"identity", false},
		{"gzip; q=0", false},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			res := ts.do(t, "GET", "/app.js", nil, "Accept-Encoding", tc.accept)
			body := readAll(t, res)
			if got := res.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
				t.Fatalf("Content-Encoding %q, want gzip: %v", res.Header.Get("Content-Encoding"), tc.gzip)
			}
			if !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
				t.Errorf("Vary %q lacks Accept-Encoding", res.Header.Get("Vary"))
			}
			if tc.gzip {
				if len(body) >= len(want)/2 {
					t.Errorf("gzip body of %d bytes for %d plain", len(body), len(want))
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				body, err = io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
				if res.Header.Get("ETag") == plain.Header.Get("ETag") {
					t.Error("the gzip and plain representations share an ETag")
				}
			}
			if !bytes.Equal(body, want) {
				t.Fatalf("body differs from the plain file (%d vs %d bytes)", len(body), len(want))
			}
			again := ts.do(t, "GET", "/app.js", nil, "Accept-Encoding", tc.accept, "If-None-Match", res.Header.Get("ETag"))
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match its ETag: %d, want 304", again.StatusCode)
			}
		})
	}
}
