package stack_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/simulator/cortex"
	"github.com/tributary-sec/tributary/internal/stack"
	"github.com/tributary-sec/tributary/internal/synclog"
)

const xdrKeyEnv = "TRIBUTARY_E2E_XDR_KEY"

// newXDRTenant serves a simulated Cortex XDR tenant of 12 endpoints (seed 3, no rate
// limit) whose API key is e2e-xdr-key, id 42.
func newXDRTenant(t *testing.T, advanced bool) (*cortex.Simulator, *httptest.Server) {
	t.Helper()
	sim, err := cortex.New(cortex.Config{Seed: 3, Endpoints: 12, APIKeyID: "42", APIKey: "e2e-xdr-key", Advanced: advanced, RequestsPerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	t.Setenv(xdrKeyEnv, "e2e-xdr-key")
	return sim, srv
}

// newXDRPipeline returns a pipeline whose connectors file holds one Cortex XDR connector,
// xdr-e2e, on the tenant at url, with the extra settings lines given (YAML, unindented).
func newXDRPipeline(t *testing.T, url string, extra ...string) *pipeline {
	t.Helper()
	p := newPipeline(t, nil)
	conf := fmt.Sprintf("connectors:\n  - id: xdr-e2e\n    type: cortex_xdr\n    settings:\n      base_url: %s\n      api_key_id: \"42\"\n      api_key: {env: %s}\n", url, xdrKeyEnv)
	for _, line := range extra {
		conf += "      " + line + "\n"
	}
	p.connectors = filepath.Join(t.TempDir(), "xdr.yaml")
	if err := os.WriteFile(p.connectors, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCortexXDRFullSyncEndToEnd syncs a small Cortex XDR tenant and checks the ClickHouse
// rows field by field: endpoints sharing a name stay distinct assets, LOST and
// UNINSTALLED endpoints (the remove set) are archived, and findings point at every
// endpoint of their host name.
func TestCortexXDRFullSyncEndToEnd(t *testing.T) {
	ctx := context.Background()
	sim, srv := newXDRTenant(t, true)
	p := newXDRPipeline(t, srv.URL, "key_type: advanced", "remove_statuses: [LOST, UNINSTALLED]")
	svc := p.start(ctx, stack.Config{SyncAtStart: "full"})
	s := p.waitSyncOf(ctx, svc, "xdr-e2e", "the sync to end", func(s synclog.Sync) bool { return s.Status != synclog.StatusInProgress })
	if s.Status != synclog.StatusDone {
		t.Fatalf("sync %s at %q: %+v", s.Status, s.FailedStage, s.Error)
	}
	endpoints, rows := sim.Endpoints(), sim.CVERows()
	if want := int64(len(endpoints) + len(rows)); s.RecordsFetched != want {
		t.Errorf("fetched %d records, want %d endpoints + %d vulnerability rows", s.RecordsFetched, len(endpoints), len(rows))
	}

	got := p.rows(t)
	checkGolden(t, "testdata/e2e_cortex_rows.golden.json", got)
	if len(got.Assets) != len(endpoints) || len(got.Findings) != len(rows) {
		t.Errorf("%d assets and %d findings in ClickHouse, want %d and %d", len(got.Assets), len(got.Findings), len(endpoints), len(rows))
	}
	byUID := map[string]map[string]string{}
	for _, a := range got.Assets {
		byUID[a["uid"]] = a
	}
	names := map[string][]string{}
	for _, e := range endpoints {
		a := byUID[e.EndpointID]
		if a == nil {
			t.Errorf("endpoint %s (%s) is not an asset", e.EndpointID, e.EndpointName)
			continue
		}
		names[e.EndpointName] = append(names[e.EndpointName], e.EndpointID)
		want := ""
		if e.EndpointStatus == "LOST" || e.EndpointStatus == "UNINSTALLED" {
			want = "status"
		}
		if a["archive_reason"] != want || a["vendor_status"] != e.EndpointStatus || a["class"] != string(model.ClassDevice) {
			t.Errorf("endpoint %s (%s): archive_reason %q, vendor_status %q, class %q; want %q, %q, Device",
				e.EndpointID, e.EndpointStatus, a["archive_reason"], a["vendor_status"], a["class"], want, e.EndpointStatus)
		}
	}
	shared := 0
	for name, ids := range names {
		slices.Sort(ids)
		if len(ids) > 1 {
			shared++
			for _, f := range got.Findings {
				if f["asset_name"] == name && f["asset_uids"] != fmt.Sprintf("['%s']", joinQuoted(ids)) {
					t.Errorf("finding %s on host %s links %s, want every endpoint of that name, in id order: %v", f["uid"], name, f["asset_uids"], ids)
				}
			}
		}
	}
	if shared == 0 {
		t.Error("the tenant has no two endpoints sharing a name; pick a seed that does")
	}
}

func joinQuoted(ids []string) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += "','"
		}
		out += id
	}
	return out
}

// TestCortexXDRLifecycle: between two Full syncs an endpoint goes LOST (archived at once,
// reason status), another vanishes (not_returned) and a host gets a CVE patched (Fixed,
// not_returned); the findings of archived endpoints are hidden, not Fixed.
func TestCortexXDRLifecycle(t *testing.T) {
	ctx := context.Background()
	sim, srv := newXDRTenant(t, false)
	p := newXDRPipeline(t, srv.URL, "remove_statuses: [LOST, UNINSTALLED]")
	svc := p.start(ctx, stack.Config{SyncAtStart: "full"})
	if s := p.waitSyncOf(ctx, svc, "xdr-e2e", "the first sync", func(s synclog.Sync) bool { return s.Status != synclog.StatusInProgress }); s.Status != synclog.StatusDone {
		t.Fatalf("first sync %s: %+v", s.Status, s.Error)
	}

	// Targets: connected endpoints with unique names, and a CVE row of a third host.
	names := map[string]int{}
	for _, e := range sim.Endpoints() {
		names[e.EndpointName]++
	}
	var connected []cortex.Endpoint
	for _, e := range sim.Endpoints() {
		if e.EndpointStatus == "CONNECTED" && names[e.EndpointName] == 1 {
			connected = append(connected, e)
		}
	}
	if len(connected) < 3 {
		t.Fatalf("%d connected endpoints with unique names; pick another seed", len(connected))
	}
	lost, vanished, patched := connected[0], connected[1], connected[2]
	var patchedCVE, lostFinding string
	for _, r := range sim.CVERows() {
		if r.AffectedHosts == patched.EndpointName && patchedCVE == "" {
			patchedCVE = r.CVEID
		}
		if r.AffectedHosts == lost.EndpointName && lostFinding == "" {
			lostFinding = lost.EndpointName + "/" + r.CVEID
		}
	}
	if patchedCVE == "" || lostFinding == "" {
		t.Fatal("the chosen hosts have no CVEs; pick another seed")
	}
	if err := sim.Mutate(cortex.Mutation{SetStatus: map[string]string{lost.EndpointID: "LOST"}, Remove: []string{vanished.EndpointID},
		FixCVE: []cortex.HostCVE{{Host: patched.EndpointName, CVE: patchedCVE}}}); err != nil {
		t.Fatal(err)
	}
	if s := syncNowOf(t, svc, "xdr-e2e", model.SyncFull); s.Status != synclog.StatusDone {
		t.Fatalf("second sync %s: %+v", s.Status, s.Error)
	}
	for uid, want := range map[string]string{lost.EndpointID: "status", vanished.EndpointID: "not_returned", patched.EndpointID: ""} {
		if got := p.stateOf(t, "assets", "archive_reason", uid); got != want {
			t.Errorf("endpoint %s: archive_reason %q, want %q", uid, got, want)
		}
	}
	if got := p.history(t, "asset_history", lost.EndpointID); fmt.Sprint(got) != "[>active:new active>archived:status]" {
		t.Errorf("history of the LOST endpoint: %v", got)
	}
	fixed := patched.EndpointName + "/" + patchedCVE
	if got := p.history(t, "finding_history", fixed); fmt.Sprint(got) != "[>Active:new Active>Fixed:not_returned]" {
		t.Errorf("history of the patched CVE: %v", got)
	}
	// The LOST endpoint's findings are hidden with it, not Fixed.
	if got := p.stateOf(t, "findings", "status", lostFinding); got != "Active" {
		t.Errorf("finding %s of the LOST endpoint is %s, want Active (hidden)", lostFinding, got)
	}
	if n := p.count(t, fmt.Sprintf("SELECT count() FROM %s.current_findings WHERE uid = '%s'", p.database, lostFinding)); n != 0 {
		t.Errorf("finding %s of the LOST endpoint is still visible in current_findings", lostFinding)
	}
}
