package cortexxdr

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/simulator/cortex"
)

// newSimulated starts the Cortex XDR simulator with n endpoints and returns it with a
// Source configured against it. The Source keeps the production pacing (the simulator
// enforces 10 requests a second) with short backoff and polls.
func newSimulated(t *testing.T, n int, advanced bool, extra ...string) (*cortex.Simulator, *Source) {
	t.Helper()
	sim, err := cortex.New(cortex.Config{Seed: 5, Endpoints: n, APIKeyID: testKeyID, APIKey: testKey, Advanced: advanced})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	if advanced {
		extra = append(extra, "key_type: advanced")
	}
	src := sourceFor(t, srv.URL, extra...)
	src.tune = func(c *client) {
		c.backoff, c.maxBackoff = 20*time.Millisecond, 200*time.Millisecond
		c.pollFirst, c.pollMax = 10*time.Millisecond, 50*time.Millisecond
	}
	return sim, src
}

func TestFetchFromSimulator(t *testing.T) {
	for _, advanced := range []bool{false, true} {
		t.Run(fmt.Sprintf("advanced=%v", advanced), func(t *testing.T) {
			sim, src := newSimulated(t, 300, advanced, "remove_statuses: [LOST, UNINSTALLED]")
			got, res, err := fetchAll(t, src)
			if err != nil {
				t.Fatal(err)
			}
			eps, rows := sim.Endpoints(), sim.CVERows()
			wantRemoved := 0
			for _, e := range eps {
				if e.EndpointStatus == "LOST" || e.EndpointStatus == "UNINSTALLED" {
					wantRemoved++
				}
			}
			if n, r := len(byKind(got, KindEndpoint)), len(byKind(got, KindEndpointRemoved)); n+r != len(eps) || r != wantRemoved {
				t.Errorf("%d endpoints (%d removed), the simulator has %d (%d LOST or UNINSTALLED)", n+r, r, len(eps), wantRemoved)
			}
			vulns := byKind(got, KindVulnerability)
			if len(vulns) != len(rows) {
				t.Fatalf("%d vulnerability records, the simulator has %d rows", len(vulns), len(rows))
			}
			if len(rows) <= 1000 || sim.Requests(cortex.PathGetResultStream) != 1 {
				t.Errorf("%d rows, %d stream calls; the test wants results streamed", len(rows), sim.Requests(cortex.PathGetResultStream))
			}
			for i, r := range vulns {
				if want := rows[i].AffectedHosts + "/" + rows[i].CVEID; r.VendorKey != want {
					t.Fatalf("vulnerability %d: key %s, want %s", i, r.VendorKey, want)
				}
			}
			if res.Scopes[0].Records != int64(len(eps)+len(rows)) || res.Skipped != 0 {
				t.Errorf("FetchResult %+v", res)
			}

			// Every record maps; every finding is linked to the endpoints of its host.
			idsByName := map[string][]string{}
			for _, e := range eps {
				idsByName[strings.ToLower(e.EndpointName)] = append(idsByName[strings.ToLower(e.EndpointName)], e.EndpointID)
			}
			var out connector.Normalized
			for _, r := range got {
				if err := (Normalizer{}).Normalize(r, &out); err != nil {
					t.Fatalf("normalizing %s %s: %v", r.Kind, r.VendorKey, err)
				}
			}
			archived := 0
			for _, a := range out.Assets {
				if a.ArchiveReason == "status" {
					archived++
				}
			}
			if len(out.Assets) != len(eps) || archived != wantRemoved {
				t.Errorf("%d assets (%d archived for status), want %d (%d)", len(out.Assets), archived, len(eps), wantRemoved)
			}
			uids := map[string]bool{}
			for _, f := range out.Findings {
				uids[f.UID] = true
				want := idsByName[strings.ToLower(f.AssetName)]
				got := slices.Sorted(slices.Values(f.AssetUIDs))
				if len(want) == 0 || !slices.Equal(got, slices.Sorted(slices.Values(want))) {
					t.Fatalf("finding %s: asset uids %v, want the ids of %s: %v", f.UID, f.AssetUIDs, f.AssetName, want)
				}
			}
			if len(uids) != len(rows) {
				t.Errorf("%d distinct findings from %d rows", len(uids), len(rows))
			}
		})
	}
}

func TestSimulatorBurstsAreRetried(t *testing.T) {
	// Four failures in a row (the throttles, then the server errors): within 8 attempts.
	sim, src := newSimulated(t, 120, false, "max_attempts: 8")
	sim.SetFaults(cortex.Faults{Throttle: 2, ServerError: 2})
	got, _, err := fetchAll(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(sim.Endpoints()) + len(sim.CVERows()); len(got) != want {
		t.Errorf("%d records, want %d", len(got), want)
	}
}

func TestSimulatorFaultsAreClassified(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults cortex.Faults
		class  connector.Class
		status int
	}{
		{"revoked key", cortex.Faults{Unauthorized: true}, connector.ClassCredentials, 401},
		{"no RBAC role", cortex.Faults{Forbidden: true}, connector.ClassPermission, 403},
		{"no licence", cortex.Faults{PaymentRequired: true}, connector.ClassLimit, 402},
		{"throttled beyond the retries", cortex.Faults{Throttle: 100}, connector.ClassRateLimited, 429},
		{"server errors beyond the retries", cortex.Faults{ServerError: 100}, connector.ClassVendorServer, 500},
		{"query fails", cortex.Faults{QueryFail: true}, connector.ClassVendorServer, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, src := newSimulated(t, 20, true)
			sim.SetFaults(tc.faults)
			_, res, err := fetchAll(t, src)
			cerr := connector.AsError(err)
			if cerr == nil || cerr.Class != tc.class || cerr.StatusCode != tc.status {
				t.Fatalf("error %v (HTTP %d), want %s with HTTP %d", err, statusOf(cerr), tc.class, tc.status)
			}
			if res.Scopes[0].Outcome != model.OutcomeFailed {
				t.Errorf("FetchResult %+v", res)
			}
			checkNoSecret(t, cerr)
		})
	}
}

func statusOf(e *connector.Error) int {
	if e == nil {
		return 0
	}
	return e.StatusCode
}

func TestSimulatorMalformedEndpointsAreDeadLettered(t *testing.T) {
	sim, src := newSimulated(t, 100, false)
	sim.SetFaults(cortex.Faults{Malformed: 8})
	if err := src.Initiate(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []*model.RawRecord
	_, err := src.Fetch(context.Background(), connector.FetchRequest{SyncID: "s"}, func(r *model.RawRecord) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Fetch: %v; a malformed endpoint must reach the normalizer, not fail the sync", err)
	}
	bad := map[string]bool{}
	for _, id := range sim.MalformedIDs() {
		bad[id] = true
	}
	rejected := 0
	for _, r := range append(byKind(got, KindEndpoint), byKind(got, KindEndpointRemoved)...) {
		err := (Normalizer{}).Normalize(r, &connector.Normalized{})
		switch {
		case err != nil && (bad[r.VendorKey] || r.VendorKey == ""):
			rejected++
		case err != nil:
			t.Errorf("endpoint %s is well formed, yet rejected: %v", r.VendorKey, err)
		case bad[r.VendorKey]:
			t.Errorf("endpoint %s is malformed, yet mapped: %s", r.VendorKey, r.Payload)
		}
	}
	if rejected != 8 {
		t.Errorf("%d endpoints rejected, want the simulator's 8 malformed ones", rejected)
	}
}
