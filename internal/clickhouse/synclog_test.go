package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/clickhouse"
	"github.com/tributary-sec/tributary/internal/clickhouse/clickhousetest"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// syncStart is when the fixture syncs start; sync times are kept to the second.
var syncStart = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { return ptr(syncStart.Add(d)) }

// failedSync is a sync whose Fetching failed with a full error block; Normalizing and
// Processing never ran, so they have no times.
func failedSync() synclog.Sync {
	return synclog.Sync{
		ID:                "sync-failed",
		ConnectorID:       "conn-1",
		ConnectorType:     "aws_inspector",
		Type:              model.SyncFull,
		Status:            synclog.StatusFailed,
		FailedStage:       model.StageFetching,
		StartedAt:         syncStart,
		EndedAt:           at(95 * time.Second),
		IngestionSeconds:  42.125,
		ProcessingSeconds: 53.5,
		RecordsFetched:    1200,
		RecordsWritten:    1180,
		RecordsFailed:     3,
		Error: &model.ErrorBlock{
			Class:             "Authentication",
			Message:           "The security token included in the request is invalid.",
			RecommendedAction: "Check the role's trust policy and the external id.",
			RootCause:         "sts:AssumeRole was denied",
			Code:              "status_code: 403",
			Details:           "POST https://inspector2.eu-west-1.amazonaws.com/findings/list",
			ResponseHeaders:   map[string]string{"X-Amzn-Requestid": "7f3c", "Content-Type": "application/json", "X-Amzn-Errortype": "UnrecognizedClientException:"},
			ResponsePayload:   `{"message":"it's \"invalid\"\n\\ end"}`,
		},
		Stages: []synclog.Stage{
			{Name: model.StageInitiating, State: model.StateSucceeded, StartedAt: at(0), EndedAt: at(time.Second), Seconds: 0.25},
			{Name: model.StageConnectivity, State: model.StateSucceeded, StartedAt: at(time.Second), EndedAt: at(2 * time.Second), Seconds: 1.5},
			{Name: model.StageFetching, State: model.StateFailed, StartedAt: at(2 * time.Second), EndedAt: at(42 * time.Second), Seconds: 40.125, RecordsIn: 0, RecordsOut: 1200, RecordsFailed: 2},
			{Name: model.StageNormalizing, State: model.StateSucceeded, StartedAt: at(2 * time.Second), EndedAt: at(95 * time.Second), Seconds: 93, RecordsIn: 1200, RecordsOut: 1199, RecordsFailed: 1},
			{Name: model.StageProcessing, State: model.StateSkipped},
		},
		UpdatedAt: syncStart.Add(95 * time.Second),
	}
}

// doneSync is a successful sync on another connector, an hour after failedSync.
func doneSync() synclog.Sync {
	return synclog.Sync{
		ID:               "sync-done",
		ConnectorID:      "conn-2",
		ConnectorType:    "cortex_xdr",
		Type:             model.SyncIncremental,
		Status:           synclog.StatusDone,
		StartedAt:        syncStart.Add(time.Hour),
		EndedAt:          at(time.Hour + 10*time.Second),
		IngestionSeconds: 4.5,
		RecordsFetched:   10,
		RecordsWritten:   10,
		Stages: []synclog.Stage{
			{Name: model.StageInitiating, State: model.StateSucceeded, StartedAt: at(time.Hour), EndedAt: at(time.Hour), Seconds: 0.1},
			{Name: model.StageConnectivity, State: model.StateSucceeded, StartedAt: at(time.Hour), EndedAt: at(time.Hour + time.Second), Seconds: 0.9},
			{Name: model.StageFetching, State: model.StateSucceeded, StartedAt: at(time.Hour + time.Second), EndedAt: at(time.Hour + 4*time.Second), Seconds: 3.5, RecordsOut: 10},
			{Name: model.StageNormalizing, State: model.StateSucceeded, StartedAt: at(time.Hour + time.Second), EndedAt: at(time.Hour + 10*time.Second), Seconds: 9, RecordsIn: 10, RecordsOut: 10},
			{Name: model.StageProcessing, State: model.StateSucceeded, StartedAt: at(time.Hour + time.Second), EndedAt: at(time.Hour + 10*time.Second), Seconds: 9, RecordsIn: 10, RecordsOut: 10},
		},
		UpdatedAt: syncStart.Add(time.Hour + 10*time.Second),
	}
}

// failedEntries are failedSync's log, oldest first. Two share a second and are out of
// topic order within it, so only time_ms orders them.
func failedEntries() []clickhouse.LoggedEntry {
	ms := func(d time.Duration) time.Time { return syncStart.Add(d) }
	entry := func(p int32, off int64, t time.Time, level model.Level, stage string, state model.StageState, msg string) clickhouse.LoggedEntry {
		return clickhouse.LoggedEntry{SyncID: "sync-failed", ConnectorID: "conn-1", Partition: p, Offset: off,
			Entry: synclog.Entry{Time: t, Level: level, Stage: stage, State: state, Message: msg}}
	}
	fetchFailed := entry(0, 14, ms(42*time.Second+5*time.Millisecond), model.LevelError, model.StageFetching, model.StateFailed, "fetching failed: 403")
	fetchFailed.Error = failedSync().Error
	return []clickhouse.LoggedEntry{
		entry(0, 10, ms(0), model.LevelInfo, model.StageInitiating, model.StateRunning, "sync started"),
		entry(0, 11, ms(999*time.Millisecond), model.LevelDebug, model.StageInitiating, model.StateSucceeded, "initiated"),
		entry(0, 13, ms(2*time.Second+100*time.Millisecond), model.LevelInfo, model.StageConnectivity, model.StateSucceeded, "connectivity test passed"),
		entry(0, 12, ms(2*time.Second+300*time.Millisecond), model.LevelInfo, model.StageFetching, model.StateRunning, "fetching eu-west-1"),
		fetchFailed,
		entry(0, 15, ms(50*time.Second), model.LevelWarn, "", "", "2 records dead-lettered: it's a 'quote' \\ and\na newline"),
	}
}

func doneEntries() []clickhouse.LoggedEntry {
	return []clickhouse.LoggedEntry{
		{SyncID: "sync-done", ConnectorID: "conn-2", Partition: 1, Offset: 3, Entry: synclog.Entry{
			Time: syncStart.Add(time.Hour + 250*time.Millisecond), Level: model.LevelInfo,
			Stage: model.StageInitiating, State: model.StateRunning, Message: "sync started"}},
		{SyncID: "sync-done", ConnectorID: "conn-2", Partition: 1, Offset: 9, Entry: synclog.Entry{
			Time: syncStart.Add(time.Hour + 10*time.Second), Level: model.LevelInfo,
			Stage: model.StageProcessing, State: model.StateSucceeded, Message: "10 records written"}},
	}
}

func entriesOf(logged []clickhouse.LoggedEntry) []synclog.Entry {
	out := make([]synclog.Entry, len(logged))
	for i, e := range logged {
		out[i] = e.Entry
	}
	return out
}

// compareSync reports each field of got that differs from want, stage by stage.
func compareSync(t *testing.T, got, want synclog.Sync) {
	t.Helper()
	if len(got.Stages) != len(want.Stages) {
		t.Errorf("sync %s: %d stages, want %d: %+v", want.ID, len(got.Stages), len(want.Stages), got.Stages)
	} else {
		for i := range want.Stages {
			compareFields(t, fmt.Sprintf("Sync(%s).Stages[%d]", want.ID, i), got.Stages[i], want.Stages[i])
		}
	}
	got.Stages, want.Stages = nil, nil
	compareFields(t, "Sync("+want.ID+")", got, want)
}

func compareEntries(t *testing.T, label string, got, want []synclog.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d entries, want %d:\n got %+v\nwant %+v", label, len(got), len(want), got, want)
		return
	}
	for i := range want {
		compareFields(t, fmt.Sprintf("%s[%d]", label, i), got[i], want[i])
	}
}

func syncIDs(syncs []synclog.Sync) []string {
	ids := make([]string, len(syncs))
	for i, s := range syncs {
		ids[i] = s.ID
	}
	return ids
}

func writeSyncLog(t *testing.T, c *clickhouse.Client, syncs []synclog.Sync, entries []clickhouse.LoggedEntry) {
	t.Helper()
	versions := make([]uint64, len(syncs))
	for i := range versions {
		versions[i] = 1
	}
	if err := c.WriteSyncLog(context.Background(), syncs, versions, entries); err != nil {
		t.Fatal(err)
	}
}

func TestSyncLogRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)

	failed, done := failedSync(), doneSync()
	// Stored in another order and without Processing: reads give the five in order.
	stored := done
	stored.Stages = []synclog.Stage{done.Stages[3], done.Stages[0], done.Stages[2], done.Stages[1]}
	wantDone := done
	wantDone.Stages = slices.Clone(done.Stages)
	wantDone.Stages[4] = synclog.Stage{Name: model.StageProcessing, State: model.StatePending}
	// Entries arrive in any order; reads sort them.
	entries := append(doneEntries(), failedEntries()...)
	slices.Reverse(entries)
	writeSyncLog(t, c, []synclog.Sync{failed, stored}, entries)

	t.Run("Sync", func(t *testing.T) {
		tests := []struct {
			id          string
			level       model.Level
			want        synclog.Sync
			wantEntries []synclog.Entry
		}{
			{id: failed.ID, want: failed, wantEntries: entriesOf(failedEntries())},
			{id: failed.ID, level: model.LevelError, want: failed, wantEntries: entriesOf(failedEntries()[4:5])},
			{id: failed.ID, level: model.LevelInfo, want: failed, wantEntries: entriesOf(slices.Concat(failedEntries()[0:1], failedEntries()[2:4]))},
			{id: done.ID, want: wantDone, wantEntries: entriesOf(doneEntries())},
			{id: done.ID, level: model.LevelWarn, want: wantDone},
		}
		for _, tt := range tests {
			t.Run(tt.id+"/"+string(tt.level), func(t *testing.T) {
				got, entries, err := c.Sync(ctx, tt.id, tt.level)
				if err != nil {
					t.Fatal(err)
				}
				compareSync(t, got, tt.want)
				compareEntries(t, "entries", entries, tt.wantEntries)
			})
		}
	})

	t.Run("Sync unknown", func(t *testing.T) {
		for _, id := range []string{"sync-unknown", "", "sync-done' OR '1'='1"} {
			if _, _, err := c.Sync(ctx, id, ""); !errors.Is(err, synclog.ErrNotFound) {
				t.Errorf("Sync(%q) error = %v, want ErrNotFound", id, err)
			}
		}
	})

	t.Run("Syncs", func(t *testing.T) {
		got, err := c.Syncs(ctx, synclog.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if ids := syncIDs(got); !reflect.DeepEqual(ids, []string{done.ID, failed.ID}) {
			t.Fatalf("Syncs() = %v, want newest first [%s %s]", ids, done.ID, failed.ID)
		}
		compareSync(t, got[0], wantDone)
		compareSync(t, got[1], failed)
	})

	t.Run("LastSyncs", func(t *testing.T) {
		got, err := c.LastSyncs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("LastSyncs() has %d connectors, want 2: %v", len(got), got)
		}
		compareSync(t, got["conn-1"], failed)
		compareSync(t, got["conn-2"], wantDone)
	})

	// The error block is stored flat, the headers sorted by key.
	if n := count(t, c, "SELECT count() FROM "+c.Database()+".syncs WHERE error_class = '' AND error_payload = '' AND empty(error_headers.key)"); n != 1 {
		t.Errorf("syncs without an error stored with empty error columns = %d, want 1", n)
	}
	if n := count(t, c, "SELECT count() FROM "+c.Database()+".syncs WHERE error_headers.key = ['Content-Type', 'X-Amzn-Errortype', 'X-Amzn-Requestid']"); n != 1 {
		t.Errorf("syncs with sorted error headers = %d, want 1", n)
	}
}

func TestSyncLogNewerVersionWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)

	// Before any stage starts, a sync has no start time and lands in another partition.
	unstarted := synclog.NewSync("sync-1")
	unstarted.ConnectorID, unstarted.ConnectorType, unstarted.Type = "conn-1", "aws_inspector", model.SyncFull
	unstarted.UpdatedAt = syncStart
	running := doneSync()
	running.ID, running.ConnectorID, running.Status, running.EndedAt = "sync-1", "conn-1", synclog.StatusInProgress, nil
	running.Stages[4] = synclog.Stage{Name: model.StageProcessing, State: model.StateRunning, StartedAt: at(time.Hour + time.Second)}
	done := doneSync()
	done.ID, done.ConnectorID = "sync-1", "conn-1"
	entry := doneEntries()[:1]
	entry[0].SyncID, entry[0].ConnectorID = "sync-1", "conn-1"

	steps := []struct {
		name    string
		sync    synclog.Sync
		version uint64
		want    synclog.Sync
	}{
		{name: "not started", sync: *unstarted, version: 1, want: *unstarted},
		{name: "in progress", sync: running, version: 2, want: running},
		{name: "done", sync: done, version: 3, want: done},
		{name: "older replay loses", sync: running, version: 2, want: done},
		{name: "oldest replay loses", sync: *unstarted, version: 1, want: done},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := c.WriteSyncLog(ctx, []synclog.Sync{s.sync}, []uint64{s.version}, entry); err != nil {
				t.Fatal(err)
			}
			list, err := c.Syncs(ctx, synclog.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 {
				t.Fatalf("Syncs() = %d syncs, want 1: %+v", len(list), list)
			}
			compareSync(t, list[0], s.want)
			got, entries, err := c.Sync(ctx, "sync-1", "")
			if err != nil {
				t.Fatal(err)
			}
			compareSync(t, got, s.want)
			compareEntries(t, "entries", entries, entriesOf(entry))
			last, err := c.LastSyncs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(last) != 1 {
				t.Fatalf("LastSyncs() = %v, want one connector", last)
			}
			compareSync(t, last["conn-1"], s.want)
		})
	}
	if n := count(t, c, "SELECT count() FROM "+c.Database()+".sync_log FINAL"); n != 1 {
		t.Errorf("sync_log FINAL holds %d rows after the entry was written 5 times, want 1", n)
	}
	// Filters see only the newest version: no older one matches in its place.
	for _, status := range []synclog.Status{synclog.StatusInProgress, synclog.StatusFailed} {
		if list, err := c.Syncs(ctx, synclog.Filter{Status: status}); err != nil || len(list) != 0 {
			t.Errorf("Syncs(status %s) = %v, %v; want none", status, syncIDs(list), err)
		}
	}
	if list, err := c.Syncs(ctx, synclog.Filter{To: syncStart}); err != nil || len(list) != 0 {
		t.Errorf("Syncs(before the start) = %v, %v; want none (the unstarted version is old)", syncIDs(list), err)
	}
}

func TestSyncsFilter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)

	type fixture struct {
		id, connector string
		typ           model.SyncType
		status        synclog.Status
		start         time.Duration
		levels        []model.Level
	}
	fixtures := []fixture{
		{"s1", "conn-a", model.SyncFull, synclog.StatusDone, 0, []model.Level{model.LevelInfo}},
		{"s2", "conn-a", model.SyncIncremental, synclog.StatusFailed, time.Hour, []model.Level{model.LevelInfo, model.LevelError}},
		{"s3", "conn-b", model.SyncFull, synclog.StatusInProgress, 2 * time.Hour, []model.Level{model.LevelDebug}},
		{"s4", "conn-b", model.SyncIncremental, synclog.StatusDone, 3 * time.Hour, []model.Level{model.LevelWarn, model.LevelInfo}},
		{"s5", `it's "odd" \ conn`, model.SyncFull, synclog.StatusDone, 4 * time.Hour, nil},
		{"s6", "conn-a", model.SyncFull, synclog.StatusDone, 49 * time.Hour, []model.Level{model.LevelWarn}},
	}
	var (
		syncs   []synclog.Sync
		entries []clickhouse.LoggedEntry
	)
	for i, f := range fixtures {
		s := synclog.NewSync(f.id)
		s.ConnectorID, s.ConnectorType, s.Type, s.Status = f.connector, "aws_inspector", f.typ, f.status
		s.StartedAt = syncStart.Add(f.start)
		s.UpdatedAt = s.StartedAt.Add(time.Minute)
		syncs = append(syncs, *s)
		for j, l := range f.levels {
			entries = append(entries, clickhouse.LoggedEntry{SyncID: f.id, ConnectorID: f.connector, Partition: 0, Offset: int64(10*i + j),
				Entry: synclog.Entry{Time: s.StartedAt.Add(time.Duration(j) * time.Second), Level: l, Message: "m"}})
		}
	}
	writeSyncLog(t, c, syncs, entries)

	tests := []struct {
		name   string
		filter synclog.Filter
		want   []string
	}{
		{name: "everything, newest first", want: []string{"s6", "s5", "s4", "s3", "s2", "s1"}},
		{name: "connector", filter: synclog.Filter{ConnectorID: "conn-b"}, want: []string{"s4", "s3"}},
		{name: "connector with quotes and a backslash", filter: synclog.Filter{ConnectorID: `it's "odd" \ conn`}, want: []string{"s5"}},
		{name: "connector injection matches nothing", filter: synclog.Filter{ConnectorID: `conn-a' OR '1'='1`}, want: nil},
		{name: "connector with a placeholder", filter: synclog.Filter{ConnectorID: "?", Type: model.SyncFull}, want: nil},
		{name: "type", filter: synclog.Filter{Type: model.SyncIncremental}, want: []string{"s4", "s2"}},
		{name: "status done", filter: synclog.Filter{Status: synclog.StatusDone}, want: []string{"s6", "s5", "s4", "s1"}},
		{name: "status in progress", filter: synclog.Filter{Status: synclog.StatusInProgress}, want: []string{"s3"}},
		{name: "level error", filter: synclog.Filter{Level: model.LevelError}, want: []string{"s2"}},
		{name: "level warn", filter: synclog.Filter{Level: model.LevelWarn}, want: []string{"s6", "s4"}},
		{name: "level info on one connector", filter: synclog.Filter{Level: model.LevelInfo, ConnectorID: "conn-a"}, want: []string{"s2", "s1"}},
		{name: "from is inclusive", filter: synclog.Filter{From: syncStart.Add(2 * time.Hour)}, want: []string{"s6", "s5", "s4", "s3"}},
		{name: "to is exclusive", filter: synclog.Filter{To: syncStart.Add(2 * time.Hour)}, want: []string{"s2", "s1"}},
		{name: "from and to", filter: synclog.Filter{From: syncStart.Add(time.Hour), To: syncStart.Add(4 * time.Hour)}, want: []string{"s4", "s3", "s2"}},
		{name: "from in another time zone", filter: synclog.Filter{From: syncStart.Add(48 * time.Hour).In(time.FixedZone("UTC+5", 5*3600))}, want: []string{"s6"}},
		{name: "to before 1970", filter: synclog.Filter{To: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)}, want: nil},
		{name: "from before 1970", filter: synclog.Filter{From: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC), Type: model.SyncIncremental}, want: []string{"s4", "s2"}},
		{name: "to after 2106", filter: synclog.Filter{To: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), Status: synclog.StatusFailed}, want: []string{"s2"}},
		{name: "limit", filter: synclog.Filter{Limit: 2}, want: []string{"s6", "s5"}},
		{name: "limit with filters", filter: synclog.Filter{ConnectorID: "conn-a", Status: synclog.StatusDone, Limit: 1}, want: []string{"s6"}},
		{name: "everything at once", filter: synclog.Filter{ConnectorID: "conn-a", Type: model.SyncIncremental, Status: synclog.StatusFailed,
			Level: model.LevelError, From: syncStart, To: syncStart.Add(2 * time.Hour), Limit: 10}, want: []string{"s2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Syncs(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if ids := syncIDs(got); !slices.Equal(ids, tt.want) {
				t.Errorf("Syncs(%+v) = %v, want %v", tt.filter, ids, tt.want)
			}
		})
	}

	t.Run("LastSyncs", func(t *testing.T) {
		last, err := c.LastSyncs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for conn, s := range last {
			if s.ConnectorID != conn {
				t.Errorf("LastSyncs()[%q].ConnectorID = %q", conn, s.ConnectorID)
			}
			got[conn] = s.ID
		}
		want := map[string]string{"conn-a": "s6", "conn-b": "s4", `it's "odd" \ conn`: "s5"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("LastSyncs() = %v, want %v", got, want)
		}
	})

	t.Run("bad filter values", func(t *testing.T) {
		for _, f := range []synclog.Filter{{Status: "Finished"}, {Level: "warn"}} {
			if _, err := c.Syncs(ctx, f); err == nil || !strings.Contains(err.Error(), "unknown") {
				t.Errorf("Syncs(%+v) error = %v, want an unknown value error", f, err)
			}
		}
		if _, _, err := c.Sync(ctx, "s1", "NOTICE"); err == nil || !strings.Contains(err.Error(), `unknown level "NOTICE"`) {
			t.Errorf("Sync(level NOTICE) error = %v, want an unknown level error", err)
		}
	})
}

func TestSyncsLimitBounds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	syncs := make([]synclog.Sync, 1005)
	for i := range syncs {
		s := synclog.NewSync(fmt.Sprintf("sync-%04d", i))
		s.ConnectorID, s.StartedAt = "conn-1", syncStart.Add(time.Duration(i)*time.Second)
		syncs[i] = *s
	}
	writeSyncLog(t, c, syncs, nil)
	tests := []struct {
		limit, want int
	}{
		{limit: 0, want: 100},
		{limit: -1, want: 100},
		{limit: 7, want: 7},
		{limit: 1000, want: 1000},
		{limit: 5000, want: 1000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
			got, err := c.Syncs(ctx, synclog.Filter{Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("Syncs(limit %d) = %d syncs, want %d", tt.limit, len(got), tt.want)
			}
			if got[0].ID != "sync-1004" || got[len(got)-1].ID != fmt.Sprintf("sync-%04d", 1005-tt.want) {
				t.Errorf("Syncs(limit %d) runs %s..%s, want the newest", tt.limit, got[0].ID, got[len(got)-1].ID)
			}
		})
	}
}

func TestDropExpiredSyncLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	// The test server runs in UTC, so its days are UTC days.
	now := time.Now().UTC().Truncate(time.Second)
	const keep = 14 * 24 * time.Hour
	ages := []struct {
		id  string
		age time.Duration
	}{
		{"sync-20d", 20 * 24 * time.Hour},
		{"sync-15d", 15 * 24 * time.Hour},
		// On the cutoff's day: the day is not entirely older, so it stays.
		{"sync-edge", keep - time.Minute},
		{"sync-today", 0},
	}
	var (
		syncs   []synclog.Sync
		entries []clickhouse.LoggedEntry
	)
	for i, a := range ages {
		s := synclog.NewSync(a.id)
		s.ConnectorID, s.StartedAt, s.UpdatedAt = "conn-1", now.Add(-a.age), now.Add(-a.age)
		syncs = append(syncs, *s)
		entries = append(entries, clickhouse.LoggedEntry{SyncID: a.id, ConnectorID: "conn-1", Offset: int64(i),
			Entry: synclog.Entry{Time: s.StartedAt, Level: model.LevelInfo, Message: "sync started"}})
	}
	writeSyncLog(t, c, syncs, entries)

	day := func(age time.Duration) string { return now.Add(-age).Format("20060102") }
	want := []string{
		"sync_log " + day(20*24*time.Hour), "sync_log " + day(15*24*time.Hour),
		"syncs " + day(20*24*time.Hour), "syncs " + day(15*24*time.Hour),
	}
	dropped, err := c.DropExpiredSyncLog(ctx, now, keep)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dropped, want) {
		t.Errorf("DropExpiredSyncLog() = %v, want %v", dropped, want)
	}
	for _, a := range ages {
		_, entries, err := c.Sync(ctx, a.id, "")
		expired := a.age > keep
		switch {
		case expired && !errors.Is(err, synclog.ErrNotFound):
			t.Errorf("Sync(%s) error = %v, want ErrNotFound after retention", a.id, err)
		case !expired && err != nil:
			t.Errorf("Sync(%s) error = %v, want it kept", a.id, err)
		case !expired && len(entries) != 1:
			t.Errorf("Sync(%s) has %d entries, want 1 kept", a.id, len(entries))
		}
	}
	if n := count(t, c, "SELECT count() FROM "+c.Database()+".sync_log"); n != 2 {
		t.Errorf("sync_log holds %d entries after retention, want 2", n)
	}

	again, err := c.DropExpiredSyncLog(ctx, now, keep)
	if err != nil || len(again) != 0 {
		t.Errorf("second DropExpiredSyncLog() = %v, %v; want nothing dropped", again, err)
	}
	if _, err := c.DropExpiredSyncLog(ctx, now, 0); err == nil {
		t.Error("DropExpiredSyncLog(keep 0) succeeded, want an error")
	}
}

func TestSyncLogHighWater(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	got, err := c.SyncLogHighWater(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("SyncLogHighWater() on an empty table = %v, %v; want empty", got, err)
	}
	var entries []clickhouse.LoggedEntry
	for _, pos := range []struct {
		p   int32
		off int64
	}{{0, 3}, {0, 7}, {0, 5}, {1, 0}, {2, 10}, {2, 9}, {1, 1 << 40}} {
		entries = append(entries, clickhouse.LoggedEntry{SyncID: fmt.Sprintf("sync-%d", pos.p), Partition: pos.p, Offset: pos.off,
			Entry: synclog.Entry{Time: syncStart.Add(time.Duration(pos.off%60) * time.Second), Level: model.LevelInfo}})
	}
	writeSyncLog(t, c, nil, entries)
	got, err = c.SyncLogHighWater(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int32]int64{0: 7, 1: 1 << 40, 2: 10}; !reflect.DeepEqual(got, want) {
		t.Errorf("SyncLogHighWater() = %v, want %v", got, want)
	}
}

func TestWriteSyncLogRejectsBadRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	good := failedEntries()
	tests := []struct {
		name     string
		syncs    []synclog.Sync
		versions []uint64
		entries  []clickhouse.LoggedEntry
		wantErr  string
	}{
		{
			name:    "versions missing",
			syncs:   []synclog.Sync{failedSync()},
			wantErr: "writing sync log: 0 versions for 1 syncs",
		},
		{
			name: "unknown status",
			syncs: func() []synclog.Sync {
				s := failedSync()
				s.Status = "Finished"
				return []synclog.Sync{s}
			}(),
			versions: []uint64{1},
			wantErr:  `writing syncs batch of 1 rows: sync sync-failed: unknown status "Finished"`,
		},
		{
			name: "stage time before 1970",
			syncs: func() []synclog.Sync {
				s := failedSync()
				s.Stages[2].EndedAt = ptr(time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC))
				return []synclog.Sync{s}
			}(),
			versions: []uint64{1},
			wantErr:  "sync sync-failed stage Fetching: stage ended_at 1969-07-20T20:17:00Z is outside DateTime's range",
		},
		{
			name: "unknown level",
			entries: func() []clickhouse.LoggedEntry {
				e := slices.Clone(good)
				e[2].Level = "warn"
				return e
			}(),
			wantErr: `writing sync_log batch of 6 rows: entry 0@13 of sync sync-failed: unknown level "warn"`,
		},
		{
			name: "entry without a time",
			entries: func() []clickhouse.LoggedEntry {
				e := slices.Clone(good)
				e[0].Time = time.Time{}
				return e
			}(),
			wantErr: "entry 0@10 of sync sync-failed: time is not set",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.WriteSyncLog(ctx, tt.syncs, tt.versions, tt.entries)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("WriteSyncLog() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	for _, table := range []string{"syncs", "sync_log"} {
		if n := count(t, c, "SELECT count() FROM "+c.Database()+"."+table); n != 0 {
			t.Errorf("%s holds %d rows after rejected batches, want 0", table, n)
		}
	}
}

func TestSyncLogSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	version, err := c.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The local server is 18.16, which has no TTL; a newer one must apply it.
	wantTTL := !strings.HasPrefix(version, "18.")
	for table, engine := range map[string]string{
		"syncs":    "ReplacingMergeTree(version) PARTITION BY toYYYYMMDD(started_at) ORDER BY (connector_id, sync_id)",
		"sync_log": "ReplacingMergeTree() PARTITION BY toYYYYMMDD(time) ORDER BY (sync_id, time, log_partition, log_offset)",
	} {
		rows, err := c.Query(ctx, "SHOW CREATE TABLE "+c.Database()+"."+table)
		if err != nil {
			t.Fatal(err)
		}
		var create string
		for rows.Next() {
			if err := rows.Scan(&create); err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
		if !strings.Contains(create, engine) {
			t.Errorf("%s: engine is not %s:\n%s", table, engine, create)
		}
		if hasTTL := strings.Contains(create, "TTL"); hasTTL != wantTTL {
			t.Errorf("server %s: %s has TTL = %v, want %v:\n%s", version, table, hasTTL, wantTTL, create)
		}
	}
}
