package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/controlapi/controlapitest"
	"github.com/tributary-sec/tributary/internal/model"
)

func TestPlan(t *testing.T) {
	fetchStart := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	// A Done sync of aws-prod, and a failed one after it that must not be the cursor.
	sync := func(id string, fetching time.Time, failed bool) []model.StageEvent {
		base := model.StageEvent{SyncID: id, ConnectorID: "aws-prod", ConnectorType: "aws_inspector2", SyncType: model.SyncFull, Level: model.LevelInfo}
		var evs []model.StageEvent
		for i, stage := range []string{model.StageInitiating, model.StageConnectivity, model.StageFetching, model.StageNormalizing, model.StageProcessing} {
			ev := base
			ev.Stage, ev.State = stage, model.StateSucceeded
			ev.StartedAt, ev.EndedAt = fetching.Add(time.Duration(i-2)*time.Second), fetching.Add(time.Minute)
			ev.Time = ev.EndedAt
			if failed && stage == model.StageFetching {
				ev.State = model.StateFailed
			}
			evs = append(evs, ev)
		}
		return evs
	}
	store := controlapitest.NewStore(append(sync("done-1", fetchStart, false), sync("failed-2", fetchStart.Add(time.Hour), true)...)...)
	inspector := configuredConnector{Instance: connector.Instance{ID: "aws-prod", Type: "aws_inspector2"}}
	tests := []struct {
		name      string
		c         configuredConnector
		requested model.SyncType
		want      model.SyncType
		since     time.Time
		note      string
	}{
		{"full stays full", inspector, model.SyncFull, model.SyncFull, time.Time{}, ""},
		{"incremental from the last successful sync's fetch start minus the overlap", inspector, model.SyncIncremental, model.SyncIncremental, fetchStart.Add(-incrementalOverlap), "sync done-1's fetch start"},
		{"first sync is always full", configuredConnector{Instance: connector.Instance{ID: "aws-new", Type: "aws_inspector2"}}, model.SyncIncremental, model.SyncFull, time.Time{}, "first sync is always Full"},
		{"a vendor without change filters runs full", configuredConnector{Instance: connector.Instance{ID: "xdr", Type: "cortex_xdr"}}, model.SyncIncremental, model.SyncFull, time.Time{}, "cortex_xdr cannot list only what changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := plan(context.Background(), store, tt.c, tt.requested)
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != tt.want || !p.Since.Equal(tt.since) || !strings.Contains(p.Note, tt.note) {
				t.Errorf("plan = %+v; want type %s since %v, a note saying %q", p, tt.want, tt.since, tt.note)
			}
		})
	}
}
