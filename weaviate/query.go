package weaviate

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/weaviate/weaviate-go-client/v5/weaviate/fault"
	"github.com/weaviate/weaviate-go-client/v5/weaviate/filters"
	"github.com/weaviate/weaviate-go-client/v5/weaviate/graphql"
	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"mmrag"
)

// query is one gRPC search request.
type query struct {
	class   string
	where   *filters.WhereBuilder
	limit   int
	after   string // cursor: the last UUID of the previous page
	props   []string
	vectors []string // named vectors to return
	near    []float32
	target  string // named vector searched by near
	bm25    string
	bm25On  []string
	sort    []graphql.Sort
}

// result is one object of a search answer.
type result struct {
	id      string
	props   props
	score   float32 // dot product for near, BM25 for bm25
	vectors map[string][]float32
}

// run sends q, retrying transient failures.
func (s *Store) run(ctx context.Context, q query) ([]result, error) {
	var out []graphql.SearchResult
	err := s.retry(ctx, func() error {
		req := s.client.Experimental().Search().
			WithCollection(q.class).
			WithLimit(q.limit).
			WithConsistencyLevel(s.cl).
			WithProperties(q.props...).
			WithMetadata(&graphql.Metadata{ID: true, Distance: q.near != nil, Score: q.bm25 != "", Vectors: q.vectors})
		if q.where != nil {
			req = req.WithWhere(q.where)
		}
		if q.after != "" {
			req = req.WithAfter(q.after)
		}
		if q.near != nil {
			nv := (&graphql.NearVectorArgumentBuilder{}).WithVector(q.near).WithTargetVectors(q.target)
			req = req.WithNearVector(nv)
		}
		if q.bm25 != "" {
			req = req.WithBM25((&graphql.BM25ArgumentBuilder{}).WithQuery(q.bm25).WithProperties(q.bm25On...))
		}
		if len(q.sort) > 0 {
			req = req.WithSort(q.sort...)
		}
		var err error
		out, err = req.Do(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.class, err)
	}
	res := make([]result, len(out))
	for i, r := range out {
		res[i] = result{id: r.ID, props: props(r.Properties)}
		switch {
		case q.near != nil:
			// Distance "dot" is the negated dot product.
			res[i].score = -r.Metadata.Distance
		case q.bm25 != "":
			res[i].score = r.Metadata.Score
		}
		if len(r.Vectors) > 0 {
			res[i].vectors = make(map[string][]float32, len(r.Vectors))
			for name, v := range r.Vectors {
				if f := v.GetVector(); len(f) > 0 {
					res[i].vectors[name] = f
				}
			}
		}
	}
	return res, nil
}

// scan calls fn for every object of class, in UUID order, through the
// cursor API (which takes neither filters nor a search).
func (s *Store) scan(ctx context.Context, class string, propNames, vectors []string, fn func([]result) error) error {
	page := min(1000, s.cfg.MaxResults)
	after := ""
	for {
		res, err := s.run(ctx, query{class: class, limit: page, after: after, props: propNames, vectors: vectors})
		if tooLarge(err) && page > 1 {
			page /= 2
			continue
		}
		if err != nil {
			return err
		}
		if len(res) == 0 {
			return nil
		}
		if err := fn(res); err != nil {
			return err
		}
		if len(res) < page {
			return nil
		}
		after = res[len(res)-1].id
	}
}

// count counts the objects of class matching where.
func (s *Store) count(ctx context.Context, class string, where *filters.WhereBuilder) (int, error) {
	vals, err := s.aggregate(ctx, class, where, graphql.Field{Name: "meta", Fields: []graphql.Field{{Name: "count"}}})
	if err != nil {
		return 0, err
	}
	return int(vals["meta.count"]), nil
}

// aggregate runs a GraphQL Aggregate and returns its numbers by path
// ("meta.count", "size.sum").
func (s *Store) aggregate(ctx context.Context, class string, where *filters.WhereBuilder, fields ...graphql.Field) (map[string]float64, error) {
	rows, err := s.aggregateRows(ctx, class, where, "", 0, fields...)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	if len(rows) == 0 {
		return out, nil
	}
	for k, v := range rows[0] {
		m, _ := v.(map[string]any)
		for k2, v2 := range m {
			if f, ok := v2.(float64); ok {
				out[k+"."+k2] = f
			}
		}
	}
	return out, nil
}

// countBy counts the objects of class matching where per value of the
// property prop, for at most groups values.
func (s *Store) countBy(ctx context.Context, class, prop string, where *filters.WhereBuilder, groups int) (map[string]int, error) {
	rows, err := s.aggregateRows(ctx, class, where, prop, groups,
		graphql.Field{Name: "groupedBy", Fields: []graphql.Field{{Name: "value"}}},
		graphql.Field{Name: "meta", Fields: []graphql.Field{{Name: "count"}}})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range rows {
		by, _ := r["groupedBy"].(map[string]any)
		meta, _ := r["meta"].(map[string]any)
		v, _ := by["value"].(string)
		n, _ := meta["count"].(float64)
		out[v] += int(n)
	}
	return out, nil
}

// aggregateRows runs a GraphQL Aggregate, grouped by the property groupBy
// (at most limit groups) unless it is empty, and returns its rows.
func (s *Store) aggregateRows(ctx context.Context, class string, where *filters.WhereBuilder, groupBy string, limit int, fields ...graphql.Field) ([]map[string]any, error) {
	var rows []map[string]any
	err := s.retry(ctx, func() error {
		rows = nil
		agg := s.client.GraphQL().Aggregate().WithClassName(class).WithFields(fields...)
		if where != nil {
			agg = agg.WithWhere(where)
		}
		if groupBy != "" {
			agg = agg.WithGroupBy(groupBy).WithLimit(limit)
		}
		resp, err := agg.Do(ctx)
		if err != nil {
			return err
		}
		if len(resp.Errors) > 0 {
			var msgs []string
			for _, e := range resp.Errors {
				msgs = append(msgs, e.Message)
			}
			return &fault.WeaviateClientError{StatusCode: http.StatusUnprocessableEntity, Msg: strings.Join(msgs, "; ")}
		}
		data, _ := resp.Data["Aggregate"].(map[string]any)
		list, _ := data[class].([]any)
		for _, r := range list {
			if m, ok := r.(map[string]any); ok {
				rows = append(rows, m)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("aggregate %s: %w", class, err)
	}
	return rows, nil
}

// retry runs fn until it succeeds, fails for good, or the retries are
// spent, waiting 250ms, 500ms, 1s… between tries.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	wait := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || attempt >= s.cfg.Retries || !transient(ctx, err) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// transient reports whether err may go away on its own: a lost connection,
// a node down, an overloaded server — not a request the server refused.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil || tooLarge(err) {
		return false
	}
	var we *fault.WeaviateClientError
	if errors.As(err, &we) && we.IsUnexpectedStatusCode {
		return we.StatusCode >= 500 || we.StatusCode == http.StatusTooManyRequests
	}
	if st, ok := status.FromError(errors.Unwrap(err)); ok {
		return retryableCode(st.Code())
	}
	if st, ok := status.FromError(err); ok {
		return retryableCode(st.Code())
	}
	return true
}

// tooLarge reports whether an answer exceeded the client's gRPC message
// limit (4 MiB, not configurable in the client): the caller asks for fewer
// objects at a time.
func tooLarge(err error) bool {
	if err == nil {
		return false
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if st, ok := status.FromError(e); ok && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max") {
			return true
		}
	}
	return false
}

func retryableCode(c codes.Code) bool {
	switch c {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.Unauthenticated, codes.FailedPrecondition, codes.Unimplemented, codes.OutOfRange:
		return false
	}
	return true
}

// Filters.

func where(prop string, op filters.WhereOperator) *filters.WhereBuilder {
	return filters.Where().WithPath([]string{prop}).WithOperator(op)
}

func eq(prop, v string) *filters.WhereBuilder { return where(prop, filters.Equal).WithValueText(v) }

func anyOf(prop string, vs []string) *filters.WhereBuilder {
	return where(prop, filters.ContainsAny).WithValueText(vs...)
}

func and(ws ...*filters.WhereBuilder) *filters.WhereBuilder {
	var keep []*filters.WhereBuilder
	for _, w := range ws {
		if w != nil {
			keep = append(keep, w)
		}
	}
	switch len(keep) {
	case 0:
		return nil
	case 1:
		return keep[0]
	}
	return filters.Where().WithOperator(filters.And).WithOperands(keep)
}

// prefixRange selects the hex-encoded strings of prop whose decoded bytes
// start with prefix: hex keeps byte order, and field tokenization leaves a
// hex string (no white space) untouched.
func prefixRange(prop, prefix string) *filters.WhereBuilder {
	if prefix == "" {
		return nil
	}
	lo := where(prop, filters.GreaterThanEqual).WithValueText(hex.EncodeToString([]byte(prefix)))
	// The first string after every string with the prefix: increment the
	// last byte below 0xff and cut what follows it.
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0xff {
			b[i]++
			return and(lo, where(prop, filters.LessThan).WithValueText(hex.EncodeToString(b[:i+1])))
		}
	}
	return lo
}

// Dates are RFC 3339 strings; Weaviate indexes them as Unix nanoseconds.
var (
	minNano = time.Unix(0, math.MinInt64).UTC()
	maxNano = time.Unix(0, math.MaxInt64).UTC()
)

func storable(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if t.Before(minNano) || t.After(maxNano) {
		return fmt.Errorf("time %s is outside the storable range %d–%d", t.Format(time.RFC3339), minNano.Year(), maxNano.Year())
	}
	return nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// bound clamps a filter bound into the storable range, where it still
// compares the same with every stored time.
func bound(t time.Time) time.Time {
	switch {
	case t.Before(minNano):
		return minNano
	case t.After(maxNano):
		return maxNano
	}
	return t.UTC()
}

// exactTypes reports whether Weaviate's field tokenization, which trims
// white space (and drops empty strings), keeps every type as it is.
func exactTypes(types []string) bool {
	for _, t := range types {
		if t == "" || strings.TrimFunc(t, unicode.IsSpace) != t {
			return false
		}
	}
	return true
}

func filterIsZero(f *mmrag.Filter) bool {
	return len(f.DocIDs) == 0 && len(f.Types) == 0 && f.SourcePrefix == "" && f.Since.IsZero() && f.Until.IsZero()
}

// docMatches is the reference semantics of a filter.
func docMatches(f *mmrag.Filter, id, typ, source string, ingested time.Time) bool {
	if len(f.DocIDs) > 0 && !contains(f.DocIDs, id) {
		return false
	}
	if len(f.Types) > 0 && !contains(f.Types, typ) {
		return false
	}
	if !strings.HasPrefix(source, f.SourcePrefix) {
		return false
	}
	if !f.Since.IsZero() && (ingested.IsZero() || ingested.Before(f.Since)) {
		return false
	}
	if !f.Until.IsZero() && (ingested.IsZero() || !ingested.Before(f.Until)) {
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// docWhere is a filter on the document collection selecting a superset of
// what f matches (exactly f unless a type is not exact); callers check
// docMatches on what comes back.
func docWhere(f *mmrag.Filter) *filters.WhereBuilder {
	var ws []*filters.WhereBuilder
	if len(f.DocIDs) > 0 {
		ws = append(ws, anyOf("_id", docUUIDs(f.DocIDs)))
	}
	if len(f.Types) > 0 && exactTypes(f.Types) {
		ws = append(ws, anyOf(pType, f.Types))
	}
	ws = append(ws, prefixRange(pSrcHex, f.SourcePrefix))
	if !f.Since.IsZero() {
		ws = append(ws, where(pIngested, filters.GreaterThanEqual).WithValueDate(bound(f.Since)))
	}
	if !f.Until.IsZero() {
		ws = append(ws, where(pIngested, filters.LessThan).WithValueDate(bound(f.Until)))
	}
	return and(ws...)
}

// itemWhere is the filter on item collections that matches exactly the
// items of the documents f matches; none reports that f matches no
// document. Types that field tokenization would alter are resolved through
// the document collection instead.
func (s *Store) itemWhere(ctx context.Context, f *mmrag.Filter) (w *filters.WhereBuilder, none bool, err error) {
	if filterIsZero(f) {
		return nil, false, nil
	}
	if len(f.Types) > 0 && !exactTypes(f.Types) {
		docs, err := s.Documents(ctx, *f)
		if err != nil {
			return nil, false, err
		}
		if len(docs) == 0 {
			return nil, true, nil
		}
		ids := make([]string, len(docs))
		for i, d := range docs {
			ids[i] = d.ID
		}
		return anyOf(pDocKey, docUUIDs(ids)), false, nil
	}
	var ws []*filters.WhereBuilder
	if len(f.DocIDs) > 0 {
		ws = append(ws, anyOf(pDocKey, docUUIDs(f.DocIDs)))
	}
	if len(f.Types) > 0 {
		ws = append(ws, anyOf(pDocType, f.Types))
	}
	ws = append(ws, prefixRange(pDocSrcHex, f.SourcePrefix))
	if !f.Since.IsZero() {
		ws = append(ws, where(pDocIngest, filters.GreaterThanEqual).WithValueDate(bound(f.Since)))
	}
	if !f.Until.IsZero() {
		ws = append(ws, where(pDocIngest, filters.LessThan).WithValueDate(bound(f.Until)))
	}
	return and(ws...), false, nil
}

func docUUIDs(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = docUUID(id)
	}
	return out
}

// props are the properties of a gRPC search result.
type props map[string]any

func (p props) str(k string) string {
	if s, ok := p[k].(string); ok {
		return s
	}
	return ""
}

func (p props) int(k string) int64 {
	switch v := p[k].(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

func (p props) strs(k string) []string {
	switch v := p[k].(type) {
	case *pb.ListValue:
		if tv := v.GetTextValues(); tv != nil && len(tv.GetValues()) > 0 {
			return tv.GetValues()
		}
	case []string:
		if len(v) > 0 {
			return v
		}
	}
	return nil
}

func (p props) time(k string) (time.Time, error) {
	s := p.str(k)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("property %s: %w", k, err)
	}
	return t.UTC(), nil
}
