package main

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/syncevent"
	"github.com/tributary-sec/tributary/internal/synclog"
)

func TestDeadLetterReason(t *testing.T) {
	for _, tc := range []struct {
		decoded    any
		reason     string
		textPrefix string
	}{
		{errors.New("undecodable normalized record: unknown fingerprint"), reasonUndecodable, "undecodable normalized record"},
		{&model.RawRecord{}, reasonMalformed, "unexpected *model.RawRecord"},
		{&model.DeadLetter{}, reasonMalformed, "unexpected *model.DeadLetter"},
	} {
		reason, text := deadLetterReason(tc.decoded)
		if reason != tc.reason || len(text) < len(tc.textPrefix) || text[:len(tc.textPrefix)] != tc.textPrefix {
			t.Errorf("deadLetterReason(%T) = %q, %q; want %q, %q...", tc.decoded, reason, text, tc.reason, tc.textPrefix)
		}
	}
}

// TestFoldCountsSyncsOnce folds the events of syncs as the finisher reads them: a sync
// that ends while the finisher is live is counted once by its status, one that ends in
// a replay of the log is not counted again, and the last successful sync time is each
// connector's newest Done sync, replays included.
func TestFoldCountsSyncsOnce(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	f := &finisher{metrics: m, syncs: map[string]*tracked{}, lastDone: map[string]time.Time{}}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	run := func(id, connectorID string, end time.Time, failAt string, live bool) {
		t.Helper()
		tr := f.track(id, 0)
		s := &model.SyncEnd{SyncID: id, ConnectorID: connectorID, ConnectorType: "aws_inspector2", SyncType: model.SyncFull}
		for _, stage := range []string{model.StageInitiating, model.StageConnectivity, model.StageFetching, model.StageNormalizing, model.StageProcessing} {
			ev := syncevent.Stage(s, stage)
			ev.Time, ev.StartedAt, ev.EndedAt, ev.State = end, end.Add(-time.Minute), end, model.StateSucceeded
			if stage == failAt {
				ev.State = model.StateFailed
			}
			f.fold(tr, ev, live)
			if f.syncs[id].sync.Status != synclog.StatusInProgress && stage != model.StageProcessing {
				t.Fatalf("sync %s ended at %s", id, stage)
			}
		}
		// The same end read again (the finisher's own event coming back) counts nothing.
		again := syncevent.Stage(s, model.StageProcessing)
		again.Time, again.State, again.EndedAt = end, model.StateSucceeded, end
		f.fold(tr, again, live)
	}
	run("s1", "aws-1", t0, "", true)
	run("s2", "aws-1", t0.Add(-time.Hour), "", true) // older, read later
	run("s3", "aws-2", t0, model.StageConnectivity, true)
	run("s4", "aws-3", t0.Add(time.Hour), "", false) // replayed

	for _, tc := range []struct {
		connector, status string
		want              float64
	}{{"aws-1", "done", 2}, {"aws-2", "failed", 1}, {"aws-2", "done", 0}, {"aws-3", "done", 0}} {
		if got := testutil.ToFloat64(m.syncs.WithLabelValues("aws_inspector2", tc.connector, tc.status)); got != tc.want {
			t.Errorf("%s syncs of %s: %v, want %v", tc.status, tc.connector, got, tc.want)
		}
	}
	for connector, want := range map[string]time.Time{"aws-1": t0, "aws-3": t0.Add(time.Hour)} {
		if got := testutil.ToFloat64(m.lastSuccess.WithLabelValues("aws_inspector2", connector)); got != float64(want.Unix()) {
			t.Errorf("last successful sync of %s: %v, want %d", connector, got, want.Unix())
		}
	}
	if n := testutil.CollectAndCount(m.lastSuccess); n != 2 {
		t.Errorf("%d last-success series, want 2: a connector without a Done sync has none", n)
	}
}

func TestStageEnded(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	ev := func(stage string, state model.StageState) *model.StageEvent {
		e := syncevent.Stage(&model.SyncEnd{ConnectorType: "cortex_xdr"}, stage)
		e.State, e.EndedAt = state, start.Add(90*time.Second)
		return e
	}
	m.stageEnded("cortex_xdr", ev(model.StageProcessing, model.StateSucceeded), start)
	m.stageEnded("cortex_xdr", ev(model.StageNormalizing, model.StateFailed), start)
	m.stageEnded("cortex_xdr", ev(model.StageProcessing, model.StateSkipped), start)          // no duration
	m.stageEnded("cortex_xdr", ev(model.StageFetching, model.StateSucceeded), start)          // the fetcher's
	m.stageEnded("cortex_xdr", ev(model.StageNormalizing, model.StateSucceeded), time.Time{}) // no start
	if n := testutil.CollectAndCount(m.stageSeconds); n != 2 {
		t.Errorf("%d stage duration series, want Processing succeeded and Normalizing failed", n)
	}
}
