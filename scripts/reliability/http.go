package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// client talks to the servers of the suite: loopback only, no proxy, no
// redirects followed.
var client = &http.Client{
	Timeout: 60 * time.Second,
	Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 64,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// do sends a request with an optional JSON body and returns the status
// and body.
func (s *server) do(ctx context.Context, method, path string, body any, hdr map[string]string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	return res.StatusCode, b, err
}

// getJSON GETs path into v, wanting 200.
func (s *server) getJSON(ctx context.Context, path string, v any) error {
	code, b, err := s.do(ctx, "GET", path, nil, nil)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("GET %s: %d %s", path, code, firstLine(string(b)))
	}
	return json.Unmarshal(b, v)
}

func (s *server) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		code, b, err := s.do(ctx, "GET", "/healthz", nil, nil)
		if err == nil && code == 200 {
			return nil
		}
		last = fmt.Errorf("%d %s %v", code, firstLine(string(b)), err)
		if s.p.exited() {
			return fmt.Errorf("mmrag serve ended: %s: %s", s.p.res, tail(s.p.res.Stderr, 400))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no healthy answer from %s: %v", s.base, last)
}

// raw sends request line target exactly as given (no client-side
// cleaning of ../ or %2e) and returns the status and body.
func (s *server) raw(target string, hdr string) (int, []byte, error) {
	c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", target, s.addr, hdr)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	return res.StatusCode, b, nil
}
