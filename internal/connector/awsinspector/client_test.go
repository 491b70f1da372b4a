package awsinspector

import (
	"context"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

// observedLog collects what a RequestObserver is told.
type observedLog struct {
	mu   sync.Mutex
	reqs []connector.Request
}

func (l *observedLog) observe(r connector.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
}

func (l *observedLog) count(match func(connector.Request) bool) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, r := range l.reqs {
		if match(r) {
			n++
		}
	}
	return n
}

// observedSource builds a Source from settings whose every HTTP attempt goes to log.
func observedSource(t *testing.T, settings string, log *observedLog) *Source {
	t.Helper()
	t.Setenv("TEST_SOURCE_SECRET", testSecret)
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(settings), &node); err != nil {
		t.Fatal(err)
	}
	inst := connector.Instance{ID: "aws-test", Type: TypeName, Requests: log.observe}
	src, err := Type.NewSource(inst, func(v any) error { return node.Content[0].Decode(v) })
	if err != nil {
		t.Fatal(err)
	}
	return src.(*Source)
}

// TestEveryAttemptIsObserved runs a sync with an assumed role and a server error: the
// observer hears of every request the simulator saw, each named by its operation, the
// failed attempt with its status and the attempt after it as a retry.
func TestEveryAttemptIsObserved(t *testing.T) {
	sim, url := newSimulator(t, 60)
	sim.SetFaults(inspector.Faults{ServerError: 1, Region: "eu-west-1"})
	var log observedLog
	src := observedSource(t, settingsYAML(url, "role_arn: "+testRole, "external_id: ext-1"), &log)
	ctx := context.Background()
	if err := src.Initiate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range src.Test(ctx) {
		if c.Err != nil {
			t.Fatalf("check %s on %s: %v", c.Name, c.Scope, c.Err)
		}
	}
	if _, err := src.Fetch(ctx, connector.FetchRequest{SyncID: "s1", Type: model.SyncFull}, func(*model.RawRecord) error { return nil }); err != nil {
		t.Fatal(err)
	}

	of := func(endpoint string) func(connector.Request) bool {
		return func(r connector.Request) bool { return r.Endpoint == endpoint }
	}
	if n := log.count(of("AssumeRole")); n != 1 {
		t.Errorf("%d AssumeRole attempts observed, want 1", n)
	}
	if got, want := log.count(of("ListFindings")), sim.ListFindingsRequests(); got != want {
		t.Errorf("%d ListFindings attempts observed, the simulator saw %d", got, want)
	}
	if got, want := log.count(of("ListFindingAggregations")), sim.ListFindingAggregationsRequests(); got != want || want == 0 {
		t.Errorf("%d ListFindingAggregations attempts observed, the simulator saw %d", got, want)
	}
	if n := log.count(func(r connector.Request) bool { return r.Status == 500 && !r.Retry && r.Endpoint == "ListFindings" }); n != 1 {
		t.Errorf("%d first attempts answered 500, want the 1 the simulator failed", n)
	}
	if n := log.count(func(r connector.Request) bool { return r.Retry }); n != 1 {
		t.Errorf("%d retries observed, want 1", n)
	}
	if n := log.count(func(r connector.Request) bool { return r.Retry && r.Status == 200 }); n != 1 {
		t.Errorf("the retry was not answered 200: %+v", log.reqs)
	}
	if n := log.count(func(r connector.Request) bool { return r.Duration <= 0 }); n != 0 {
		t.Errorf("%d attempts without a duration", n)
	}
}

// TestUnansweredAttemptsAreObserved checks that an attempt with no HTTP answer is
// observed with status 0, each try of it.
func TestUnansweredAttemptsAreObserved(t *testing.T) {
	var log observedLog
	src := observedSource(t, settingsYAML("http://127.0.0.1:1"), &log) // max_attempts: 3
	ctx := context.Background()
	if err := src.Initiate(ctx); err != nil {
		t.Fatal(err)
	}
	checks := src.Test(ctx)
	if len(checks) != 2 || checks[0].Err == nil {
		t.Fatalf("checks %+v, want two failed", checks)
	}
	first := log.count(func(r connector.Request) bool { return r.Endpoint == "ListFindings" && r.Status == 0 && !r.Retry })
	all := log.count(func(r connector.Request) bool { return r.Endpoint == "ListFindings" && r.Status == 0 })
	if first != 2 || all < 2 {
		t.Errorf("%d first attempts and %d attempts without an answer; want one first attempt per region: %+v", first, all, log.reqs)
	}
}
