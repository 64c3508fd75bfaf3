package server

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"mmrag"
)

// latencyBuckets span a cached thumbnail (ms) to a long streamed answer.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	count  uint64
}

// metrics holds the request counters; the other series are read from the
// store, the job queue and the engine when scraped.
type metrics struct {
	mu       sync.Mutex
	latency  map[string]*histogram // by route pattern
	requests map[routeCode]uint64
}

type routeCode struct {
	route string
	code  int
}

func newMetrics() *metrics {
	return &metrics{latency: map[string]*histogram{}, requests: map[routeCode]uint64{}}
}

func (m *metrics) observe(route string, code int, d time.Duration) {
	secs := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.latency[route]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.latency[route] = h
	}
	for i, le := range latencyBuckets {
		if secs <= le {
			h.counts[i]++
			break
		}
	}
	h.sum += secs
	h.count++
	m.requests[routeCode{route, code}]++
}

// labelValue escapes a Prometheus label value.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// routeLabels splits a pattern "METHOD /path" into its labels.
func routeLabels(pattern string) string {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	return `method="` + labelValue(method) + `",route="` + labelValue(path) + `"`
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// handleMetrics writes the Prometheus text format (version 0.0.4).
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	b := bufio.NewWriter(w)
	defer b.Flush()
	family := func(name, typ, help string) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}

	s.metrics.mu.Lock()
	family("mmrag_http_request_duration_seconds", "histogram", "Time to answer a request by route; streamed answers count until their end.")
	for _, route := range slices.Sorted(maps.Keys(s.metrics.latency)) {
		h, l := s.metrics.latency[route], routeLabels(route)
		var cum uint64
		for i, le := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(b, "mmrag_http_request_duration_seconds_bucket{%s,le=\"%s\"} %d\n", l, num(le), cum)
		}
		fmt.Fprintf(b, "mmrag_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", l, h.count)
		fmt.Fprintf(b, "mmrag_http_request_duration_seconds_sum{%s} %s\n", l, num(h.sum))
		fmt.Fprintf(b, "mmrag_http_request_duration_seconds_count{%s} %d\n", l, h.count)
	}
	family("mmrag_http_requests_total", "counter", "Requests answered by route and status code.")
	keys := slices.SortedFunc(maps.Keys(s.metrics.requests), func(a, b routeCode) int {
		if c := strings.Compare(a.route, b.route); c != 0 {
			return c
		}
		return a.code - b.code
	})
	for _, k := range keys {
		fmt.Fprintf(b, "mmrag_http_requests_total{%s,code=\"%d\"} %d\n", routeLabels(k.route), k.code, s.metrics.requests[k])
	}
	s.metrics.mu.Unlock()

	family("mmrag_jobs", "gauge", "Ingest jobs kept in memory by state.")
	counts := s.jobs.counts()
	for _, st := range jobStates {
		fmt.Fprintf(b, "mmrag_jobs{state=%q} %d\n", st, counts[st])
	}

	if s.cfg.Embeddings != nil {
		family("mmrag_embeddings_total", "counter", "Embeddings computed (texts and images, ingest and queries); rate() gives embeddings per second.")
		fmt.Fprintf(b, "mmrag_embeddings_total %d\n", s.cfg.Embeddings())
	}

	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	st, err := s.cfg.Store.Stats(ctx)
	family("mmrag_store_up", "gauge", "1 when the store answered its statistics.")
	if err != nil {
		s.log.Warn("metrics: store statistics", "request_id", RequestID(r.Context()), "err", err)
		fmt.Fprintln(b, "mmrag_store_up 0")
	} else {
		fmt.Fprintln(b, "mmrag_store_up 1")
		family("mmrag_documents", "gauge", "Documents in the knowledge base.")
		fmt.Fprintf(b, "mmrag_documents %d\n", st.Documents)
		family("mmrag_items", "gauge", "Items (text chunks and images) in the knowledge base by modality.")
		for _, m := range []string{"text", "image"} {
			fmt.Fprintf(b, "mmrag_items{modality=%q} %d\n", m, st.Items[mmrag.Modality(m)])
		}
		family("mmrag_vectors", "gauge", "Stored vectors by embedding model.")
		for _, model := range slices.Sorted(maps.Keys(st.Vectors)) {
			fmt.Fprintf(b, "mmrag_vectors{model=\"%s\"} %d\n", labelValue(model), st.Vectors[model])
		}
		family("mmrag_blobs", "gauge", "Stored image blobs.")
		fmt.Fprintf(b, "mmrag_blobs %d\n", st.Blobs)
		family("mmrag_blob_bytes", "gauge", "Bytes of the stored image blobs.")
		fmt.Fprintf(b, "mmrag_blob_bytes %d\n", st.BlobBytes)
	}
	family("mmrag_start_time_seconds", "gauge", "Unix time the server started.")
	fmt.Fprintf(b, "mmrag_start_time_seconds %d\n", s.started.Unix())
}
