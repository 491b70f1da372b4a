package cortex_test

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tributary-sec/tributary/internal/simulator/cortex"
)

func TestPagingReturnsDataset(t *testing.T) {
	tests := []struct {
		name      string
		endpoints int
		path      string
	}{
		{"no trailing slash", 250, cortex.PathGetEndpoint},
		{"trailing slash", 250, cortex.PathGetEndpoint + "/"},
		{"exactly one page", 100, cortex.PathGetEndpoint},
		{"one endpoint", 1, cortex.PathGetEndpoint + "/"},
		{"empty tenant", 0, cortex.PathGetEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, cortex.Config{Seed: 3, Endpoints: tt.endpoints})
			got, totals := e.listAll(tt.path, nil, nil)
			want := e.sim.Endpoints()
			if len(got) != tt.endpoints || len(want) != tt.endpoints {
				t.Fatalf("listed %d endpoints, Endpoints() has %d, want %d", len(got), len(want), tt.endpoints)
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("endpoint %d served differs from Endpoints():\n%+v\n%+v", i, got[i], want[i])
				}
			}
			for _, total := range totals {
				if total != tt.endpoints {
					t.Errorf("total_count %d, want %d", total, tt.endpoints)
				}
			}
			pages := max(1, (tt.endpoints+99)/100)
			if n := e.sim.Requests(cortex.PathGetEndpoint); n != pages {
				t.Errorf("Requests(get_endpoint) = %d, want %d", n, pages)
			}
			if n := e.sim.Requests(cortex.PathGetEndpoint + "/"); n != pages {
				t.Errorf("Requests with a trailing slash = %d, want %d", n, pages)
			}
		})
	}
}

func TestPageWindow(t *testing.T) {
	tests := []struct {
		name       string
		cfg        cortex.Config
		data       map[string]any
		wantStatus int
		wantCount  int
		wantFirst  int // index of the first endpoint served
	}{
		{"full page", cortex.Config{}, map[string]any{"search_from": 0, "search_to": 100}, 200, 100, 0},
		{"defaults", cortex.Config{}, map[string]any{}, 200, 100, 0},
		{"only search_from", cortex.Config{}, map[string]any{"search_from": 200}, 200, 50, 200},
		{"last partial page", cortex.Config{}, map[string]any{"search_from": 240, "search_to": 340}, 200, 10, 240},
		{"past the end", cortex.Config{}, map[string]any{"search_from": 300, "search_to": 400}, 200, 0, 0},
		{"small window", cortex.Config{}, map[string]any{"search_from": 7, "search_to": 10}, 200, 3, 7},
		{"window over 100", cortex.Config{}, map[string]any{"search_from": 0, "search_to": 101}, 400, 0, 0},
		{"window over page cap", cortex.Config{PageCap: 50}, map[string]any{"search_from": 10, "search_to": 61}, 400, 0, 0},
		{"to before from", cortex.Config{}, map[string]any{"search_from": 50, "search_to": 30}, 400, 0, 0},
		{"negative from", cortex.Config{}, map[string]any{"search_from": -1, "search_to": 30}, 400, 0, 0},
		{"string offset", cortex.Config{}, map[string]any{"search_from": "zero", "search_to": 30}, 400, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Seed, cfg.Endpoints = 4, 250
			e := newEnv(t, cfg)
			p, status, body := e.getEndpoint(cortex.PathGetEndpoint, tt.data)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
			}
			if status != 200 {
				eb := decodeError(t, body)
				if eb.Reply.ErrCode != 400 || eb.Reply.ErrMsg == "" {
					t.Errorf("error body %s", body)
				}
				return
			}
			if *p.Reply.TotalCount != 250 || *p.Reply.ResultCount != tt.wantCount || len(p.Reply.Endpoints) != tt.wantCount {
				t.Errorf("total_count %d result_count %d endpoints %d; want 250, %d", *p.Reply.TotalCount, *p.Reply.ResultCount, len(p.Reply.Endpoints), tt.wantCount)
			}
			if tt.wantCount > 0 {
				got := decodeEndpoints(t, p.Reply.Endpoints[:1])[0]
				if want := e.sim.Endpoints()[tt.wantFirst]; got.EndpointID != want.EndpointID {
					t.Errorf("first endpoint %s, want index %d (%s)", got.EndpointID, tt.wantFirst, want.EndpointID)
				}
			}
		})
	}
}

func TestFilters(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 5, Endpoints: 700})
	all := e.sim.Endpoints()
	mid := all[350]
	var isolated, withAlias, root bool
	for _, ep := range all {
		isolated = isolated || ep.IsIsolated == "AGENT_ISOLATED"
		withAlias = withAlias || ep.Alias != ""
		root = root || slices.Contains(ep.Users, "root")
	}
	if !isolated || !withAlias || !root {
		t.Fatalf("dataset lacks an isolated endpoint (%t), an alias (%t) or a root user (%t)", isolated, withAlias, root)
	}
	var aliased string
	for _, ep := range all {
		if ep.Alias != "" {
			aliased = ep.Alias
			break
		}
	}
	tests := []struct {
		name    string
		filters []map[string]any
		want    func(ep cortex.Endpoint) bool
	}{
		{"status in", []map[string]any{filter("endpoint_status", "in", []string{"lost", "uninstalled"})},
			func(ep cortex.Endpoint) bool {
				return ep.EndpointStatus == "LOST" || ep.EndpointStatus == "UNINSTALLED"
			}},
		{"status IN, upper-case operator as XSOAR sends it", []map[string]any{filter("endpoint_status", "IN", []string{"connected"})},
			func(ep cortex.Endpoint) bool { return ep.EndpointStatus == "CONNECTED" }},
		{"status eq", []map[string]any{filter("endpoint_status", "eq", "disconnected")},
			func(ep cortex.Endpoint) bool { return ep.EndpointStatus == "DISCONNECTED" }},
		{"platform", []map[string]any{filter("platform", "in", []string{"linux", "macos"})},
			func(ep cortex.Endpoint) bool { return ep.OSType == "AGENT_OS_LINUX" || ep.OSType == "AGENT_OS_MAC" }},
		{"hostname finds both endpoints of a shared name", []map[string]any{filter("hostname", "in", []string{all[2].EndpointName})},
			func(ep cortex.Endpoint) bool { return ep.EndpointName == all[2].EndpointName }},
		{"hostname is case-insensitive", []map[string]any{filter("hostname", "eq", strings.ToLower(all[9].EndpointName))},
			func(ep cortex.Endpoint) bool { return strings.EqualFold(ep.EndpointName, all[9].EndpointName) }},
		{"endpoint ids", []map[string]any{filter("endpoint_id_list", "in", []string{all[0].EndpointID, all[699].EndpointID, "nope"})},
			func(ep cortex.Endpoint) bool {
				return ep.EndpointID == all[0].EndpointID || ep.EndpointID == all[699].EndpointID
			}},
		{"first_seen gte", []map[string]any{filter("first_seen", "gte", mid.FirstSeen)},
			func(ep cortex.Endpoint) bool { return ep.FirstSeen >= mid.FirstSeen }},
		{"last_seen lte", []map[string]any{filter("last_seen", "lte", mid.LastSeen)},
			func(ep cortex.Endpoint) bool { return ep.LastSeen <= mid.LastSeen }},
		{"last_seen window", []map[string]any{filter("last_seen", "gte", mid.LastSeen-7*86400000), filter("last_seen", "lte", mid.LastSeen)},
			func(ep cortex.Endpoint) bool {
				return ep.LastSeen >= mid.LastSeen-7*86400000 && ep.LastSeen <= mid.LastSeen
			}},
		{"AND of three", []map[string]any{filter("endpoint_status", "in", []string{"connected"}), filter("platform", "in", []string{"windows"}), filter("first_seen", "gte", mid.FirstSeen)},
			func(ep cortex.Endpoint) bool {
				return ep.EndpointStatus == "CONNECTED" && ep.OSType == "AGENT_OS_WINDOWS" && ep.FirstSeen >= mid.FirstSeen
			}},
		{"ip_list", []map[string]any{filter("ip_list", "in", []string{all[7].IP[0]})},
			func(ep cortex.Endpoint) bool { return slices.Contains(ep.IP, all[7].IP[0]) }},
		{"public_ip_list", []map[string]any{filter("public_ip_list", "in", []string{all[8].PublicIP})},
			func(ep cortex.Endpoint) bool { return ep.PublicIP == all[8].PublicIP }},
		{"dist_name", []map[string]any{filter("dist_name", "in", []string{"linux-servers"})},
			func(ep cortex.Endpoint) bool { return ep.InstallationPackage == "linux-servers" }},
		{"group_name", []map[string]any{filter("group_name", "in", []string{"Production"})},
			func(ep cortex.Endpoint) bool { return slices.Contains(ep.GroupName, "Production") }},
		{"isolate", []map[string]any{filter("isolate", "in", []string{"isolated"})},
			func(ep cortex.Endpoint) bool { return ep.IsIsolated == "AGENT_ISOLATED" }},
		{"username", []map[string]any{filter("username", "in", []string{"root"})},
			func(ep cortex.Endpoint) bool { return slices.Contains(ep.Users, "root") }},
		{"scan_status", []map[string]any{filter("scan_status", "in", []string{"success"})},
			func(ep cortex.Endpoint) bool { return ep.ScanStatus == "SCAN_STATUS_SUCCESS" }},
		{"alias", []map[string]any{filter("alias", "eq", aliased)},
			func(ep cortex.Endpoint) bool { return ep.Alias == aliased }},
		{"empty filter list", []map[string]any{}, func(cortex.Endpoint) bool { return true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			got, totals := e.listAll(cortex.PathGetEndpoint, tt.filters, nil)
			var want []cortex.Endpoint
			for _, ep := range all {
				if tt.want(ep) {
					want = append(want, ep)
				}
			}
			if len(want) == 0 {
				t.Fatalf("no endpoint matches: the case tests nothing")
			}
			if len(got) != len(want) || totals[0] != len(want) {
				t.Fatalf("got %d endpoints (total_count %d), want %d", len(got), totals[0], len(want))
			}
			for i := range want {
				if got[i].EndpointID != want[i].EndpointID {
					t.Fatalf("endpoint %d is %s, want %s", i, got[i].EndpointID, want[i].EndpointID)
				}
			}
		})
	}
}

func TestSort(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 6, Endpoints: 330})
	tests := []struct {
		field, keyword string
		less           func(a, b cortex.Endpoint) bool // a may precede b
	}{
		{"last_seen", "DESC", func(a, b cortex.Endpoint) bool { return a.LastSeen >= b.LastSeen }},
		{"last_seen", "desc", func(a, b cortex.Endpoint) bool { return a.LastSeen >= b.LastSeen }},
		{"first_seen", "ASC", func(a, b cortex.Endpoint) bool { return a.FirstSeen <= b.FirstSeen }},
		{"endpoint_id", "asc", func(a, b cortex.Endpoint) bool { return a.EndpointID <= b.EndpointID }},
	}
	for _, tt := range tests {
		t.Run(tt.field+" "+tt.keyword, func(t *testing.T) {
			e := e.with(t)
			got, _ := e.listAll(cortex.PathGetEndpoint, nil, map[string]any{"field": tt.field, "keyword": tt.keyword})
			if len(got) != 330 {
				t.Fatalf("got %d endpoints, want 330", len(got))
			}
			for i := 1; i < len(got); i++ {
				if !tt.less(got[i-1], got[i]) {
					t.Fatalf("endpoints %d and %d out of order", i-1, i)
				}
			}
		})
	}
}

func TestGetEndpointBadRequests(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 7, Endpoints: 20})
	tests := []struct {
		name string
		body any
		want int
	}{
		{"unknown filter field", rd(map[string]any{"filters": []any{filter("color", "in", []string{"red"})}}), 400},
		{"gte on a string field", rd(map[string]any{"filters": []any{filter("hostname", "gte", "a")}}), 400},
		{"in on a timestamp", rd(map[string]any{"filters": []any{filter("last_seen", "in", []int{1})}}), 400},
		{"unknown status", rd(map[string]any{"filters": []any{filter("endpoint_status", "in", []string{"asleep"})}}), 400},
		{"in with a scalar", rd(map[string]any{"filters": []any{filter("hostname", "in", "web-01")}}), 400},
		{"timestamp not a number", rd(map[string]any{"filters": []any{filter("first_seen", "gte", "yesterday")}}), 400},
		{"filter lacks value", rd(map[string]any{"filters": []any{map[string]any{"field": "hostname", "operator": "in"}}}), 400},
		{"filters not a list", rd(map[string]any{"filters": "hostname"}), 400},
		{"unknown sort field", rd(map[string]any{"sort": map[string]any{"field": "color", "keyword": "ASC"}}), 400},
		{"bad sort keyword", rd(map[string]any{"sort": map[string]any{"field": "last_seen", "keyword": "UP"}}), 400},
		{"no request_data", map[string]any{}, 400},
		{"invalid JSON", `{"request_data": {`, 400},
		{"empty body", ``, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			status, body := e.post(cortex.PathGetEndpoint, tt.body, nil)
			if status != tt.want {
				t.Fatalf("status %d, want %d: %s", status, tt.want, body)
			}
			eb := decodeError(t, body)
			if eb.Reply.ErrCode != tt.want {
				t.Errorf("err_code %d, want %d", eb.Reply.ErrCode, tt.want)
			}
		})
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 1, Endpoints: 5})
	status, body := e.post("/public_api/v1/endpoints/get_endpointz", rd(map[string]any{}), nil)
	if status != http.StatusNotFound || decodeError(t, body).Reply.ErrCode != 404 {
		t.Errorf("unknown path: status %d %s", status, body)
	}
	resp, err := http.Get(e.srv.URL + cortex.PathGetEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", resp.StatusCode)
	}
}
