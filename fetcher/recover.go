package main

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// history is what the sync log says about this fetcher's connectors at start-up.
type history struct {
	lastStarted map[string]time.Time // connector id → start of its newest sync
	unfinished  []*synclog.Sync      // syncs whose fetcher stages never ended
}

// readHistory folds the sync-log topic (kept 14 days).
func readHistory(ctx context.Context, cfg kafka.Config, topic string, r *runner, connectors []configuredConnector) (history, error) {
	ours := map[string]bool{}
	for _, c := range connectors {
		ours[c.ID] = true
	}
	syncs := map[string]*synclog.Sync{}
	var undecodable int
	var firstErr error
	err := kafka.ReadAll(ctx, cfg, topic, func(rec *kgo.Record) {
		msg, err := r.codec.Decode(rec.Value)
		if err != nil {
			undecodable++
			firstErr = cmp.Or(firstErr, err)
			return
		}
		if ev, ok := msg.(*model.StageEvent); ok && ours[ev.ConnectorID] {
			s := syncs[ev.SyncID]
			if s == nil {
				s = synclog.NewSync(ev.SyncID)
				syncs[ev.SyncID] = s
			}
			s.Apply(ev)
		}
	})
	if err != nil {
		return history{}, fmt.Errorf("reading the sync log at start-up: %w", err)
	}
	if undecodable > 0 {
		// Schedules and the recovery of unfinished syncs go without these entries.
		r.log.Warn("sync-log entries this fetcher cannot decode were skipped at start-up; check that every service has the same --schema-registry-url",
			"skipped", undecodable, "first_err", firstErr.Error())
	}
	h := history{lastStarted: map[string]time.Time{}}
	for _, s := range syncs {
		if s.StartedAt.After(h.lastStarted[s.ConnectorID]) {
			h.lastStarted[s.ConnectorID] = s.StartedAt
		}
		if s.Status == synclog.StatusInProgress && !synclog.IsFinal(s.Stage(model.StageFetching).State) {
			h.unfinished = append(h.unfinished, s)
		}
	}
	return h, nil
}

// failUnfinished fails the syncs a previous run of the fetcher left in one of its own
// stages. A sync cut off while Fetching gets its end-of-sync markers now, so what it
// fetched is still normalized and processed and the sync ends Failed at Fetching.
func (r *runner) failUnfinished(ctx context.Context, syncs []*synclog.Sync) error {
	for _, s := range syncs {
		marker := &model.SyncEnd{SyncID: s.ID, ConnectorID: s.ConnectorID, ConnectorType: s.ConnectorType, SyncType: s.Type, Outcome: model.OutcomeFailed}
		stage := model.StageInitiating
		for _, name := range []string{model.StageInitiating, model.StageConnectivity, model.StageFetching} {
			if st := s.Stage(name); st.State != model.StatePending {
				stage = name
			}
		}
		cerr := &connector.Error{
			Class:   connector.ClassInternal,
			Message: fmt.Sprintf("the fetcher stopped during %s (it was restarted, crashed or was killed) and failed the sync when it started again", stage),
			Action:  "check the fetcher's logs around the sync's start for why it stopped; records fetched before it stopped are kept. Run the sync again.",
		}
		st := s.Stage(stage)
		started := s.StartedAt
		if st.StartedAt != nil {
			started = *st.StartedAt
		}
		if stage == model.StageFetching {
			if fetching := s.Stage(model.StageFetching); fetching.StartedAt != nil {
				marker.FetchStartedAt = *fetching.StartedAt
			}
			if err := r.writeMarkers(ctx, marker, nil); err != nil {
				return err
			}
		}
		if err := r.publish(ctx, marker, stage, model.StateFailed, started, r.now(), cerr.Message, cerr, st.RecordsOut); err != nil {
			return err
		}
		if stage != model.StageFetching {
			if err := r.skipAfter(ctx, marker, stage); err != nil {
				return err
			}
		}
		r.metrics.failed(s.ConnectorType, s.ConnectorID, stage, cerr)
		r.log.Warn("failed a sync left unfinished by a previous run", "sync_id", s.ID, "connector", s.ConnectorID, "stage", stage)
	}
	return nil
}
