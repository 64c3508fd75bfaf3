package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// FetchOptions bound the download of URLs. The zero value means the defaults.
type FetchOptions struct {
	MaxBytes     int64         // largest body accepted; 0 means 50 MiB
	Timeout      time.Duration // whole exchange, body included; 0 means 30s
	MaxRedirects int           // 0 means 5; negative means none are followed
	// AllowPrivate lets URLs reach loopback, private, link-local and other
	// non-public addresses. Off by default: a document (or a redirect) must
	// not make mmrag probe the local network.
	AllowPrivate bool
	UserAgent    string // default "mmrag"
}

// Defaults of FetchOptions.
const (
	DefaultFetchMaxBytes     = 50 << 20
	DefaultFetchTimeout      = 30 * time.Second
	DefaultFetchMaxRedirects = 5
)

// ErrForbiddenAddress is wrapped by fetches refused because the host
// resolves to a non-public address and AllowPrivate is off.
var ErrForbiddenAddress = errors.New("address not allowed (private, loopback or link-local; see --allow-private)")

// ErrTooLarge is wrapped by fetches and reads over their size limit.
var ErrTooLarge = errors.New("over the size limit")

// Fetcher downloads http(s) URLs within FetchOptions' limits. It is safe for
// concurrent use.
type Fetcher struct {
	opts   FetchOptions
	client *http.Client
}

// NewFetcher returns a Fetcher for opts.
//
// The address check runs in the dialer's Control hook, on the address
// actually connected to: a host name that resolves differently the second
// time (DNS rebinding) or a redirect to an internal host is caught there,
// which a check of the URL before the request would miss. For the same
// reason proxies from the environment are not used: the check would see the
// proxy's address, not the target's.
func NewFetcher(opts FetchOptions) *Fetcher {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultFetchMaxBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultFetchTimeout
	}
	if opts.MaxRedirects == 0 {
		opts.MaxRedirects = DefaultFetchMaxRedirects
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "mmrag"
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("dial %s: %w", address, err)
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("dial %s: %w", address, err)
			}
			if !publicAddr(ip) {
				return ErrForbiddenAddress // the dial error names the address
			}
			return nil
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = d.DialContext
	maxRedir := max(opts.MaxRedirects, 0)
	client := &http.Client{
		Transport: tr,
		Timeout:   opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedir {
				return fmt.Errorf("stopped after %d redirects", maxRedir)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %s: only http and https are fetched", req.URL.Scheme)
			}
			return nil
		},
	}
	return &Fetcher{opts: opts, client: client}
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598): not
// public, yet not covered by netip's IsPrivate.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicAddr reports whether ip is a globally routable unicast address.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid(), ip.IsLoopback(), ip.IsPrivate(), ip.IsUnspecified(),
		ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(),
		ip.IsMulticast(), cgnat.Contains(ip):
		return false
	case ip.Is4() && ip.As4()[0] == 0: // 0.0.0.0/8: "this network"
		return false
	}
	return true
}

// Page is a downloaded URL.
type Page struct {
	URL     string // after redirects
	Data    []byte
	MIME    string // Content-Type without parameters; may be empty
	ModTime time.Time
}

// Get downloads rawURL. Non-2xx statuses, bodies over MaxBytes, more than
// MaxRedirects redirects and refused addresses are errors.
func (f *Fetcher) Get(ctx context.Context, rawURL string) (*Page, error) {
	p, err := f.get(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	return p, nil
}

// get is Get with errors that do not repeat the URL, for callers that name
// the source themselves.
func (f *Fetcher) get(ctx context.Context, rawURL string) (*Page, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("only http and https URLs are fetched")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // `Get "URL": ` adds nothing the caller does not say
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	if resp.ContentLength > f.opts.MaxBytes {
		return nil, fmt.Errorf("%d bytes announced, limit %d: %w", resp.ContentLength, f.opts.MaxBytes, ErrTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(data)) > f.opts.MaxBytes {
		return nil, fmt.Errorf("body exceeds %d bytes: %w", f.opts.MaxBytes, ErrTooLarge)
	}
	p := &Page{URL: resp.Request.URL.String(), Data: data}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		p.MIME = strings.TrimSpace(strings.ToLower(strings.SplitN(ct, ";", 2)[0]))
	}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			p.ModTime = t
		}
	}
	return p, nil
}

// Fetch downloads url and returns its bytes and content type. Its signature
// is the one html.HTML.Fetch and markdown.Markdown.Fetch take, so that
// remote images obey the same limits and address checks as pages.
func (f *Fetcher) Fetch(ctx context.Context, url string) ([]byte, string, error) {
	p, err := f.Get(ctx, url)
	if err != nil {
		return nil, "", err
	}
	return p.Data, p.MIME, nil
}

// isURL reports whether s is an http(s) URL rather than a path.
func isURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}
