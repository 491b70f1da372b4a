package synclog

import (
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
)

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func ev(stage string, state model.StageState, start, end int, out int64) *model.StageEvent {
	e := &model.StageEvent{SyncID: "s1", ConnectorID: "aws", ConnectorType: "aws_inspector2", SyncType: model.SyncFull,
		Stage: stage, State: state, Level: model.LevelInfo, Time: at(max(start, end)), RecordsOut: out}
	if start >= 0 {
		e.StartedAt = at(start)
	}
	if end >= 0 {
		e.EndedAt = at(end)
	}
	return e
}

func failed(stage string, start, end int) *model.StageEvent {
	e := ev(stage, model.StateFailed, start, end, 0)
	e.Level = model.LevelError
	e.Error = &model.ErrorBlock{Class: "invalid_credentials", Message: "AWS rejected the credentials", Code: "status_code: 403"}
	return e
}

func succeededRun() []*model.StageEvent {
	return []*model.StageEvent{
		ev(model.StageInitiating, model.StateRunning, 0, -1, 0),
		ev(model.StageInitiating, model.StateSucceeded, 0, 1, 0),
		ev(model.StageConnectivity, model.StateRunning, 1, -1, 0),
		ev(model.StageConnectivity, model.StateSucceeded, 1, 2, 0),
		ev(model.StageFetching, model.StateRunning, 2, -1, 0),
		ev(model.StageFetching, model.StateRunning, 2, -1, 500), // progress
		ev(model.StageFetching, model.StateSucceeded, 2, 10, 1000),
		ev(model.StageNormalizing, model.StateSucceeded, 2, 12, 1040),
		ev(model.StageProcessing, model.StateSucceeded, 2, 13, 1040),
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name        string
		events      []*model.StageEvent
		status      Status
		failedStage string
		states      []model.StageState // the five stages in order
		ended       bool
		ingestion   float64
		processing  float64
		fetched     int64
	}{
		{
			name:   "nothing but the start",
			events: succeededRun()[:1],
			status: StatusInProgress,
			states: []model.StageState{model.StateRunning, model.StatePending, model.StatePending, model.StatePending, model.StatePending},
		},
		{
			name:    "fetching, with progress",
			events:  succeededRun()[:6],
			status:  StatusInProgress,
			states:  []model.StageState{model.StateSucceeded, model.StateSucceeded, model.StateRunning, model.StatePending, model.StatePending},
			fetched: 500,
		},
		{
			name:   "done",
			events: succeededRun(),
			status: StatusDone,
			states: []model.StageState{model.StateSucceeded, model.StateSucceeded, model.StateSucceeded, model.StateSucceeded, model.StateSucceeded},
			ended:  true, ingestion: 10, processing: 3, fetched: 1000,
		},
		{
			name:   "every event twice, and a late progress event after the end",
			events: append(append(succeededRun(), succeededRun()...), ev(model.StageFetching, model.StateRunning, 2, -1, 700)),
			status: StatusDone,
			states: []model.StageState{model.StateSucceeded, model.StateSucceeded, model.StateSucceeded, model.StateSucceeded, model.StateSucceeded},
			ended:  true, ingestion: 10, processing: 3, fetched: 1000,
		},
		{
			name: "connectivity failed, the rest skipped",
			events: []*model.StageEvent{
				ev(model.StageInitiating, model.StateSucceeded, 0, 1, 0),
				failed(model.StageConnectivity, 1, 2),
				ev(model.StageFetching, model.StateSkipped, -1, -1, 0),
				ev(model.StageNormalizing, model.StateSkipped, -1, -1, 0),
				ev(model.StageProcessing, model.StateSkipped, -1, -1, 0),
			},
			status: StatusFailed, failedStage: model.StageConnectivity,
			states: []model.StageState{model.StateSucceeded, model.StateFailed, model.StateSkipped, model.StateSkipped, model.StateSkipped},
			ended:  true, ingestion: 2,
		},
		{
			name: "fetching failed: still In Progress until Processing ends",
			events: []*model.StageEvent{
				ev(model.StageInitiating, model.StateSucceeded, 0, 1, 0),
				ev(model.StageConnectivity, model.StateSucceeded, 1, 2, 0),
				failed(model.StageFetching, 2, 5),
			},
			status: StatusInProgress, failedStage: model.StageFetching,
			states:    []model.StageState{model.StateSucceeded, model.StateSucceeded, model.StateFailed, model.StatePending, model.StatePending},
			ingestion: 5,
		},
		{
			name: "fetching failed, what was fetched processed",
			events: []*model.StageEvent{
				ev(model.StageInitiating, model.StateSucceeded, 0, 1, 0),
				ev(model.StageConnectivity, model.StateSucceeded, 1, 2, 0),
				failed(model.StageFetching, 2, 5),
				ev(model.StageNormalizing, model.StateSucceeded, 2, 6, 40),
				ev(model.StageProcessing, model.StateSucceeded, 2, 7, 40),
			},
			status: StatusFailed, failedStage: model.StageFetching,
			states: []model.StageState{model.StateSucceeded, model.StateSucceeded, model.StateFailed, model.StateSucceeded, model.StateSucceeded},
			ended:  true, ingestion: 5, processing: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSync("s1")
			for _, e := range tt.events {
				s.Apply(e)
			}
			if s.Status != tt.status || s.FailedStage != tt.failedStage {
				t.Errorf("status %q, failed stage %q; want %q, %q", s.Status, s.FailedStage, tt.status, tt.failedStage)
			}
			for i, st := range s.Stages {
				if st.Name != Stages[i] || st.State != tt.states[i] {
					t.Errorf("stage %d: %s %s, want %s %s", i, st.Name, st.State, Stages[i], tt.states[i])
				}
			}
			if (s.EndedAt != nil) != tt.ended || s.IngestionSeconds != tt.ingestion || s.ProcessingSeconds != tt.processing || s.RecordsFetched != tt.fetched {
				t.Errorf("ended %v, ingestion %.0fs, processing %.0fs, fetched %d; want ended %v, %.0fs, %.0fs, %d",
					s.EndedAt, s.IngestionSeconds, s.ProcessingSeconds, s.RecordsFetched, tt.ended, tt.ingestion, tt.processing, tt.fetched)
			}
			if tt.failedStage != "" && (s.Error == nil || s.Error.Code != "status_code: 403") {
				t.Errorf("error %+v, want the failed stage's error block", s.Error)
			}
			if s.ConnectorID != "aws" || s.Type != model.SyncFull || !s.StartedAt.Equal(at(0)) {
				t.Errorf("identity %q %q, started %v", s.ConnectorID, s.Type, s.StartedAt)
			}
		})
	}
}

func TestCountsEntry(t *testing.T) {
	device := model.VendorCount{Object: model.ObjectFindings, Class: model.ClassDevice, Count: 1204, Source: "ListFindingAggregations ACCOUNT: AWS_EC2_INSTANCE"}
	endpoints := model.VendorCount{Object: model.ObjectAssets, Count: 250, Source: "get_endpoint total_count"}
	tests := []struct {
		name  string
		vc    model.VendorCounts
		level model.Level
		msg   string
	}{
		{"all read", model.VendorCounts{Counts: []model.VendorCount{device, endpoints}}, model.LevelInfo,
			"the vendor reports 1204 active findings on Device assets (ListFindingAggregations ACCOUNT: AWS_EC2_INSTANCE); 250 assets (get_endpoint total_count)"},
		{"none read", model.VendorCounts{Unavailable: "grant inspector2:ListFindingAggregations"}, model.LevelWarn,
			"vendor totals this sync cannot be validated against: grant inspector2:ListFindingAggregations"},
		{"some read", model.VendorCounts{Counts: []model.VendorCount{endpoints}, Unavailable: "no number_of_results"}, model.LevelWarn,
			"the vendor reports 250 assets (get_endpoint total_count). vendor totals this sync cannot be validated against: no number_of_results"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.vc.Time = t0
			got := CountsEntry(&tt.vc)
			want := Entry{Time: t0, Level: tt.level, Stage: model.StageFetching, Message: tt.msg}
			if got != want {
				t.Errorf("CountsEntry =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestCounted(t *testing.T) {
	for _, tt := range []struct {
		object string
		class  model.AssetClass
		want   string
	}{
		{model.ObjectFindings, "", "active findings"},
		{model.ObjectFindings, model.ClassContainer, "active findings on Container assets"},
		{model.ObjectAssets, "", "assets"},
		{model.ObjectAssets, model.ClassResource, "Resource assets"},
	} {
		if got := Counted(tt.object, tt.class); got != tt.want {
			t.Errorf("Counted(%s, %q) = %q, want %q", tt.object, tt.class, got, tt.want)
		}
	}
}
