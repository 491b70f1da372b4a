package cortex_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/tributary-sec/tributary/internal/simulator/cortex"
)

// wire returns every byte a fixed sequence of calls gets from a fresh simulator.
func wire(t *testing.T, cfg cortex.Config) []byte {
	t.Helper()
	e := newEnv(t, cfg)
	var out bytes.Buffer
	for from := 0; from < cfg.Endpoints; from += 100 {
		_, body := e.post(cortex.PathGetEndpoint, rd(map[string]any{"search_from": from, "search_to": from + 100}), nil)
		out.Write(body)
	}
	for _, q := range []string{"dataset = va_cves | arrayexpand affected_hosts", "dataset = va_endpoints"} {
		id := e.startQuery(q)
		out.WriteString(id)
		r, _ := e.poll(id, 0)
		if r.Reply.Results.StreamID != "" {
			out.WriteString(r.Reply.Results.StreamID)
			for _, line := range e.stream(r.Reply.Results.StreamID, false) {
				out.Write(line)
			}
			continue
		}
		for _, row := range r.Reply.Results.Data {
			out.Write(row)
		}
	}
	return out.Bytes()
}

func TestDeterminism(t *testing.T) {
	base := wire(t, cortex.Config{Seed: 42, Endpoints: 300})
	tests := []struct {
		name string
		cfg  cortex.Config
		same bool
	}{
		{"same seed", cortex.Config{Seed: 42, Endpoints: 300}, true},
		{"same seed, explicit default now", cortex.Config{Seed: 42, Endpoints: 300, Now: cortex.DefaultNow}, true},
		{"different seed", cortex.Config{Seed: 43, Endpoints: 300}, false},
		{"different now", cortex.Config{Seed: 42, Endpoints: 300, Now: cortex.DefaultNow.AddDate(0, 1, 0)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bytes.Equal(base, wire(t, tt.cfg)); got != tt.same {
				t.Errorf("wire bytes identical: %t, want %t", got, tt.same)
			}
		})
	}
}

func TestEdgeCases(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 15, Endpoints: 40})
	eps := e.sim.Endpoints()
	for i, want := range []string{"CONNECTED", "DISCONNECTED", "LOST", "UNINSTALLED"} {
		if eps[i].EndpointStatus != want {
			t.Errorf("endpoint %d status %s, want %s", i, eps[i].EndpointStatus, want)
		}
	}
	if eps[5].EndpointName != eps[2].EndpointName || eps[5].EndpointID == eps[2].EndpointID || eps[5].EndpointStatus != "CONNECTED" {
		t.Errorf("endpoint 5 (%s %s) does not reinstall endpoint 2 (%s %s)", eps[5].EndpointName, eps[5].EndpointStatus, eps[2].EndpointName, eps[2].EndpointStatus)
	}
	rows := e.sim.CVERows()
	type edge struct {
		score    *float64
		severity string
	}
	f := func(v float64) *float64 { return &v }
	want := []edge{{f(0), "LOW"}, {f(0.1), "LOW"}, {f(3.9), "LOW"}, {f(4.0), "MEDIUM"}, {f(6.9), "MEDIUM"},
		{f(7.0), "HIGH"}, {f(8.9), "HIGH"}, {f(9.0), "CRITICAL"}, {f(10), "CRITICAL"}, {nil, "HIGH"}}
	for k, w := range want {
		r := rows[k]
		if (r.SeverityScore == nil) != (w.score == nil) || w.score != nil && *r.SeverityScore != *w.score || r.Severity != w.severity {
			t.Errorf("edge %d: score %v severity %s, want %v %s", k, r.SeverityScore, r.Severity, w.score, w.severity)
		}
		if r.AffectedHosts != eps[k].EndpointName {
			t.Errorf("edge %d affects %s, want endpoint %d (%s)", k, r.AffectedHosts, k, eps[k].EndpointName)
		}
	}
	// The raw JSON carries the band edges exactly as written.
	r, _ := e.poll(e.startQuery("dataset = va_cves | fields severity_score | limit 10"), 0)
	var got []string
	for _, raw := range r.Reply.Results.Data {
		got = append(got, string(raw))
	}
	if s := strings.Join(got, ","); s != `{"severity_score":0},{"severity_score":0.1},{"severity_score":3.9},{"severity_score":4},{"severity_score":6.9},{"severity_score":7},{"severity_score":8.9},{"severity_score":9},{"severity_score":10},{"severity_score":null}` {
		t.Errorf("edge rows %s", s)
	}
}

func TestEndpointShape(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 16, Endpoints: 500})
	p, _, _ := e.getEndpoint(cortex.PathGetEndpoint, map[string]any{"search_from": 0, "search_to": 100})
	// Every documented field is present on the wire, with null where documented.
	fields := []string{"endpoint_id", "endpoint_name", "endpoint_type", "endpoint_status", "os_type", "os_version",
		"operating_system", "ip", "ipv6", "public_ip", "mac_address", "users", "domain", "alias", "first_seen",
		"last_seen", "install_date", "content_version", "content_status", "content_release_timestamp",
		"last_content_update_time", "installation_package", "active_directory", "endpoint_version", "is_isolated",
		"isolated_date", "group_name", "operational_status", "operational_status_description",
		"operational_status_details", "scan_status", "assigned_prevention_policy", "assigned_extensions_policy",
		"cloud_provider", "cloud_region", "cloud_provider_account_id", "cloud_instance_id", "cloud_id", "tags"}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p.Reply.Endpoints[0], &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		if _, ok := m[f]; !ok {
			t.Errorf("endpoint lacks %s", f)
		}
	}
	if len(m) != len(fields) {
		t.Errorf("endpoint has %d fields, want %d", len(m), len(fields))
	}
	var tags map[string][]string
	if err := json.Unmarshal(m["tags"], &tags); err != nil || tags["server_tags"] == nil || tags["endpoint_tags"] == nil || len(tags) != 2 {
		t.Errorf("tags %s, want {server_tags, endpoint_tags}", m["tags"])
	}
	patterns := map[string]*regexp.Regexp{
		"id":  regexp.MustCompile(`^[0-9a-f]{32}$`),
		"mac": regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`),
		"ip":  regexp.MustCompile(`^\d{1,3}(\.\d{1,3}){3}$`),
	}
	types := map[string]bool{}
	for _, ep := range e.sim.Endpoints() {
		types[ep.EndpointType+"/"+ep.OSType] = true
		if !patterns["id"].MatchString(ep.EndpointID) || len(ep.IP) == 0 || !patterns["ip"].MatchString(ep.IP[0]) ||
			len(ep.MACAddress) == 0 || !patterns["mac"].MatchString(ep.MACAddress[0]) {
			t.Fatalf("endpoint %+v: bad id, ip or mac", ep)
		}
		if ep.FirstSeen > ep.LastSeen || ep.LastSeen > cortex.DefaultNow.UnixMilli() || ep.FirstSeen < 1600000000000 {
			t.Fatalf("endpoint %s: first_seen %d, last_seen %d", ep.EndpointID, ep.FirstSeen, ep.LastSeen)
		}
		if (ep.IsIsolated == "AGENT_ISOLATED") != (ep.IsolatedDate != nil) && ep.IsIsolated != "AGENT_PENDING_ISOLATION" {
			t.Fatalf("endpoint %s: is_isolated %s, isolated_date %v", ep.EndpointID, ep.IsIsolated, ep.IsolatedDate)
		}
	}
	for _, want := range []string{"AGENT_TYPE_WORKSTATION/AGENT_OS_WINDOWS", "AGENT_TYPE_SERVER/AGENT_OS_WINDOWS",
		"AGENT_TYPE_SERVER/AGENT_OS_LINUX", "AGENT_TYPE_WORKSTATION/AGENT_OS_MAC"} {
		if !types[want] {
			t.Errorf("no %s endpoint among 500", want)
		}
	}
}

func TestLargeTenant(t *testing.T) {
	sim, err := cortex.New(cortex.Config{Seed: 17, Endpoints: 100_000, RequestsPerSecond: -1, APIKeyID: testKeyID, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	eps := sim.Endpoints()
	if len(eps) != 100_000 {
		t.Fatalf("%d endpoints, want 100000", len(eps))
	}
	names := map[string]int{}
	statuses := map[string]int{}
	ids := map[string]bool{}
	for _, ep := range eps {
		names[ep.EndpointName]++
		statuses[ep.EndpointStatus]++
		ids[ep.EndpointID] = true
	}
	shared := 0
	for _, n := range names {
		if n > 1 {
			shared += n
		}
	}
	if len(ids) != len(eps) {
		t.Errorf("%d distinct endpoint ids among %d endpoints", len(ids), len(eps))
	}
	if shared < 2000 || shared > 12000 {
		t.Errorf("%d endpoints share a name, want a few percent", shared)
	}
	for _, s := range []string{"CONNECTED", "DISCONNECTED", "LOST", "UNINSTALLED"} {
		if statuses[s] < 1000 {
			t.Errorf("%d %s endpoints", statuses[s], s)
		}
	}
	rows := sim.CVERows()
	if len(rows) < 300_000 {
		t.Errorf("%d va_cves rows for 100000 endpoints", len(rows))
	}
	// A page deep into the tenant is served without regenerating it.
	srv := newEnv(t, cortex.Config{Seed: 17, Endpoints: 100_000})
	p, status, body := srv.getEndpoint(cortex.PathGetEndpoint, map[string]any{"search_from": 99_950, "search_to": 100_050})
	if status != 200 || *p.Reply.TotalCount != 100_000 || len(p.Reply.Endpoints) != 50 {
		t.Fatalf("deep page: status %d %.200s", status, body)
	}
	if got := decodeEndpoints(t, p.Reply.Endpoints[49:])[0]; got.EndpointID != eps[99_999].EndpointID {
		t.Errorf("last endpoint %s, want %s", got.EndpointID, eps[99_999].EndpointID)
	}
}

func TestEmptyTenant(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 18})
	if n := len(e.sim.Endpoints()); n != 0 {
		t.Fatalf("%d endpoints in an empty tenant", n)
	}
	p, status, _ := e.getEndpoint(cortex.PathGetEndpoint, map[string]any{})
	if status != 200 || *p.Reply.TotalCount != 0 || *p.Reply.ResultCount != 0 || len(p.Reply.Endpoints) != 0 {
		t.Errorf("get_endpoint of an empty tenant: %+v", p)
	}
	for _, q := range []string{"dataset = va_cves | arrayexpand affected_hosts", "dataset = va_endpoints"} {
		r, _ := e.poll(e.startQuery(q), 0)
		if r.Reply.Status != cortex.StatusSuccess || *r.Reply.NumberOfResults != 0 || r.Reply.Results == nil || r.Reply.Results.Data == nil {
			t.Errorf("%s: %+v", q, r.Reply)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  cortex.Config
	}{
		{"negative endpoints", cortex.Config{Endpoints: -1}},
		{"too many endpoints", cortex.Config{Endpoints: cortex.MaxEndpoints + 1}},
		{"key id without key", cortex.Config{APIKeyID: "1"}},
		{"negative skew", cortex.Config{MaxSkew: -1}},
		{"negative page cap", cortex.Config{PageCap: -5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := cortex.New(tt.cfg); err == nil {
				t.Error("New accepted the config")
			}
		})
	}
}
