package server

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// hostAllowed says whether a request's Host header names this server.
//
// A browser sends the name of the site it thinks it talks to. DNS
// rebinding points a name the attacker owns at 127.0.0.1, so that a page
// of theirs reaches a server on this machine as "same origin": its
// requests carry the attacker's name. An IP address cannot be rebound, and
// localhost names never leave the machine; any other name must be one the
// operator allowed.
func (s *Server) hostAllowed(r *http.Request) bool {
	if slices.Contains(s.cfg.AllowedHosts, "*") {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" {
		return true // HTTP/1.0 clients may omit it; browsers never do
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, a := range s.cfg.AllowedHosts {
		if strings.EqualFold(strings.TrimSuffix(a, "."), host) {
			return true
		}
	}
	return false
}

// refuseHost answers a request whose Host is not this server's.
func (s *Server) refuseHost(w http.ResponseWriter, r *http.Request) {
	s.log.Warn("request for another host refused (DNS rebinding?)", "request_id", RequestID(r.Context()),
		"host", r.Host, "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
	s.fail(w, r, http.StatusMisdirectedRequest,
		"this server does not answer to that host name; its operator can allow it with --allowed-host")
}
