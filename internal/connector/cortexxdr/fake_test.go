package cortexxdr

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
)

const (
	testKeyID  = "17"
	testKey    = "TestCortexKey-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	testKeyEnv = "TEST_CORTEX_API_KEY"
)

// fakeTenant is a scripted Cortex XDR tenant for the fetch tests: exact bytes in,
// every request logged, faults queued per API call.
type fakeTenant struct {
	t        *testing.T
	advanced bool

	mu        sync.Mutex
	endpoints []string // JSON objects, served byte for byte
	// totalCount, when set, replaces the total_count get_endpoint reports.
	totalCount   func(real int) int
	ignoreOffset bool     // get_endpoint serves the first page whatever search_from says
	rows         []string // XQL rows, one per stream line (need not be JSON)
	inlineMax    int      // more rows than this come through a stream (default 1000)
	pendingPolls int      // get_query_results polls answered PENDING
	finalStatus  string   // the query's last status (default SUCCESS)
	finalExtra   string   // members added to the last reply, e.g. `"error": "..."`
	reportedRows *int     // number_of_results, when not len(rows)
	noTotals     bool     // leave out total_count and number_of_results
	plainStream  bool     // serve the stream without gzip
	// streamGen, when set, writes the stream's lines itself (rows is then only counted
	// through reportedRows).
	streamGen func(w io.Writer)
	faults    map[string][]fault
	requests  []request
	polls     int
}

// fault is one scripted failure of an API call.
type fault struct {
	status     int
	body       string
	retryAfter string
	hangUp     bool          // close the connection without an answer
	delay      time.Duration // wait before answering
}

type request struct {
	api    string
	at     time.Time
	header http.Header
	data   map[string]any
}

func newFakeTenant(t *testing.T) (*fakeTenant, string) {
	t.Helper()
	f := &fakeTenant{t: t, inlineMax: 1000, faults: map[string][]fault{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeTenant) fail(api string, faults ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[api] = append(f.faults[api], faults...)
}

// calls returns the logged requests to api.
func (f *fakeTenant) calls(api string) []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, r := range f.requests {
		if r.api == api {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeTenant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api := strings.TrimPrefix(r.URL.Path, "/public_api/v1/")
	body, _ := io.ReadAll(r.Body)
	var req struct {
		RequestData map[string]any `json:"request_data"`
	}
	if r.Method != http.MethodPost || json.Unmarshal(body, &req) != nil || req.RequestData == nil {
		http.Error(w, `{"reply":{"err_code":400,"err_msg":"Bad Request. Got an invalid JSON."}}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, request{api: api, at: time.Now(), header: r.Header.Clone(), data: req.RequestData})
	var ft *fault
	if q := f.faults[api]; len(q) > 0 {
		ft, f.faults[api] = &q[0], q[1:]
	}
	f.mu.Unlock()
	if ft != nil {
		time.Sleep(ft.delay)
		if ft.hangUp {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		if ft.status != 0 {
			if ft.retryAfter != "" {
				w.Header().Set("Retry-After", ft.retryAfter)
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Request-Id", "req-1")
			w.WriteHeader(ft.status)
			io.WriteString(w, ft.body)
			return
		}
	}
	if !f.authorized(r.Header) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"reply":{"err_code":401,"err_msg":"Public API request unauthorized","err_extra":null}}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch api {
	case apiGetEndpoint:
		f.serveEndpoints(w, req.RequestData)
	case apiStartQuery:
		if q := req.RequestData["query"]; q != Query {
			f.t.Errorf("start_xql_query: query %q, want %q", q, Query)
		}
		io.WriteString(w, `{"reply": "q-0001_inv"}`)
	case apiQueryResults:
		f.serveResults(w, req.RequestData)
	case apiResultsStream:
		f.serveStream(w, req.RequestData)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"reply":{"err_code":404,"err_msg":"not found"}}`)
	}
}

func (f *fakeTenant) authorized(h http.Header) bool {
	if h.Get("x-xdr-auth-id") != testKeyID {
		return false
	}
	if !f.advanced {
		return h.Get("Authorization") == testKey
	}
	nonce, ts := h.Get("x-xdr-nonce"), h.Get("x-xdr-timestamp")
	ms, err := strconv.ParseInt(ts, 10, 64)
	if len(nonce) != 64 || err != nil || time.Since(time.UnixMilli(ms)).Abs() > 5*time.Minute {
		return false
	}
	sum := sha256.Sum256([]byte(testKey + nonce + ts))
	return h.Get("Authorization") == hex.EncodeToString(sum[:])
}

func (f *fakeTenant) serveEndpoints(w io.Writer, data map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	from, _ := data["search_from"].(float64)
	to, _ := data["search_to"].(float64)
	if f.ignoreOffset {
		to -= from
		from = 0
	}
	n := len(f.endpoints)
	lo, hi := min(int(from), n), min(int(to), n)
	total := n
	if f.totalCount != nil {
		total = f.totalCount(n)
	}
	totalCount := fmt.Sprintf(`"total_count": %d, `, total)
	if f.noTotals {
		totalCount = ""
	}
	fmt.Fprintf(w, `{"reply": {%s"result_count": %d, "endpoints": [%s]}}`,
		totalCount, hi-lo, strings.Join(f.endpoints[lo:hi], ", "))
}

func (f *fakeTenant) serveResults(w io.Writer, data map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if data["query_id"] != "q-0001_inv" {
		f.t.Errorf("get_query_results: query_id %v", data["query_id"])
	}
	if _, ok := data["limit"]; ok {
		f.t.Errorf("get_query_results asks for a limit: results over 1,000 rows would be cut instead of streamed")
	}
	f.polls++
	if f.polls <= f.pendingPolls {
		io.WriteString(w, `{"reply": {"status": "PENDING"}}`)
		return
	}
	status := f.finalStatus
	if status == "" {
		status = "SUCCESS"
	}
	extra := ""
	if f.finalExtra != "" {
		extra = ", " + f.finalExtra
	}
	if status != "SUCCESS" {
		fmt.Fprintf(w, `{"reply": {"status": %q%s}}`, status, extra)
		return
	}
	count := len(f.rows)
	if f.reportedRows != nil {
		count = *f.reportedRows
	}
	results := `{"data": [` + strings.Join(f.rows, ",\n") + `]}`
	if count > f.inlineMax || f.streamGen != nil {
		results = `{"stream_id": "stream-1"}`
	}
	numberOfResults := fmt.Sprintf(`"number_of_results": %d, `, count)
	if f.noTotals {
		numberOfResults = ""
	}
	fmt.Fprintf(w, `{"reply": {"status": "SUCCESS", %s"query_cost": {"376699223": 0.003}, "remaining_quota": 999.9, "results": %s%s}}`,
		numberOfResults, results, extra)
}

func (f *fakeTenant) serveStream(w http.ResponseWriter, data map[string]any) {
	if data["stream_id"] != "stream-1" {
		f.t.Errorf("get_query_results_stream: stream_id %v", data["stream_id"])
	}
	f.mu.Lock()
	rows, plain, gen := f.rows, f.plainStream, f.streamGen
	f.mu.Unlock()
	var out io.Writer = w
	if !plain {
		w.Header().Set("Content-Type", "application/gzip")
		zw := gzip.NewWriter(w)
		defer zw.Close()
		out = zw
	}
	if gen != nil {
		gen(out)
		return
	}
	for _, row := range rows {
		io.WriteString(out, row+"\n")
	}
}

// endpointJSON is an endpoint object as get_endpoint returns it.
func endpointJSON(id, name, status string, lastSeen int64) string {
	return fmt.Sprintf(`{"endpoint_id": %q, "endpoint_name": %q, "endpoint_type": "AGENT_TYPE_SERVER", "endpoint_status": %q, "os_type": "AGENT_OS_LINUX", "ip": ["10.0.0.1"], "first_seen": 1706000000000, "last_seen": %d, "group_name": null}`,
		id, name, status, lastSeen)
}

// rowJSON is a va_cves row after arrayexpand.
func rowJSON(cve, host string) string {
	return fmt.Sprintf(`{"name": %q, "cve_id": %q, "severity": "HIGH", "severity_score": 7.5, "affected_hosts": %q, "description": "d"}`, cve, cve, host)
}

// sourceFor builds a Source against url from connectors-file YAML, as the fetcher
// does, made fast for tests: no pacing, millisecond backoff and polls.
func sourceFor(t *testing.T, url string, extra ...string) *Source {
	t.Helper()
	lines := []string{"base_url: " + url, "api_key_id: " + testKeyID, "api_key: {env: " + testKeyEnv + "}"}
	if !strings.Contains(strings.Join(extra, "\n"), "max_attempts:") {
		lines = append(lines, "max_attempts: 3")
	}
	src, err := sourceFromYAML(t, strings.Join(append(lines, extra...), "\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*Source)
	s.tune = fast
	return s
}

func fast(c *client) {
	c.limiter.interval = 0
	c.backoff, c.maxBackoff = time.Millisecond, 4*time.Millisecond
	c.pollFirst, c.pollMax = time.Millisecond, 4*time.Millisecond
}

// sourceFromYAML returns what Type.NewSource makes of settings.
func sourceFromYAML(t *testing.T, settings string) (connector.Source, error) {
	t.Helper()
	t.Setenv(testKeyEnv, testKey)
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(settings), &node); err != nil {
		t.Fatal(err)
	}
	return Type.NewSource(connector.Instance{ID: "cortex-test", Type: TypeName}, func(v any) error {
		return node.Content[0].Decode(v)
	})
}

// fetchAll runs Initiate and Fetch, collecting the records.
func fetchAll(t *testing.T, src *Source) ([]*model.RawRecord, connector.FetchResult, error) {
	t.Helper()
	ctx := context.Background()
	if err := src.Initiate(ctx); err != nil {
		t.Fatalf("Initiate: %v", err)
	}
	var got []*model.RawRecord
	res, err := src.Fetch(ctx, connector.FetchRequest{SyncID: "s1", Type: model.SyncFull}, func(r *model.RawRecord) error {
		got = append(got, r)
		return nil
	})
	return got, res, err
}
