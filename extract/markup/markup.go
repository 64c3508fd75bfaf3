// Package markup holds what the HTML, Markdown and plain-text extractors
// share: text decoding and normalisation, heading slugs and section paths,
// loading the images a document references (confined to Source.Root), and
// the walk of an HTML tree into blocks, which Markdown uses for its raw HTML.
package markup

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // registered for image.DecodeConfig
	_ "image/jpeg"
	_ "image/png"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	_ "golang.org/x/image/webp"
	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"

	"mmrag/extract"
)

// defaultMaxImageBytes caps one image when the extractor sets no limit.
const defaultMaxImageBytes = 20 << 20

// contextChars bounds each side of an image's surrounding text.
const contextChars = 300

// DecodePlain turns a text file into valid UTF-8: a UTF-8 BOM is
// dropped, UTF-16 with a BOM is decoded, binary data is an error, and invalid
// UTF-8 goes through RepairUTF8 with a warning.
func DecodePlain(data []byte) (string, []string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xef, 0xbb, 0xbf}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}), bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		dec := xunicode.UTF16(xunicode.LittleEndian, xunicode.ExpectBOM).NewDecoder()
		out, err := dec.Bytes(data)
		if err != nil {
			return "", nil, fmt.Errorf("decode UTF-16: %w", err)
		}
		data = out
	}
	if err := CheckText(data); err != nil {
		return "", nil, err
	}
	if utf8.Valid(data) {
		return string(data), nil, nil
	}
	s, warn := RepairUTF8(data)
	return s, []string{warn}, nil
}

// CheckText rejects binary data: a NUL byte early on, or a sniffed type
// that is not text.
func CheckText(data []byte) error {
	head := data
	if len(head) > 8<<10 {
		head = head[:8<<10]
	}
	ct := http.DetectContentType(data)
	if bytes.IndexByte(head, 0) >= 0 || !strings.HasPrefix(ct, "text/") {
		return fmt.Errorf("binary content (looks like %s)", strings.SplitN(ct, ";", 2)[0])
	}
	return nil
}

// RepairUTF8 makes invalid UTF-8 readable. Mostly-UTF-8 data with a few
// bad bytes keeps its UTF-8 and gets U+FFFD for them; data with no valid
// multi-byte sequence is legacy 8-bit text and is decoded as Windows-1252, the
// superset of Latin-1 that such files almost always are.
func RepairUTF8(data []byte) (string, string) {
	multi, bad := 0, 0
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			bad++
		case size > 1:
			multi++
		}
		i += size
	}
	if multi > bad {
		return strings.ToValidUTF8(string(data), "\uFFFD"),
			fmt.Sprintf("invalid UTF-8 repaired: %d bad bytes replaced with U+FFFD", bad)
	}
	out, err := charmap.Windows1252.NewDecoder().Bytes(data)
	if err != nil { // cannot happen for a single-byte charmap; stay safe
		return strings.ToValidUTF8(string(data), "\uFFFD"), "invalid UTF-8 repaired"
	}
	return string(out), "not valid UTF-8: decoded as Windows-1252 (Latin-1)"
}

// FlatText prepares raw text for normalisation: source line breaks are
// spaces, and invisible characters that split words go.
func FlatText(s string) string {
	if !strings.ContainsAny(s, "\r\n\u200b\ufeff\u00ad") {
		return s
	}
	return strings.NewReplacer("\r", " ", "\n", " ", "\u200b", "", "\ufeff", "", "\u00ad", "").Replace(s)
}

// OneLine collapses every run of Unicode white space into one space.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// NormLines collapses white space within lines and drops empty lines.
func NormLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = OneLine(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TrimCode keeps code as written, less trailing spaces and the blank
// lines around it.
func TrimCode(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRightFunc(l, unicode.IsSpace)
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	// Exporters often double blank lines; one is enough to read the code.
	var out []string
	for _, l := range lines {
		if l == "" && out[len(out)-1] == "" {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// Words splits class/id values into lower-case words at punctuation
// and camelCase boundaries: "shareButtons post-comments" → share buttons post comments.
func Words(s string) []string {
	var words []string
	var cur []rune
	prevLower := false
	end := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if unicode.IsUpper(r) && prevLower {
				end()
			}
			cur = append(cur, r)
			prevLower = unicode.IsLower(r)
		default:
			end()
			prevLower = false
		}
	}
	end()
	return words
}

// slugger makes GitHub-style heading anchors, unique within a document.
type slugger map[string]int

func (s slugger) slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case unicode.IsSpace(r):
			b.WriteByte('-')
		}
	}
	base := b.String()
	n := s[base]
	s[base] = n + 1
	if n == 0 {
		return base
	}
	return base + "-" + strconv.Itoa(n)
}

// LargestSrcset returns the URL of the largest candidate of a srcset:
// the widest "w" descriptor, else the highest density; a bare URL counts 1x.
func LargestSrcset(s string) string {
	best, bestW, bestX := "", -1.0, -1.0
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
	for i := 0; i < len(s); {
		for i < len(s) && (isSpace(s[i]) || s[i] == ',') {
			i++
		}
		start := i
		for i < len(s) && !isSpace(s[i]) {
			i++
		}
		u, desc := s[start:i], ""
		if strings.HasSuffix(u, ",") {
			u = strings.TrimRight(u, ",")
		} else {
			ds, depth := i, 0
			for ; i < len(s); i++ {
				c := s[i]
				if c == '(' {
					depth++
				} else if c == ')' && depth > 0 {
					depth--
				} else if c == ',' && depth == 0 {
					break
				}
			}
			desc = s[ds:i]
		}
		if u == "" {
			continue
		}
		w, x := -1.0, 1.0
		for _, f := range strings.Fields(desc) {
			v, err := strconv.ParseFloat(f[:len(f)-1], 64)
			if err != nil {
				continue
			}
			switch f[len(f)-1] {
			case 'w':
				w = v
			case 'x':
				x = v
			}
		}
		switch {
		case w >= 0 && w > bestW:
			best, bestW = u, w
		case w < 0 && bestW < 0 && x > bestX:
			best, bestX = u, x
		}
	}
	return best
}

// setContexts gives each image the text of the nearest prose blocks
// before and after it; at[i] is the number of blocks emitted before image i.
func setContexts(res *extract.Result, at []int) {
	prose := func(b extract.Block) bool {
		return b.Kind == extract.Paragraph || b.Kind == extract.List || b.Kind == extract.Quote
	}
	for i := range res.Images {
		if i >= len(at) {
			break
		}
		var parts []string
		for j := at[i] - 1; j >= 0 && j < len(res.Blocks); j-- {
			if prose(res.Blocks[j]) {
				parts = append(parts, cutText(res.Blocks[j].Text, contextChars, true))
				break
			}
		}
		for j := at[i]; j < len(res.Blocks); j++ {
			if prose(res.Blocks[j]) {
				parts = append(parts, cutText(res.Blocks[j].Text, contextChars, false))
				break
			}
		}
		res.Images[i].Context = strings.Join(parts, "\n")
	}
}

// cutText shortens s to about n characters at a word boundary, keeping its
// end (fromEnd) or its start.
func cutText(s string, n int, fromEnd bool) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if fromEnd {
		cut := r[len(r)-n:]
		if i := strings.IndexFunc(string(cut), unicode.IsSpace); i >= 0 && i < n/2 {
			return "…" + strings.TrimLeftFunc(string(cut)[i:], unicode.IsSpace)
		}
		return "…" + string(cut)
	}
	cut := string(r[:n])
	if i := strings.LastIndexFunc(cut, unicode.IsSpace); i > len(cut)/2 {
		cut = cut[:i]
	}
	return strings.TrimRightFunc(cut, unicode.IsSpace) + "…"
}

// Images loads the images a document references, each once.
type Images struct {
	fetch   func(ctx context.Context, url string) ([]byte, string, error)
	max     int64
	dir     string   // local folder relative references resolve against (absolute)
	root    string   // local files are read only inside this folder (absolute)
	baseURL *url.URL // set when they resolve against a web address instead
	cache   map[string]loaded
	refused []string // warnings for refused references, not yet reported
}

// refusedError is why a local reference is not read at all: it leads
// outside the folder the document may read from, or it is a file: URL.
type refusedError struct{ reason string }

func (e *refusedError) Error() string { return e.reason }

// errAllRefused is returned by first when every candidate was
// refused; the refusals themselves are already warnings.
var errAllRefused = errors.New("every candidate refused")

type loaded struct {
	img extract.Image
	err error
}

// NewImages loads the images of the document src: references resolve
// against src.Base (else the folder or URL of src.Path), local files are
// read only inside src.Root (else that folder), remote ones through fetch
// (nil: not fetched), each at most max bytes (0: 20 MiB).
func NewImages(fetch func(context.Context, string) ([]byte, string, error), max int64, src extract.Source) *Images {
	if max <= 0 {
		max = defaultMaxImageBytes
	}
	m := &Images{fetch: fetch, max: max, cache: map[string]loaded{}}
	base := src.Base
	if base == "" {
		if isWebURL(src.Path) {
			base = src.Path
		} else if src.Path != "" {
			base = filepath.Dir(src.Path)
		}
	}
	switch {
	case isWebURL(base):
		m.baseURL, _ = url.Parse(base)
	case strings.HasPrefix(strings.ToLower(base), "file://"):
		if u, err := url.Parse(base); err == nil {
			m.dir = filepath.FromSlash(u.Path)
		}
	default:
		m.dir = base
	}
	if m.dir != "" {
		m.dir = absPath(m.dir)
		m.root = m.dir
		if src.Root != "" {
			m.root = absPath(src.Root)
		}
	}
	return m
}

// absPath is the absolute, clean form of a local path; it stays as given
// when the working folder is unknown.
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}

func isWebURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// SetBaseHref applies an HTML <base href>.
func (m *Images) SetBaseHref(href string) {
	u, err := url.Parse(strings.TrimSpace(href))
	if err != nil || href == "" {
		return
	}
	switch {
	case u.Scheme == "http" || u.Scheme == "https":
		m.baseURL, m.dir = u, ""
	case u.Scheme != "":
		// file: and others are not followed.
	case m.baseURL != nil:
		m.baseURL = m.baseURL.ResolveReference(u)
	case m.dir != "" && u.Path != "":
		// The base may point anywhere; what is read from it is still
		// checked against the root, reference by reference.
		p := filepath.FromSlash(u.Path)
		if !strings.HasSuffix(u.Path, "/") {
			p = filepath.Dir(p)
		}
		if filepath.IsAbs(p) {
			m.dir = filepath.Clean(p)
		} else {
			m.dir = filepath.Join(m.dir, p)
		}
	}
}

// first returns the first candidate that loads as an image. Refused
// candidates are left to takeRefused; when every candidate was refused the
// error is errAllRefused.
func (m *Images) first(ctx context.Context, refs []string) (extract.Image, error) {
	var errs []string
	for i, ref := range refs {
		img, err := m.load(ctx, ref)
		if err == nil {
			return img, nil
		}
		if ctx.Err() != nil {
			return extract.Image{}, ctx.Err()
		}
		var refused *refusedError
		switch {
		case errors.As(err, &refused):
		case i == 0:
			errs = append(errs, err.Error())
		default:
			errs = append(errs, fmt.Sprintf("fallback %q: %v", shortRef(ref), err))
		}
	}
	if len(errs) == 0 {
		return extract.Image{}, errAllRefused
	}
	return extract.Image{}, errors.New(strings.Join(errs, "; "))
}

// takeRefused returns the warnings of the references refused since the
// last call, one per distinct reference.
func (m *Images) takeRefused() []string {
	out := m.refused
	m.refused = nil
	return out
}

func (m *Images) load(ctx context.Context, ref string) (extract.Image, error) {
	if l, ok := m.cache[ref]; ok {
		return l.img, l.err
	}
	img, err := m.loadNew(ctx, ref)
	if ctx.Err() == nil { // a cancelled load may succeed another time
		m.cache[ref] = loaded{img, err}
	}
	var refused *refusedError
	if errors.As(err, &refused) {
		m.refused = append(m.refused, fmt.Sprintf("image %q refused: %v", shortRef(ref), err))
	}
	return img, err
}

func (m *Images) loadNew(ctx context.Context, ref string) (extract.Image, error) {
	data, err := m.read(ctx, ref)
	if err != nil {
		return extract.Image{}, err
	}
	if len(data) == 0 {
		return extract.Image{}, errors.New("empty image")
	}
	img := extract.Image{Data: data, Src: shortRef(ref)}
	ct := http.DetectContentType(data)
	head := data
	if len(head) > 1024 {
		head = head[:1024]
	}
	switch {
	case strings.HasPrefix(ct, "image/"):
		img.MIME = ct
	case !strings.HasPrefix(ct, "text/html") && bytes.Contains(bytes.ToLower(head), []byte("<svg")):
		img.MIME = "image/svg+xml"
	default:
		return extract.Image{}, fmt.Errorf("not an image (content looks like %s)", strings.SplitN(ct, ";", 2)[0])
	}
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
		img.Width, img.Height = cfg.Width, cfg.Height
	}
	return img, nil
}

// shortRef keeps data: URIs readable in Src and warnings.
func shortRef(ref string) string {
	if len(ref) > 80 && strings.HasPrefix(strings.ToLower(ref), "data:") {
		return ref[:60] + "…"
	}
	return ref
}

func (m *Images) read(ctx context.Context, ref string) ([]byte, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, errors.New("empty src")
	}
	if strings.HasPrefix(strings.ToLower(ref), "data:") {
		return dataURI(ref, m.max)
	}
	u, err := url.Parse(ref)
	if err != nil {
		if strings.Contains(ref, "://") {
			return nil, fmt.Errorf("bad URL: %w", err)
		}
		// Not a URL but maybe a usable file name ("a:b.png").
		u = &url.URL{Path: ref}
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "http" || scheme == "https":
		return m.remote(ctx, u.String())
	case (scheme == "file" || len(scheme) == 1) && m.baseURL != nil:
		// A web page must not pull files from this machine.
		return nil, errors.New("local file referenced from a web document")
	case scheme == "file":
		// An absolute URL names any file of this machine; a document's
		// own assets are referenced by relative paths.
		return nil, &refusedError{"file: URLs are never read (reference the file by a path relative to the document)"}
	case len(scheme) == 1 && m.dir != "": // a Windows drive letter, or a name with a colon
		return m.readLocal(ctx, filepath.FromSlash(ref))
	case scheme != "":
		return nil, fmt.Errorf("unsupported URL scheme %q", u.Scheme)
	case u.Host != "": // protocol-relative //host/path
		u.Scheme = "https"
		if m.baseURL != nil {
			u.Scheme = m.baseURL.Scheme
		}
		return m.remote(ctx, u.String())
	case m.baseURL != nil:
		return m.remote(ctx, m.baseURL.ResolveReference(u).String())
	case u.Path == "":
		return nil, errors.New("no path in src")
	case m.dir == "":
		return nil, errors.New("relative src and no base folder to resolve it against")
	}
	return m.readLocal(ctx, filepath.FromSlash(u.Path))
}

// readLocal reads a local file named by a path relative to m.dir, or by an
// absolute one. Saved pages reference their assets with ../ paths, so
// leaving the document's folder is legitimate as far as the root reaches
// (Source.Root) and refused beyond it; symbolic links are followed only
// while they stay inside the root (os.Root enforces it).
func (m *Images) readLocal(ctx context.Context, p string) ([]byte, error) {
	full := p
	if !filepath.IsAbs(p) {
		full = filepath.Join(m.dir, p)
	}
	rel, err := filepath.Rel(m.root, filepath.Clean(full))
	if err != nil || !filepath.IsLocal(rel) {
		return nil, &refusedError{m.outsideReason("outside")}
	}
	return m.readFile(ctx, rel)
}

// outsideReason says which folder a refused reference left and how an
// operator allows more.
func (m *Images) outsideReason(how string) string {
	return fmt.Sprintf("%s %s, the folder this document may read from (ingest with --asset-root to allow a wider folder)", how, m.root)
}

// readFile reads rel, a path inside m.root, through an os.Root so that
// neither ".." nor a symbolic link can lead out of it.
func (m *Images) readFile(ctx context.Context, rel string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path := filepath.Join(m.root, rel) // for messages
	root, err := os.OpenRoot(m.root)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// Stat before opening: opening a named pipe would block.
	st, err := root.Stat(rel)
	if err != nil {
		return nil, m.openError(path, err)
	}
	if !st.Mode().IsRegular() { // folders, devices, pipes
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := root.Open(rel)
	if err != nil {
		return nil, m.openError(path, err)
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() { // replaced since the Stat above
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > m.max {
		return nil, fmt.Errorf("%s: %d bytes, over the %d-byte limit", path, st.Size(), m.max)
	}
	buf := bytes.NewBuffer(make([]byte, 0, st.Size()+bytes.MinRead))
	_, err = buf.ReadFrom(io.LimitReader(f, m.max+1))
	data := buf.Bytes()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > m.max {
		return nil, fmt.Errorf("%s: over the %d-byte limit", path, m.max)
	}
	return data, nil
}

// openError words a failure to open path inside the root: a symbolic link
// leading out is a refusal, anything else an ordinary error.
func (m *Images) openError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	// os.Root's error for an escape is not exported; its text is stable.
	if err.Error() == "path escapes from parent" {
		return &refusedError{m.outsideReason("a symbolic link on the way is absolute or leads outside")}
	}
	return fmt.Errorf("open %s: %w", path, err)
}

func (m *Images) remote(ctx context.Context, u string) ([]byte, error) {
	if m.fetch == nil {
		return nil, fmt.Errorf("remote image %s not fetched: no Fetch hook set", u)
	}
	data, _, err := m.fetch(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	if int64(len(data)) > m.max {
		return nil, fmt.Errorf("%s: %d bytes, over the %d-byte limit", u, len(data), m.max)
	}
	return data, nil
}

// dataURI decodes data:[<type>][;base64],<data>.
func dataURI(ref string, max int64) ([]byte, error) {
	comma := strings.IndexByte(ref, ',')
	if comma < 0 {
		return nil, errors.New("malformed data URI: no comma")
	}
	meta, payload := strings.ToLower(ref[len("data:"):comma]), ref[comma+1:]
	if !strings.HasSuffix(meta, ";base64") {
		s, err := url.PathUnescape(payload)
		if err != nil {
			return nil, fmt.Errorf("malformed data URI: %w", err)
		}
		if int64(len(s)) > max {
			return nil, fmt.Errorf("data URI: %d bytes, over the %d-byte limit", len(s), max)
		}
		return []byte(s), nil
	}
	payload = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, payload)
	if s, err := url.PathUnescape(payload); err == nil {
		payload = s // some writers percent-encode "+", "/" and "="
	}
	if int64(base64.StdEncoding.DecodedLen(len(payload))) > max+3 {
		return nil, fmt.Errorf("data URI: about %d bytes, over the %d-byte limit", base64.StdEncoding.DecodedLen(len(payload)), max)
	}
	payload = strings.TrimRight(payload, "=")
	data, err := base64.RawStdEncoding.DecodeString(payload)
	if err != nil {
		data, err = base64.RawURLEncoding.DecodeString(payload)
	}
	if err != nil {
		return nil, fmt.Errorf("malformed data URI: %w", err)
	}
	return data, nil
}

type openHeading struct {
	level  int
	text   string
	anchor string
}

// sections tracks the headings open at the current point.
type sections struct {
	heads []openHeading
	slugs slugger
}

// open starts a heading of level 1–6; id is its fragment, or "" to derive a
// slug from the text.
func (s *sections) open(level int, text, id string) {
	for len(s.heads) > 0 && s.heads[len(s.heads)-1].level >= level {
		s.heads = s.heads[:len(s.heads)-1]
	}
	// A title shown twice (page header, then article body) is one heading;
	// the later, in-content spelling and id win.
	if k := len(s.heads) - 1; k >= 0 && strings.EqualFold(s.heads[k].text, text) {
		s.heads[k].text = text
		if id != "" {
			s.heads[k].anchor = id
		}
		return
	}
	if id == "" {
		if s.slugs == nil {
			s.slugs = slugger{}
		}
		id = s.slugs.slug(text)
	}
	s.heads = append(s.heads, openHeading{level: level, text: text, anchor: id})
}

func (s *sections) place() extract.Place {
	if len(s.heads) == 0 {
		return extract.Place{}
	}
	p := extract.Place{Section: make([]string, len(s.heads)), Anchor: s.heads[len(s.heads)-1].anchor}
	for i, h := range s.heads {
		p.Section[i] = h.text
	}
	return p
}

// Out collects what a document walk emits.
type Out struct {
	ctx     context.Context
	res     *extract.Result
	imgs    *Images
	secs    *sections
	imageAt []int // per image: len(res.Blocks) when it was met
	err     error // set when ctx ends; the walk then stops
}

// NewOut collects the blocks and images of a walk into res, loading images
// with imgs; the walk stops when ctx ends.
func NewOut(ctx context.Context, res *extract.Result, imgs *Images) *Out {
	return &Out{ctx: ctx, res: res, imgs: imgs, secs: &sections{}}
}

// Emit adds a block of text at the current section; empty text is dropped.
func (o *Out) Emit(kind extract.BlockKind, text string) {
	if text == "" {
		return
	}
	o.res.Blocks = append(o.res.Blocks, extract.Block{Kind: kind, Text: text, Place: o.secs.place()})
}

// AddImage loads the first working candidate and records the image at the
// current place, or records a warning naming the preferred candidate.
func (o *Out) AddImage(cands []string, alt, caption, attrW, attrH string) {
	if o.err != nil || len(cands) == 0 {
		return
	}
	if err := o.ctx.Err(); err != nil {
		o.err = err
		return
	}
	img, err := o.imgs.first(o.ctx, cands)
	o.res.Warnings = append(o.res.Warnings, o.imgs.takeRefused()...)
	if err != nil {
		if o.ctx.Err() != nil {
			o.err = o.ctx.Err()
			return
		}
		if !errors.Is(err, errAllRefused) {
			o.res.Warnings = append(o.res.Warnings, fmt.Sprintf("image %q skipped: %v", shortRef(cands[0]), err))
		}
		return
	}
	if img.Width > 0 && img.Height > 0 && img.Width <= 2 && img.Height <= 2 {
		return // spacer or tracking pixel
	}
	if img.Width == 0 && img.Height == 0 {
		img.Width, _ = strconv.Atoi(strings.TrimSpace(attrW))
		img.Height, _ = strconv.Atoi(strings.TrimSpace(attrH))
	}
	img.Alt, img.Caption, img.Place = alt, caption, o.secs.place()
	o.res.Images = append(o.res.Images, img)
	o.imageAt = append(o.imageAt, len(o.res.Blocks))
}

// Err is the error that stopped the walk (the context ended), or nil.
func (o *Out) Err() error { return o.err }

// Warn records a recoverable problem in the result.
func (o *Out) Warn(msg string) { o.res.Warnings = append(o.res.Warnings, msg) }

// OpenSection starts a heading of level 1–6 at the current point; id is its
// fragment, or "" to derive a slug from the text.
func (o *Out) OpenSection(level int, text, id string) { o.secs.open(level, text, id) }

// Finish sets image contexts; it returns the error that stopped the walk.
func (o *Out) Finish() error {
	if o.err != nil {
		return o.err
	}
	setContexts(o.res, o.imageAt)
	return nil
}
