package awsinspector

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/inspector2/types"
	"gopkg.in/yaml.v3"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

const (
	testKeyID  = "AKIASOURCETEST000001"
	testSecret = "source/test/secret"
	testRole   = "arn:aws:iam::111122223333:role/InspectorReadOnly"
)

var testRegions = []string{"us-east-1", "eu-west-1"}

func newSimulator(t *testing.T, findings int) (*inspector.Simulator, string) {
	t.Helper()
	sim, err := inspector.New(inspector.Config{
		Seed: 3, Findings: findings, Regions: testRegions,
		AccessKeyID: testKeyID, SecretAccessKey: testSecret,
		RoleARN: testRole, ExternalID: "ext-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

// newTestSource builds a Source from connectors-file YAML, as the fetcher does.
func newTestSource(t *testing.T, settings string) *Source {
	t.Helper()
	src, err := sourceFromYAML(t, settings)
	if err != nil {
		t.Fatal(err)
	}
	return src.(*Source)
}

// sourceFromYAML is newTestSource returning NewSource's error.
func sourceFromYAML(t *testing.T, settings string) (connector.Source, error) {
	t.Helper()
	t.Setenv("TEST_SOURCE_SECRET", testSecret)
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(settings), &node); err != nil {
		t.Fatal(err)
	}
	return Type.NewSource(connector.Instance{ID: "aws-test", Type: TypeName}, func(v any) error { return node.Content[0].Decode(v) })
}

func settingsYAML(endpoint string, extra ...string) string {
	return strings.Join(append([]string{
		"regions: [us-east-1, eu-west-1]",
		"access_key_id: " + testKeyID,
		"secret_access_key: {env: TEST_SOURCE_SECRET}",
		"endpoint: " + endpoint,
		"sts_endpoint: " + endpoint,
		"max_attempts: 3",
	}, extra...), "\n")
}

func fetchAll(t *testing.T, src *Source, req connector.FetchRequest) ([]*model.RawRecord, connector.FetchResult, error) {
	t.Helper()
	ctx := context.Background()
	if err := src.Initiate(ctx); err != nil {
		t.Fatalf("Initiate: %v", err)
	}
	var (
		mu  sync.Mutex
		got []*model.RawRecord
	)
	res, err := src.Fetch(ctx, req, func(r *model.RawRecord) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r)
		return nil
	})
	return got, res, err
}

func TestFetchPagesEveryRegionAndKeepsVendorBytes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"access keys", nil},
		{"assumed role with external id", []string{"role_arn: " + testRole, "external_id: ext-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, url := newSimulator(t, 120)
			src := newTestSource(t, settingsYAML(url, tc.extra...))
			got, res, err := fetchAll(t, src, connector.FetchRequest{SyncID: "s1", Type: model.SyncFull})
			if err != nil {
				t.Fatal(err)
			}
			// Regions are fetched concurrently; within a region, records keep vendor order.
			byRegion := map[string][]*model.RawRecord{}
			for _, r := range got {
				byRegion[r.Scope] = append(byRegion[r.Scope], r)
			}
			total := 0
			for _, region := range testRegions {
				want := sim.Findings(region)
				total += len(want)
				scope := scopeOf(res, region)
				if scope.Outcome != model.OutcomeSucceeded || scope.Records != int64(len(want)) {
					t.Errorf("scope %s: %+v, want succeeded with %d records", region, scope, len(want))
				}
				if len(byRegion[region]) != len(want) {
					t.Fatalf("region %s: fetched %d records, the simulator has %d", region, len(byRegion[region]), len(want))
				}
				for i, w := range want {
					r := byRegion[region][i]
					if string(r.Payload) != string(w) {
						t.Fatalf("record %d of %s differs from what the simulator served:\n got %.200s\nwant %.200s", i, region, r.Payload, w)
					}
					if r.Kind != KindFinding || r.SyncID != "s1" || r.ConnectorID != "aws-test" || !strings.HasPrefix(r.VendorKey, "arn:aws:inspector2:") {
						t.Errorf("record %d of %s: %+v", i, region, r)
					}
				}
			}
			if total != len(got) {
				t.Errorf("fetched %d records, the simulator has %d", len(got), total)
			}
		})
	}
}

func scopeOf(res connector.FetchResult, region string) model.ScopeOutcome {
	for _, s := range res.Scopes {
		if s.Scope == region {
			return s
		}
	}
	return model.ScopeOutcome{}
}

func TestFetchIncrementalAsksForUpdatedFindingsOnly(t *testing.T) {
	_, url := newSimulator(t, 120)
	src := newTestSource(t, settingsYAML(url))
	all, _, err := fetchAll(t, src, connector.FetchRequest{SyncID: "s1", Type: model.SyncFull})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	some, _, err := fetchAll(t, src, connector.FetchRequest{SyncID: "s2", Type: model.SyncIncremental, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if len(some) == 0 || len(some) >= len(all) {
		t.Errorf("incremental fetched %d of %d findings; want a non-empty subset", len(some), len(all))
	}
}

func TestFetchSkipsFindingsWithoutExploitabilityOrFix(t *testing.T) {
	_, url := newSimulator(t, 120)
	all, _, err := fetchAll(t, newTestSource(t, settingsYAML(url)), connector.FetchRequest{SyncID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	kept, res, err := fetchAll(t, newTestSource(t, settingsYAML(url, "require_exploitability_and_remediation: true")), connector.FetchRequest{SyncID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped == 0 || int(res.Skipped)+len(kept) != len(all) || !strings.Contains(res.SkipReason, "require_exploitability_and_remediation") {
		t.Errorf("kept %d, skipped %d (%q) of %d", len(kept), res.Skipped, res.SkipReason, len(all))
	}
	for _, r := range kept {
		if !strings.Contains(string(r.Payload), `"exploitAvailable"`) || !strings.Contains(string(r.Payload), `"fixAvailable"`) {
			t.Errorf("kept a finding lacking exploitAvailable or fixAvailable: %.120s", r.Payload)
		}
	}
}

func TestErrorsAreClassified(t *testing.T) {
	plain := func(url string) string { return settingsYAML(url) }
	tests := []struct {
		name       string
		settings   func(url string) string
		faults     inspector.Faults
		stage      string // Initiating or Connectivity Test
		class      connector.Class
		status     int
		actionSays string
	}{
		{"wrong secret", func(url string) string {
			return strings.Replace(settingsYAML(url), "TEST_SOURCE_SECRET", "WRONG_SECRET", 1)
		}, inspector.Faults{}, model.StageConnectivity, connector.ClassCredentials, 403, "secret_access_key"},
		{"unknown access key", func(url string) string {
			return strings.Replace(settingsYAML(url), testKeyID, "AKIAUNKNOWN000000000", 1)
		}, inspector.Faults{}, model.StageConnectivity, connector.ClassCredentials, 403, "access_key_id"},
		{"wrong external id", func(url string) string {
			return settingsYAML(url, "role_arn: "+testRole, "external_id: not-it")
		}, inspector.Faults{}, model.StageInitiating, connector.ClassPermission, 403, "trust policy"},
		{"no permission", plain, inspector.Faults{AccessDenied: true}, model.StageConnectivity, connector.ClassPermission, 403, "inspector2:ListFindings"},
		{"server errors beyond the retries", plain, inspector.Faults{ServerError: 100}, model.StageConnectivity, connector.ClassVendorServer, 500, "AWS Health Dashboard"},
		{"throttled beyond the retries", plain, inspector.Faults{Throttle: 100, RetryAfter: 0}, model.StageConnectivity, connector.ClassRateLimited, 429, "Retry-After"},
		{"unreachable", func(string) string { return settingsYAML(closedURL(t)) }, inspector.Faults{}, model.StageConnectivity, connector.ClassUnreachable, 0, "network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WRONG_SECRET", "not-the-secret")
			sim, url := newSimulator(t, 30)
			sim.SetFaults(tt.faults)
			src := newTestSource(t, tt.settings(url))
			src.settings.MaxAttempts = 2
			ctx := context.Background()
			var cerr *connector.Error
			if err := src.Initiate(ctx); err != nil {
				if tt.stage != model.StageInitiating {
					t.Fatalf("Initiate: %v", err)
				}
				cerr = connector.AsError(err)
			} else {
				checks := src.Test(ctx)
				if len(checks) != len(testRegions) {
					t.Fatalf("%d checks, want one per region", len(checks))
				}
				cerr = checks[0].Err
			}
			if cerr == nil {
				t.Fatalf("no error at %s", tt.stage)
			}
			if cerr.Class != tt.class || cerr.StatusCode != tt.status || !strings.Contains(cerr.Action, tt.actionSays) {
				t.Errorf("got class %s, status %d, action %q; want %s, %d, action mentioning %q (message %q)",
					cerr.Class, cerr.StatusCode, cerr.Action, tt.class, tt.status, tt.actionSays, cerr.Message)
			}
			if msg := cerr.Error(); strings.Contains(msg, testSecret) || strings.Contains(msg, "not-the-secret") {
				t.Errorf("error leaks the secret: %s", msg)
			}
			for k, v := range cerr.Headers {
				if strings.EqualFold(k, "Authorization") && v[0] != "[redacted]" {
					t.Errorf("header %s not redacted", k)
				}
			}
			if tt.status != 0 && len(cerr.Payload) == 0 {
				t.Errorf("the vendor's response body was not kept")
			}
		})
	}
}

func TestFetchRetriesThrottlingAndKeepsGoingAfterAFailedScope(t *testing.T) {
	sim, url := newSimulator(t, 60)
	src := newTestSource(t, settingsYAML(url))
	ctx := context.Background()
	if err := src.Initiate(ctx); err != nil {
		t.Fatal(err)
	}
	// Two throttles then success: the retries are invisible.
	sim.SetFaults(inspector.Faults{Throttle: 2, RetryAfter: 1})
	res, err := src.Fetch(ctx, connector.FetchRequest{SyncID: "s"}, func(*model.RawRecord) error { return nil })
	if err != nil || scopeOf(res, "us-east-1").Outcome != model.OutcomeSucceeded {
		t.Fatalf("after throttling: %v, %+v", err, res)
	}
	// One server error with no retry left fails the region that got it, and only that
	// one: the other region is fetched whole.
	src.settings.MaxAttempts = 1
	if err := src.Initiate(ctx); err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(inspector.Faults{ServerError: 1})
	var mu sync.Mutex
	perRegion := map[string]int{}
	res, err = src.Fetch(ctx, connector.FetchRequest{SyncID: "s"}, func(r *model.RawRecord) error {
		mu.Lock()
		defer mu.Unlock()
		perRegion[r.Scope]++
		return nil
	})
	var cerr *connector.Error
	if !errors.As(err, &cerr) || cerr.Class != connector.ClassVendorServer {
		t.Fatalf("Fetch error = %v, want a vendor server error", err)
	}
	var failed, succeeded []model.ScopeOutcome
	for _, sc := range res.Scopes {
		if sc.Outcome == model.OutcomeFailed {
			failed = append(failed, sc)
		} else {
			succeeded = append(succeeded, sc)
		}
	}
	if len(failed) != 1 || len(succeeded) != 1 || perRegion[succeeded[0].Scope] != len(sim.Findings(succeeded[0].Scope)) {
		t.Errorf("scopes %+v, records per region %v; want one region failed and the other fetched whole", res.Scopes, perRegion)
	}
}

func TestBackoffHonoursRetryAfter(t *testing.T) {
	b := retryAfterBackoff{max: 20 * time.Second}
	secs := int32(7)
	d, _ := b.BackoffDelay(1, &types.ThrottlingException{RetryAfterSeconds: &secs})
	if d != 7*time.Second {
		t.Errorf("delay with Retry-After 7 = %s, want 7s", d)
	}
	for attempt := range 12 {
		if d, _ := b.BackoffDelay(attempt, errors.New("x")); d <= 0 || d > 20*time.Second {
			t.Errorf("attempt %d: delay %s outside (0, 20s]", attempt, d)
		}
	}
}

// closedURL is an http URL nothing listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
