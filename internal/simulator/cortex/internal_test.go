package cortex

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAdvancedKeySkewBoundary(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s, err := New(Config{Seed: 1, Endpoints: 1, APIKeyID: "5", APIKey: "k", Advanced: true})
	if err != nil {
		t.Fatal(err)
	}
	s.clock = func() time.Time { return now }
	nonce := strings.Repeat("aB3", 21) + "x"
	tests := []struct {
		offset time.Duration
		want   bool
	}{
		{0, true},
		{-5 * time.Minute, true},
		{5 * time.Minute, true},
		{-5*time.Minute - time.Millisecond, false},
		{5*time.Minute + time.Millisecond, false},
	}
	for _, tt := range tests {
		ts := strconv.FormatInt(now.Add(tt.offset).UnixMilli(), 10)
		r := httptest.NewRequest(http.MethodPost, PathGetQuota, nil)
		r.Header.Set(HeaderAuthID, "5")
		r.Header.Set(HeaderNonce, nonce)
		r.Header.Set(HeaderTimestamp, ts)
		r.Header.Set("Authorization", AdvancedAuthorization("k", nonce, ts))
		if got := s.authenticate(r); got != tt.want {
			t.Errorf("timestamp %+v from now: accepted %t, want %t", tt.offset, got, tt.want)
		}
	}
}

func TestAbandonedQueryStopsCounting(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s, err := New(Config{Seed: 1, Endpoints: 3, MaxRunningQueries: 1, RequestsPerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.clock = func() time.Time { return now }
	start := func() int {
		r := httptest.NewRequest(http.MethodPost, PathStartXQLQuery, strings.NewReader(`{"request_data":{"query":"dataset = va_cves"}}`))
		r.Header.Set(HeaderAuthID, DefaultAPIKeyID)
		r.Header.Set("Authorization", DefaultAPIKey)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w.Code
	}
	if c := start(); c != 200 {
		t.Fatalf("first query: %d", c)
	}
	if c := start(); c != 500 {
		t.Fatalf("second query while the first runs: %d, want 500", c)
	}
	now = now.Add(runningTimeout)
	if c := start(); c != 200 {
		t.Errorf("after the first was abandoned: %d, want 200", c)
	}
	// The quota day rolls over at midnight UTC.
	s.xql.mu.Lock()
	used := s.xql.used
	s.xql.mu.Unlock()
	if used <= 0 {
		t.Fatalf("used quota %g", used)
	}
	now = now.Add(24 * time.Hour)
	s.xql.mu.Lock()
	s.xql.rollDay(now)
	used = s.xql.used
	s.xql.mu.Unlock()
	if used != 0 {
		t.Errorf("used quota %g the next day", used)
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		query   string
		dataset string
		stages  []string
		fail    bool // run fails (semantic error) rather than the parse
	}{
		{"dataset = va_cves", "va_cves", nil, false},
		{"DATASET=va_endpoints|limit 3", "va_endpoints", []string{"limit"}, false},
		{"dataset = va_cves | arrayexpand affected_hosts | fields name, severity, severity_score, affected_hosts | limit 1000", "va_cves", []string{"arrayexpand", "fields", "limit"}, false},
		{`dataset = va_cves | filter description contains "a | b" | fields *`, "va_cves", []string{"filter", "fields"}, false},
		{"dataset = va_cves | filter (severity = ENUM.LOW or severity_score > 9) and not type = APPLICATION", "va_cves", []string{"filter"}, false},
		{"dataset = va_cves | sort desc severity_score, asc cve_id", "va_cves", []string{"sort"}, false},
		{"dataset = va_cves | fields name, *", "va_cves", []string{"fields"}, false},
		{"dataset = va_endpoints | arrayexpand cves | filter cves = \"CVE-2024-1\"", "va_endpoints", []string{"arrayexpand", "filter"}, false},
		{"dataset = host_inventory", "host_inventory", nil, true},
		{"dataset = va_cves | arrayexpand affected_products", "va_cves", []string{"arrayexpand"}, true},
		{"dataset = va_cves | filter affected_hosts = \"x\"", "va_cves", []string{"filter"}, true},
	}
	d := generate(Config{Seed: 1, Endpoints: 20, Now: DefaultNow})
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			prog, err := parseQuery(tt.query)
			if err != nil {
				t.Fatalf("parsing: %v", err)
			}
			var kinds []string
			for _, st := range prog.stages {
				kinds = append(kinds, st.kind)
			}
			if prog.dataset != tt.dataset || strings.Join(kinds, ",") != strings.Join(tt.stages, ",") {
				t.Errorf("dataset %q stages %v, want %q %v", prog.dataset, kinds, tt.dataset, tt.stages)
			}
			_, err = run(d, prog)
			var qf *queryFailure
			if got := errors.As(err, &qf); got != tt.fail || err != nil && !got {
				t.Errorf("run: %v, want failure %t", err, tt.fail)
			}
		})
	}
}
