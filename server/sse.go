package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// keepAlive is how often an idle stream gets a comment line, so that
// proxies do not close it while the LLM thinks.
const keepAlive = 15 * time.Second

// eventStream writes Server-Sent Events. Writes are serialised: an engine
// may call back from its own goroutines, and the keep-alive ticks
// meanwhile.
type eventStream struct {
	mu   sync.Mutex
	w    http.ResponseWriter
	rc   *http.ResponseController
	err  error
	done chan struct{}
}

func newEventStream(w http.ResponseWriter) *eventStream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	es := &eventStream{w: w, rc: http.NewResponseController(w), done: make(chan struct{})}
	es.rc.Flush()
	go es.keepAlive()
	return es
}

func (es *eventStream) keepAlive() {
	t := time.NewTicker(keepAlive)
	defer t.Stop()
	for {
		select {
		case <-es.done:
			return
		case <-t.C:
			es.write([]byte(": keep-alive\n\n"))
		}
	}
}

// send writes one event; data is JSON, which never holds a raw newline.
func (es *eventStream) send(event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	msg := make([]byte, 0, len(b)+len(event)+16)
	if event != "" {
		msg = append(append(append(msg, "event: "...), event...), '\n')
	}
	msg = append(append(append(msg, "data: "...), b...), "\n\n"...)
	return es.write(msg)
}

// sendRaw writes a data-only event as given (OpenAI's "[DONE]").
func (es *eventStream) sendRaw(data string) error {
	return es.write([]byte("data: " + data + "\n\n"))
}

func (es *eventStream) write(b []byte) error {
	es.mu.Lock()
	defer es.mu.Unlock()
	if es.err != nil {
		return es.err
	}
	if _, err := es.w.Write(b); err != nil {
		es.err = err
		return err
	}
	if err := es.rc.Flush(); err != nil {
		es.err = err
	}
	return es.err
}

func (es *eventStream) stop() {
	select {
	case <-es.done:
	default:
		close(es.done)
	}
}

// streamContext is the request's context, also cancelled when the server
// shuts down: a stream would otherwise hold the shutdown for its whole
// grace period.
func (s *Server) streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.streams, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}
