package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"mmrag"
)

// testServer serves a page, redirect chains and oversized bodies.
func testServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Last-Modified", "Tue, 19 Nov 2024 10:00:00 GMT")
		fmt.Fprintf(w, `<html><head><title>Remote</title></head><body><article><h1>Remote</h1><p>%s</p><img src="/pic.png" alt="remote pic"></article></body></html>`, para("remote", 10))
	})
	mux.HandleFunc("/pic.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(pngBytes(t, 9, 24, 24))
	})
	mux.HandleFunc("/notes", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/markdown")
		fmt.Fprintf(w, "# Notes\n\n%s\n", para("notes", 5))
	})
	// /r/N redirects N times before reaching the page.
	mux.HandleFunc("/r/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n == 0 {
			http.Redirect(w, r, "/page.html", http.StatusFound)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5000")
		w.Write([]byte(strings.Repeat("x", 5000)))
	})
	mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		for range 10 {
			w.Write([]byte(strings.Repeat("y", 1000)))
			w.(http.Flusher).Flush() // no Content-Length: the limit applies while reading
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestAddURL(t *testing.T) {
	ctx := t.Context()
	srv := testServer(t)
	p := newPipeline(t, newFake())
	p.Fetch = FetchOptions{AllowPrivate: true}
	f := NewFetcher(p.Fetch)
	p.Extractors[TypeHTML] = extractHTMLWithFetch(f)
	rep, err := p.Add(ctx, []string{srv.URL + "/page.html#section", srv.URL + "/notes", srv.URL + "/r/2"}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 3 || rep.Failed != 0 {
		t.Fatalf("%+v", rep)
	}
	d, err := p.Store.DocumentBySource(ctx, srv.URL+"/page.html") // fragment dropped
	if err != nil {
		t.Fatal(err)
	}
	if d.Type != "html" || d.Title != "Remote" || d.ModTime.Year() != 2024 {
		t.Errorf("document: %+v", d)
	}
	items, _ := p.Store.Items(ctx, d.ID)
	var imgs int
	for _, it := range items {
		if it.Modality == mmrag.Image {
			imgs++
		}
	}
	if imgs != 1 {
		t.Errorf("%d images from the page, want 1 (fetched with the same fetcher)", imgs)
	}
	n, err := p.Store.DocumentBySource(ctx, srv.URL+"/notes")
	if err != nil || n.Type != "markdown" {
		t.Errorf("text/markdown URL: %+v %v", n, err)
	}
	r, err := p.Store.DocumentBySource(ctx, srv.URL+"/r/2")
	if err != nil || r.Meta[MetaURL] != srv.URL+"/page.html" {
		t.Errorf("redirected URL: %+v %v", r, err)
	}
}

func TestFetchLimits(t *testing.T) {
	srv := testServer(t)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	tests := []struct {
		name string
		opts FetchOptions
		url  string
		want error  // errors.Is target; nil: success
		msg  string // in the error
	}{
		{"allowed", FetchOptions{AllowPrivate: true}, srv.URL + "/page.html", nil, ""},
		{"loopback refused", FetchOptions{}, srv.URL + "/page.html", ErrForbiddenAddress, "127.0.0.1"},
		{"localhost refused", FetchOptions{}, "http://localhost:" + port + "/page.html", ErrForbiddenAddress, ""},
		{"size limit", FetchOptions{AllowPrivate: true, MaxBytes: 1000}, srv.URL + "/big", ErrTooLarge, "announced"},
		{"size limit, chunked", FetchOptions{AllowPrivate: true, MaxBytes: 1000}, srv.URL + "/big-chunked", ErrTooLarge, "exceeds"},
		{"within size", FetchOptions{AllowPrivate: true, MaxBytes: 5000}, srv.URL + "/big", nil, ""},
		{"redirects within limit", FetchOptions{AllowPrivate: true, MaxRedirects: 3}, srv.URL + "/r/2", nil, ""},
		{"redirects over limit", FetchOptions{AllowPrivate: true, MaxRedirects: 3}, srv.URL + "/r/3", nil, "stopped after 3 redirects"},
		{"default redirect limit", FetchOptions{AllowPrivate: true}, srv.URL + "/r/5", nil, "stopped after 5 redirects"},
		{"no redirects", FetchOptions{AllowPrivate: true, MaxRedirects: -1}, srv.URL + "/r/0", nil, "stopped after 0 redirects"},
		{"not found", FetchOptions{AllowPrivate: true}, srv.URL + "/missing", nil, "404"},
		{"scheme", FetchOptions{AllowPrivate: true}, "file:///etc/passwd", nil, "only http and https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := NewFetcher(tc.opts).Get(t.Context(), tc.url)
			if tc.want == nil && tc.msg == "" {
				if err != nil || len(page.Data) == 0 {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error, got %d bytes", len(page.Data))
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v does not wrap %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), tc.url) {
				t.Errorf("error %q: want the URL and %q", err, tc.msg)
			}
		})
	}
}

// A refused URL fails its own document only.
func TestAddURLRefused(t *testing.T) {
	srv := testServer(t)
	dir := corpus(t)
	p := newPipeline(t, newFake())
	rep, err := p.Add(t.Context(), []string{srv.URL + "/page.html", dir}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 1 || rep.Added != 5 || !errors.Is(rep.Errors[0], ErrForbiddenAddress) {
		t.Errorf("%+v", rep)
	}
}

func TestPublicAddr(t *testing.T) {
	tests := map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true, "93.184.216.34": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "0.0.0.0": false, "::": false,
		"100.64.0.1": false, "224.0.0.1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "0.1.2.3": false,
	}
	for s, want := range tests {
		if got := publicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", s, got, want)
		}
	}
}
