package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tributary-sec/tributary/internal/clickhouse"
	"github.com/tributary-sec/tributary/internal/clickhouse/clickhousetest"
	"github.com/tributary-sec/tributary/internal/model"
)

// Sync times of the lifecycle fixtures: t0 an earlier sync, t1 the sync being swept,
// t2 the sweep's rewrite.
var (
	t0 = fetched
	t1 = fetched.Add(time.Hour)
	t2 = fetched.Add(2 * time.Hour)
)

// lcAsset is a complete asset (every column set) with the given identity and state.
func lcAsset(connector, uid, scope, syncID, archiveReason string, at time.Time) model.Asset {
	a := testAssets()[0]
	a.ConnectorID, a.UID, a.Scope, a.SyncID, a.ArchiveReason, a.FetchedAt = connector, uid, scope, syncID, archiveReason, at
	return a
}

// lcFinding is a complete finding (every column set) on assetUID ("" for none).
func lcFinding(connector, uid, scope, syncID, assetUID string, status model.Status, at time.Time) model.EnrichedFinding {
	e := testFindings()[0]
	f := &e.Finding
	f.ConnectorID, f.UID, f.Scope, f.SyncID, f.FetchedAt = connector, uid, scope, syncID, at
	f.AssetUIDs = nil
	if assetUID != "" {
		f.AssetUIDs = []string{assetUID, "i-secondary"}
	}
	e.Status = status
	return e
}

func mustWrite(t *testing.T, c *clickhouse.Client, assets []model.Asset, findings []model.EnrichedFinding) {
	t.Helper()
	if err := c.WriteAssets(context.Background(), assets); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFindings(context.Background(), findings); err != nil {
		t.Fatal(err)
	}
}

// queryStrings runs a query selecting columns String-like columns and returns each row
// joined by "|".
func queryStrings(t *testing.T, c *clickhouse.Client, columns int, query string, args ...any) []string {
	t.Helper()
	rows, err := c.Query(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals := make([]string, columns)
		dest := make([]any, columns)
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join(vals, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	at := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	findings := []clickhouse.FindingChange{
		{ConnectorID: "conn-1", UID: "f-1", Old: "", New: model.StatusActive, Reason: "new", SyncID: "sync-1", Time: at},
		{ConnectorID: "conn-1", UID: "f-1", Old: model.StatusActive, New: model.StatusFixed, Reason: "not_returned", SyncID: "sync-2", Time: at.Add(time.Hour)},
		// A change of another month lands in another partition.
		{ConnectorID: "conn-1", UID: "f-1", Old: model.StatusFixed, New: model.StatusActive, Reason: "reopened", SyncID: "sync-3", Time: at.AddDate(0, 1, 0)},
		{ConnectorID: "conn-2", UID: "f-1", Old: model.StatusActive, New: model.StatusFixed, Reason: "vendor_suppressed", SyncID: "sync-9", Time: at},
	}
	assets := []clickhouse.AssetChange{
		{ConnectorID: "conn-1", UID: "a-1", OldState: "", NewState: model.AssetActive, Reason: "new", SyncID: "sync-1", Time: at},
		{ConnectorID: "conn-1", UID: "a-1", OldState: model.AssetActive, NewState: model.AssetArchived, Reason: "not_returned", SyncID: "sync-2", Time: at.Add(time.Hour)},
		{ConnectorID: "conn-1", UID: "a-1", OldState: model.AssetArchived, NewState: model.AssetActive, Reason: "restored", SyncID: "sync-3", Time: at.AddDate(0, 1, 0)},
	}
	// Written twice, as after a replay: FINAL shows each change once.
	for range 2 {
		if err := c.WriteHistory(ctx, findings, assets); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WriteHistory(ctx, nil, nil); err != nil {
		t.Errorf("WriteHistory of nothing: %v", err)
	}

	db := c.Database()
	tests := []struct {
		table string
		query string
		want  []string
	}{
		{
			table: "finding_history",
			query: "SELECT connector_id, uid, old_status, toString(new_status), reason, sync_id, toString(time) FROM " + db + ".finding_history FINAL ORDER BY connector_id, time",
			want: []string{
				"conn-1|f-1||Active|new|sync-1|2026-03-14 15:09:26",
				"conn-1|f-1|Active|Fixed|not_returned|sync-2|2026-03-14 16:09:26",
				"conn-1|f-1|Fixed|Active|reopened|sync-3|2026-04-14 15:09:26",
				"conn-2|f-1|Active|Fixed|vendor_suppressed|sync-9|2026-03-14 15:09:26",
			},
		},
		{
			table: "asset_history",
			query: "SELECT connector_id, uid, old_state, new_state, reason, sync_id, toString(time) FROM " + db + ".asset_history FINAL ORDER BY connector_id, time",
			want: []string{
				"conn-1|a-1||active|new|sync-1|2026-03-14 15:09:26",
				"conn-1|a-1|active|archived|not_returned|sync-2|2026-03-14 16:09:26",
				"conn-1|a-1|archived|active|restored|sync-3|2026-04-14 15:09:26",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			got := queryStrings(t, c, 7, tt.query)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s FINAL:\ngot  %q\nwant %q", tt.table, got, tt.want)
			}
			// The duplicates were written: it is FINAL that collapses them.
			if n := count(t, c, "SELECT count() FROM "+db+"."+tt.table); n != uint64(2*len(tt.want)) {
				t.Errorf("%s without FINAL: %d rows, want both copies, %d", tt.table, n, 2*len(tt.want))
			}
		})
	}
}

func TestWriteHistoryRejectsBadChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	at := fetched
	goodF := clickhouse.FindingChange{ConnectorID: "conn-1", UID: "f-1", New: model.StatusActive, Reason: "new", SyncID: "sync-1", Time: at}
	goodA := clickhouse.AssetChange{ConnectorID: "conn-1", UID: "a-1", NewState: model.AssetActive, Reason: "new", SyncID: "sync-1", Time: at}
	tests := []struct {
		name    string
		finding func(*clickhouse.FindingChange)
		asset   func(*clickhouse.AssetChange)
		wantErr string
	}{
		{name: "unknown finding reason", finding: func(f *clickhouse.FindingChange) { f.Reason = "gone" }, wantErr: `finding f-1: unknown reason "gone"`},
		{name: "unknown new status", finding: func(f *clickhouse.FindingChange) { f.New = "Closed" }, wantErr: `unknown new status "Closed"`},
		{name: "unknown old status", finding: func(f *clickhouse.FindingChange) { f.Old = "Open" }, wantErr: `unknown old status "Open"`},
		{name: "finding without change", finding: func(f *clickhouse.FindingChange) { f.Old = model.StatusActive }, wantErr: "status Active to Active is no change"},
		{name: "finding without time", finding: func(f *clickhouse.FindingChange) { f.Time = time.Time{} }, wantErr: "time is not set"},
		{name: "finding without sync", finding: func(f *clickhouse.FindingChange) { f.SyncID = "" }, wantErr: "no sync id"},
		{name: "unknown asset state", asset: func(a *clickhouse.AssetChange) { a.NewState = "deleted" }, wantErr: `asset a-1: unknown new state "deleted"`},
		{name: "unknown asset reason", asset: func(a *clickhouse.AssetChange) { a.Reason = "vendor_closed" }, wantErr: `unknown reason "vendor_closed"`},
		{name: "asset without connector", asset: func(a *clickhouse.AssetChange) { a.ConnectorID = "" }, wantErr: "no connector id"},
		{name: "asset before 1970", asset: func(a *clickhouse.AssetChange) { a.Time = time.Unix(-1, 0) }, wantErr: "outside DateTime's range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, a := goodF, goodA
			if tt.finding != nil {
				tt.finding(&f)
			}
			if tt.asset != nil {
				tt.asset(&a)
			}
			err := c.WriteHistory(ctx, []clickhouse.FindingChange{f}, []clickhouse.AssetChange{a})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	// A bad change in either list writes nothing at all.
	for _, table := range []string{"finding_history", "asset_history"} {
		if n := count(t, c, "SELECT count() FROM "+c.Database()+"."+table); n != 0 {
			t.Errorf("%s holds %d rows after rejected batches, want 0", table, n)
		}
	}
}

func TestCurrentStatuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	// Newest first, then an older replay: the newest version must still win.
	mustWrite(t, c,
		[]model.Asset{
			lcAsset("conn-1", "a-archived", "eu", "sync-2", "status", t1),
			lcAsset("conn-1", "a-restored", "eu", "sync-2", "", t1),
			lcAsset("conn-1", "a-active", "eu", "sync-1", "", t0),
			lcAsset("conn-2", "a-archived", "eu", "sync-9", "retention", t0),
		},
		[]model.EnrichedFinding{
			lcFinding("conn-1", "f-fixed", "eu", "sync-2", "", model.StatusFixed, t1),
			lcFinding("conn-1", "f-reopened", "eu", "sync-2", "", model.StatusActive, t1),
			lcFinding("conn-1", "f-active", "eu", "sync-1", "", model.StatusActive, t0),
			lcFinding("conn-2", "f-fixed", "eu", "sync-9", "", model.StatusActive, t0),
		})
	mustWrite(t, c,
		[]model.Asset{
			lcAsset("conn-1", "a-archived", "eu", "sync-1", "", t0),
			lcAsset("conn-1", "a-restored", "eu", "sync-1", "not_returned", t0),
		},
		[]model.EnrichedFinding{
			lcFinding("conn-1", "f-fixed", "eu", "sync-1", "", model.StatusActive, t0),
			lcFinding("conn-1", "f-reopened", "eu", "sync-1", "", model.StatusFixed, t0),
		})

	// Enough unknown uids to need two queries, around the known ones.
	var many []string
	for i := range clickhouse.MaxInListHashes + 10 {
		many = append(many, fmt.Sprintf("arn:aws:inspector2:eu-west-1:123456789012:finding/%d", i))
	}
	manyWith := func(uids ...string) []string {
		return slices.Concat(many[:1500], uids, many[1500:], []string{"it's \\ quoted"})
	}

	findingTests := []struct {
		name      string
		connector string
		uids      []string
		want      map[string]model.Status
	}{
		{
			name:      "known, updated and unknown",
			connector: "conn-1",
			uids:      []string{"f-fixed", "f-reopened", "f-active", "f-unknown"},
			want:      map[string]model.Status{"f-fixed": model.StatusFixed, "f-reopened": model.StatusActive, "f-active": model.StatusActive},
		},
		{name: "other connector", connector: "conn-2", uids: []string{"f-fixed", "f-active"}, want: map[string]model.Status{"f-fixed": model.StatusActive}},
		{name: "unknown connector", connector: "conn-3", uids: []string{"f-fixed"}, want: map[string]model.Status{}},
		{name: "no uids", connector: "conn-1", uids: nil, want: map[string]model.Status{}},
		{
			name:      "many uids",
			connector: "conn-1",
			uids:      manyWith("f-fixed", "f-active"),
			want:      map[string]model.Status{"f-fixed": model.StatusFixed, "f-active": model.StatusActive},
		},
	}
	for _, tt := range findingTests {
		t.Run("FindingStatuses/"+tt.name, func(t *testing.T) {
			got, err := c.FindingStatuses(ctx, tt.connector, tt.uids)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FindingStatuses(%s) = %v, want %v", tt.connector, got, tt.want)
			}
		})
	}

	assetTests := []struct {
		name      string
		connector string
		uids      []string
		want      map[string]string
	}{
		{
			name:      "known, updated and unknown",
			connector: "conn-1",
			uids:      []string{"a-archived", "a-restored", "a-active", "a-unknown"},
			want:      map[string]string{"a-archived": "status", "a-restored": "", "a-active": ""},
		},
		{name: "other connector", connector: "conn-2", uids: []string{"a-archived", "a-active"}, want: map[string]string{"a-archived": "retention"}},
		{name: "no uids", connector: "conn-1", uids: nil, want: map[string]string{}},
		{name: "many uids", connector: "conn-1", uids: manyWith("a-archived"), want: map[string]string{"a-archived": "status"}},
	}
	for _, tt := range assetTests {
		t.Run("AssetArchiveReasons/"+tt.name, func(t *testing.T) {
			got, err := c.AssetArchiveReasons(ctx, tt.connector, tt.uids)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("AssetArchiveReasons(%s) = %v, want %v", tt.connector, got, tt.want)
			}
		})
	}
}

// TestUIDHashIsClickHouses: the state tables are filled by ClickHouse's cityHash64 and
// looked up by the processor's own, so the two must agree on every length CityHash
// treats differently (0–16, 17–32, 33–64, over 64 bytes) and on any bytes.
func TestUIDHashIsClickHouses(t *testing.T) {
	t.Parallel()
	c := clickhousetest.New(t)
	uids := []string{"", "a", "0123456789abcdef", "0123456789abcdefg", strings.Repeat("x", 32), strings.Repeat("y", 33),
		strings.Repeat("z", 64), strings.Repeat("w", 65), "arn:aws:inspector2:eu-west-1:123456789012:finding/" + strings.Repeat("f", 32),
		strings.Repeat("HOST-007/CVE-2024-0001 ", 50), "ünïcödé/名前", "it's \\ quoted\x00"}
	for _, uid := range uids {
		rows, err := c.Query(context.Background(), "SELECT cityHash64(?)", uid)
		if err != nil {
			t.Fatal(err)
		}
		var want uint64
		for rows.Next() {
			if err := rows.Scan(&want); err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
		if got := clickhouse.UIDHash(uid); got != want {
			t.Errorf("UIDHash(%q) = %d, ClickHouse's cityHash64 = %d", uid, got, want)
		}
	}
}

// writeSweepFixture writes a connector's state before the end of Full sync sync-2 of
// scope eu: what each sweep must pick and what it must skip, and why.
func writeSweepFixture(t *testing.T, c *clickhouse.Client) {
	t.Helper()
	mustWrite(t, c,
		[]model.Asset{
			lcAsset("conn-1", "a-seen", "eu", "sync-2", "", t1),           // returned by sync-2
			lcAsset("conn-1", "a-gone", "eu", "sync-1", "", t0),           // picked
			lcAsset("conn-1", "a-archived", "eu", "sync-1", "status", t0), // already archived
			lcAsset("conn-1", "a-us", "us", "sync-1", "", t0),             // another scope
			lcAsset("conn-2", "a-gone", "eu", "sync-1", "", t0),           // another connector
			lcAsset("conn-2", "a-shared", "eu", "sync-1", "status", t0),   // archived, in another connector
			// Newest versions decide: restored after an archive (picked), and archived
			// by an earlier sweep (skipped).
			lcAsset("conn-1", "a-restored", "eu", "sync-1", "", t0),
			lcAsset("conn-1", "a-swept", "eu", "sync-0", "not_returned", t0),
		},
		[]model.EnrichedFinding{
			lcFinding("conn-1", "f-seen", "eu", "sync-2", "a-seen", model.StatusActive, t1),         // returned by sync-2
			lcFinding("conn-1", "f-gone", "eu", "sync-1", "a-seen", model.StatusActive, t0),         // picked
			lcFinding("conn-1", "f-on-gone", "eu", "sync-1", "a-gone", model.StatusActive, t0),      // picked until a-gone is archived
			lcFinding("conn-1", "f-no-asset-row", "eu", "sync-1", "a-none", model.StatusActive, t0), // picked
			lcFinding("conn-1", "f-no-asset", "eu", "sync-1", "", model.StatusActive, t0),           // picked
			lcFinding("conn-1", "f-shared", "eu", "sync-1", "a-shared", model.StatusActive, t0),     // picked: conn-2's asset
			lcFinding("conn-1", "f-fixed", "eu", "sync-1", "a-seen", model.StatusFixed, t0),         // already Fixed
			lcFinding("conn-1", "f-hidden", "eu", "sync-1", "a-archived", model.StatusActive, t0),   // asset archived
			lcFinding("conn-1", "f-us", "us", "sync-1", "a-us", model.StatusActive, t0),             // another scope
			lcFinding("conn-2", "f-gone", "eu", "sync-1", "a-gone", model.StatusActive, t0),         // another connector
			lcFinding("conn-1", "f-refixed", "eu", "sync-0", "a-seen", model.StatusActive, t0),      // Fixed in a newer version
		})
	mustWrite(t, c,
		[]model.Asset{
			lcAsset("conn-1", "a-restored", "eu", "sync-0", "not_returned", t0.Add(-time.Hour)),
			lcAsset("conn-1", "a-swept", "eu", "sync-0", "", t0.Add(-time.Hour)),
		},
		[]model.EnrichedFinding{
			lcFinding("conn-1", "f-refixed", "eu", "sync-1", "a-seen", model.StatusFixed, t0.Add(time.Minute)),
		})
}

func sweepAssets(t *testing.T, c *clickhouse.Client, connector, scope, syncID string) []model.Asset {
	t.Helper()
	var out []model.Asset
	if err := c.AssetsNotReturned(context.Background(), connector, scope, syncID, func(a model.Asset) error {
		out = append(out, a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b model.Asset) int { return strings.Compare(a.UID, b.UID) })
	return out
}

func sweepFindings(t *testing.T, c *clickhouse.Client, connector, scope, syncID string) []model.EnrichedFinding {
	t.Helper()
	var out []model.EnrichedFinding
	if err := c.FindingsNotReturned(context.Background(), connector, scope, syncID, func(f model.EnrichedFinding) error {
		out = append(out, f)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b model.EnrichedFinding) int { return strings.Compare(a.Finding.UID, b.Finding.UID) })
	return out
}

func assetUIDs(assets []model.Asset) []string {
	var out []string
	for _, a := range assets {
		out = append(out, a.UID)
	}
	return out
}

func findingUIDs(findings []model.EnrichedFinding) []string {
	var out []string
	for _, f := range findings {
		out = append(out, f.Finding.UID)
	}
	return out
}

func TestSweeps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	writeSweepFixture(t, c)

	assetTests := []struct {
		name, connector, scope, syncID string
		want                           []string
	}{
		{name: "swept scope", connector: "conn-1", scope: "eu", syncID: "sync-2", want: []string{"a-gone", "a-restored"}},
		{name: "other scope", connector: "conn-1", scope: "us", syncID: "sync-2", want: []string{"a-us"}},
		{name: "scope without rows", connector: "conn-1", scope: "ap", syncID: "sync-2", want: nil},
		{name: "sync that returned them", connector: "conn-1", scope: "us", syncID: "sync-1", want: nil},
		{name: "other connector", connector: "conn-2", scope: "eu", syncID: "sync-2", want: []string{"a-gone"}},
	}
	for _, tt := range assetTests {
		t.Run("AssetsNotReturned/"+tt.name, func(t *testing.T) {
			if got := assetUIDs(sweepAssets(t, c, tt.connector, tt.scope, tt.syncID)); !slices.Equal(got, tt.want) {
				t.Errorf("AssetsNotReturned(%s, %s, %s) = %q, want %q", tt.connector, tt.scope, tt.syncID, got, tt.want)
			}
		})
	}

	// Every column comes back, so the caller can write the asset again.
	gone := sweepAssets(t, c, "conn-1", "eu", "sync-2")
	compareFields(t, "Asset", gone[0], lcAsset("conn-1", "a-gone", "eu", "sync-1", "", t0))

	findingsBefore := []string{"f-gone", "f-no-asset", "f-no-asset-row", "f-on-gone", "f-shared"}
	if got := findingUIDs(sweepFindings(t, c, "conn-1", "eu", "sync-2")); !slices.Equal(got, findingsBefore) {
		t.Errorf("FindingsNotReturned before the assets are archived = %q, want %q", got, findingsBefore)
	}

	// The sweep archives the assets, then the findings of archived assets are hidden.
	for i := range gone {
		gone[i].ArchiveReason, gone[i].FetchedAt = "not_returned", t2
	}
	if err := c.WriteAssets(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if got := assetUIDs(sweepAssets(t, c, "conn-1", "eu", "sync-2")); len(got) != 0 {
		t.Errorf("AssetsNotReturned after archiving them = %q, want none", got)
	}

	findingTests := []struct {
		name, connector, scope, syncID string
		want                           []string
	}{
		{name: "swept scope", connector: "conn-1", scope: "eu", syncID: "sync-2", want: []string{"f-gone", "f-no-asset", "f-no-asset-row", "f-shared"}},
		{name: "other scope", connector: "conn-1", scope: "us", syncID: "sync-2", want: []string{"f-us"}},
		{name: "scope without rows", connector: "conn-1", scope: "ap", syncID: "sync-2", want: nil},
		{name: "other connector", connector: "conn-2", scope: "eu", syncID: "sync-2", want: []string{"f-gone"}},
	}
	for _, tt := range findingTests {
		t.Run("FindingsNotReturned/"+tt.name, func(t *testing.T) {
			if got := findingUIDs(sweepFindings(t, c, tt.connector, tt.scope, tt.syncID)); !slices.Equal(got, tt.want) {
				t.Errorf("FindingsNotReturned(%s, %s, %s) = %q, want %q", tt.connector, tt.scope, tt.syncID, got, tt.want)
			}
		})
	}
}

// TestSweepRoundTrip writes what the sweeps read back with a new status and archive
// reason: through FINAL, only those and the fetch time changed.
func TestSweepRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	sparse := testFindings()[1] // NULL score, port and times, no asset, no attributes
	sparse.Finding.Scope, sparse.Status = "eu", model.StatusActive
	fullAsset := lcAsset("conn-1", "a-full", "eu", "sync-1", "", t0)
	sparseAsset := testAssets()[2] // NULL observation times, no tags
	sparseAsset.Scope = "eu"
	assets := []model.Asset{fullAsset, sparseAsset}
	findings := []model.EnrichedFinding{lcFinding("conn-1", "f-full", "eu", "sync-1", "a-other", model.StatusActive, t0), sparse}
	mustWrite(t, c, assets, findings)

	var rewrittenFindings []model.EnrichedFinding
	if err := c.FindingsNotReturned(ctx, "conn-1", "eu", "sync-2", func(e model.EnrichedFinding) error {
		e.Status, e.Finding.FetchedAt = model.StatusFixed, t2
		rewrittenFindings = append(rewrittenFindings, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFindings(ctx, rewrittenFindings); err != nil {
		t.Fatal(err)
	}
	// Writing from inside the callback, while the sweep streams, works too.
	if err := c.AssetsNotReturned(ctx, "conn-1", "eu", "sync-2", func(a model.Asset) error {
		a.ArchiveReason, a.FetchedAt = "not_returned", t2
		return c.WriteAssets(ctx, []model.Asset{a})
	}); err != nil {
		t.Fatal(err)
	}

	gotFindings := map[string]model.EnrichedFinding{}
	for _, e := range readFindings(t, c) {
		gotFindings[e.Finding.UID] = e
	}
	if len(gotFindings) != len(findings) {
		t.Errorf("findings FINAL holds %d findings, want %d", len(gotFindings), len(findings))
	}
	for _, want := range findings {
		want.Status, want.Finding.FetchedAt = model.StatusFixed, t2
		t.Run("finding "+want.Finding.UID, func(t *testing.T) {
			compareFields(t, "EnrichedFinding", gotFindings[want.Finding.UID], want)
		})
	}

	gotAssets := map[string]model.Asset{}
	for _, a := range readAssets(t, c) {
		gotAssets[a.UID] = a
	}
	reasons, err := c.AssetArchiveReasons(ctx, "conn-1", []string{fullAsset.UID, sparseAsset.UID})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range assets {
		want.FetchedAt = t2
		t.Run("asset "+want.UID, func(t *testing.T) {
			got := gotAssets[want.UID]
			got.ArchiveReason = reasons[want.UID] // readAssets predates archive_reason
			want.ArchiveReason = "not_returned"
			compareFields(t, "Asset", got, want)
		})
	}
}

func TestSweepStopsAtCallbackError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	writeSweepFixture(t, c)
	stop := errors.New("stop here")
	calls := 0
	each := func() error { calls++; return stop }
	tests := []struct {
		name  string
		sweep func() error
	}{
		{"AssetsNotReturned", func() error {
			return c.AssetsNotReturned(ctx, "conn-1", "eu", "sync-2", func(model.Asset) error { return each() })
		}},
		{"FindingsNotReturned", func() error {
			return c.FindingsNotReturned(ctx, "conn-1", "eu", "sync-2", func(model.EnrichedFinding) error { return each() })
		}},
		{"AssetsPastRetention", func() error {
			return c.AssetsPastRetention(ctx, "conn-1", t2, func(model.Asset) error { return each() })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls = 0
			if err := tt.sweep(); err != stop {
				t.Errorf("error = %v, want the callback's error as is", err)
			}
			if calls != 1 {
				t.Errorf("callback called %d times, want 1", calls)
			}
		})
	}
	if err := c.AssetsNotReturned(ctx, "conn-1", "eu", "", func(model.Asset) error { return nil }); err == nil {
		t.Error("AssetsNotReturned without a sync id succeeded")
	}
	if err := c.FindingsNotReturned(ctx, "", "eu", "sync-2", func(model.EnrichedFinding) error { return nil }); err == nil {
		t.Error("FindingsNotReturned without a connector id succeeded")
	}
}

func TestAssetsPastRetention(t *testing.T) {
	t.Parallel()
	c := clickhousetest.New(t)
	cutoff := t1
	mustWrite(t, c, []model.Asset{
		lcAsset("conn-1", "a-old", "eu", "sync-1", "", t0),
		lcAsset("conn-1", "a-old-us", "us", "sync-1", "", t0),
		lcAsset("conn-1", "a-just-before", "eu", "sync-1", "", cutoff.Add(-time.Second)),
		lcAsset("conn-1", "a-at-cutoff", "eu", "sync-2", "", cutoff),
		lcAsset("conn-1", "a-recent", "eu", "sync-3", "", t2),
		lcAsset("conn-1", "a-old-archived", "eu", "sync-1", "not_returned", t0),
		lcAsset("conn-2", "a-old", "eu", "sync-1", "", t0),
		// Seen again since: only the newest version counts.
		lcAsset("conn-1", "a-seen-again", "eu", "sync-1", "", t0),
		lcAsset("conn-1", "a-seen-again", "eu", "sync-3", "", t2),
	}, nil)
	tests := []struct {
		name      string
		connector string
		since     time.Time
		want      []string
	}{
		{name: "cutoff", connector: "conn-1", since: cutoff, want: []string{"a-just-before", "a-old", "a-old-us"}},
		{name: "to the second", connector: "conn-1", since: cutoff.Add(999 * time.Millisecond), want: []string{"a-just-before", "a-old", "a-old-us"}},
		{name: "after everything", connector: "conn-1", since: t2.Add(time.Second), want: []string{"a-at-cutoff", "a-just-before", "a-old", "a-old-us", "a-recent", "a-seen-again"}},
		{name: "other connector", connector: "conn-2", since: cutoff, want: []string{"a-old"}},
		{name: "before everything", connector: "conn-1", since: t0, want: nil},
		{name: "zero time", connector: "conn-1", since: time.Time{}, want: nil},
		{name: "beyond DateTime", connector: "conn-1", since: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), want: []string{"a-at-cutoff", "a-just-before", "a-old", "a-old-us", "a-recent", "a-seen-again"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []model.Asset
			if err := c.AssetsPastRetention(context.Background(), tt.connector, tt.since, func(a model.Asset) error {
				got = append(got, a)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(got, func(a, b model.Asset) int { return strings.Compare(a.UID, b.UID) })
			if uids := assetUIDs(got); !slices.Equal(uids, tt.want) {
				t.Errorf("AssetsPastRetention(%s, %s) = %q, want %q", tt.connector, tt.since.Format(time.RFC3339Nano), uids, tt.want)
			}
			for _, a := range got {
				if a.UID == "a-old" {
					compareFields(t, "Asset", a, lcAsset(tt.connector, "a-old", "eu", "sync-1", "", t0))
				}
			}
		})
	}
}

func TestCurrentFindingsView(t *testing.T) {
	t.Parallel()
	c := clickhousetest.New(t)
	writeSweepFixture(t, c)
	query := "SELECT connector_id, uid, toString(status) FROM " + c.Database() + ".current_findings ORDER BY connector_id, uid"
	want := []string{
		"conn-1|f-fixed|Fixed",
		"conn-1|f-gone|Active",
		"conn-1|f-no-asset|Active",
		"conn-1|f-no-asset-row|Active",
		"conn-1|f-on-gone|Active",
		"conn-1|f-refixed|Fixed", // the newest version
		"conn-1|f-seen|Active",
		"conn-1|f-shared|Active", // the archived a-shared is conn-2's
		"conn-1|f-us|Active",
		"conn-2|f-gone|Active",
		// f-hidden is on the archived a-archived.
	}
	if got := queryStrings(t, c, 3, query); !reflect.DeepEqual(got, want) {
		t.Errorf("current_findings:\ngot  %q\nwant %q", got, want)
	}

	// Archiving a-gone hides f-on-gone; restoring a-archived shows f-hidden again.
	mustWrite(t, c, []model.Asset{
		lcAsset("conn-1", "a-gone", "eu", "sync-2", "not_returned", t2),
		lcAsset("conn-1", "a-archived", "eu", "sync-2", "", t2),
	}, nil)
	want = []string{
		"conn-1|f-fixed|Fixed",
		"conn-1|f-gone|Active",
		"conn-1|f-hidden|Active",
		"conn-1|f-no-asset|Active",
		"conn-1|f-no-asset-row|Active",
		"conn-1|f-refixed|Fixed",
		"conn-1|f-seen|Active",
		"conn-1|f-shared|Active",
		"conn-1|f-us|Active",
		"conn-2|f-gone|Active",
	}
	if got := queryStrings(t, c, 3, query); !reflect.DeepEqual(got, want) {
		t.Errorf("current_findings after archiving and restoring:\ngot  %q\nwant %q", got, want)
	}
}

func TestWeaknessesView(t *testing.T) {
	t.Parallel()
	c := clickhousetest.New(t)
	day := func(m, d int) time.Time { return time.Date(2026, time.Month(m), d, 0, 0, 0, 0, time.UTC) }
	finding := func(connector, uid, assetUID, name string, cves []string, sev model.Severity, status model.Status, first, last time.Time) model.EnrichedFinding {
		e := lcFinding(connector, uid, "eu", "sync-1", assetUID, status, t0)
		e.Finding.Name, e.Finding.CVEs, e.Severity = name, cves, sev
		e.Finding.FirstSeen, e.Finding.LastSeen = first, last
		return e
	}
	mustWrite(t, c,
		[]model.Asset{
			lcAsset("conn-1", "h-1", "eu", "sync-1", "", t0),
			lcAsset("conn-1", "h-9", "eu", "sync-1", "status", t0),
		},
		[]model.EnrichedFinding{
			// CVE-A on h-1 (twice, e.g. two ports) and h-2: two affected assets.
			finding("conn-1", "f-1", "h-1", "CVE-A - openssl", []string{"CVE-A"}, model.SeverityHigh, model.StatusActive, day(1, 5), day(3, 1)),
			finding("conn-1", "f-2", "h-1", "CVE-A - openssl", []string{"CVE-A"}, model.SeverityHigh, model.StatusActive, day(1, 7), day(3, 2)),
			finding("conn-1", "f-3", "h-2", "CVE-A - openssl", []string{"CVE-A"}, model.SeverityCritical, model.StatusActive, day(2, 1), day(3, 10)),
			// Fixed on h-3: counts for first/last seen and severity, not as affected.
			finding("conn-1", "f-4", "h-3", "CVE-A, CVE-B - libfoo", []string{"CVE-A", "CVE-B"}, model.SeverityMedium, model.StatusFixed, day(1, 1), day(1, 2)),
			// No CVE: keyed by name.
			finding("conn-1", "f-5", "h-1", "Weak TLS ciphers", nil, model.SeverityLow, model.StatusActive, day(2, 2), day(3, 3)),
			finding("conn-1", "f-6", "h-2", "Weak TLS ciphers", nil, model.SeverityLow, model.StatusActive, time.Time{}, time.Time{}),
			// Without an asset: listed, but no affected asset.
			finding("conn-1", "f-7", "", "CVE-D - kernel", []string{"CVE-D"}, model.SeverityHigh, model.StatusActive, day(2, 3), day(2, 4)),
			// On the archived h-9: hidden, so CVE-C is not a current weakness.
			finding("conn-1", "f-8", "h-9", "CVE-C - zlib", []string{"CVE-C"}, model.SeverityCritical, model.StatusActive, day(1, 1), day(3, 1)),
			// The same CVE in another connector is another weakness.
			finding("conn-2", "f-1", "h-1", "CVE-A - openssl", []string{"CVE-A"}, model.SeverityLow, model.StatusActive, day(2, 2), day(2, 3)),
		})

	rows, err := c.Query(context.Background(), `SELECT connector_id, weakness, title, severity, affected_active_assets,
		first_seen, last_seen FROM `+c.Database()+`.weaknesses ORDER BY connector_id, weakness`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var (
			connector, weakness, title, severity string
			affected                             uint64
			first, last                          *time.Time
		)
		if err := rows.Scan(&connector, &weakness, &title, &severity, &affected, &first, &last); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s|%s|%s|%s|%d|%s|%s", connector, weakness, title, severity, affected, dayOf(first), dayOf(last)))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"conn-1|CVE-A|CVE-A - openssl|Critical|2|01-01|03-10",
		"conn-1|CVE-B|CVE-A, CVE-B - libfoo|Medium|0|01-01|01-02",
		"conn-1|CVE-D|CVE-D - kernel|High|0|02-03|02-04",
		"conn-1|Weak TLS ciphers|Weak TLS ciphers|Low|2|02-02|03-03",
		"conn-2|CVE-A|CVE-A - openssl|Low|1|02-02|02-03",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("weaknesses:\ngot  %q\nwant %q", got, want)
	}
}

func dayOf(t *time.Time) string {
	if t == nil {
		return "NULL"
	}
	return t.UTC().Format("01-02")
}

// TestStateTablesBackfill: rows written before migration 0006 are in the state tables
// once it runs, and running its backfill again changes no lookup.
func TestStateTablesBackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := clickhouse.Open(ctx, clickhouse.Options{Addr: clickhousetest.Addr(t), Database: clickhousetest.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	before, after := fstest.MapFS{}, fstest.MapFS{}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) < "0006" {
			before[f] = &fstest.MapFile{Data: text}
		}
		after[f] = &fstest.MapFile{Data: text}
	}
	if err := c.MigrateFS(ctx, before); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, c, []model.Asset{lcAsset("conn-1", "a-old", "eu", "sync-1", "status", t0)},
		[]model.EnrichedFinding{lcFinding("conn-1", "f-old", "eu", "sync-1", "", model.StatusFixed, t0)})
	if err := c.MigrateFS(ctx, after); err != nil {
		t.Fatal(err)
	}
	// Written after the migration: the materialized views carry it.
	mustWrite(t, c, nil, []model.EnrichedFinding{lcFinding("conn-1", "f-new", "eu", "sync-2", "", model.StatusActive, t1)})
	// The backfill again, as after a migration interrupted before it was recorded.
	if err := c.Exec(ctx, "INSERT INTO "+c.Database()+".finding_state SELECT connector_id, cityHash64(uid), status, version FROM "+c.Database()+".findings"); err != nil {
		t.Fatal(err)
	}
	statuses, err := c.FindingStatuses(ctx, "conn-1", []string{"f-old", "f-new"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]model.Status{"f-old": model.StatusFixed, "f-new": model.StatusActive}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("FindingStatuses = %v, want %v", statuses, want)
	}
	reasons, err := c.AssetArchiveReasons(ctx, "conn-1", []string{"a-old"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a-old": "status"}; !reflect.DeepEqual(reasons, want) {
		t.Errorf("AssetArchiveReasons = %v, want %v", reasons, want)
	}
	if n := count(t, c, "SELECT count() FROM "+c.Database()+".finding_state FINAL"); n != 2 {
		t.Errorf("finding_state holds %d rows after merging, want 2 (a backfilled row twice collapses)", n)
	}
}

// TestSweepOverSeveralChunks: a sweep that picks more uids than one query lists reads
// each of them once.
func TestSweepOverSeveralChunks(t *testing.T) {
	t.Parallel()
	c := clickhousetest.New(t)
	var findings []model.EnrichedFinding
	var want []string
	for i := range clickhouse.SweepChunk + 7 {
		uid := fmt.Sprintf("f-%06d", i)
		findings = append(findings, lcFinding("conn-1", uid, "eu", "sync-1", "", model.StatusActive, t0))
		want = append(want, uid)
	}
	mustWrite(t, c, nil, findings)
	if got := findingUIDs(sweepFindings(t, c, "conn-1", "eu", "sync-2")); !slices.Equal(got, want) {
		t.Errorf("FindingsNotReturned returned %d findings, want all %d once", len(got), len(want))
	}
}
