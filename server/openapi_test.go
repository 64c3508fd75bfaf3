package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

var (
	specOnce sync.Once
	spec     *openapi3.T
	specErr  error
)

// loadSpec parses and validates openapi.json with kin-openapi.
func loadSpec(t testing.TB) *openapi3.T {
	t.Helper()
	specOnce.Do(func() {
		data, err := assets.ReadFile("openapi.json")
		if err != nil {
			specErr = err
			return
		}
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			specErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = err
			return
		}
		spec = doc
	})
	if specErr != nil {
		t.Fatalf("openapi.json: %v", specErr)
	}
	return spec
}

// TestOpenAPIFile checks that the API description is valid, names every
// operation and types every JSON response.
func TestOpenAPIFile(t *testing.T) {
	doc := loadSpec(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi %s: want 3.1", doc.OpenAPI)
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %q also names %s", where, op.OperationID, other)
			}
			ids[op.OperationID] = where
			for status, ref := range op.Responses.Map() {
				if ref.Value == nil {
					continue
				}
				mt := ref.Value.Content.Get("application/json")
				if mt == nil || mt.Schema == nil {
					continue
				}
				s := mt.Schema.Value
				if mt.Schema.Ref == "" && s.Type.Is("object") && len(s.Properties) == 0 && s.AllOf == nil && s.AdditionalProperties.Schema == nil {
					t.Errorf("%s %s: untyped object response", where, status)
				}
			}
		}
	}
}

// checkResponse validates a JSON response against openapi.json: the
// operation's response for the route the mux chose, or the error shape
// for the mux's own 404 and 405. It gives back a response whose body can
// be read again.
func (ts *testServer) checkResponse(t *testing.T, req *http.Request, res *http.Response) {
	t.Helper()
	ct := res.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/json") {
		return
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	doc := loadSpec(t)
	where := req.Method + " " + req.URL.Path
	_, pattern := ts.Server.mux.Handler(req)
	method, path, _ := strings.Cut(pattern, " ")
	if method == "" || doc.Paths.Find(path) == nil || doc.Paths.Find(path).GetOperation(method) == nil {
		// The mux's own answers and routes outside the API.
		name := "Error"
		if openAIRoute(req.URL.Path) {
			name = "OpenAIError"
		}
		if pattern != "" && res.StatusCode < 400 {
			return // the UI's routes
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("%s: %d: not JSON: %s", where, res.StatusCode, body)
			return
		}
		schema := doc.Components.Responses[name].Value.Content.Get("application/json").Schema.Value
		if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s: %d does not match %s: %v\n%s", where, res.StatusCode, name, err, body)
		}
		return
	}
	item := doc.Paths.Find(path)
	route := &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: item.GetOperation(method)}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s: response %d does not match openapi.json: %v\n%.2000s", where, res.StatusCode, err, body)
	}
}
