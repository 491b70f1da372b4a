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

// Sync is what the sync log says of one sync: its fold (status, stages, first failure)
// and its stage events in order, for printing.
type Sync struct {
	synclog.Sync
	Events []model.StageEvent
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
				s = &Sync{Sync: *synclog.NewSync(ev.SyncID)}
				syncs[ev.SyncID] = s
			}
			s.Events = append(s.Events, *ev)
			s.Apply(ev)
			if synclog.IsFinal(s.Stage(model.StageProcessing).State) {
				ended[ev.ConnectorID] = s
			}
		}
	}
	return ended, nil
}
