package server

import (
	"bytes"
	"container/list"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/image/draw"

	"mmrag"
	"mmrag/imageprep"
)

// Thumbnails come in a few fixed sizes, so that a client cannot make the
// server decode a picture once per distinct ?thumb= value: a request is
// served the smallest fixed size at least as large as it asked for.
var thumbSizes = []int{64, 128, 256, 512, 1024, 2048}

// Thumbnail limits: the smallest and largest edge asked for, and the
// decoding budget of one picture (declared pixels × bytes per pixel, as
// the decoder will allocate them). Larger pictures are served as stored.
const (
	minThumb       = 16
	maxThumb       = 2048
	maxThumbPixels = 50_000_000
	maxThumbDecode = 256 << 20
)

// thumbDecoders bounds the pictures decoded at once for thumbnails, all
// requests together: a decode holds its pixels until it is scaled.
const thumbDecoders = 2

// thumbWait bounds how long a thumbnail waits for a decoder;
// thumbReleaseAfter is the decode size after which memory is handed back
// to the system at once.
const (
	thumbWait         = 30 * time.Second
	thumbReleaseAfter = 64 << 20
)

// thumbSize rounds a requested edge up to a fixed size.
func thumbSize(n int) int {
	for _, s := range thumbSizes {
		if n <= s {
			return s
		}
	}
	return thumbSizes[len(thumbSizes)-1]
}

// imageCSP replaces the page policy on pictures: an SVG opened on its own
// must not run script or load anything.
const imageCSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

// handleImage serves an image item's picture: the stored bytes, or with
// ?thumb=N a thumbnail whose longest edge is at most N pixels.
func (s *Server) handleImage(w http.ResponseWriter, r *http.Request) {
	thumb := 0
	if v := r.URL.Query().Get("thumb"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minThumb || n > maxThumb {
			s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("thumb %q: want a size from %d to %d pixels", v, minThumb, maxThumb))
			return
		}
		thumb = thumbSize(n)
	}
	it, err := s.cfg.Store.Item(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if it.Modality != mmrag.Image || it.BlobHash == "" {
		s.fail(w, r, http.StatusNotFound, "item "+it.ID+" has no picture")
		return
	}
	etag := `"` + it.BlobHash + `"`
	if thumb > 0 {
		etag = `"` + it.BlobHash + "-" + strconv.Itoa(thumb) + `"`
	}
	// Content-addressed: the bytes under a hash never change.
	if notModified(w, r, etag, 86400) {
		return
	}
	var (
		data []byte
		mime string
	)
	if thumb > 0 {
		data, mime, err = s.thumbnail(r, it, thumb)
	} else {
		data, err = s.cfg.Store.Blob(r.Context(), it.BlobHash)
		mime = imageMIME(it.MIME, data)
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeImage(w, r, mime, data)
}

// imageMIME trusts the stored type when it names an image and sniffs
// otherwise, so that a stored type can never make a picture into a page.
func imageMIME(stored string, data []byte) string {
	if strings.HasPrefix(stored, "image/") {
		return stored
	}
	if m := http.DetectContentType(data); strings.HasPrefix(m, "image/") {
		return m
	}
	return "application/octet-stream"
}

// thumbnail returns the cached thumbnail of it, making it when missing:
// requests for the same thumbnail share one decode (single flight), and
// at most thumbDecoders decodes run at once. Pictures already small
// enough, over the decoding budget, or that cannot be decoded (SVG) are
// served as stored.
func (s *Server) thumbnail(r *http.Request, it mmrag.Item, size int) ([]byte, string, error) {
	key := it.BlobHash + "/" + strconv.Itoa(size)
	if t, ok := s.thumbs.get(key); ok {
		return t.data, t.mime, nil
	}
	v, err, _ := s.thumbFlight.Do(key, func() (any, error) {
		return s.makeThumbnail(r, it, size, key)
	})
	if err != nil {
		return nil, "", err
	}
	t := v.(thumb)
	return t.data, t.mime, nil
}

// makeThumbnail decodes and scales one picture for every request waiting
// on key: it does not stop when the first of them goes away.
func (s *Server) makeThumbnail(r *http.Request, it mmrag.Item, size int, key string) (thumb, error) {
	if t, ok := s.thumbs.get(key); ok { // made while this request waited
		return t, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), thumbWait)
	defer cancel()
	data, err := s.cfg.Store.Blob(ctx, it.BlobHash)
	if err != nil {
		return thumb{}, err
	}
	select {
	case s.thumbSem <- struct{}{}:
	case <-ctx.Done():
		return thumb{}, fmt.Errorf("%w: too many pictures being scaled; try again", ErrUnavailable)
	}
	t, cost, err := makeThumb(data, size)
	<-s.thumbSem
	if cost >= thumbReleaseAfter {
		// A large decode leaves its pixels to the collector; hand the
		// memory back to the system now rather than keep the peak.
		debug.FreeOSMemory()
	}
	if err != nil {
		s.log.Debug("no thumbnail: serving the picture as stored", "request_id", RequestID(r.Context()), "item", it.ID, "err", err)
		t = thumb{data: data, mime: imageMIME(it.MIME, data)}
	}
	s.thumbs.put(key, t)
	return t, nil
}

// decodeCost is what decoding data will allocate for its pixels, from
// the header alone.
func decodeCost(data []byte) (int64, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	bpp := int64(4)
	switch cfg.ColorModel {
	case color.RGBA64Model, color.NRGBA64Model:
		bpp = 8
	case color.Gray16Model:
		bpp = 2
	case color.GrayModel, color.AlphaModel:
		bpp = 1
	}
	return int64(cfg.Width) * int64(cfg.Height) * bpp, nil
}

// webFormat says whether browsers show the format.
func webFormat(f string) bool {
	return f == "png" || f == "jpeg" || f == "gif" || f == "webp"
}

type thumb struct {
	data []byte
	mime string
}

// makeThumb scales data so that its longest edge is size, upright
// (EXIF orientation applied), as JPEG or, with transparency, PNG.
// It returns the bytes the decode allocated for pixels.
func makeThumb(data []byte, size int) (thumb, int64, error) {
	cost, err := decodeCost(data)
	if err != nil {
		return thumb{}, 0, err
	}
	if cost > maxThumbDecode {
		return thumb{}, 0, fmt.Errorf("decoding would take %d MiB, over the %d MiB budget", cost>>20, maxThumbDecode>>20)
	}
	t, err := scaleThumb(data, size)
	return t, cost, err
}

func scaleThumb(data []byte, size int) (thumb, error) {
	img, info, err := imageprep.Decode(data, imageprep.Limits{MaxPixels: maxThumbPixels})
	if err != nil {
		return thumb{}, err
	}
	img = imageprep.Orient(img, info.Orientation)
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= size && h <= size && info.Orientation <= 1 && webFormat(info.Format) {
		return thumb{data: data, mime: "image/" + info.Format}, nil
	}
	switch {
	case w <= size && h <= size: // re-encoded only to turn it upright or into a web format
	case w >= h:
		w, h = size, max(1, h*size/w)
	default:
		w, h = max(1, w*size/h), size
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	var buf bytes.Buffer
	if dst.Opaque() {
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85})
		return thumb{data: buf.Bytes(), mime: "image/jpeg"}, err
	}
	err = png.Encode(&buf, dst)
	return thumb{data: buf.Bytes(), mime: "image/png"}, err
}

// thumbCache keeps recent thumbnails in memory, least recently used
// evicted first once they pass a byte budget.
type thumbCache struct {
	mu     sync.Mutex
	budget int
	size   int
	lru    *list.List // of *thumbEntry, most recent first
	byKey  map[string]*list.Element
}

type thumbEntry struct {
	key string
	thumb
}

func newThumbCache(budget int) *thumbCache {
	return &thumbCache{budget: budget, lru: list.New(), byKey: map[string]*list.Element{}}
}

func (c *thumbCache) get(key string) (thumb, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return thumb{}, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*thumbEntry).thumb, true
}

func (c *thumbCache) put(key string, t thumb) {
	if len(t.data) > c.budget/8 {
		return // one huge picture would flush everything else
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; ok {
		return
	}
	c.byKey[key] = c.lru.PushFront(&thumbEntry{key: key, thumb: t})
	c.size += len(t.data)
	for c.size > c.budget {
		e := c.lru.Back()
		te := e.Value.(*thumbEntry)
		c.lru.Remove(e)
		delete(c.byKey, te.key)
		c.size -= len(te.data)
	}
}

// notModified sets the caching headers of an image response with etag,
// kept maxAge seconds, and answers 304 (returning true) when the client
// holds that version already.
func notModified(w http.ResponseWriter, r *http.Request, etag string, maxAge int) bool {
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age="+strconv.Itoa(maxAge))
	h.Set("Content-Security-Policy", imageCSP)
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	return false
}

// writeImage answers with an image's bytes (only its headers to HEAD).
func writeImage(w http.ResponseWriter, r *http.Request, mime string, data []byte) {
	h := w.Header()
	h.Set("Content-Type", mime)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}
