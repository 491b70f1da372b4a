package stack

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// Sync is what the sync log says of one sync.
type Sync struct {
	ID          string
	ConnectorID string
	Events      []model.StageEvent
	FailedStage string // the first stage that failed, empty when none did
	Ended       bool   // Processing ended (or was skipped)
}

// Started is when the sync's first event was written.
func (s *Sync) Started() time.Time {
	if len(s.Events) == 0 {
		return time.Time{}
	}
	return s.Events[0].Time
}

// EndedAt is when the sync's last event was written.
func (s *Sync) EndedAt() time.Time {
	if len(s.Events) == 0 {
		return time.Time{}
	}
	return s.Events[len(s.Events)-1].Time
}

// Stage returns the last event of a stage that set its state (free-standing entries,
// such as a WARN about dead letters, set none).
func (s *Sync) Stage(name string) (model.StageEvent, bool) {
	for i := len(s.Events) - 1; i >= 0; i-- {
		if s.Events[i].Stage == name && s.Events[i].State != "" {
			return s.Events[i], true
		}
	}
	return model.StageEvent{}, false
}

// WaitForSyncs reads the sync log from the start until one sync of each of the given
// connectors, started at or after since, has ended, and returns those syncs by
// connector id.
func WaitForSyncs(ctx context.Context, cfg kafka.Config, since time.Time, connectorIDs ...string) (map[string]*Sync, error) {
	codec, err := avro.New()
	if err != nil {
		return nil, err
	}
	cl, err := kafka.NewClient(ctx, cfg,
		kgo.ConsumeTopics(cfg.Topics().SyncLog),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	want := map[string]bool{}
	for _, id := range connectorIDs {
		want[id] = true
	}
	syncs := map[string]*Sync{}
	ended := map[string]*Sync{}
	for len(ended) < len(want) {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ended, fmt.Errorf("waiting for syncs of %v: %w (ended: %d)", connectorIDs, ctx.Err(), len(ended))
		}
		for _, r := range fetches.Records() {
			msg, err := codec.Decode(r.Value)
			if err != nil {
				return nil, fmt.Errorf("reading sync log: %w", err)
			}
			ev, ok := msg.(*model.StageEvent)
			if !ok || !want[ev.ConnectorID] {
				continue
			}
			s := syncs[ev.SyncID]
			if s == nil && ev.Time.Before(since) {
				continue
			}
			if s == nil {
				s = &Sync{ID: ev.SyncID, ConnectorID: ev.ConnectorID}
				syncs[ev.SyncID] = s
			}
			s.Events = append(s.Events, *ev)
			if ev.State == model.StateFailed && s.FailedStage == "" {
				s.FailedStage = ev.Stage
			}
			if ev.Stage == model.StageProcessing && synclog.IsFinal(ev.State) {
				s.Ended = true
				ended[ev.ConnectorID] = s
			}
		}
	}
	return ended, nil
}
