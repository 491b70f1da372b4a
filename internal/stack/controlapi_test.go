package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/controlapi"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
	"github.com/tributary-sec/tributary/internal/stack"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// apiCall sends a request to the fetcher's control API and decodes the JSON answer.
func apiCall(t *testing.T, svc *stack.Services, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+svc.APIAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if out != nil {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, buf.String())
		}
	}
	return resp.StatusCode
}

// waitAPISync polls GET /api/v1/syncs/{id} until the sync is no longer In Progress and
// its entries include Processing's end (the syncs row is written just before the
// entries, so a read may see the status first).
func waitAPISync(t *testing.T, svc *stack.Services, id string) (synclog.Sync, []synclog.Entry) {
	t.Helper()
	var got struct {
		Sync    synclog.Sync    `json:"sync"`
		Entries []synclog.Entry `json:"entries"`
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if apiCall(t, svc, "GET", "/api/v1/syncs/"+id, "", &got) == http.StatusOK && got.Sync.Status != synclog.StatusInProgress &&
			slices.ContainsFunc(got.Entries, func(e synclog.Entry) bool {
				return e.Stage == model.StageProcessing && synclog.IsFinal(e.State)
			}) {
			return got.Sync, got.Entries
		}
		if err := svc.Exited(); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("sync %s did not end: %+v", id, got.Sync)
	return synclog.Sync{}, nil
}

// TestControlAPI drives the fetcher through its control API: the schedule's missed run at
// start-up, Test Connectivity, Sync now (and a refused second one), and the sync log
// with its filters, against a connector that works and one whose key is wrong.
func TestControlAPI(t *testing.T) {
	ctx := context.Background()
	sim := newSim(t, 200, inspector.Faults{PageDelay: 100 * time.Millisecond})
	p := newPipeline(t, sim)
	conf, err := os.ReadFile(p.connectors)
	if err != nil {
		t.Fatal(err)
	}
	// aws-e2e keeps the default schedule (daily): never synced, it runs at start-up.
	conf = append(conf, fmt.Appendf(nil, `  - id: aws-wrong
    type: aws_inspector2
    schedule: {disabled: true}
    settings:
      regions: [us-east-1]
      access_key_id: %s
      secret_access_key: {env: WRONG_SECRET}
      endpoint: %s
      max_attempts: 1
`, e2eAccessKey, endpointOf(t, conf))...)
	if err := os.WriteFile(p.connectors, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WRONG_SECRET", "not-the-secret")
	svc := p.start(ctx, stack.Config{})

	var connectors struct{ Connectors []controlapi.Connector }
	if code := apiCall(t, svc, "GET", "/api/v1/connectors", "", &connectors); code != http.StatusOK || len(connectors.Connectors) != 2 {
		t.Fatalf("GET connectors: %d %+v", code, connectors)
	}
	if c := connectors.Connectors[0]; c.ID != "aws-e2e" || c.Schedule != "daily at 00:00 UTC" || connectors.Connectors[1].Schedule != "on demand only" {
		t.Errorf("connectors %+v", connectors.Connectors)
	}

	// The missed scheduled run.
	scheduled := p.waitSync(ctx, svc, "the scheduled sync at start-up", func(s synclog.Sync) bool { return s.Status == synclog.StatusDone })

	// Test Connectivity of the wrong key: each check, the failed one classified.
	var test struct {
		OK     bool
		Checks []controlapi.Check
	}
	if code := apiCall(t, svc, "POST", "/api/v1/connectors/aws-wrong/test", "", &test); code != http.StatusOK || test.OK || len(test.Checks) != 2 {
		t.Fatalf("test connectivity: %d %+v", code, test)
	}
	if c := test.Checks[1]; c.Stage != model.StageConnectivity || c.OK || c.Error == nil || c.Error.Class != "invalid_credentials" || c.Error.Code != "status_code: 403" {
		t.Errorf("connectivity check %+v, error %+v", c, c.Error)
	}

	// Sync now, twice: the second is refused while the first runs.
	var started struct {
		SyncID string `json:"sync_id"`
	}
	if code := apiCall(t, svc, "POST", "/api/v1/connectors/aws-e2e/syncs", `{"type":"full"}`, &started); code != http.StatusAccepted || started.SyncID == "" {
		t.Fatalf("sync now: %d %+v", code, started)
	}
	var busy struct {
		Error         string
		RunningSyncID string `json:"running_sync_id"`
	}
	if code := apiCall(t, svc, "POST", "/api/v1/connectors/aws-e2e/syncs", `{"type":"full"}`, &busy); code != http.StatusConflict || busy.RunningSyncID != started.SyncID {
		t.Errorf("second sync now: %d %+v; want 409 naming %s", code, busy, started.SyncID)
	}
	if s, _ := waitAPISync(t, svc, started.SyncID); s.Status != synclog.StatusDone || s.RecordsFetched != scheduled.RecordsFetched {
		t.Errorf("sync now ended %s with %d records; want Done with %d", s.Status, s.RecordsFetched, scheduled.RecordsFetched)
	}

	var wrong struct {
		SyncID string `json:"sync_id"`
	}
	if code := apiCall(t, svc, "POST", "/api/v1/connectors/aws-wrong/syncs", "", &wrong); code != http.StatusAccepted {
		t.Fatalf("sync now of aws-wrong: %d", code)
	}
	s, entries := waitAPISync(t, svc, wrong.SyncID)
	if s.Status != synclog.StatusFailed || s.FailedStage != model.StageConnectivity || s.Error == nil ||
		!strings.Contains(s.Error.RecommendedAction, "secret_access_key") || s.Error.ResponsePayload == "" {
		t.Errorf("wrong key sync: %s at %q, error %+v", s.Status, s.FailedStage, s.Error)
	}
	var errorEntries int
	for _, e := range entries {
		if e.Level == model.LevelError {
			errorEntries++
			if e.Error == nil || e.Error.Code != "status_code: 403" || strings.Contains(fmt.Sprint(e.Error.ResponseHeaders), "not-the-secret") {
				t.Errorf("error entry %+v", e.Error)
			}
		}
	}
	if errorEntries != 1 {
		t.Errorf("%d ERROR entries, want 1", errorEntries)
	}

	// Filters.
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?status=failed", []string{wrong.SyncID}},
		{"?level=ERROR", []string{wrong.SyncID}},
		{"?connector=aws-e2e", []string{started.SyncID, scheduled.ID}},
		{"?connector=aws-e2e&status=done&limit=1", []string{started.SyncID}},
		{"?type=incremental", nil},
	} {
		var list struct{ Syncs []synclog.Sync }
		if code := apiCall(t, svc, "GET", "/api/v1/syncs"+tc.query, "", &list); code != http.StatusOK {
			t.Errorf("GET syncs%s: %d", tc.query, code)
		}
		var ids []string
		for _, s := range list.Syncs {
			ids = append(ids, s.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Errorf("GET syncs%s = %v, want %v", tc.query, ids, tc.want)
		}
	}
	for path, want := range map[string]int{
		"/api/v1/syncs/no-such-sync":   http.StatusNotFound,
		"/api/v1/syncs?status=broken":  http.StatusBadRequest,
		"/api/v1/connectors/nope/test": http.StatusNotFound,
	} {
		if code := apiCall(t, svc, "GET", path, "", nil); code != want {
			t.Errorf("GET %s: %d, want %d", path, code, want)
		}
	}
	if code := apiCall(t, svc, "POST", "/api/v1/connectors/nope/syncs", "", nil); code != http.StatusNotFound {
		t.Errorf("sync now of an unknown connector: %d, want 404", code)
	}
}

// endpointOf returns the simulator endpoint written in a connectors file.
func endpointOf(t *testing.T, conf []byte) string {
	t.Helper()
	for _, line := range strings.Split(string(conf), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "endpoint: "); ok {
			return v
		}
	}
	t.Fatal("no endpoint in the connectors file")
	return ""
}
