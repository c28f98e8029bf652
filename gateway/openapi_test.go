package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"
)

// The OpenAPI document is checked against the gateway's own traffic: every
// test's client goes through openAPICheck (see setupOn), which validates
// each request and response the suite makes against openapi.json.
//
// kin-openapi validates an OpenAPI 3.1 document with JSON Schema 2020-12,
// so the document uses 3.1's forms (type arrays with "null", const).

var (
	apiOnce   sync.Once
	apiRouter routers.Router
	apiErr    error
)

// openAPIRouter loads the embedded document once and validates it.
func openAPIRouter() (routers.Router, error) {
	apiOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(OpenAPI)
		if err != nil {
			apiErr = fmt.Errorf("load openapi.json: %w", err)
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			apiErr = fmt.Errorf("openapi.json is not a valid document: %w", err)
			return
		}
		apiRouter, apiErr = gorillamux.NewRouter(doc)
	})
	return apiRouter, apiErr
}

func init() {
	// The batch endpoint's line-delimited types are read as text.
	for _, ct := range []string{"application/x-ndjson", "application/jsonl"} {
		openapi3filter.RegisterBodyDecoder(ct, func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			data, err := io.ReadAll(r)
			return string(data), err
		})
	}
}

// openAPICheck is an http.RoundTripper that validates every exchange
// against the document:
//   - a response must be documented (path, method, status) and match its
//     schema and content type; event streams are checked up to their headers;
//   - a request the document calls invalid must be refused with a 4xx: the
//     gateway never accepts what the document forbids.
//
// Requests to paths the document does not have (the tests of unknown routes)
// are let through; TestOpenAPIDocumentsEveryRoute keeps the document
// complete. Exchanges are recorded as they happen and validated when the
// test ends: validating a JSON Schema 2020-12 document compiles its schemas
// each time, and doing that while the test runs would take the CPU the
// gateway under test needs.
type openAPICheck struct {
	t    testing.TB
	next http.RoundTripper

	mu        sync.Mutex
	exchanges []exchange
}

// exchange is one request and its answer, bodies read.
type exchange struct {
	req              *http.Request
	reqBody, resBody []byte
	status           int
	header           http.Header
	skipBody         bool
}

// newOpenAPICheck returns a checking transport over next; it validates
// what it recorded when the test ends.
func newOpenAPICheck(t testing.TB, next http.RoundTripper) *openAPICheck {
	c := &openAPICheck{t: t, next: next}
	t.Cleanup(c.finish)
	return c
}

// finish validates the exchanges recorded so far.
func (c *openAPICheck) finish() {
	c.mu.Lock()
	exs := c.exchanges
	c.exchanges = nil
	c.mu.Unlock()
	for _, ex := range exs {
		c.validate(ex)
	}
}

func (c *openAPICheck) RoundTrip(req *http.Request) (*http.Response, error) {
	reqBody, err := readAndRestore(&req.Body)
	if err != nil {
		return nil, err
	}
	res, err := c.next.RoundTrip(req)
	if err != nil {
		return res, err
	}
	ex := exchange{req: requestForValidation(req, reqBody), reqBody: reqBody, status: res.StatusCode, header: res.Header.Clone()}
	ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if ex.skipBody = ct == "text/event-stream" || req.Method == http.MethodHead; !ex.skipBody {
		if ex.resBody, err = readAndRestore(&res.Body); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.exchanges = append(c.exchanges, ex)
	c.mu.Unlock()
	return res, nil
}

func (c *openAPICheck) validate(ex exchange) {
	router, err := openAPIRouter()
	if err != nil {
		c.t.Error(err)
		return
	}
	req := ex.req
	route, params, err := router.FindRoute(req)
	if err != nil {
		return
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true,
			// A batch is NDJSON under every type it accepts, application/json
			// included, which no JSON schema describes: its body is text.
			ExcludeRequestBody: req.URL.Path == "/ingest/batch"},
	}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	if reqErr != nil && ex.status < 400 {
		c.t.Errorf("openapi: %s %s was answered %d, but the document calls the request invalid: %v", req.Method, req.URL.RequestURI(), ex.status, reqErr)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: ex.status, Header: ex.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: ex.skipBody},
	}
	out.SetBodyBytes(ex.resBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.t.Errorf("openapi: the answer %d to %s %s does not match the document: %v", ex.status, req.Method, req.URL.RequestURI(), err)
	}
}

// requestForValidation is req with its body, read as the gateway reads it:
// a missing content type is JSON.
func requestForValidation(req *http.Request, body []byte) *http.Request {
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) > 0 && r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

func readAndRestore(body *io.ReadCloser) ([]byte, error) {
	if *body == nil || *body == http.NoBody {
		return nil, nil
	}
	data, err := io.ReadAll(*body)
	(*body).Close()
	*body = io.NopCloser(bytes.NewReader(data))
	return data, err
}

// TestOpenAPIDocumentsEveryRoute walks the gateway's router: every route
// and method it serves is in the document, and the document has no path
// the gateway does not serve.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	if _, err := openAPIRouter(); err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	h := setup(t)
	served := map[string]bool{}
	err = h.srv.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, _ := route.GetMethods()
		item := doc.Paths.Find(path)
		for _, m := range methods {
			if item == nil || item.GetOperation(m) == nil {
				t.Errorf("%s %s is served but not in openapi.json", m, path)
			}
		}
		served[path] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for path := range doc.Paths.Map() {
		if !served[path] && !laterRoutes[path] {
			t.Errorf("openapi.json documents %s, which the gateway does not serve", path)
		}
	}
}

// laterRoutes are documented before their handlers are merged: the probes
// that another part of the gateway adds.
var laterRoutes = map[string]bool{"/livez": true, "/readyz": true, "/ready": true}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	h := setup(t)
	res := h.get("/openapi.json")
	if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") || !bytes.Equal(res.body, OpenAPI) {
		t.Fatalf("GET /openapi.json: %d %s", res.status, res.header.Get("Content-Type"))
	}
	doc := decode[map[string]any](t, res.body)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi version %v, want 3.1.0", doc["openapi"])
	}
}

// TestOpenAPICheckCatchesDrift makes sure the check can fail: an answer the
// document does not allow is reported.
func TestOpenAPICheckCatchesDrift(t *testing.T) {
	t.Parallel()
	rec := &recordingTB{TB: t}
	drifted := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"message_id":"not-a-uuid","status":"lost"}`))
	})
	check := newOpenAPICheck(rec, handlerTransport{drifted})
	res, err := (&http.Client{Transport: check}).Get("http://gateway/ingest/status/6f1f7a4e-4d7e-4c57-9a43-7d1d2c1e5a10")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	check.finish()
	if len(rec.errors) == 0 {
		t.Fatal("a record with a bad status and no history passed the check")
	}
}

// recordingTB records the errors reported to it instead of failing.
type recordingTB struct {
	testing.TB
	errors []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// handlerTransport answers requests with a handler, in process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, req)
	return w.Result(), nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (c *openAPICheck) CloseIdleConnections() {
	if ci, ok := c.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}
