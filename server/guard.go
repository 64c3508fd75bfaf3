package server

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Back-off of wrong tokens: after freeFailures wrong tokens from one
// address, each further try waits twice as long as the one before, up to
// maxBackoff; a right token clears the count. guardEntries bounds what
// the server remembers, the oldest forgotten first.
const (
	freeFailures = 5
	maxBackoff   = 5 * time.Minute
	guardForget  = 30 * time.Minute
	guardEntries = 10_000
)

// authGuard slows down token guessing per client address.
type authGuard struct {
	mu    sync.Mutex
	now   func() time.Time
	addrs map[string]*guardEntry
}

type guardEntry struct {
	failures int
	last     time.Time // of the last failure
	until    time.Time // no try before
}

func newAuthGuard() *authGuard {
	return &authGuard{now: time.Now, addrs: map[string]*guardEntry{}}
}

// clientAddr is the address a request came from, without its port.
func clientAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// blocked returns how long the client must still wait; 0 lets it try.
func (g *authGuard) blocked(r *http.Request) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.addrs[clientAddr(r)]
	if !ok {
		return 0
	}
	return max(0, e.until.Sub(g.now()))
}

func (g *authGuard) failed(r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	addr := clientAddr(r)
	e, ok := g.addrs[addr]
	if !ok || now.Sub(e.last) > guardForget {
		if len(g.addrs) >= guardEntries {
			g.forget(now)
		}
		e = &guardEntry{}
		g.addrs[addr] = e
	}
	e.failures++
	e.last = now
	if n := e.failures - freeFailures; n >= 0 {
		wait := time.Duration(math.Min(float64(time.Second)*math.Pow(2, float64(n)), float64(maxBackoff)))
		e.until = now.Add(wait)
	}
}

func (g *authGuard) succeeded(r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.addrs, clientAddr(r))
}

// forget drops entries idle past guardForget, or, when none is, the
// oldest one.
func (g *authGuard) forget(now time.Time) {
	var oldest string
	for a, e := range g.addrs {
		if now.Sub(e.last) > guardForget {
			delete(g.addrs, a)
			continue
		}
		if oldest == "" || e.last.Before(g.addrs[oldest].last) {
			oldest = a
		}
	}
	if len(g.addrs) >= guardEntries && oldest != "" {
		delete(g.addrs, oldest)
	}
}

// tooManyFailures answers a client that must wait before its next try.
func (s *Server) tooManyFailures(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.refuse(w, r, http.StatusTooManyRequests, "too many wrong tokens from this address: try again in "+strconv.Itoa(secs)+" s")
}
