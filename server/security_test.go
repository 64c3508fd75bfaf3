package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestDNSRebinding: a page on a site whose name resolves to this machine
// reaches the server with that name in Host (and, for unsafe requests,
// Origin); it must be refused on every route, safe and unsafe, with or
// without a token. Loopback names, IP addresses and allowed names pass.
func TestDNSRebinding(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.AllowedHosts = []string{"kb.internal"} })
	port := ts.URL[strings.LastIndex(ts.URL, ":")+1:]
	tests := []struct {
		host   string
		origin string
		method string
		path   string
		want   int
	}{
		{"evil.example:" + port, "http://evil.example:" + port, "POST", "/v1/search", http.StatusMisdirectedRequest},
		{"evil.example:" + port, "", "GET", "/v1/documents", http.StatusMisdirectedRequest},
		{"evil.example", "", "GET", "/v1/items/x/image", http.StatusMisdirectedRequest},
		{"evil.example:" + port, "http://evil.example:" + port, "DELETE", "/v1/documents/x", http.StatusMisdirectedRequest},
		{"EVIL.example.:" + port, "", "GET", "/", http.StatusMisdirectedRequest},
		{"localhost.evil.example:" + port, "", "GET", "/v1/documents", http.StatusMisdirectedRequest},
		{"127.0.0.1:" + port, "", "GET", "/v1/documents", http.StatusOK},
		{"localhost:" + port, "", "GET", "/v1/documents", http.StatusOK},
		{"app.localhost:" + port, "", "GET", "/v1/documents", http.StatusOK},
		{"[::1]:" + port, "", "GET", "/v1/documents", http.StatusOK},
		{"192.168.1.20:" + port, "", "GET", "/v1/documents", http.StatusOK},
		{"kb.internal:" + port, "", "GET", "/v1/documents", http.StatusOK},
		{"KB.Internal", "", "GET", "/healthz", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.host+tt.path, func(t *testing.T) {
			hdr := []string{"Host", tt.host}
			if tt.origin != "" {
				hdr = append(hdr, "Origin", tt.origin)
			}
			body := any(nil)
			if tt.method == "POST" {
				body = `{"query":"x"}`
			}
			res := ts.do(t, tt.method, tt.path, body, hdr...)
			if res.StatusCode != tt.want {
				t.Errorf("status %d, want %d", res.StatusCode, tt.want)
			}
			if tt.want == http.StatusMisdirectedRequest {
				wantError(t, res, tt.want, "--allowed-host")
			}
		})
	}
	// "*" turns the check off, for a proxy that checks Host itself.
	open := newTestServer(t, func(c *Config) { c.AllowedHosts = []string{"*"} })
	if res := open.do(t, "GET", "/v1/documents", nil, "Host", "anything.example"); res.StatusCode != http.StatusOK {
		t.Errorf("AllowedHosts *: %d, want 200", res.StatusCode)
	}
}

// TestBearerScheme: the auth scheme is case-insensitive (RFC 9110).
func TestBearerScheme(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Token = "s3cret" })
	ts.token = ""
	for _, tt := range []struct {
		auth string
		want int
	}{
		{"Bearer s3cret", 200}, {"bearer s3cret", 200}, {"BEARER  s3cret ", 200},
		{"Basic s3cret", 401}, {"Bearer", 401}, {"Bearers3cret", 401},
	} {
		if res := ts.do(t, "GET", "/v1/documents", nil, "Authorization", tt.auth); res.StatusCode != tt.want {
			t.Errorf("Authorization %q: %d, want %d", tt.auth, res.StatusCode, tt.want)
		}
	}
}

// TestTokenBackoff: after a few wrong tokens from one address, tries are
// refused with 429 and a Retry-After that doubles; the right token is
// refused too while the address waits (else guessing would go on), and
// clears the count once the wait is over.
func TestTokenBackoff(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Token = "s3cret" })
	now := time.Now()
	ts.guard.now = func() time.Time { return now }
	for i := range freeFailures {
		if res := ts.do(t, "GET", "/v1/documents", nil, "Authorization", "Bearer wrong"); res.StatusCode != 401 {
			t.Fatalf("wrong token %d: %d, want 401", i+1, res.StatusCode)
		}
	}
	res := ts.do(t, "GET", "/v1/documents", nil, "Authorization", "Bearer s3cret")
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("after %d wrong tokens: %d Retry-After %q, want 429 and 1", freeFailures, res.StatusCode, res.Header.Get("Retry-After"))
	}
	now = now.Add(2 * time.Second)
	ts.do(t, "GET", "/v1/documents", nil, "Authorization", "Bearer wrong")
	if res := ts.do(t, "GET", "/v1/documents", nil, "Authorization", "Bearer wrong"); res.Header.Get("Retry-After") != "2" {
		t.Errorf("next wait: Retry-After %q, want 2", res.Header.Get("Retry-After"))
	}
	now = now.Add(3 * time.Second)
	if res := ts.do(t, "GET", "/v1/documents", nil, "Authorization", "Bearer s3cret"); res.StatusCode != 200 {
		t.Fatalf("right token after the wait: %d", res.StatusCode)
	}
	if res := ts.do(t, "GET", "/v1/documents", nil, "Authorization", "Bearer wrong"); res.StatusCode != 401 {
		t.Errorf("a right token did not clear the count: %d", res.StatusCode)
	}
	// The login form counts the same failures.
	for range freeFailures + 1 {
		req := httptest.NewRequest("POST", "http://127.0.0.1/login", strings.NewReader("token=nope"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		ts.Handler().ServeHTTP(rec, req)
		if rec.Code == http.StatusTooManyRequests {
			return
		}
	}
	t.Error("the login form never slowed down wrong tokens")
}
