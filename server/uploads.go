package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"mmrag"
	"mmrag/ingest"
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
		kind, collection string
		targets, names   []string
	)
	if mt == "multipart/form-data" {
		var status int
		var err error
		targets, names, status, err = s.saveUploads(w, r, &collection)
		if err != nil {
			s.fail(w, r, status, err.Error())
			return
		}
		kind = "upload"
	} else {
		var body struct {
			URLs       []string `json:"urls"`
			Collection string   `json:"collection"`
		}
		if !s.decode(w, r, &body, true) {
			return
		}
		collection = body.Collection
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
	j, err := s.addJob(kind, targets, names, collection)
	if err != nil {
		if kind == "upload" { // a refused upload keeps nothing
			for _, t := range targets {
				s.removeUpload(r.Context(), t)
			}
		}
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
	j, err := s.jobs.add("reingest", []string{doc.Source}, []string{s.displaySource(doc.Source, doc.Meta[ingest.MetaRoot])}, "")
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+j.ID)
	writeJSON(w, http.StatusAccepted, j)
}

// Multipart fields of an upload: "files" are ingested; "assets" are saved
// beside them, unindexed, for the files to reference (a page's pictures).
const (
	filesField  = "files"
	assetsField = "assets"
	// collectionField, a plain field, names the collection the files'
	// documents join.
	collectionField = "collection"
)

// uploadPart is one file of an upload, saved to a temporary file.
type uploadPart struct {
	field, name string
	tmp         string
	sum         [sha256.Size]byte
	size        int64
}

// saveUploads saves the files of one upload request together in
// UploadDir/<id>/: a page and the pictures it references by relative path
// (sent as "assets", or as other "files") stay side by side, and a page
// reads nothing outside its upload. id is the sha256 of the contents and
// names, so the same upload twice is the same documents; an upload of one
// file is named by that file's sha256. It returns the saved paths of the
// "files" parts and their names, or the status and reason of a refusal.
func (s *Server) saveUploads(w http.ResponseWriter, r *http.Request, collection *string) (paths, names []string, status int, err error) {
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
		return s.storageStatus(r, "create the upload folder", err)
	}
	parts, status, err := s.readParts(mr, tmpDir, collection)
	defer func() {
		for _, p := range parts {
			os.Remove(p.tmp) // gone once moved; removes what a refusal leaves
		}
	}()
	if err != nil {
		return nil, nil, status, err
	}
	dir := filepath.Join(s.cfg.UploadDir, bundleID(parts))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s.storageStatus(r, "create the upload folder", err)
	}
	for _, p := range parts {
		dst := filepath.Join(dir, p.name)
		if err := os.Rename(p.tmp, dst); err != nil {
			return s.storageStatus(r, "save the upload", err)
		}
		if p.field == filesField {
			paths = append(paths, dst)
			names = append(names, p.name)
		}
	}
	return paths, names, 0, nil
}

// readParts saves every file part of mr to tmpDir, checking the limits,
// and reads the collection field into collection.
func (s *Server) readParts(mr *multipart.Reader, tmpDir string, collection *string) (parts []uploadPart, status int, err error) {
	var total int64
	seen := map[string]bool{}
	for {
		part, perr := mr.NextPart()
		if perr == io.EOF {
			break
		}
		if perr != nil {
			return parts, uploadStatus(perr), fmt.Errorf("read upload: %w", perr)
		}
		field := part.FormName()
		if field == collectionField && part.FileName() == "" {
			b, err := io.ReadAll(io.LimitReader(part, 1<<10))
			part.Close()
			if err != nil {
				return parts, uploadStatus(err), fmt.Errorf("read upload: %w", err)
			}
			*collection = string(b)
			continue
		}
		if part.FileName() == "" || field != filesField && field != assetsField {
			part.Close()
			continue // a plain form field, or one this API does not know
		}
		if len(parts) == s.cfg.MaxUploadFiles {
			part.Close()
			return parts, http.StatusRequestEntityTooLarge, fmt.Errorf("more than %d files in one upload", s.cfg.MaxUploadFiles)
		}
		p := uploadPart{field: field, name: cleanName(part.FileName())}
		if seen[p.name] {
			part.Close()
			return parts, http.StatusBadRequest, fmt.Errorf("two files named %q in one upload", p.name)
		}
		seen[p.name] = true
		status, err := s.savePart(tmpDir, &p, part)
		part.Close()
		if p.tmp != "" {
			parts = append(parts, p)
		}
		if err != nil {
			return parts, status, err
		}
		if total += p.size; total > s.cfg.MaxUploadBytes {
			return parts, http.StatusRequestEntityTooLarge, fmt.Errorf("upload is over the %d-byte limit", s.cfg.MaxUploadBytes)
		}
	}
	if !slices.ContainsFunc(parts, func(p uploadPart) bool { return p.field == filesField }) {
		return parts, http.StatusBadRequest, errors.New(`no files in the upload: send them in the "files" field (and the pictures they reference in "assets")`)
	}
	return parts, 0, nil
}

func uploadStatus(err error) int {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// savePart copies one part to a temporary file while hashing it.
func (s *Server) savePart(tmpDir string, p *uploadPart, src io.Reader) (int, error) {
	tmp, err := os.CreateTemp(tmpDir, "upload-*")
	if err != nil {
		return s.storageError("save the upload", err)
	}
	p.tmp = tmp.Name()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	p.size = n
	h.Sum(p.sum[:0])
	var tooBig *http.MaxBytesError
	var pathErr *fs.PathError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("upload is over the %d-byte limit", s.cfg.MaxUploadBytes)
	case errors.As(err, &pathErr): // writing the file failed, not reading the request
		return s.storageError("save the upload", err)
	}
	return http.StatusBadRequest, fmt.Errorf("read upload %s: %w", p.name, err)
}

// storageError maps a failure of the server's disk to its status and a
// message without the server's paths: 507 when the disk is full, else an
// internal error (logged in full).
func (s *Server) storageError(what string, err error) (int, error) {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		s.log.Warn("upload refused: disk full", "err", err)
		return http.StatusInsufficientStorage, fmt.Errorf("could not %s: the server's disk is full", what)
	}
	s.log.Error("upload failed", "err", err)
	return http.StatusInternalServerError, fmt.Errorf("could not %s: internal error (see the server log)", what)
}

// storageStatus is storageError for saveUploads' returns.
func (s *Server) storageStatus(r *http.Request, what string, err error) ([]string, []string, int, error) {
	status, e := s.storageError(what, fmt.Errorf("request %s: %w", RequestID(r.Context()), err))
	return nil, nil, status, e
}

// bundleID names an upload's folder: its one file's sha256, or the sha256
// of every part's field, name and sha256.
func bundleID(parts []uploadPart) string {
	if len(parts) == 1 {
		return hex.EncodeToString(parts[0].sum[:])
	}
	sorted := slices.Clone(parts)
	slices.SortFunc(sorted, func(a, b uploadPart) int { return strings.Compare(a.name, b.name) })
	h := sha256.New()
	for _, p := range sorted {
		fmt.Fprintf(h, "%s\x00%s\x00%x\n", p.field, p.name, p.sum)
	}
	return hex.EncodeToString(h.Sum(nil))
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

// displaySource is the source a client sees, never a server path: an
// uploaded file's name within its upload; a local file's path under the
// folder it was ingested from (root), named by that folder's name, or,
// when root is unknown (stored by an older mmrag), its folder's name and
// its own; a URL as ingested.
func (s *Server) displaySource(src, root string) string {
	if s.uploadPath(src) {
		rel, _ := filepath.Rel(s.cfg.UploadDir, src)
		if _, name, ok := strings.Cut(filepath.ToSlash(rel), "/"); ok {
			return name
		}
		return filepath.Base(src)
	}
	if !filepath.IsAbs(src) {
		return src // a URL
	}
	if root != "" {
		if rel, err := filepath.Rel(root, src); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			return filepath.ToSlash(filepath.Join(filepath.Base(root), rel))
		}
	}
	return filepath.ToSlash(filepath.Join(filepath.Base(filepath.Dir(src)), filepath.Base(src)))
}

// removeUpload deletes an uploaded file once no document is stored from
// it and no unfinished job names it, and its upload folder (assets included) once no document is stored
// from any file of the folder; other sources are left alone.
func (s *Server) removeUpload(ctx context.Context, p string) {
	s.removeUploadOf(ctx, p, "")
}

// removeUploadOf is removeUpload for the job of id cleaning up after
// itself: only the other jobs' needs keep the file.
func (s *Server) removeUploadOf(ctx context.Context, p, id string) {
	if !s.uploadPath(p) || s.stored(ctx, p) || s.jobs.pending(p, id) {
		return // another job (the same file uploaded again) still needs it
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("remove upload", "path", p, "err", err)
	}
	s.removeUploadDir(ctx, filepath.Dir(p))
}

// removeUploadDir deletes an upload folder when none of its files is a
// stored document or waits in a job.
func (s *Server) removeUploadDir(ctx context.Context, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if s.stored(ctx, p) || s.jobs.pending(p, "") {
			return
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		s.log.Warn("remove upload folder", "path", dir, "err", err)
	}
}

// stored says whether a document is stored from source; when the store
// cannot say, it answers yes, so that nothing stored loses its file.
func (s *Server) stored(ctx context.Context, source string) bool {
	_, err := s.cfg.Store.DocumentBySource(context.WithoutCancel(ctx), source)
	return !errors.Is(err, mmrag.ErrNotFound)
}

// sweepUploads removes what earlier runs left in the upload folder:
// temporary files, and upload folders from which no document is stored
// and no job waits (refused uploads, jobs lost in a crash).
func (s *Server) sweepUploads(ctx context.Context) {
	if s.cfg.UploadDir == "" {
		return
	}
	_ = os.RemoveAll(filepath.Join(s.cfg.UploadDir, ".tmp"))
	entries, err := os.ReadDir(s.cfg.UploadDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			s.removeUploadDir(ctx, filepath.Join(s.cfg.UploadDir, e.Name()))
		}
	}
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
