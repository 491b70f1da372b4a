package cortex

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Query statuses of get_query_results.
const (
	StatusPending = "PENDING"
	StatusSuccess = "SUCCESS"
	StatusFail    = "FAIL"
)

const (
	// runningTimeout is how long an unpolled query counts against MaxRunningQueries: a
	// real query finishes on its own; one a client abandoned must not block the tenant.
	runningTimeout = 5 * time.Minute
	// keptQueries bounds how many finished queries (and their streams) are remembered.
	keptQueries = 32

	msgParallelQueries = "reached max allowed amount of parallel running queries"
	msgQuotaExceeded   = "query usage exceeded max daily quota"
)

// query is one XQL query of the tenant.
type query struct {
	id, text string
	started  time.Time
	polls    int
	status   string
	failMsg  string // the query FAILs with this (semantic error found when it started)
	res      *result
	d        *dataset // the tenant the query ran over: its rows are read from it
	cost     float64
	streamID string
}

// xqlState is the tenant's XQL bookkeeping.
type xqlState struct {
	mu       sync.Mutex
	rng      *rand.Rand
	seq      int
	queries  map[string]*query
	streams  map[string]*query
	order    []*query // oldest first
	day      int64    // UTC day the counters below belong to
	used     float64
	started  int // today
	rejected int // today, for too many running queries
	maxConc  int // today
}

func (x *xqlState) init() {
	x.queries = make(map[string]*query)
	x.streams = make(map[string]*query)
}

// rollDay resets the daily counters when the UTC day changed. x.mu is held.
func (x *xqlState) rollDay(now time.Time) {
	if d := now.UTC().Unix() / 86400; d != x.day {
		x.day, x.used, x.started, x.rejected, x.maxConc = d, 0, 0, 0, 0
	}
}

// running returns the queries counting against MaxRunningQueries. x.mu is held.
func (x *xqlState) running(now time.Time) []*query {
	var out []*query
	for _, q := range x.order {
		if q.status == StatusPending && now.Sub(q.started) < runningTimeout {
			out = append(out, q)
		}
	}
	return out
}

// remember stores q, forgetting the oldest finished queries beyond keptQueries. x.mu is held.
func (x *xqlState) remember(q *query) {
	x.queries[q.id] = q
	x.order = append(x.order, q)
	for k := 0; len(x.queries) > keptQueries && k < len(x.order); {
		old := x.order[k]
		if old.status == StatusPending {
			k++
			continue
		}
		delete(x.queries, old.id)
		delete(x.streams, old.streamID)
		x.order = append(x.order[:k], x.order[k+1:]...)
	}
}

// serveStartQuery serves POST /public_api/v1/xql/start_xql_query.
func (s *Simulator) serveStartQuery(w http.ResponseWriter, _ *http.Request, data json.RawMessage) {
	if data == nil {
		writeParamError(w, errMissing("request_data"))
		return
	}
	var req struct {
		Query     *string         `json:"query"`
		Tenants   []string        `json:"tenants"`
		Timeframe json.RawMessage `json:"timeframe"`
	}
	if err := json.Unmarshal(data, &req); err != nil {
		writeParamError(w, "request_data: "+err.Error())
		return
	}
	if req.Query == nil || *req.Query == "" {
		writeParamError(w, errMissing("query"))
		return
	}
	if err := checkTimeframe(req.Timeframe); err != nil {
		writeParamError(w, err.Error())
		return
	}
	prog, err := parseQuery(*req.Query)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}

	x := &s.xql
	x.mu.Lock()
	defer x.mu.Unlock()
	now := s.clock()
	x.rollDay(now)
	if x.used >= s.cfg.QueryQuota {
		writeError(w, http.StatusInternalServerError, msgInternal, msgQuotaExceeded)
		return
	}
	if len(x.running(now)) >= s.cfg.MaxRunningQueries {
		x.rejected++
		writeError(w, http.StatusInternalServerError, msgInternal, msgParallelQueries)
		return
	}
	if x.rng == nil {
		x.rng = rand.New(rand.NewPCG(uint64(s.cfg.Seed), 0x78716c))
	}
	x.seq++
	q := &query{
		id:      string(appendHex(nil, x.rng.Uint64(), 14)) + "_" + strconv.Itoa(1000+x.seq) + "_inv",
		text:    *req.Query,
		started: now,
		status:  StatusPending,
	}
	d := s.state.Load().d
	res, err := run(d, prog)
	var qf *queryFailure
	switch {
	case errors.As(err, &qf):
		q.failMsg = qf.msg
	case err != nil:
		writeError(w, http.StatusInternalServerError, msgInternal, err.Error())
		return
	}
	q.res, q.d = res, d
	rows := 0
	if res != nil {
		rows = res.n
	}
	// Query units: a fixed cost plus one for the rows scanned, small enough that a
	// tenant's default quota lasts for hundreds of full syncs a day.
	q.cost = 0.0002 + float64(rows)*1e-8
	x.used += q.cost
	x.started++
	x.remember(q)
	if s.cfg.PendingPolls == 0 {
		s.finish(q)
	}
	x.maxConc = max(x.maxConc, len(x.running(now)))
	writeReply(w, q.id)
}

// checkTimeframe validates an optional {"from", "to"} or {"relativeTime"} (numbers, or
// strings holding them).
func checkTimeframe(raw json.RawMessage) error {
	if raw == nil || string(raw) == "null" {
		return nil
	}
	var tf map[string]json.RawMessage
	if err := json.Unmarshal(raw, &tf); err != nil {
		return errors.New("timeframe must be an object: {from, to} or {relativeTime}")
	}
	from, hasFrom := tf["from"]
	to, hasTo := tf["to"]
	rel, hasRel := tf["relativeTime"]
	switch {
	case hasRel && !hasFrom && !hasTo:
		ms, err := epochMillis(rel)
		if err != nil || ms <= 0 {
			return errors.New("timeframe.relativeTime must be a positive number of milliseconds")
		}
	case hasFrom && hasTo && !hasRel:
		f, err1 := epochMillis(from)
		t, err2 := epochMillis(to)
		if err1 != nil || err2 != nil {
			return errors.New("timeframe.from and timeframe.to must be timestamps in epoch milliseconds")
		}
		if f > t {
			return fmt.Errorf("timeframe.from (%d) is after timeframe.to (%d)", f, t)
		}
	default:
		return errors.New("timeframe must be either {from, to} or {relativeTime}")
	}
	return nil
}

// finish ends q, as SUCCESS or FAIL. s.xql.mu is held.
func (s *Simulator) finish(q *query) {
	if q.status != StatusPending {
		return
	}
	switch {
	case q.failMsg != "":
		q.status = StatusFail
	case s.faults.Get().QueryFail:
		q.status, q.failMsg = StatusFail, "Query execution failed"
	default:
		q.status = StatusSuccess
	}
}

// serveGetResults serves POST /public_api/v1/xql/get_query_results.
func (s *Simulator) serveGetResults(w http.ResponseWriter, _ *http.Request, data json.RawMessage) {
	if data == nil {
		writeParamError(w, errMissing("request_data"))
		return
	}
	var req struct {
		QueryID     *string `json:"query_id"`
		PendingFlag *bool   `json:"pending_flag"`
		Limit       *int    `json:"limit"`
		Format      *string `json:"format"`
	}
	if err := json.Unmarshal(data, &req); err != nil {
		writeParamError(w, "request_data: "+err.Error())
		return
	}
	if req.QueryID == nil || *req.QueryID == "" {
		writeParamError(w, errMissing("query_id"))
		return
	}
	if req.Format != nil && *req.Format != "json" {
		writeParamError(w, fmt.Sprintf("format %q is not served by the simulator; use json", *req.Format))
		return
	}
	if req.Limit != nil && *req.Limit < 0 {
		writeParamError(w, "limit must not be negative")
		return
	}

	x := &s.xql
	x.mu.Lock()
	q, ok := x.queries[*req.QueryID]
	if !ok {
		x.mu.Unlock()
		writeParamError(w, "Query ID "+*req.QueryID+" was not found")
		return
	}
	if q.status == StatusPending {
		q.polls++
		if (req.PendingFlag == nil || *req.PendingFlag) && q.polls <= s.cfg.PendingPolls {
			x.mu.Unlock()
			writeReply(w, map[string]string{"status": StatusPending})
			return
		}
		s.finish(q)
	}
	x.rollDay(s.clock())
	remaining := max(0, s.cfg.QueryQuota-x.used)
	cost := map[string]float64{s.tenantID: q.cost}
	if q.status == StatusFail {
		x.mu.Unlock()
		writeReply(w, map[string]any{"status": StatusFail, "number_of_results": 0, "query_cost": cost,
			"remaining_quota": remaining, "error": q.failMsg})
		return
	}
	limit := 0
	if req.Limit != nil {
		limit = *req.Limit
	}
	n := q.res.n
	if n > s.cfg.InlineRows && (limit == 0 || limit > s.cfg.InlineRows) {
		if q.streamID == "" {
			q.streamID = uuidFrom(x.rng)
			x.streams[q.streamID] = q
		}
		x.mu.Unlock()
		writeReply(w, map[string]any{"status": StatusSuccess, "number_of_results": n, "query_cost": cost,
			"remaining_quota": remaining, "results": map[string]string{"stream_id": q.streamID}})
		return
	}
	x.mu.Unlock()

	inline := min(n, s.cfg.InlineRows)
	if limit > 0 {
		inline = min(inline, limit)
	}
	head, _ := json.Marshal(map[string]any{"status": StatusSuccess, "number_of_results": n, "query_cost": cost,
		"remaining_quota": remaining})
	b := make([]byte, 0, 256*inline+256)
	b = append(b, `{"reply":`...)
	b = append(b, head[:len(head)-1]...)
	b = append(b, `,"results":{"data":[`...)
	for k := range inline {
		if k > 0 {
			b = append(b, ',')
		}
		b = appendRow(b, q.d, q.res, k, false)
	}
	b = append(b, "]}}}"...)
	writeJSON(w, b)
}

// serveGetStream serves POST /public_api/v1/xql/get_query_results_stream: every row of
// the query as newline-delimited JSON, not wrapped in reply, gzipped (a raw gzip body,
// without Content-Encoding) when is_gzip_compressed is true.
func (s *Simulator) serveGetStream(w http.ResponseWriter, _ *http.Request, data json.RawMessage) {
	if data == nil {
		writeParamError(w, errMissing("request_data"))
		return
	}
	var req struct {
		StreamID         *string `json:"stream_id"`
		IsGzipCompressed bool    `json:"is_gzip_compressed"`
	}
	if err := json.Unmarshal(data, &req); err != nil {
		writeParamError(w, "request_data: "+err.Error())
		return
	}
	if req.StreamID == nil || *req.StreamID == "" {
		writeParamError(w, errMissing("stream_id"))
		return
	}
	s.xql.mu.Lock()
	q, ok := s.xql.streams[*req.StreamID]
	s.xql.mu.Unlock()
	if !ok {
		writeParamError(w, "Stream ID "+*req.StreamID+" was not found")
		return
	}
	if req.IsGzipCompressed {
		w.Header().Set("Content-Type", "application/octet-stream")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	var gz *gzip.Writer
	out := func(b []byte) error { _, err := bw.Write(b); return err }
	if req.IsGzipCompressed {
		gz = gzip.NewWriter(bw)
		out = func(b []byte) error { _, err := gz.Write(b); return err }
	}
	line := make([]byte, 0, 1024)
	for k := range q.res.n {
		line = appendRow(line[:0], q.d, q.res, k, true)
		line = append(line, '\n')
		if out(line) != nil {
			return // the client is gone
		}
	}
	if gz != nil && gz.Close() != nil {
		return
	}
	_ = bw.Flush()
}

// serveGetQuota serves POST /public_api/v1/xql/get_quota.
func (s *Simulator) serveGetQuota(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
	x := &s.xql
	x.mu.Lock()
	now := s.clock()
	x.rollDay(now)
	active := map[string]any{}
	running := x.running(now)
	for _, q := range running {
		active[q.id] = map[string]any{"xql": q.text, "duration": int(now.Sub(q.started).Seconds())}
	}
	reply := map[string]any{
		"license_quota":                           s.cfg.QueryQuota,
		"additional_purchased_quota":              0,
		"used_quota":                              x.used,
		"eval_quota":                              0,
		"total_daily_running_queries":             x.started,
		"total_daily_concurrent_rejected_queries": x.rejected,
		"current_concurrent_active_queries":       active,
		"current_concurrent_active_queries_count": len(running),
		"max_daily_concurrent_active_query_count": x.maxConc,
	}
	x.mu.Unlock()
	writeReply(w, reply)
}

// uuidFrom draws a version-4-shaped UUID from rng, so stream ids are deterministic.
func uuidFrom(rng *rand.Rand) string {
	hi, lo := rng.Uint64(), rng.Uint64()
	b := appendHex(nil, hi>>32, 8)
	b = append(b, '-')
	b = appendHex(b, hi>>16&0xffff, 4)
	b = append(b, '-')
	b = appendHex(b, 0x4000|hi&0x0fff, 4)
	b = append(b, '-')
	b = appendHex(b, 0x8000|lo>>48&0x3fff, 4)
	b = append(b, '-')
	return string(appendHex(b, lo, 12))
}
