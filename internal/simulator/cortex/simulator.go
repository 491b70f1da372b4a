// Package cortex simulates the Cortex XDR public API v1 (get_endpoint and the XQL calls)
// over HTTP, faithful to its wire contract, over a seeded, deterministic tenant.
package cortex

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-sec/tributary/internal/simulator/simctl"
)

// maxBody bounds request bodies.
const maxBody = 1 << 20

// API paths the simulator serves, without trailing slash; both forms are accepted.
const (
	PathGetEndpoint     = "/public_api/v1/endpoints/get_endpoint"
	PathStartXQLQuery   = "/public_api/v1/xql/start_xql_query"
	PathGetQueryResults = "/public_api/v1/xql/get_query_results"
	PathGetResultStream = "/public_api/v1/xql/get_query_results_stream"
	PathGetQuota        = "/public_api/v1/xql/get_quota"
)

// Simulator serves the Cortex XDR public API of one tenant, plus control endpoints under
// /_simulator/. It is safe for concurrent use.
type Simulator struct {
	cfg      Config
	clock    func() time.Time // real time: advanced-key skew, rate limiting, quota day
	tenantID string

	faults faultState
	// state is what the API serves; SetFaults and Mutate replace it whole, so that a call
	// (and an XQL query, for its whole life) sees one version of the tenant.
	state   atomic.Pointer[tenant]
	writeMu sync.Mutex // serializes replacing state, and guards the mutation state below
	gone    map[string]goneEndpoint
	mutated int64 // unix ms of the last mutation; Config.Now before any
	nmut    int   // mutations so far

	limiter *simctl.TokenBucket
	nonces  nonceCache
	xql     xqlState

	reqMu    sync.Mutex
	requests map[string]int
}

type route func(s *Simulator, w http.ResponseWriter, r *http.Request, data json.RawMessage)

var routes = map[string]route{
	PathGetEndpoint:     (*Simulator).serveGetEndpoint,
	PathStartXQLQuery:   (*Simulator).serveStartQuery,
	PathGetQueryResults: (*Simulator).serveGetResults,
	PathGetResultStream: (*Simulator).serveGetStream,
	PathGetQuota:        (*Simulator).serveGetQuota,
}

// New generates the tenant of cfg and returns a simulator serving it.
func New(cfg Config) (*Simulator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Simulator{
		cfg:      cfg,
		clock:    time.Now,
		gone:     make(map[string]goneEndpoint),
		mutated:  cfg.Now.UnixMilli(),
		requests: make(map[string]int),
	}
	s.tenantID = strconv.FormatUint(300000000+uint64(cfg.Seed)%100000000, 10)
	if cfg.RequestsPerSecond > 0 {
		s.limiter = simctl.NewTokenBucket(cfg.RequestsPerSecond, s.clock())
	}
	s.state.Store(&tenant{d: generate(cfg), malformed: &malformedSet{}})
	s.faults.Set(Faults{})
	s.xql.init()
	return s, nil
}

// Handler returns the HTTP handler serving the public API and the control endpoints.
func (s *Simulator) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// SetFaults replaces the active faults (safe for concurrent use).
func (s *Simulator) SetFaults(f Faults) {
	f = f.normalized()
	s.writeMu.Lock()
	if cur := s.state.Load(); cur.malformed.n != f.Malformed {
		s.state.Store(&tenant{d: cur.d, malformed: buildMalformed(cur.d, f.Malformed)})
	}
	s.writeMu.Unlock()
	s.faults.Set(f)
}

// Requests returns how many calls the simulator has seen on an API path (given with or
// without its trailing slash), whatever their answer.
func (s *Simulator) Requests(path string) int {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	return s.requests[strings.TrimSuffix(path, "/")]
}

// Endpoints returns the tenant's endpoints as get_endpoint serves them, in its default
// order (no sort). Those Faults.Malformed chose are served broken (see MalformedIDs) and
// appear here as they would be if whole. The slice is the caller's.
//
// The dataset opens with endpoints CONNECTED, DISCONNECTED, LOST and UNINSTALLED (indexes
// 0-3), and endpoint 5 is CONNECTED and shares endpoint 2's name (a reinstalled agent);
// further about 4% of endpoints share an earlier endpoint's name (as generated: Mutate
// changes the tenant, and Endpoints then returns it as served).
func (s *Simulator) Endpoints() []Endpoint {
	d := s.state.Load().d
	out := make([]Endpoint, len(d.eps))
	for i := range out {
		out[i] = d.build(i)
	}
	return out
}

// MalformedIDs returns the endpoint_id of each endpoint currently served malformed, in
// the order they were chosen.
func (s *Simulator) MalformedIDs() []string {
	t := s.state.Load()
	out := make([]string, len(t.malformed.order))
	for k, i := range t.malformed.order {
		out[k] = t.d.eps[i].id
	}
	return out
}

// tenant is one version of what the simulator serves.
type tenant struct {
	d         *dataset
	malformed *malformedSet
}

// serve routes a request: control endpoints, then the public API.
func (s *Simulator) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_simulator/") {
		s.serveControl(w, r)
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	s.reqMu.Lock()
	s.requests[path]++
	s.reqMu.Unlock()

	h, ok := routes[path]
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found", "Unknown public API path "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed", nil)
		return
	}
	if !s.authenticate(r) {
		writeError(w, http.StatusUnauthorized, msgUnauthorized, nil)
		return
	}
	if s.limiter != nil && !s.limiter.Allow(s.clock()) {
		writeError(w, http.StatusTooManyRequests, msgTooManyRequests, s.rateLimitExtra())
		return
	}
	switch s.faults.take() {
	case faultUnauthorized:
		writeError(w, http.StatusUnauthorized, msgUnauthorized, nil)
		return
	case faultForbidden:
		writeError(w, http.StatusForbidden, msgForbidden, nil)
		return
	case faultPaymentRequired:
		writeError(w, http.StatusPaymentRequired, msgPaymentRequired, nil)
		return
	case faultThrottle:
		writeError(w, http.StatusTooManyRequests, msgTooManyRequests, s.rateLimitExtra())
		return
	case faultServerError:
		writeError(w, http.StatusInternalServerError, msgInternal, nil)
		return
	}
	if delay := s.faults.Get().PageDelay; delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client is gone; nobody reads an answer
		}
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, msgInvalidJSON, "reading the request body: "+err.Error())
		return
	}
	var req struct {
		RequestData json.RawMessage `json:"request_data"`
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, msgInvalidJSON, err.Error())
			return
		}
	}
	if string(req.RequestData) == "null" {
		req.RequestData = nil
	}
	h(s, w, r, req.RequestData)
}

// Error messages; the documentation gives the statuses and their meaning, the wording of
// err_msg beyond 401 is the simulator's.
const (
	msgInvalidJSON     = "Bad Request. Got an invalid JSON."
	msgInvalidParams   = "The request contains invalid or missing parameters."
	msgUnauthorized    = "Public API request unauthorized"
	msgPaymentRequired = "User does not have the required license type to run this API"
	msgForbidden       = "The provided API Key does not have the required RBAC permissions to run this API"
	msgInternal        = "An error occurred while processing XDR public API"
	msgTooManyRequests = "Too many requests"
)

// rateLimitExtra is the err_extra of a 429.
func (s *Simulator) rateLimitExtra() string {
	rate := s.cfg.RequestsPerSecond
	if rate <= 0 { // limiting is off; a Throttle fault speaks for the real service
		rate = DefaultRequestsPerSecond
	}
	return "Rate limit exceeded: at most " + strconv.FormatFloat(rate, 'f', -1, 64) + " API requests per second per tenant"
}

// writeError writes {"reply": {"err_code", "err_msg", "err_extra"}}; extra may be nil.
func writeError(w http.ResponseWriter, status int, msg string, extra any) {
	body, _ := json.Marshal(map[string]any{"reply": map[string]any{"err_code": status, "err_msg": msg, "err_extra": extra}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeParamError writes the 400 for invalid or missing parameters.
func writeParamError(w http.ResponseWriter, extra string) {
	writeError(w, http.StatusBadRequest, msgInvalidParams, extra)
}

// writeReply writes {"reply": v} with status 200.
func writeReply(w http.ResponseWriter, v any) {
	body, err := json.Marshal(struct {
		Reply any `json:"reply"`
	}{v})
	if err != nil {
		writeError(w, http.StatusInternalServerError, msgInternal, err.Error())
		return
	}
	writeJSON(w, body)
}

func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// serveControl serves the simulator's own endpoints under /_simulator/, which need no
// authentication.
func (s *Simulator) serveControl(w http.ResponseWriter, r *http.Request) {
	simctl.Control[Faults, Mutation]{
		Faults: s.faults.Get, SetFaults: s.SetFaults, Mutate: s.Mutate, Clock: s.mutationClock, MaxBody: maxBody,
	}.ServeHTTP(w, r)
}

// errMissing reports missing required parameters the way the API words it.
func errMissing(names ...string) string {
	q := make([]string, len(names))
	for k, n := range names {
		q[k] = "'" + n + "'"
	}
	return "Missing at least one required parameter: [" + strings.Join(q, ", ") + "]."
}

var errBadType = errors.New("wrong type")
