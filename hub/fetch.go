package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

const userAgent = "mmrag-hub/1"

// stallTimeout aborts a transfer that receives nothing for that long; a
// whole-transfer timeout would cut slow but healthy downloads of big models.
var stallTimeout = 60 * time.Second

var errStalled = errors.New("transfer stalled: no data received for a while")

var defaultHTTP = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: t}
}()

// remoteFile is a file of a repository as the hub describes it.
type remoteFile struct {
	Path   string
	Size   int64  // -1 when unknown
	SHA256 string // LFS files: content sha256
	BlobID string // other files: git blob sha1 of the content
}

type repoInfo struct {
	commit string
	files  []remoteFile
}

// repoInfo asks the model info API which files the repository has at
// revision, with their sizes and hashes (blobs=true).
func (c *Client) repoInfo(ctx context.Context, repoID, revision string) (*repoInfo, error) {
	u := c.endpoint() + "/api/models/" + repoID + "/revision/" + url.PathEscape(revision) + "?blobs=true"
	r, err := c.get(ctx, u, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return nil, err
	}
	defer r.resp.Body.Close()
	if r.resp.StatusCode != http.StatusOK {
		return nil, statusError(r)
	}
	var body struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			RFilename string `json:"rfilename"`
			Size      *int64 `json:"size"`
			BlobID    string `json:"blobId"`
			LFS       *struct {
				SHA256 string `json:"sha256"`
				Size   int64  `json:"size"`
			} `json:"lfs"`
		} `json:"siblings"`
	}
	if err := json.NewDecoder(io.LimitReader(r.resp.Body, 64<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("model info of %s from %s: %w", repoID, redact(r.url), err)
	}
	if !hex40.MatchString(body.SHA) {
		return nil, fmt.Errorf("model info of %s from %s: no commit sha in the answer (got %q)", repoID, redact(r.url), body.SHA)
	}
	info := &repoInfo{commit: body.SHA}
	for _, s := range body.Siblings {
		if !safeRepoPath(s.RFilename) {
			return nil, fmt.Errorf("model info of %s: refusing unsafe file name %q", repoID, s.RFilename)
		}
		f := remoteFile{Path: s.RFilename, Size: -1}
		if s.Size != nil && *s.Size >= 0 {
			f.Size = *s.Size
		}
		if s.LFS != nil {
			if s.LFS.Size >= 0 {
				f.Size = s.LFS.Size
			}
			if hex64.MatchString(s.LFS.SHA256) {
				f.SHA256 = s.LFS.SHA256
			}
		} else if hex40.MatchString(s.BlobID) {
			f.BlobID = s.BlobID
		}
		info.files = append(info.files, f)
	}
	sort.Slice(info.files, func(i, j int) bool { return info.files[i].Path < info.files[j].Path })
	return info, nil
}

// reply is the final answer to a GET after redirects.
type reply struct {
	resp   *http.Response
	url    *url.URL // the URL that gave resp
	authed bool     // whether the token went with the request to url
	// Metadata headers of the endpoint's answers, which the CDN lacks.
	commit     string // X-Repo-Commit
	linkedEtag string // X-Linked-Etag: an LFS file's sha256
	linkedSize int64  // X-Linked-Size, -1 when absent
}

// get sends a GET, following redirects itself so that the token only ever
// goes to the endpoint's own origin: net/http would forward it to any
// subdomain, and the hub's LFS CDN is one (cdn-lfs.huggingface.co).
func (c *Client) get(ctx context.Context, rawURL string, hdr http.Header) (*reply, error) {
	endpoint, err := url.Parse(c.endpoint())
	if err != nil || endpoint.Host == "" {
		return nil, fmt.Errorf("hub endpoint %q is not a URL", c.endpoint())
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bad hub URL %q: %w", rawURL, err)
	}
	base := c.HTTP
	if base == nil {
		base = defaultHTTP
	}
	hc := *base
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	token := c.token()
	r := &reply{linkedSize: -1}
	for hops := 0; ; hops++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", redact(u), err)
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", userAgent)
		fromHub := u.Scheme == endpoint.Scheme && u.Host == endpoint.Host
		r.authed = token != "" && fromHub
		if r.authed {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, netError(ctx, u, err)
		}
		if fromHub {
			h := resp.Header
			if v := h.Get("X-Repo-Commit"); v != "" {
				r.commit = v
			}
			if v := h.Get("X-Linked-Etag"); v != "" {
				r.linkedEtag = strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
			}
			if n, err := strconv.ParseInt(h.Get("X-Linked-Size"), 10, 64); err == nil && n >= 0 {
				r.linkedSize = n
			}
		}
		switch resp.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
			http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		default:
			r.resp, r.url = resp, u
			return r, nil
		}
		loc := resp.Header.Get("Location")
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if loc == "" {
			return nil, fmt.Errorf("GET %s: HTTP %d without a Location", redact(u), resp.StatusCode)
		}
		if hops >= 10 {
			return nil, fmt.Errorf("GET %s: too many redirects", rawURL)
		}
		next, err := u.Parse(loc)
		if err != nil {
			return nil, fmt.Errorf("GET %s: bad redirect %q: %w", redact(u), loc, err)
		}
		u = next
	}
}

func netError(ctx context.Context, u *url.URL, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("GET %s: %w", redact(u), context.Cause(ctx))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message repeats the URL, query string included
	}
	return fmt.Errorf("%w at %s (GET %s: %v); check the network and HF_ENDPOINT, or pass a local model folder instead of a hub id",
		ErrUnreachable, u.Host, redact(u), err)
}

// statusError explains a non-success answer and closes nothing.
func statusError(r *reply) error {
	code := r.resp.StatusCode
	detail := r.resp.Header.Get("X-Error-Message")
	if detail == "" {
		b, _ := io.ReadAll(io.LimitReader(r.resp.Body, 4<<10))
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &body) == nil && body.Error != "" {
			detail = body.Error
		}
	}
	if detail != "" {
		detail = ": " + detail
	}
	errCode := r.resp.Header.Get("X-Error-Code")
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		hint := "HF_TOKEN is not set: gated and private models need an access token (accept the model's terms on the hub, then set HF_TOKEN)"
		if r.authed {
			hint = "the token in HF_TOKEN was refused or lacks access: check it, and for a gated model accept its terms on the hub with the token's account"
		}
		what := "the model may be gated or private, or may not exist"
		if errCode == "GatedRepo" {
			what = "the model is gated"
		}
		return fmt.Errorf("%w: GET %s: HTTP %d%s; %s; %s", ErrAccess, redact(r.url), code, detail, what, hint)
	case code == http.StatusNotFound:
		what := "no such repository, revision or file"
		switch errCode {
		case "RepoNotFound":
			what = "no such repository"
		case "RevisionNotFound":
			what = "no such revision"
		case "EntryNotFound":
			what = "no such file in the repository"
		}
		return fmt.Errorf("%w: GET %s: HTTP 404 (%s)%s", ErrNotFound, redact(r.url), what, detail)
	}
	return fmt.Errorf("GET %s: HTTP %d %s%s", redact(r.url), code, http.StatusText(code), detail)
}

// redact drops a URL's query, where CDN links carry their signatures.
func redact(u *url.URL) string {
	v := *u
	v.RawQuery, v.ForceQuery, v.User = "", false, nil
	return v.String()
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// partialName names the transfer file of w after its content, so that a
// partial file is only ever resumed with the same bytes.
func partialName(commit string, w remoteFile) string {
	id := w.SHA256
	if id == "" {
		id = w.BlobID
	}
	if id == "" {
		id = commit
	}
	sum := sha256.Sum256([]byte(w.Path + "\x00" + id))
	return hex.EncodeToString(sum[:16]) + ".incomplete"
}

var errRestart = errors.New("restart transfer from the beginning")

// fetch downloads w into a partial file inside dir, resuming what an
// earlier Pull left there, and verifies it. It returns the verified
// partial file, ready to be renamed into place.
func (c *Client) fetch(ctx context.Context, dir, repoID, commit string, w remoteFile) (string, File, error) {
	part := filepath.Join(dir, partialDir, partialName(commit, w))
	if err := os.MkdirAll(filepath.Dir(part), 0o755); err != nil {
		return "", File{}, fmt.Errorf("download %s: %w", w.Path, err)
	}
	u := c.endpoint() + "/" + repoID + "/resolve/" + commit + "/" + escapePath(w.Path)
	err := c.transfer(ctx, u, part, commit, &w)
	if errors.Is(err, errRestart) {
		// The server would not continue where the partial file stops.
		if err = os.Truncate(part, 0); err == nil {
			err = c.transfer(ctx, u, part, commit, &w)
		}
	}
	if errors.Is(err, errRestart) {
		os.Remove(part)
		return "", File{}, fmt.Errorf("download %s: the server refused to resume the transfer; pull again", w.Path)
	}
	if err != nil {
		return "", File{}, err
	}
	f, err := verify(ctx, part, w)
	if err != nil {
		if errors.Is(err, ErrIntegrity) {
			os.Remove(part) // resuming bad bytes would only fail again
		}
		return "", File{}, err
	}
	return part, f, nil
}

// transfer appends the rest of w's bytes to part. On failure the partial
// file is kept for the next Pull to resume.
func (c *Client) transfer(ctx context.Context, rawURL, part, commit string, w *remoteFile) error {
	f, have, err := openPartial(part, w.Size)
	if err != nil {
		return fmt.Errorf("download %s: %w", w.Path, err)
	}
	defer f.Close()
	if w.Size >= 0 && have == w.Size {
		// Complete already: an earlier Pull stopped after this file.
		c.report(Progress{File: w.Path, Done: have, Total: w.Size})
		return nil
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(stallTimeout, func() { cancel(errStalled) })
	defer watchdog.Stop()

	// identity: sizes and ranges must count the file's own bytes.
	hdr := http.Header{"Accept-Encoding": {"identity"}}
	if have > 0 {
		hdr.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	r, err := c.get(ctx, rawURL, hdr)
	if err != nil {
		return fmt.Errorf("download %s: %w", w.Path, err)
	}
	defer r.resp.Body.Close()
	if have, err = accept(r, f, have, commit, w); err != nil {
		return err
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return fmt.Errorf("download %s: %w", w.Path, err)
	}
	if err := c.receive(ctx, f, r, have, w, watchdog); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("download %s: %w", w.Path, err)
	}
	return nil
}

// openPartial opens (or creates) a partial file and says how many bytes it
// holds, emptying it first when it is longer than size (when known).
func openPartial(part string, size int64) (*os.File, int64, error) {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	have := st.Size()
	if size >= 0 && have > size {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, 0, err
		}
		have = 0
	}
	return f, have, nil
}

// accept checks the answer to a transfer's GET and returns where its body
// starts in part (0 when the server ignored the Range and part was emptied),
// or errRestart when the server will not continue at have. It fills in
// what the answer says of w that the model info did not.
func accept(r *reply, part *os.File, have int64, commit string, w *remoteFile) (int64, error) {
	resp := r.resp
	switch resp.StatusCode {
	case http.StatusOK:
		if have > 0 { // the server ignored Range: start over
			if err := part.Truncate(0); err != nil {
				return 0, fmt.Errorf("download %s: %w", w.Path, err)
			}
			have = 0
		}
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return 0, errRestart
		}
		if w.Size < 0 && total >= 0 {
			w.Size = total
		}
	case http.StatusRequestedRangeNotSatisfiable:
		return 0, errRestart
	default:
		return 0, fmt.Errorf("download %s: %w", w.Path, statusError(r))
	}
	if r.commit != "" && r.commit != commit {
		return 0, fmt.Errorf("download %s: the hub served commit %s instead of %s", w.Path, r.commit, commit)
	}
	if w.Size < 0 {
		switch {
		case r.linkedSize >= 0:
			w.Size = r.linkedSize
		case resp.ContentLength >= 0:
			w.Size = have + resp.ContentLength
		}
	}
	if w.SHA256 == "" && w.BlobID == "" && hex64.MatchString(r.linkedEtag) {
		w.SHA256 = r.linkedEtag
	}
	return have, nil
}

// receive appends r's body to part, which holds have bytes, reporting
// progress and resetting the stall watchdog as data comes.
func (c *Client) receive(ctx context.Context, part *os.File, r *reply, have int64, w *remoteFile, watchdog *time.Timer) error {
	var body io.Reader = r.resp.Body
	if w.Size >= 0 {
		body = io.LimitReader(body, w.Size-have+1) // one byte too many is enough to tell
	}
	c.report(Progress{File: w.Path, Done: have, Total: w.Size})
	buf := make([]byte, 256<<10)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			watchdog.Reset(stallTimeout)
			if _, err := part.Write(buf[:n]); err != nil {
				return fmt.Errorf("download %s: %w", w.Path, err)
			}
			have += int64(n)
			c.report(Progress{File: w.Path, Done: have, Total: w.Size})
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			if cause := context.Cause(ctx); cause != nil {
				rerr = cause
			}
			size := "?"
			if w.Size >= 0 {
				size = strconv.FormatInt(w.Size, 10)
			}
			return fmt.Errorf("download %s from %s: %w (%d of %s bytes kept; pull again to resume)",
				w.Path, redact(r.url), rerr, have, size)
		}
	}
}

// parseContentRange reads "bytes start-end/total"; total is -1 for "*".
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	first, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, total, true
}

// verify checks a downloaded file against what the hub said of it.
func verify(ctx context.Context, name string, w remoteFile) (File, error) {
	st, err := os.Stat(name)
	if err != nil {
		return File{}, fmt.Errorf("verify %s: %w", w.Path, err)
	}
	if w.Size >= 0 && st.Size() != w.Size {
		return File{}, fmt.Errorf("%w: %s: size mismatch: got %d bytes, the hub lists %d", ErrIntegrity, w.Path, st.Size(), w.Size)
	}
	sum, blob, err := hashFile(ctx, name, st.Size(), w.BlobID != "")
	if err != nil {
		return File{}, fmt.Errorf("verify %s: %w", w.Path, err)
	}
	if w.SHA256 != "" && sum != w.SHA256 {
		return File{}, fmt.Errorf("%w: %s: sha256 mismatch: got %s, the hub lists %s", ErrIntegrity, w.Path, sum, w.SHA256)
	}
	if w.BlobID != "" && blob != w.BlobID {
		return File{}, fmt.Errorf("%w: %s: git blob id mismatch: got %s, the hub lists %s", ErrIntegrity, w.Path, blob, w.BlobID)
	}
	return File{Path: w.Path, Size: st.Size(), SHA256: sum}, nil
}

// verifyInPlace says whether the file already at final is w, so that Pull
// can skip it. Without a hash from the hub it trusts the previous
// manifest's sha256 for the same commit.
func verifyInPlace(ctx context.Context, final string, w remoteFile, prev *File) (File, bool, error) {
	st, err := os.Stat(final)
	if err != nil || !st.Mode().IsRegular() || (w.Size >= 0 && st.Size() != w.Size) {
		return File{}, false, nil
	}
	if w.SHA256 == "" && w.BlobID == "" && prev == nil {
		return File{}, false, nil
	}
	sum, blob, err := hashFile(ctx, final, st.Size(), w.BlobID != "")
	if err != nil {
		if ctx.Err() != nil {
			return File{}, false, err
		}
		return File{}, false, nil // unreadable: download it again
	}
	ok := (w.SHA256 == "" || sum == w.SHA256) && (w.BlobID == "" || blob == w.BlobID)
	if w.SHA256 == "" && w.BlobID == "" {
		ok = prev.Size == st.Size() && prev.SHA256 == sum
	}
	return File{Path: w.Path, Size: st.Size(), SHA256: sum}, ok, nil
}

// hashFile returns the sha256 of a file and, when asked, its git blob id
// (sha1 of "blob <size>\x00" and the content), which the hub gives for
// files not stored in LFS.
func hashFile(ctx context.Context, name string, size int64, gitBlob bool) (sum, blob string, err error) {
	f, err := os.Open(name)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	h := sha256.New()
	var g hash.Hash
	var dst io.Writer = h
	if gitBlob {
		g = sha1.New()
		fmt.Fprintf(g, "blob %d\x00", size)
		dst = io.MultiWriter(h, g)
	}
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", "", err
		}
		n, rerr := f.Read(buf)
		dst.Write(buf[:n])
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", "", rerr
		}
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if g != nil {
		blob = hex.EncodeToString(g.Sum(nil))
	}
	return sum, blob, nil
}
