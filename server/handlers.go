package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"mmrag"
)

// decode reads a JSON body into v. strict refuses unknown fields, so that
// a misspelt option is an error instead of silently ignored. It answers
// the request itself when it returns false.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any, strict bool) bool {
	status, err := decodeBody(w, r, v, strict)
	if err != nil {
		s.fail(w, r, status, err.Error())
		return false
	}
	return true
}

// decodeBody reads a JSON body into v, returning the status and reason of
// a refusal.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, strict bool) (int, error) {
	return decodeBodyLimit(w, r, v, strict, DefaultMaxJSONBytes)
}

// decodeBodyLimit is decodeBody with a limit of its own: bodies that may
// carry a picture are larger.
func decodeBodyLimit(w http.ResponseWriter, r *http.Request, v any, strict bool, limit int64) (int, error) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	if strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	if err == nil {
		// One value only: trailing data means the client sent something else.
		var extra json.RawMessage
		if dec.Decode(&extra) != io.EOF {
			err = errors.New("unexpected data after the JSON value")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, errors.New("empty request body: want a JSON object")
	}
	return http.StatusBadRequest, fmt.Errorf("bad JSON: %w", err)
}

// Valid values of the request enums.
var (
	modes      = []string{"reference", "cosine", "hybrid"}
	strategies = []string{"text", "text+images", "multimodal"}
)

// check validates the options as openapi.json describes them; engines
// check the finer points (a threshold a mode cannot reach).
func (o SearchOptions) check() error {
	if o.Mode != "" && !slices.Contains(modes, o.Mode) {
		return fmt.Errorf("mode %q: want one of %s", o.Mode, strings.Join(modes, ", "))
	}
	if o.TextK != nil && (*o.TextK < 0 || *o.TextK > 100) {
		return fmt.Errorf("text_k %d: want 0 to 100", *o.TextK)
	}
	if o.ImageK != nil && (*o.ImageK < 0 || *o.ImageK > 50) {
		return fmt.Errorf("image_k %d: want 0 to 50", *o.ImageK)
	}
	if o.TextK != nil && o.ImageK != nil && *o.TextK == 0 && *o.ImageK == 0 {
		return errors.New("text_k and image_k are both 0: nothing to search")
	}
	if _, err := cleanCollections(o.Collections); err != nil {
		return err
	}
	for name, t := range map[string]*float64{"text_threshold": o.TextThreshold, "image_threshold": o.ImageThreshold} {
		if t != nil && (math.IsNaN(*t) || math.IsInf(*t, 0) || *t > 1 || *t < -1) {
			return fmt.Errorf("%s %v: want a number from -1 to 1", name, *t)
		}
	}
	return nil
}

func (q *AskRequest) check() error {
	q.Question = strings.TrimSpace(q.Question)
	if q.Question == "" && q.Image == nil && q.Like == "" {
		return errors.New("missing question")
	}
	if q.Image != nil && q.Like != "" {
		return errors.New("both an image and like: ask with one")
	}
	if err := q.SearchOptions.check(); err != nil {
		return err
	}
	if q.Strategy != "" && !slices.Contains(strategies, q.Strategy) {
		return fmt.Errorf("strategy %q: want one of %s", q.Strategy, strings.Join(strategies, ", "))
	}
	if t := q.Temperature; t != nil && (math.IsNaN(*t) || *t < 0 || *t > 2) {
		return fmt.Errorf("temperature %v: want 0 to 2", *t)
	}
	if q.MaxTokens < 0 {
		return fmt.Errorf("max_tokens %d is negative", q.MaxTokens)
	}
	for i, t := range q.History {
		if t.Role != "user" && t.Role != "assistant" {
			return fmt.Errorf("history[%d]: role %q: want user or assistant", i, t.Role)
		}
	}
	return nil
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	var req SearchRequest
	if !s.decodeQuery(w, r, &req, &req.ImageQuery) {
		return
	}
	req.Query = strings.TrimSpace(req.Query)
	given := 0
	for _, set := range []bool{req.Query != "", req.Image != nil, req.Like != ""} {
		if set {
			given++
		}
	}
	if given != 1 {
		msg := "missing query: search with a query, an image or like (an item id)"
		if given > 1 {
			msg = "search with one of a query, an image or like (an item id), not several"
		}
		s.fail(w, r, http.StatusBadRequest, msg)
		return
	}
	if err := req.check(); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	start := time.Now()
	res, err := s.cfg.Engine.Search(r.Context(), req)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.decorate(res)
	if res.TookMS == 0 {
		res.TookMS = ms(time.Since(start))
	}
	writeJSON(w, http.StatusOK, res)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (s *Server) handleAsk(w http.ResponseWriter, r *http.Request) {
	var req AskRequest
	if !s.decodeQuery(w, r, &req, &req.ImageQuery) {
		return
	}
	if err := req.check(); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	chat, ok := s.openChat(w, r, &req)
	if !ok {
		return
	}
	if req.Stream || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		s.streamAsk(w, r, req, chat)
		return
	}
	start := time.Now()
	var onToken func(string) error
	if chat != nil { // what was written when the client stops it is kept
		onToken = func(tok string) error { chat.onToken(tok); return nil }
	}
	ans, err := s.cfg.Engine.Ask(r.Context(), req, nil, onToken)
	if err != nil {
		chat.finish(r.Context(), nil, err)
		s.failErr(w, r, err)
		return
	}
	s.decorate(&ans.Sources)
	if ans.TookMS == 0 {
		ans.TookMS = ms(time.Since(start))
	}
	ans.Conversation = chat.finish(r.Context(), ans, nil)
	writeJSON(w, http.StatusOK, ans)
}

// streamAsk answers with Server-Sent Events: sources, token…, done; or
// error, once the stream has started. A client that goes away cancels
// the request's context, and with it the generation: the engine returns
// and the next question does not wait behind it.
func (s *Server) streamAsk(w http.ResponseWriter, r *http.Request, req AskRequest, chat *chatLog) {
	ctx, cancel := s.streamContext(r)
	defer cancel()
	start := time.Now()
	es := newEventStream(w)
	defer es.stop()
	ans, err := s.cfg.Engine.Ask(ctx, req,
		func(src *SearchResponse) error {
			s.decorate(src)
			chat.onSources(src)
			return chat.sent(es.send("sources", src))
		},
		func(tok string) error {
			chat.onToken(tok)
			return chat.sent(es.send("token", map[string]string{"text": tok}))
		})
	if err != nil {
		chat.finish(ctx, nil, err)
		_, msg := s.publicError(r, err)
		_ = es.send("error", errorBody{Error: msg, RequestID: RequestID(r.Context())})
		return
	}
	s.decorate(&ans.Sources)
	if ans.TookMS == 0 {
		ans.TookMS = ms(time.Since(start))
	}
	ans.Conversation = chat.finish(ctx, ans, nil)
	_ = es.send("done", ans)
}

func (s *Server) handleDocuments(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	docs, err := s.cfg.Store.Documents(ctx, mmrag.Filter{})
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	counts, err := s.cfg.Store.CountItems(ctx, mmrag.Filter{})
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	cols, err := s.documentCollections(ctx)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	out := make([]DocumentView, 0, len(docs))
	for _, d := range docs {
		v := s.documentView(d, counts[d.ID][mmrag.Text]+counts[d.ID][mmrag.Image])
		if c := cols[d.ID]; c != nil {
			v.Collections = c
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"documents": out})
}

func (s *Server) handleDocument(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	doc, err := s.cfg.Store.Document(r.Context(), id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	items, err := s.cfg.Store.Items(r.Context(), id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	views := make([]ItemView, len(items))
	for i, it := range items {
		views[i] = itemView(it)
	}
	cols, err := s.documentCollections(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	v := s.documentView(doc, len(items))
	if c := cols[doc.ID]; c != nil {
		v.Collections = c
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"document": v, "items": views, "passages": passageViews(items),
	})
}

func (s *Server) handleDeleteDocument(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	doc, err := s.cfg.Store.Document(r.Context(), id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if err := s.cfg.Store.DeleteDocument(r.Context(), id); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.forgetDocument(r.Context(), id)
	s.removeUpload(r.Context(), doc.Source)
	s.log.Info("document deleted", "request_id", RequestID(r.Context()), "doc", id, "source", doc.Source)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleItem(w http.ResponseWriter, r *http.Request) {
	it, err := s.cfg.Store.Item(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, itemView(it))
}

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) {
	st := s.cfg.Settings
	st.Ready, st.WarmupError = s.ready()
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ready, _ := s.ready()
	writeJSON(w, http.StatusOK, map[string]any{
		"status":   "ok",
		"version":  s.cfg.Version,
		"uptime_s": math.Round(time.Since(s.started).Seconds()),
		"ready":    ready,
	})
}

// static serves an embedded file with an ETag; browsers revalidate, so a
// new binary's UI shows at once. A client that accepts gzip gets the file
// compressed once, at start (the UI's scripts and styles shrink to about a
// quarter), under an ETag of its own.
func (s *Server) static(name, contentType string) http.HandlerFunc {
	data, err := assets.ReadFile(name)
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	gzEtag := `"` + hex.EncodeToString(sum[:8]) + `-gz"`
	gz := gzipped(data)
	return func(w http.ResponseWriter, r *http.Request) {
		if err != nil { // cannot happen: the files are embedded at build time
			s.failErr(w, r, fmt.Errorf("embedded %s: %w", name, err))
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", "no-cache")
		h.Add("Vary", "Accept-Encoding")
		body, tag := data, etag
		if gz != nil && acceptsGzip(r.Header.Values("Accept-Encoding")) {
			body, tag = gz, gzEtag
			h.Set("Content-Encoding", "gzip")
		}
		h.Set("ETag", tag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}
}

// gzipped returns data gzip-compressed, or nil where that saves too
// little to be worth a second representation.
func gzipped(data []byte) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // a valid level: no error
	zw.Write(data)
	zw.Close()
	if b.Len() > len(data)*9/10 {
		return nil
	}
	return b.Bytes()
}

// acceptsGzip reports whether Accept-Encoding headers allow gzip: named
// with q > 0, or not named and "*" with q > 0.
func acceptsGzip(values []string) bool {
	named, star := -1.0, -1.0
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			switch strings.ToLower(strings.TrimSpace(coding)) {
			case "gzip":
				named = quality(params)
			case "*":
				star = quality(params)
			}
		}
	}
	if named >= 0 {
		return named > 0
	}
	return star > 0
}

// quality is the q parameter of an Accept-Encoding entry's parameters, 1
// when absent or unreadable.
func quality(params string) float64 {
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return q
			}
		}
	}
	return 1
}

// loginPage asks a browser for the token once; the answer is a session
// cookie, so that the UI's page and pictures load like any page.
var loginPage = template.Must(template.ParseFS(assets, "web/login.html"))

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, http.StatusOK, "")
}

func (s *Server) renderLogin(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, map[string]any{"Error": msg, "NoToken": s.cfg.Token == ""})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.renderLogin(w, http.StatusBadRequest, "Could not read the form.")
		return
	}
	if s.cfg.Token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if wait := s.guard.blocked(r); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		s.renderLogin(w, http.StatusTooManyRequests, fmt.Sprintf("Too many wrong tokens: try again in %.0f s.", math.Ceil(wait.Seconds())))
		return
	}
	if !equal(r.PostForm.Get("token"), s.cfg.Token) {
		s.guard.failed(r)
		s.log.Warn("login with a wrong token", "request_id", RequestID(r.Context()), "remote", r.RemoteAddr)
		s.renderLogin(w, http.StatusUnauthorized, "Wrong token.")
		return
	}
	s.guard.succeeded(r)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: s.sessionValue(), Path: "/",
		MaxAge: 30 * 24 * 3600, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
