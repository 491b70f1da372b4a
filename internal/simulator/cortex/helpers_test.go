package cortex_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/simulator/cortex"
)

const (
	testKeyID = "17"
	testKey   = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
)

// env is a simulator behind an httptest server.
type env struct {
	t   testing.TB
	sim *cortex.Simulator
	srv *httptest.Server
	cfg cortex.Config
}

// newEnv starts a simulator with the test key; rate limiting is off unless cfg sets it.
func newEnv(t testing.TB, cfg cortex.Config) *env {
	t.Helper()
	if cfg.APIKeyID == "" {
		cfg.APIKeyID, cfg.APIKey = testKeyID, testKey
	}
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = -1
	}
	sim, err := cortex.New(cfg)
	if err != nil {
		t.Fatalf("creating simulator: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, sim: sim, srv: srv, cfg: cfg}
}

// with returns e reporting to t, for use in a subtest.
func (e *env) with(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}

// auth sets request headers; nil means the env's own credentials.
type auth func(h http.Header)

func standardAuth(id, key string) auth {
	return func(h http.Header) {
		h.Set("x-xdr-auth-id", id)
		h.Set("Authorization", key)
	}
}

func nonce(rng *rand.Rand) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 64)
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return string(b)
}

var nonceRNG = rand.New(rand.NewPCG(1, 2))

// advancedAuth signs as the documented clients do, at time at.
func advancedAuth(id, key, n string, at time.Time) auth {
	return func(h http.Header) {
		ts := strconv.FormatInt(at.UnixMilli(), 10)
		h.Set("x-xdr-auth-id", id)
		h.Set("x-xdr-nonce", n)
		h.Set("x-xdr-timestamp", ts)
		h.Set("Authorization", cortex.AdvancedAuthorization(key, n, ts))
	}
}

func (e *env) defaultAuth() auth {
	if e.cfg.Advanced {
		return advancedAuth(e.cfg.APIKeyID, e.cfg.APIKey, nonce(nonceRNG), time.Now())
	}
	return standardAuth(e.cfg.APIKeyID, e.cfg.APIKey)
}

// post sends a POST with a JSON body and returns the status and body.
func (e *env) post(path string, body any, a auth) (int, []byte) {
	e.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if a == nil {
		a = e.defaultAuth()
	}
	a(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, out
}

// rd wraps request data.
func rd(v any) map[string]any { return map[string]any{"request_data": v} }

// errorBody is the documented error body.
type errorBody struct {
	Reply struct {
		ErrCode  int             `json:"err_code"`
		ErrMsg   string          `json:"err_msg"`
		ErrExtra json.RawMessage `json:"err_extra"`
	} `json:"reply"`
}

func decodeError(t testing.TB, body []byte) errorBody {
	t.Helper()
	var eb errorBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("decoding error body: %v\n%s", err, body)
	}
	if eb.Reply.ErrExtra == nil {
		t.Fatalf("error body lacks err_extra: %s", body)
	}
	return eb
}

// page is a get_endpoint reply.
type page struct {
	Reply struct {
		TotalCount  *int              `json:"total_count"`
		ResultCount *int              `json:"result_count"`
		Endpoints   []json.RawMessage `json:"endpoints"`
	} `json:"reply"`
}

func (e *env) getEndpoint(path string, data map[string]any) (page, int, []byte) {
	e.t.Helper()
	status, body := e.post(path, rd(data), nil)
	var p page
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &p); err != nil {
			e.t.Fatalf("decoding page: %v\n%.300s", err, body)
		}
		if p.Reply.TotalCount == nil || p.Reply.ResultCount == nil || p.Reply.Endpoints == nil {
			e.t.Fatalf("page lacks total_count, result_count or endpoints: %.300s", body)
		}
	}
	return p, status, body
}

// decodeEndpoints decodes raw endpoints strictly: every key must be a field of Endpoint.
func decodeEndpoints(t testing.TB, raws []json.RawMessage) []cortex.Endpoint {
	t.Helper()
	out := make([]cortex.Endpoint, len(raws))
	for i, raw := range raws {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out[i]); err != nil {
			t.Fatalf("decoding endpoint %d: %v\n%s", i, err, raw)
		}
	}
	return out
}

// listAll pages through get_endpoint 100 at a time with the given filters and sort.
func (e *env) listAll(path string, filters []map[string]any, sort map[string]any) ([]cortex.Endpoint, []int) {
	e.t.Helper()
	var out []cortex.Endpoint
	var totals []int
	for from := 0; ; from += 100 {
		data := map[string]any{"search_from": from, "search_to": from + 100}
		if filters != nil {
			data["filters"] = filters
		}
		if sort != nil {
			data["sort"] = sort
		}
		p, status, body := e.getEndpoint(path, data)
		if status != http.StatusOK {
			e.t.Fatalf("get_endpoint from %d: status %d: %s", from, status, body)
		}
		out = append(out, decodeEndpoints(e.t, p.Reply.Endpoints)...)
		totals = append(totals, *p.Reply.TotalCount)
		if *p.Reply.ResultCount != len(p.Reply.Endpoints) {
			e.t.Fatalf("result_count %d, but %d endpoints", *p.Reply.ResultCount, len(p.Reply.Endpoints))
		}
		if from+100 >= *p.Reply.TotalCount {
			return out, totals
		}
	}
}

func filter(field, op string, value any) map[string]any {
	return map[string]any{"field": field, "operator": op, "value": value}
}
