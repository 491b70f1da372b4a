package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
	"github.com/tributary-sec/tributary/internal/stack"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// served maps each finding the simulator serves in region to its resource id.
func served(t *testing.T, sim *inspector.Simulator, region string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, raw := range sim.Findings(region) {
		var f struct {
			FindingArn string `json:"findingArn"`
			Resources  []struct {
				ID string `json:"id"`
			} `json:"resources"`
		}
		if err := json.Unmarshal(raw, &f); err != nil || len(f.Resources) == 0 {
			continue // a malformed finding
		}
		out[f.FindingArn] = f.Resources[0].ID
	}
	return out
}

// syncNow starts a sync of aws-e2e through the control API and waits for its end.
func syncNow(t *testing.T, svc *stack.Services, typ model.SyncType) synclog.Sync {
	t.Helper()
	return syncNowOf(t, svc, "aws-e2e", typ)
}

// syncNowOf starts a sync of a connector through the control API and waits for its end.
func syncNowOf(t *testing.T, svc *stack.Services, connectorID string, typ model.SyncType) synclog.Sync {
	t.Helper()
	var started struct {
		SyncID string `json:"sync_id"`
	}
	if code := apiCall(t, svc, "POST", "/api/v1/connectors/"+connectorID+"/syncs", `{"type":"`+string(typ)+`"}`, &started); code != 202 {
		t.Fatalf("sync now: HTTP %d", code)
	}
	s, _ := waitAPISync(t, svc, started.SyncID)
	return s
}

// stateOf reads one column of the newest row of a finding or an asset.
func (p *pipeline) stateOf(t *testing.T, table, column, uid string) string {
	t.Helper()
	rows, err := p.store.Query(context.Background(), fmt.Sprintf("SELECT toString(%s) FROM %s.%s FINAL WHERE uid = ?", column, p.database, table), uid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var v string
	for rows.Next() {
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// history returns a finding's or an asset's history as "old>new:reason" lines in time order.
func (p *pipeline) history(t *testing.T, table, uid string) []string {
	t.Helper()
	cols := "old_status, toString(new_status)"
	if table == "asset_history" {
		cols = "old_state, new_state"
	}
	rows, err := p.store.Query(context.Background(), fmt.Sprintf("SELECT %s, reason FROM %s.%s FINAL WHERE uid = ? ORDER BY time, sync_id", cols, p.database, table), uid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var old, new, reason string
		if err := rows.Scan(&old, &new, &reason); err != nil {
			t.Fatal(err)
		}
		out = append(out, old+">"+new+":"+reason)
	}
	return out
}

// transitions reads the downstream topics from the start with a consumer group of its
// own, as a downstream service would, and returns every transition by uid.
func transitions(t *testing.T, cfg kafka.Config) map[string][]string {
	t.Helper()
	codec, err := avro.New()
	if err != nil {
		t.Fatal(err)
	}
	topics := cfg.Topics()
	cl, err := kafka.NewClient(context.Background(), cfg, kgo.ConsumerGroup("scenario-test-downstream"),
		kgo.ConsumeTopics(topics.Findings, topics.Assets), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := map[string][]string{}
	idle := 0
	for idle < 3 {
		pollCtx, pollCancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fetches := cl.PollFetches(pollCtx)
		pollCancel()
		if ctx.Err() != nil {
			break
		}
		recs := fetches.Records()
		if len(recs) == 0 {
			idle++
			continue
		}
		idle = 0
		for _, r := range recs {
			msg, err := codec.Decode(r.Value)
			if err != nil {
				t.Fatalf("decoding %s: %v", r.Topic, err)
			}
			switch m := msg.(type) {
			case *model.EnrichedFinding:
				if tr := m.Transition; tr != nil {
					out[m.Finding.UID] = append(out[m.Finding.UID], string(tr.OldStatus)+">"+string(tr.NewStatus)+":"+tr.Reason)
				}
			case *model.EnrichedAsset:
				if tr := m.Transition; tr != nil {
					out[m.Asset.UID] = append(out[m.Asset.UID], tr.OldState+">"+tr.NewState+":"+tr.Reason)
				}
			}
		}
	}
	return out
}

// TestLifecycleScenario runs Full and Incremental syncs while the vendor's data changes
// (issue 5's scenario: Full; mutations; Incremental; Full; a reopen; a Full sync failing
// in one region) and checks the ClickHouse state, the history, the data validation and
// the downstream topics after each step (SPEC §3). Cortex XDR's LOST endpoint is
// TestCortexXDRLifecycle's.
func TestLifecycleScenario(t *testing.T) {
	ctx := context.Background()
	sim := newSim(t, 120, inspector.Faults{})
	p := newPipeline(t, sim)
	svc := p.start(ctx, stack.Config{SyncAtStart: "full"})
	first := p.waitSync(ctx, svc, "the first sync", func(s synclog.Sync) bool { return s.Status != synclog.StatusInProgress })
	if first.Status != synclog.StatusDone {
		t.Fatalf("first sync %s: %+v", first.Status, first.Error)
	}
	p.checkInspectorValidation(ctx, first, 0)

	// Pick the targets: a resource of eu-west-1 that vanishes with its findings, and four
	// active findings of us-east-1.
	east, west := served(t, sim, "us-east-1"), served(t, sim, "eu-west-1")
	gone := sim.ResourceIDs("eu-west-1")[0]
	var goneFindings []string
	for arn, res := range west {
		if res == gone {
			goneFindings = append(goneFindings, arn)
		}
	}
	var targets []string
	for _, arn := range sim.FindingARNs("us-east-1") {
		if east[arn] != "" && p.stateOf(t, "findings", "status", arn) == "Active" {
			targets = append(targets, arn)
		}
	}
	if len(targets) < 4 || len(goneFindings) == 0 {
		t.Fatalf("dataset too small: %d active findings in us-east-1, %d on %s", len(targets), len(goneFindings), gone)
	}
	closed, suppressed, vanished, rescored := targets[0], targets[1], targets[2], targets[3]
	for _, arn := range targets[:4] {
		if h := p.history(t, "finding_history", arn); strings.Join(h, " ") != ">Active:new" {
			t.Errorf("%s history after the first sync: %v, want one new entry", arn, h)
		}
	}

	// The vendor closes, suppresses, drops and rescores findings, adds some, and a resource
	// disappears. An Incremental sync then sees what changed (updatedAt at or after its
	// cursor), and fixes and archives nothing by absence.
	arns := func() []string { return append(sim.FindingARNs("us-east-1"), sim.FindingARNs("eu-west-1")...) }
	before := arns()
	if err := sim.Mutate(inspector.Mutation{Close: []string{closed}, Suppress: []string{suppressed}, Remove: []string{vanished},
		RemoveResource: []string{gone}, Rescore: map[string]float64{rescored: 9.8}, Add: 2, Now: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	var added []string
	for _, arn := range arns() {
		if !slices.Contains(before, arn) {
			added = append(added, arn)
		}
	}
	if len(added) != 2 {
		t.Fatalf("the mutation added %d findings, want 2: %v", len(added), added)
	}
	inc := syncNow(t, svc, model.SyncIncremental)
	if inc.Status != synclog.StatusDone || inc.Type != model.SyncIncremental || inc.RecordsFetched != 5 {
		t.Fatalf("incremental sync: %s, type %s, %d records; want Done, incremental, the 5 changed findings (closed, suppressed, rescored, 2 new)",
			inc.Status, inc.Type, inc.RecordsFetched)
	}
	wantStatus := map[string]string{closed: "Fixed", suppressed: "Fixed", vanished: "Active", rescored: "Active", goneFindings[0]: "Active", added[0]: "Active", added[1]: "Active"}
	for uid, want := range wantStatus {
		if got := p.stateOf(t, "findings", "status", uid); got != want {
			t.Errorf("finding %s is %s after the Incremental sync, want %s", uid, got, want)
		}
	}
	if got := p.stateOf(t, "findings", "severity", rescored); got != "Critical" {
		t.Errorf("rescored finding's severity %s after the Incremental sync, want Critical", got)
	}
	if got := p.stateOf(t, "assets", "archive_reason", gone); got != "" {
		t.Errorf("an Incremental sync archived the vanished asset (archive_reason %q)", got)
	}
	wantHistory := map[string][]string{
		closed:          {">Active:new", "Active>Fixed:vendor_closed"},
		suppressed:      {">Active:new", "Active>Fixed:vendor_suppressed"},
		vanished:        {">Active:new"},
		rescored:        {">Active:new"},
		goneFindings[0]: {">Active:new"},
		added[0]:        {">Active:new"},
		added[1]:        {">Active:new"},
	}
	checkHistory := func(step string) {
		t.Helper()
		for uid, want := range wantHistory {
			if got := p.history(t, "finding_history", uid); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("after %s, history of %s: %v, want %v", step, uid, got, want)
			}
		}
	}
	checkHistory("the Incremental sync")
	// The vendor no longer counts the vanished findings; Tributary keeps them Active.
	p.checkInspectorValidation(ctx, inc, int64(1+len(goneFindings)))

	// A Full sync fixes what vanished and archives the vanished resource, whose findings
	// are hidden with it, not Fixed.
	second := syncNow(t, svc, model.SyncFull)
	if second.Status != synclog.StatusDone {
		t.Fatalf("second Full sync %s: %+v", second.Status, second.Error)
	}
	if got := p.stateOf(t, "findings", "status", vanished); got != "Fixed" {
		t.Errorf("vanished finding is %s after the Full sync, want Fixed", got)
	}
	if got := p.stateOf(t, "findings", "status", goneFindings[0]); got != "Active" {
		t.Errorf("a finding of the vanished asset is %s, want Active (hidden with its asset)", got)
	}
	if got := p.stateOf(t, "assets", "archive_reason", gone); got != "not_returned" {
		t.Errorf("vanished asset's archive_reason %q, want not_returned", got)
	}
	if n := p.count(t, fmt.Sprintf("SELECT count() FROM %s.current_findings WHERE uid = '%s'", p.database, goneFindings[0])); n != 0 {
		t.Errorf("a finding of the archived asset is still visible in current_findings")
	}
	wantHistory[vanished] = append(wantHistory[vanished], "Active>Fixed:not_returned")
	checkHistory("the second Full sync")
	if got := p.history(t, "asset_history", gone); fmt.Sprint(got) != fmt.Sprint([]string{">active:new", "active>archived:not_returned"}) {
		t.Errorf("history of asset %s: %v", gone, got)
	}
	p.checkInspectorValidation(ctx, second, 0)

	// The finding is reopened and the resource comes back.
	if err := sim.Mutate(inspector.Mutation{Reopen: []string{closed}, RestoreResource: []string{gone}}); err != nil {
		t.Fatal(err)
	}
	third := syncNow(t, svc, model.SyncFull)
	if third.Status != synclog.StatusDone {
		t.Fatalf("third Full sync %s: %+v", third.Status, third.Error)
	}
	wantHistory[closed] = append(wantHistory[closed], "Fixed>Active:reopened")
	checkHistory("the reopen")
	if got := p.history(t, "asset_history", gone); len(got) != 3 || got[2] != "archived>active:restored" {
		t.Errorf("history of the restored asset: %v", got)
	}
	if n := p.count(t, fmt.Sprintf("SELECT count() FROM %s.current_findings WHERE uid = '%s'", p.database, goneFindings[0])); n != 1 {
		t.Errorf("the restored asset's finding is not visible again")
	}
	p.checkInspectorValidation(ctx, third, 0)

	// A Full sync whose Fetching fails in one region (eu-west-1 answers its connectivity
	// check and first page, then only server errors) sweeps nothing, not even the region
	// that was fetched whole: a finding that vanished from us-east-1 stays Active.
	if err := sim.Mutate(inspector.Mutation{Remove: []string{rescored}}); err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(inspector.Faults{Region: "eu-west-1", After: 2, ServerError: 1000})
	failed := syncNow(t, svc, model.SyncFull)
	if failed.Status != synclog.StatusFailed || failed.FailedStage != model.StageFetching {
		t.Fatalf("the sync with server errors in eu-west-1 ended %s at %q; want Failed at Fetching", failed.Status, failed.FailedStage)
	}
	sim.SetFaults(inspector.Faults{})
	if got := p.stateOf(t, "findings", "status", rescored); got != "Active" {
		t.Errorf("a failed sync fixed %s (status %s)", rescored, got)
	}
	if v := p.validationOf(ctx, "aws-e2e"); v.SyncID != third.ID {
		t.Errorf("after a sync that failed in Fetching, the newest validation is of sync %s; want the previous sync's, %s", v.SyncID, third.ID)
	}

	// The README's analyst queries run on the lifecycle's tables and views.
	checkReadmeQueries(t, p)

	// A downstream consumer saw every transition exactly as the history holds it.
	events := transitions(t, p.kafka)
	uids := append([]string{gone}, closed, suppressed, vanished, rescored, added[0], added[1])
	sort.Strings(uids)
	for _, uid := range uids {
		table := "finding_history"
		if uid == gone {
			table = "asset_history"
		}
		if got, want := events[uid], p.history(t, table, uid); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("downstream transitions of %s: %v; history: %v", uid, got, want)
		}
	}
}

// checkInspectorValidation checks that s's data validation compares the vendor's active
// findings of each asset class with Tributary's, and that Tributary holds extra findings
// more than the vendor counts in all.
func (p *pipeline) checkInspectorValidation(ctx context.Context, s synclog.Sync, extra int64) {
	t := p.t
	t.Helper()
	v := p.validationOf(ctx, s.ConnectorID)
	if v.SyncID != s.ID || len(v.Lines) != 3 {
		t.Fatalf("validation of %s: sync %s with %d lines; want sync %s, one line per asset class: %+v", s.ConnectorID, v.SyncID, len(v.Lines), s.ID, v.Lines)
	}
	var diff int64
	for _, l := range v.Lines {
		if l.Object != model.ObjectFindings || l.Class == "" || !strings.HasPrefix(l.Source, "ListFindingAggregations ACCOUNT: ") {
			t.Errorf("validation line %+v; want active findings of one asset class from ListFindingAggregations", l)
		}
		diff += l.Stored - l.Vendor
	}
	if diff != extra {
		t.Errorf("sync %s: Tributary holds %+d findings against the vendor's totals: %+v; want %+d", s.ID, diff, v.Lines, extra)
	}
	level := model.LevelInfo
	if extra != 0 {
		level = model.LevelWarn
	}
	_, entries, err := p.store.Sync(ctx, s.ID, level)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e synclog.Entry) bool { return strings.HasPrefix(e.Message, "data validation: ") }) {
		t.Errorf("sync %s logs no %s data validation entry", s.ID, level)
	}
}

// TestAssetRetention: a Full sync archives the connector's assets not seen for longer
// than asset_retention_days (reason retention), e.g. those of a region the connector no
// longer fetches, and leaves the assets it saw alone.
func TestAssetRetention(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, newSim(t, 40, inspector.Faults{}))
	conf, err := os.ReadFile(p.connectors)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.connectors, append(conf, "      asset_retention_days: 30\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	old := model.Asset{ConnectorID: "aws-e2e", ConnectorType: "aws_inspector2", SyncID: "an-old-sync", Scope: "ap-south-1",
		UID: "i-0retired000000000", Class: model.ClassDevice, Name: "decommissioned", FetchedAt: time.Now().UTC().Add(-40 * 24 * time.Hour)}
	recent := old
	recent.UID, recent.FetchedAt = "i-0recent0000000000", time.Now().UTC().Add(-10*24*time.Hour)
	if err := p.store.WriteAssets(ctx, []model.Asset{old, recent}); err != nil {
		t.Fatal(err)
	}
	svc := p.start(ctx, stack.Config{SyncAtStart: "full"})
	s := p.waitSync(ctx, svc, "the sync", func(s synclog.Sync) bool { return s.Status != synclog.StatusInProgress })
	if s.Status != synclog.StatusDone {
		t.Fatalf("sync %s: %+v", s.Status, s.Error)
	}
	if got := p.stateOf(t, "assets", "archive_reason", old.UID); got != "retention" {
		t.Errorf("an asset not seen for 40 days has archive_reason %q, want retention", got)
	}
	if got := p.history(t, "asset_history", old.UID); fmt.Sprint(got) != "[active>archived:retention]" {
		t.Errorf("history of the retired asset: %v", got)
	}
	if got := p.stateOf(t, "assets", "archive_reason", recent.UID); got != "" {
		t.Errorf("an asset seen 10 days ago was archived (%q)", got)
	}
	if n := p.count(t, "SELECT count() FROM assets FINAL WHERE archive_reason = '' AND sync_id = '"+s.ID+"'"); n == 0 {
		t.Error("the assets the sync returned are not active")
	}
}
