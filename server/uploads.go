package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// handleAddDocuments takes uploads (multipart/form-data, field "files") or
// URLs (JSON {"urls": […]}) and queues one ingest job for them.
func (s *Server) handleAddDocuments(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ingester == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "this server has no ingest pipeline")
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var (
		kind           string
		targets, names []string
	)
	if mt == "multipart/form-data" {
		var status int
		var err error
		targets, names, status, err = s.saveUploads(w, r)
		if err != nil {
			s.fail(w, r, status, err.Error())
			return
		}
		kind = "upload"
	} else {
		var body struct {
			URLs []string `json:"urls"`
		}
		if !s.decode(w, r, &body, true) {
			return
		}
		if len(body.URLs) == 0 {
			s.fail(w, r, http.StatusBadRequest, `missing urls: send {"urls": ["https://…"]} or upload files as multipart/form-data`)
			return
		}
		if len(body.URLs) > s.cfg.MaxUploadFiles {
			s.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("%d URLs: at most %d per request", len(body.URLs), s.cfg.MaxUploadFiles))
			return
		}
		for _, raw := range body.URLs {
			u, err := s.checkURL(raw)
			if err != nil {
				s.fail(w, r, http.StatusBadRequest, err.Error())
				return
			}
			targets = append(targets, u)
		}
		names, kind = targets, "urls"
	}
	j, err := s.jobs.add(kind, targets, names)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.log.Info("job queued", "request_id", RequestID(r.Context()), "job", j.ID, "kind", kind, "sources", len(targets))
	w.Header().Set("Location", "/v1/jobs/"+j.ID)
	writeJSON(w, http.StatusAccepted, j)
}

func (s *Server) handleReingest(w http.ResponseWriter, r *http.Request) {
	doc, err := s.cfg.Store.Document(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	name := doc.Source
	if s.uploadPath(doc.Source) {
		name = filepath.Base(doc.Source)
	}
	j, err := s.jobs.add("reingest", []string{doc.Source}, []string{name})
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+j.ID)
	writeJSON(w, http.StatusAccepted, j)
}

// saveUploads streams each file part to UploadDir/<sha256>/<name>, so
// that the same file uploaded twice is one document. It returns the saved
// paths and the names sent, or the status and reason of a refusal.
func (s *Server) saveUploads(w http.ResponseWriter, r *http.Request) (paths, names []string, status int, err error) {
	if s.cfg.UploadDir == "" {
		return nil, nil, http.StatusServiceUnavailable, errors.New("uploads are off: the server has no upload folder")
	}
	limit := s.cfg.MaxUploadBytes
	if r.ContentLength > limit {
		return nil, nil, http.StatusRequestEntityTooLarge, fmt.Errorf("upload of %d bytes is over the %d-byte limit", r.ContentLength, limit)
	}
	// The multipart framing counts too; a small allowance keeps a file of
	// exactly the limit acceptable.
	r.Body = http.MaxBytesReader(w, r.Body, limit+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, http.StatusBadRequest, fmt.Errorf("bad multipart body: %w", err)
	}
	tmpDir := filepath.Join(s.cfg.UploadDir, ".tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return nil, nil, http.StatusInternalServerError, fmt.Errorf("create upload folder %s: %w", tmpDir, err)
	}
	var saved []string
	defer func() {
		if err != nil { // a refused request keeps nothing
			for _, p := range saved {
				s.removeUpload(p)
			}
		}
	}()
	var total int64
	for {
		part, perr := mr.NextPart()
		if perr == io.EOF {
			break
		}
		if perr != nil {
			return nil, nil, uploadStatus(perr), fmt.Errorf("read upload: %w", perr)
		}
		if part.FileName() == "" {
			part.Close()
			continue // a plain form field
		}
		if len(names) == s.cfg.MaxUploadFiles {
			return nil, nil, http.StatusRequestEntityTooLarge, fmt.Errorf("more than %d files in one upload", s.cfg.MaxUploadFiles)
		}
		name := cleanName(part.FileName())
		path, n, serr := s.saveUpload(tmpDir, name, part)
		part.Close()
		if serr != nil {
			return nil, nil, uploadStatus(serr), serr
		}
		total += n
		if total > limit {
			saved = append(saved, path)
			return nil, nil, http.StatusRequestEntityTooLarge, fmt.Errorf("upload is over the %d-byte limit", limit)
		}
		saved = append(saved, path)
		paths = append(paths, path)
		names = append(names, name)
	}
	if len(paths) == 0 {
		return nil, nil, http.StatusBadRequest, errors.New(`no files in the upload: send them in the "files" field`)
	}
	return paths, names, 0, nil
}

func uploadStatus(err error) int {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// saveUpload copies one part to a temporary file while hashing it, then
// moves it to its content-addressed place.
func (s *Server) saveUpload(tmpDir, name string, src io.Reader) (string, int64, error) {
	tmp, err := os.CreateTemp(tmpDir, "upload-*")
	if err != nil {
		return "", 0, fmt.Errorf("save upload %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // gone once renamed; removes it on failure
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", n, fmt.Errorf("upload is over the %d-byte limit: %w", s.cfg.MaxUploadBytes, err)
		}
		return "", n, fmt.Errorf("save upload %s: %w", name, err)
	}
	dir := filepath.Join(s.cfg.UploadDir, hex.EncodeToString(h.Sum(nil)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", n, fmt.Errorf("save upload %s: %w", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", n, fmt.Errorf("save upload %s: %w", name, err)
	}
	return path, n, nil
}

// cleanName keeps the base name of an uploaded file, without path
// separators, control characters or a leading dot (hidden files are not
// walked); the extension stays, as the type is detected from it.
func cleanName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || r == ':' || r == '*' || r == '?' || r == '"' || r == '<' || r == '>' || r == '|' {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ". ")
	for len(name) > 200 { // most file systems allow 255 bytes
		ext := filepath.Ext(name)
		if len(ext) > 20 {
			ext = ""
		}
		_, size := utf8.DecodeLastRuneInString(name[:len(name)-len(ext)])
		name = name[:len(name)-len(ext)-size] + ext
	}
	if name == "" {
		name = "upload"
	}
	return name
}

// uploadPath says whether p lies in the upload folder.
func (s *Server) uploadPath(p string) bool {
	if s.cfg.UploadDir == "" || !filepath.IsAbs(p) {
		return false
	}
	rel, err := filepath.Rel(s.cfg.UploadDir, p)
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..")
}

// removeUpload deletes an uploaded file and its folder once empty; other
// sources are left alone.
func (s *Server) removeUpload(p string) {
	if !s.uploadPath(p) {
		return
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("remove upload", "path", p, "err", err)
	}
	_ = os.Remove(filepath.Dir(p)) // fails while another file shares the hash
}

// checkURL accepts absolute http(s) URLs. Without AllowPrivate it refuses
// hosts that are literally loopback, private or link-local; names that
// resolve there are refused by the Ingester's fetcher, which sees the
// address it dials.
func (s *Server) checkURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("url %q: want an absolute http or https URL", raw)
	}
	if !s.cfg.AllowPrivate && privateHost(u.Hostname()) {
		return "", fmt.Errorf("url %q: the host is a loopback or private address; start the server with --allow-private to allow it", raw)
	}
	return u.String(), nil
}

func privateHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		// Old-style forms (http://2130706433/, 0x7f.1) that some resolvers
		// still read as addresses.
		if ip4 := net.ParseIP(host); ip4 != nil {
			ip, _ = netip.AddrFromSlice(ip4)
		} else {
			return host != "" && host[0] >= '0' && host[0] <= '9' && strings.Trim(host, "0123456789abcdefx.") == ""
		}
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.Is4() && ip.As4()[0] == 100 && ip.As4()[1]&0xc0 == 64 // 100.64.0.0/10, carrier-grade NAT
}
