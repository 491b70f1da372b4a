package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/syncevent"
)

// finisher ends syncs: it folds the sync-log topic and, once every normalized partition
// of a sync has reported PartitionDone, publishes the end of Normalizing and
// Processing. Its state is the topic itself: it commits no offsets and re-reads its
// sync-log partitions from the start on every assignment, so any processor instance
// can take over, and a sync already finished (its Processing end is in the log) is not
// finished again. A restart between two events may finish a sync twice; that is
// harmless.
type finisher struct {
	codec   *avro.Codec
	events  *syncevent.Publisher
	metrics *metrics
	log     *slog.Logger
	now     func() time.Time

	syncs map[string]*syncProgress
}

type syncProgress struct {
	parts        map[int32]model.PartitionDone
	partitions   int32
	fetchStarted time.Time
	finished     bool
}

func (f *finisher) progress(syncID string) *syncProgress {
	s := f.syncs[syncID]
	if s == nil {
		s = &syncProgress{parts: map[int32]model.PartitionDone{}}
		f.syncs[syncID] = s
	}
	return s
}

// handle is the kafka.Handler of the sync-log topic.
func (f *finisher) handle(ctx context.Context, records []*kgo.Record) (kafka.Offsets, error) {
	touched := map[string]bool{}
	for _, r := range records {
		msg, err := f.codec.Decode(r.Value)
		if err != nil {
			f.log.Warn("skipping undecodable sync-log entry", "err", err, kafka.LogAttrs(r))
			continue
		}
		switch m := msg.(type) {
		case *model.PartitionDone:
			s := f.progress(m.SyncID)
			s.parts[m.Partition] = *m
			s.partitions = m.Partitions
			touched[m.SyncID] = true
		case *model.StageEvent:
			s := f.progress(m.SyncID)
			if m.Stage == model.StageFetching && m.State == model.StateRunning {
				s.fetchStarted = m.StartedAt
			}
			if m.Stage == model.StageProcessing && (m.State == model.StateSucceeded || m.State == model.StateFailed || m.State == model.StateSkipped) {
				s.finished = true
			}
		}
	}
	for id := range touched {
		s := f.syncs[id]
		if s.finished || s.partitions == 0 || int32(len(s.parts)) < s.partitions {
			continue
		}
		if err := f.finish(ctx, id, s); err != nil {
			return nil, err
		}
		s.finished = true
	}
	return nil, nil
}

func (f *finisher) finish(ctx context.Context, syncID string, s *syncProgress) error {
	var assets, findings int64
	var last model.PartitionDone
	for _, pd := range s.parts {
		assets += pd.Assets
		findings += pd.Findings
		if pd.Time.After(last.Time) {
			last = pd
		}
	}
	identity := &model.SyncEnd{SyncID: syncID, ConnectorID: last.ConnectorID, ConnectorType: last.ConnectorType, SyncType: last.SyncType}
	started := s.fetchStarted
	if started.IsZero() {
		started = last.Time
	}
	now := f.now()
	// The pipeline streams: Normalizing and Processing run alongside Fetching, so both
	// start when Fetching does.
	for _, stage := range []string{model.StageNormalizing, model.StageProcessing} {
		ev := syncevent.Stage(identity, stage)
		ev.State, ev.Level, ev.Time = model.StateSucceeded, model.LevelInfo, now
		ev.StartedAt, ev.EndedAt = started, now
		ev.RecordsOut = assets + findings
		ev.Message = fmt.Sprintf("wrote %d findings and %d asset records across %d partitions", findings, assets, len(s.parts))
		if err := f.events.Publish(ctx, syncID, ev); err != nil {
			return err
		}
	}
	f.metrics.syncs.WithLabelValues(last.ConnectorType, last.ConnectorID, string(last.Outcome)).Inc()
	f.log.Info("sync processed", "sync_id", syncID, "connector", last.ConnectorID, "assets", assets, "findings", findings, "fetch_outcome", string(last.Outcome))
	return nil
}
