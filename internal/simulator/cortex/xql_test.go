package cortex_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/simulator/cortex"
)

// resultsReply is a get_query_results reply.
type resultsReply struct {
	Reply struct {
		Status          string             `json:"status"`
		NumberOfResults *int               `json:"number_of_results"`
		QueryCost       map[string]float64 `json:"query_cost"`
		RemainingQuota  *float64           `json:"remaining_quota"`
		Error           string             `json:"error"`
		Results         *struct {
			Data     []json.RawMessage `json:"data"`
			StreamID string            `json:"stream_id"`
		} `json:"results"`
	} `json:"reply"`
}

// startQuery starts q and returns its id.
func (e *env) startQuery(q string) string {
	e.t.Helper()
	status, body := e.post(cortex.PathStartXQLQuery, rd(map[string]any{"query": q, "tenants": []string{},
		"timeframe": map[string]any{"relativeTime": 86400000}}), nil)
	if status != http.StatusOK {
		e.t.Fatalf("start_xql_query %q: status %d: %s", q, status, body)
	}
	var r struct {
		Reply string `json:"reply"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Reply == "" {
		e.t.Fatalf("start_xql_query reply %s: %v", body, err)
	}
	return r.Reply
}

func (e *env) results(id string, limit int) resultsReply {
	e.t.Helper()
	data := map[string]any{"query_id": id, "pending_flag": true, "format": "json"}
	if limit > 0 {
		data["limit"] = limit
	}
	status, body := e.post(cortex.PathGetQueryResults, rd(data), nil)
	if status != http.StatusOK {
		e.t.Fatalf("get_query_results: status %d: %s", status, body)
	}
	var r resultsReply
	if err := json.Unmarshal(body, &r); err != nil {
		e.t.Fatalf("decoding results: %v\n%.300s", err, body)
	}
	return r
}

// poll polls until the query leaves PENDING and returns the final reply and the polls.
func (e *env) poll(id string, limit int) (resultsReply, int) {
	e.t.Helper()
	for polls := 1; polls < 20; polls++ {
		r := e.results(id, limit)
		if r.Reply.Status != cortex.StatusPending {
			return r, polls
		}
	}
	e.t.Fatalf("query %s still PENDING after 20 polls", id)
	return resultsReply{}, 0
}

// stream fetches a stream and returns its NDJSON lines.
func (e *env) stream(id string, gz bool) []json.RawMessage {
	e.t.Helper()
	status, body := e.post(cortex.PathGetResultStream, rd(map[string]any{"stream_id": id, "is_gzip_compressed": gz}), nil)
	if status != http.StatusOK {
		e.t.Fatalf("get_query_results_stream: status %d: %.300s", status, body)
	}
	var r io.Reader = bytes.NewReader(body)
	if gz {
		zr, err := gzip.NewReader(r)
		if err != nil {
			e.t.Fatalf("stream is not gzip: %v", err)
		}
		r = zr
	}
	var out []json.RawMessage
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := append(json.RawMessage(nil), sc.Bytes()...)
		if !json.Valid(line) {
			e.t.Fatalf("stream line is not JSON: %s", line)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func TestQueryPendingThenSuccess(t *testing.T) {
	tests := []struct {
		name         string
		pendingPolls int
		wantPolls    int
	}{
		{"default: one PENDING", 0, 2},
		{"three PENDING", 3, 4},
		{"none", -1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, cortex.Config{Seed: 2, Endpoints: 30, PendingPolls: tt.pendingPolls})
			id := e.startQuery("dataset = va_endpoints")
			r, polls := e.poll(id, 0)
			if polls != tt.wantPolls || r.Reply.Status != cortex.StatusSuccess {
				t.Fatalf("status %s after %d polls, want SUCCESS after %d", r.Reply.Status, polls, tt.wantPolls)
			}
			if r.Reply.NumberOfResults == nil || *r.Reply.NumberOfResults != len(e.sim.VAEndpointRows()) || r.Reply.RemainingQuota == nil || len(r.Reply.QueryCost) != 1 {
				t.Errorf("reply lacks number_of_results, remaining_quota or query_cost: %+v", r.Reply)
			}
			if again := e.results(id, 0); again.Reply.Status != cortex.StatusSuccess {
				t.Errorf("a finished query polled again: %s", again.Reply.Status)
			}
		})
	}
	t.Run("pending_flag false waits", func(t *testing.T) {
		e := newEnv(t, cortex.Config{Seed: 2, Endpoints: 30, PendingPolls: 5})
		id := e.startQuery("dataset = va_cves")
		status, body := e.post(cortex.PathGetQueryResults, rd(map[string]any{"query_id": id, "pending_flag": false}), nil)
		if status != 200 || !strings.Contains(string(body), `"status":"SUCCESS"`) {
			t.Errorf("status %d: %.200s", status, body)
		}
	})
}

func TestQueryRowsInlineAndStream(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 8, Endpoints: 400})
	want := e.sim.CVERows()
	if len(want) <= 1000 {
		t.Fatalf("%d va_cves rows; the dataset must exceed 1000 to test the stream", len(want))
	}
	decodeRows := func(raws []json.RawMessage) []cortex.CVERow {
		out := make([]cortex.CVERow, len(raws))
		for i, raw := range raws {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&out[i]); err != nil {
				t.Fatalf("decoding row %d: %v\n%s", i, err, raw)
			}
		}
		return out
	}
	const expanded = "dataset = va_cves | arrayexpand affected_hosts"

	t.Run("over 1000 rows come through the stream", func(t *testing.T) {
		e := e.with(t)
		r, _ := e.poll(e.startQuery(expanded), 0)
		if *r.Reply.NumberOfResults != len(want) || r.Reply.Results == nil || r.Reply.Results.StreamID == "" || r.Reply.Results.Data != nil {
			t.Fatalf("want a stream_id and number_of_results %d, got %+v", len(want), r.Reply)
		}
		for _, gz := range []bool{true, false} {
			lines := e.stream(r.Reply.Results.StreamID, gz)
			if len(lines) != len(want) {
				t.Fatalf("gzip %t: stream has %d rows, want %d", gz, len(lines), len(want))
			}
			// The stream carries publication_date as a "2006-01-02 15:04:05 UTC" string.
			for i, line := range lines {
				var m map[string]any
				_ = json.Unmarshal(line, &m)
				pd, _ := m["publication_date"].(string)
				at, err := time.Parse("2006-01-02 15:04:05 MST", pd)
				if err != nil || at.UnixMilli()/1000 != want[i].PublicationDate/1000 {
					t.Fatalf("row %d publication_date %v, want %d as a UTC string", i, m["publication_date"], want[i].PublicationDate)
				}
				m["publication_date"] = want[i].PublicationDate
				line, _ = json.Marshal(m)
				if got := decodeRows([]json.RawMessage{line})[0]; !reflect.DeepEqual(got, want[i]) {
					t.Fatalf("gzip %t: row %d\n%+v\nwant\n%+v", gz, i, got, want[i])
				}
			}
		}
	})
	t.Run("limit 1000 keeps rows inline", func(t *testing.T) {
		e := e.with(t)
		r, _ := e.poll(e.startQuery(expanded), 1000)
		if r.Reply.Results == nil || r.Reply.Results.StreamID != "" || len(r.Reply.Results.Data) != 1000 {
			t.Fatalf("want 1000 rows inline, got %+v", r.Reply.Results)
		}
		if got := decodeRows(r.Reply.Results.Data); !reflect.DeepEqual(got, want[:1000]) {
			t.Errorf("inline rows differ from CVERows()[:1000]")
		}
	})
	t.Run("query limit under 1000 is inline", func(t *testing.T) {
		e := e.with(t)
		r, _ := e.poll(e.startQuery(expanded+" | limit 250"), 0)
		if *r.Reply.NumberOfResults != 250 || len(r.Reply.Results.Data) != 250 {
			t.Fatalf("number_of_results %d, %d rows inline; want 250", *r.Reply.NumberOfResults, len(r.Reply.Results.Data))
		}
	})
	t.Run("fields projects the columns", func(t *testing.T) {
		e := e.with(t)
		r, _ := e.poll(e.startQuery(expanded+" | fields name, severity, severity_score, affected_hosts | limit 10"), 0)
		for i, raw := range r.Reply.Results.Data {
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			if len(m) != 4 || m["name"] != want[i].Name || m["affected_hosts"] != want[i].AffectedHosts {
				t.Fatalf("row %d: %s", i, raw)
			}
		}
	})
	t.Run("unexpanded rows list host names", func(t *testing.T) {
		e := e.with(t)
		r, _ := e.poll(e.startQuery("dataset = va_cves | fields cve_id, affected_hosts, affected_hosts_count"), 0)
		total := 0
		for _, raw := range r.Reply.Results.Data {
			var row struct {
				CVEID string   `json:"cve_id"`
				Hosts []string `json:"affected_hosts"`
				Count int      `json:"affected_hosts_count"`
			}
			if err := json.Unmarshal(raw, &row); err != nil || len(row.Hosts) != row.Count {
				t.Fatalf("row %s: %v", raw, err)
			}
			total += row.Count
		}
		if total != len(want) {
			t.Errorf("affected_hosts_count sums to %d, want %d rows after arrayexpand", total, len(want))
		}
	})
	t.Run("va_endpoints", func(t *testing.T) {
		e := e.with(t)
		wantEPs := e.sim.VAEndpointRows()
		r, _ := e.poll(e.startQuery("dataset = va_endpoints | fields endpoint_id, endpoint_name, cves, severity, severity_score"), 0)
		if len(r.Reply.Results.Data) != len(wantEPs) {
			t.Fatalf("%d rows, want %d", len(r.Reply.Results.Data), len(wantEPs))
		}
		for i, raw := range r.Reply.Results.Data {
			var got cortex.VAEndpointRow
			if err := json.Unmarshal(raw, &got); err != nil || !reflect.DeepEqual(got, wantEPs[i]) {
				t.Fatalf("row %d: %s, want %+v (%v)", i, raw, wantEPs[i], err)
			}
		}
	})
}

func TestQueryFilterSort(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 9, Endpoints: 150})
	all := e.sim.CVERows()
	tests := []struct {
		query string
		want  func(r cortex.CVERow) bool
	}{
		{"dataset = va_cves | arrayexpand affected_hosts | filter severity = ENUM.CRITICAL or severity = ENUM.HIGH",
			func(r cortex.CVERow) bool { return r.Severity == "CRITICAL" || r.Severity == "HIGH" }},
		{"dataset = va_cves | arrayexpand affected_hosts | filter severity_score >= 7 and severity_score < 9",
			func(r cortex.CVERow) bool {
				return r.SeverityScore != nil && *r.SeverityScore >= 7 && *r.SeverityScore < 9
			}},
		{"dataset = va_cves | arrayexpand affected_hosts | filter severity_score = null",
			func(r cortex.CVERow) bool { return r.SeverityScore == nil }},
		{`dataset = va_cves | arrayexpand affected_hosts | filter affected_hosts in ("` + all[0].AffectedHosts + `")`,
			func(r cortex.CVERow) bool { return r.AffectedHosts == all[0].AffectedHosts }},
		{`dataset=va_cves|arrayexpand affected_hosts|filter not (type = "APPLICATION") and description contains "Windows"`,
			func(r cortex.CVERow) bool {
				return r.Type != "APPLICATION" && strings.Contains(r.Description, "Windows")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			e := e.with(t)
			r, _ := e.poll(e.startQuery(tt.query+" | fields cve_id, affected_hosts"), 5000)
			var want []string
			for _, row := range all {
				if tt.want(row) {
					want = append(want, row.CVEID+"@"+row.AffectedHosts)
				}
			}
			if len(want) == 0 {
				t.Fatal("no row matches: the case tests nothing")
			}
			var got []string
			for _, raw := range r.Reply.Results.Data {
				var row cortex.CVERow
				_ = json.Unmarshal(raw, &row)
				got = append(got, row.CVEID+"@"+row.AffectedHosts)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %d rows, want %d", len(got), len(want))
			}
		})
	}
	t.Run("sort desc severity_score", func(t *testing.T) {
		e := e.with(t)
		r, _ := e.poll(e.startQuery("dataset = va_cves | sort desc severity_score | fields cve_id, severity_score"), 0)
		prev := 11.0
		for _, raw := range r.Reply.Results.Data {
			var row cortex.CVERow
			_ = json.Unmarshal(raw, &row)
			if row.SeverityScore == nil {
				prev = -1 // nulls come last
				continue
			}
			if *row.SeverityScore > prev {
				t.Fatalf("rows out of order at %s", raw)
			}
			prev = *row.SeverityScore
		}
	})
}

func TestQueryFailsAndErrors(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 10, Endpoints: 40})
	fails := []string{
		"dataset = xdr_data",
		"dataset = endpoints | filter endpoint_status = CONNECTED",
		"dataset = va_cves | fields name, affected_endpoints",
		"dataset = va_cves | fields name | filter severity = ENUM.HIGH",
		"dataset = va_cves | filter severity_score = \"high\"",
		"dataset = va_cves | arrayexpand affected_hosts | arrayexpand affected_hosts",
		"dataset = va_cves | sort asc affected_hosts",
	}
	for _, q := range fails {
		t.Run("FAIL: "+q, func(t *testing.T) {
			e := e.with(t)
			r, _ := e.poll(e.startQuery(q), 0)
			if r.Reply.Status != cortex.StatusFail || r.Reply.Error == "" {
				t.Errorf("status %s error %q, want FAIL with a message", r.Reply.Status, r.Reply.Error)
			}
		})
	}
	parseErrors := []string{
		"datset = va_cves",
		"dataset = va_cves | alter x = 1",
		"dataset = va_cves |",
		"dataset = va_cves | fields",
		"dataset = va_cves | filter severity = ",
		"dataset = va_cves | limit many",
		"dataset = va_cves | sort severity_score",
		"dataset = va_cves | frobnicate",
	}
	for _, q := range parseErrors {
		t.Run("parse error: "+q, func(t *testing.T) {
			e := e.with(t)
			status, body := e.post(cortex.PathStartXQLQuery, rd(map[string]any{"query": q}), nil)
			if status != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500: %s", status, body)
			}
			var msg struct {
				Line, Column int
				Message      string
			}
			eb := decodeError(t, body)
			if err := json.Unmarshal([]byte(eb.Reply.ErrMsg), &msg); err != nil || msg.Line != 1 || msg.Message == "" {
				t.Errorf("err_msg %q is not the documented {line, column, message}", eb.Reply.ErrMsg)
			}
		})
	}
	badRequests := []struct {
		name, path string
		data       any
	}{
		{"start without query", cortex.PathStartXQLQuery, map[string]any{"tenants": []string{}}},
		{"start with a bad timeframe", cortex.PathStartXQLQuery, map[string]any{"query": "dataset = va_cves", "timeframe": map[string]any{"from": 10}}},
		{"start with from after to", cortex.PathStartXQLQuery, map[string]any{"query": "dataset = va_cves", "timeframe": map[string]any{"from": 10, "to": 5}}},
		{"results without query_id", cortex.PathGetQueryResults, map[string]any{"pending_flag": true}},
		{"results of an unknown query", cortex.PathGetQueryResults, map[string]any{"query_id": "nope_1_inv"}},
		{"results as csv", cortex.PathGetQueryResults, map[string]any{"query_id": "x", "format": "csv"}},
		{"stream without stream_id", cortex.PathGetResultStream, map[string]any{"is_gzip_compressed": true}},
		{"unknown stream", cortex.PathGetResultStream, map[string]any{"stream_id": "nope"}},
	}
	for _, tt := range badRequests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			status, body := e.post(tt.path, rd(tt.data), nil)
			if status != http.StatusBadRequest || decodeError(t, body).Reply.ErrCode != 400 {
				t.Errorf("status %d, want 400: %s", status, body)
			}
		})
	}
	t.Run("timeframe from/to as strings", func(t *testing.T) {
		e := e.with(t)
		status, body := e.post(cortex.PathStartXQLQuery, rd(map[string]any{"query": "dataset = va_cves", "timeframe": map[string]any{"from": "1718000000000", "to": "1720627795000"}}), nil)
		if status != http.StatusOK {
			t.Errorf("status %d: %s", status, body)
		}
	})
}

func TestRunningQueryLimit(t *testing.T) {
	tests := []struct {
		name string
		max  int
	}{
		{"default four", 0},
		{"two", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, cortex.Config{Seed: 11, Endpoints: 20, MaxRunningQueries: tt.max, PendingPolls: 3})
			limit := tt.max
			if limit == 0 {
				limit = 4
			}
			var ids []string
			for range limit {
				ids = append(ids, e.startQuery("dataset = va_cves"))
			}
			status, body := e.post(cortex.PathStartXQLQuery, rd(map[string]any{"query": "dataset = va_cves"}), nil)
			if status != http.StatusInternalServerError || !strings.Contains(string(body), "reached max allowed amount of parallel running queries") {
				t.Fatalf("query %d: status %d %s; want 500 naming parallel running queries", limit+1, status, body)
			}
			decodeError(t, body)
			var quota struct {
				Reply map[string]any `json:"reply"`
			}
			_, qb := e.post(cortex.PathGetQuota, rd(map[string]any{}), nil)
			_ = json.Unmarshal(qb, &quota)
			if quota.Reply["current_concurrent_active_queries_count"] != float64(limit) || quota.Reply["total_daily_concurrent_rejected_queries"] != 1.0 {
				t.Errorf("get_quota %s", qb)
			}
			// A query polled (still PENDING) keeps running; one finished frees a slot.
			e.results(ids[0], 0)
			if status, _ := e.post(cortex.PathStartXQLQuery, rd(map[string]any{"query": "dataset = va_cves"}), nil); status != 500 {
				t.Errorf("after a PENDING poll: status %d, want 500", status)
			}
			e.poll(ids[0], 0)
			e.startQuery("dataset = va_cves")
		})
	}
}

func TestGetQuota(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 12, Endpoints: 20})
	for _, body := range []any{rd(map[string]any{}), ``} { // the docs' curl sends an empty body
		status, raw := e.post(cortex.PathGetQuota, body, nil)
		var r struct {
			Reply struct {
				LicenseQuota *float64 `json:"license_quota"`
				Additional   *float64 `json:"additional_purchased_quota"`
				UsedQuota    *float64 `json:"used_quota"`
				EvalQuota    *float64 `json:"eval_quota"`
			} `json:"reply"`
		}
		if err := json.Unmarshal(raw, &r); status != 200 || err != nil || r.Reply.LicenseQuota == nil || *r.Reply.LicenseQuota != 5 ||
			r.Reply.UsedQuota == nil || r.Reply.Additional == nil || r.Reply.EvalQuota == nil {
			t.Errorf("get_quota: status %d %s", status, raw)
		}
	}
	id := e.startQuery("dataset = va_cves")
	r, _ := e.poll(id, 0)
	if *r.Reply.RemainingQuota >= 5 || *r.Reply.RemainingQuota <= 4.9 {
		t.Errorf("remaining_quota %g after one small query", *r.Reply.RemainingQuota)
	}
}

func TestQuotaExhausted(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 12, Endpoints: 20, QueryQuota: 0.0003, PendingPolls: -1})
	e.startQuery("dataset = va_cves")
	e.startQuery("dataset = va_cves")
	status, body := e.post(cortex.PathStartXQLQuery, rd(map[string]any{"query": "dataset = va_cves"}), nil)
	if status != 500 || !strings.Contains(string(body), "query usage exceeded max daily quota") {
		t.Errorf("status %d %s, want 500 naming the daily quota", status, body)
	}
}
