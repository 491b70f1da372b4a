package cortexxdr

import (
	"path"
	"sync"
	"testing"

	"github.com/tributary-sec/tributary/internal/connector"
)

// TestEveryAttemptIsObserved checks that the Source tells its RequestObserver of every
// call the tenant saw, named by operation, with the status of each answer (0 for none)
// and every attempt after a call's first marked as a retry.
func TestEveryAttemptIsObserved(t *testing.T) {
	f, url := newFakeTenant(t)
	f.endpoints = []string{endpointJSON("id-1", "H", "CONNECTED", 1)}
	f.rows = []string{rowJSON("CVE-1", "H")}
	f.fail(apiGetEndpoint, fault{status: 500})
	f.fail(apiStartQuery, fault{hangUp: true})
	var (
		mu   sync.Mutex
		seen []connector.Request
	)
	src := sourceFor(t, url)
	src.inst.Requests = func(r connector.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r)
	}
	if _, _, err := fetchAll(t, src); err != nil {
		t.Fatal(err)
	}
	count := func(match func(connector.Request) bool) int {
		n := 0
		for _, r := range seen {
			if match(r) {
				n++
			}
		}
		return n
	}
	for _, api := range []string{apiGetEndpoint, apiStartQuery, apiQueryResults} {
		name := path.Base(api)
		if got, want := count(func(r connector.Request) bool { return r.Endpoint == name }), len(f.calls(api)); got != want || want == 0 {
			t.Errorf("%s: %d attempts observed, the tenant saw %d", name, got, want)
		}
	}
	if n := count(func(r connector.Request) bool { return r.Endpoint == "get_endpoint" && r.Status == 500 && !r.Retry }); n != 1 {
		t.Errorf("%d first get_endpoint attempts answered 500, want 1: %+v", n, seen)
	}
	if n := count(func(r connector.Request) bool { return r.Endpoint == "start_xql_query" && r.Status == 0 && !r.Retry }); n != 1 {
		t.Errorf("%d first start_xql_query attempts without an answer, want 1: %+v", n, seen)
	}
	if n := count(func(r connector.Request) bool { return r.Retry && r.Status == 200 }); n != 2 {
		t.Errorf("%d retries answered 200, want one per failed call (2): %+v", n, seen)
	}
	if n := count(func(r connector.Request) bool { return r.Retry }); n != 2 {
		t.Errorf("%d retries, want 2: %+v", n, seen)
	}
}
